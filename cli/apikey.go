package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// runAPIKey creates API keys: `troupe apikey create TENANT [--role R] [--name N]`.
func runAPIKey(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) < 2 || args[0] != "create" {
		return errors.New("usage: troupe apikey create TENANT [--role admin|member] [--name NAME]")
	}
	tenant := args[1]
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	role := fs.String("role", "member", "admin or member")
	name := fs.String("name", "", "a label for the key")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	st, closeStore, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	key, _, err := st.CreateAPIKey(ctx, tenant, *role, *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, key)
	return nil
}
