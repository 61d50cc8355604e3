package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/troupe-dev/troupe/store"
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
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set")
	}
	pool, err := store.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	key, _, err := store.New(pool).CreateAPIKey(ctx, tenant, *role, *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, key)
	return nil
}
