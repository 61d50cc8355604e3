package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/store"
)

const apikeyUsage = `usage: troupe apikey create TENANT [--role admin|member|reader] [--name NAME] [--expires 720h]
       troupe apikey list TENANT
       troupe apikey revoke TENANT KEY_ID`

// runAPIKey creates, lists and revokes API keys, against DATABASE_URL.
func runAPIKey(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return errors.New(apikeyUsage)
	}
	verb, tenant, rest := args[0], args[1], args[2:]
	st, closeStore, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	switch verb {
	case "create":
		fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		role := fs.String("role", store.RoleMember, strings.Join(store.Roles, ", "))
		name := fs.String("name", "", "a label for the key")
		expires := fs.Duration("expires", 0, "the key stops working after this long (default: never)")
		if err := fs.Parse(rest); err != nil || fs.NArg() > 0 || *expires < 0 {
			return errors.New(apikeyUsage)
		}
		n := store.NewAPIKey{TenantID: tenant, Role: *role, Name: *name}
		if *expires > 0 {
			n.ExpiresAt = time.Now().Add(*expires)
		}
		key, _, err := st.CreateAPIKey(ctx, n)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, key)
		return nil
	case "list":
		if len(rest) > 0 {
			return errors.New(apikeyUsage)
		}
		keys, err := st.ListAPIKeys(ctx, tenant)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tNAME\tCREATED\tEXPIRES\tLAST USED\tSTATE")
		for _, k := range keys {
			state := "active"
			switch {
			case k.RevokedAt != nil:
				state = "revoked " + stamp(k.RevokedAt)
			case k.ExpiresAt != nil && !k.ExpiresAt.After(time.Now()):
				state = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, k.Name, stamp(&k.CreatedAt), stamp(k.ExpiresAt), stamp(k.LastUsedAt), state)
		}
		return tw.Flush()
	case "revoke":
		if len(rest) != 1 {
			return errors.New(apikeyUsage)
		}
		id, err := uuid.Parse(rest[0])
		if err != nil {
			return fmt.Errorf("KEY_ID %q is not a key id (see troupe apikey list %s)", rest[0], tenant)
		}
		if err := st.RevokeAPIKey(ctx, tenant, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", id)
		return nil
	default:
		return errors.New(apikeyUsage)
	}
}

// stamp prints a time for a table, "-" for none.
func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
