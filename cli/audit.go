package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/troupe-dev/troupe/store"
)

// runAudit verifies the audit log's hash chains against the database:
// `troupe audit verify [--tenant T]`. It fails when a chain is broken.
func runAudit(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	const usage = "usage: troupe audit verify [--tenant TENANT]"
	if len(args) < 1 || args[0] != "verify" {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tenant := fs.String("tenant", "", "verify this tenant's chain only (default: every tenant's)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return errors.New(usage)
	}
	st, closeStore, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	tenants := []string{*tenant}
	if *tenant == "" {
		if tenants, err = st.AuditTenants(ctx); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tROWS\tCHAIN\tHEAD")
	var broken []string
	for _, t := range tenants {
		check, err := st.VerifyAudit(ctx, t)
		if err != nil {
			return err
		}
		verdict := "ok"
		if b := check.FirstBroken; b != nil {
			verdict = fmt.Sprintf("BROKEN at row %d (%s, %s): %s", b.ID, b.EventType, b.At.UTC().Format(time.RFC3339), b.Reason)
			broken = append(broken, t)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", t, check.Checked, verdict, hex.EncodeToString(check.Head))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(broken) > 0 {
		return fmt.Errorf("the audit log of %q was changed after it was written", broken)
	}
	return nil
}

// openStore connects to DATABASE_URL, for the commands that work on the
// database itself.
func openStore(ctx context.Context, cfg config) (*store.Store, func(), error) {
	if cfg.DatabaseURL == "" {
		return nil, nil, errors.New("DATABASE_URL is not set")
	}
	pool, err := store.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	return store.New(pool), pool.Close, nil
}
