package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/troupe-dev/troupe/store"
)

const tenantsUsage = `usage: troupe tenants set-budget TENANT USD|none
       troupe tenants budgets`

// runTenants sets and lists tenants' monthly budgets, against DATABASE_URL.
func runTenants(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(tenantsUsage)
	}
	st, closeStore, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	switch {
	case args[0] == "set-budget" && len(args) == 3:
		var usd *float64
		if args[2] != "none" {
			v, err := strconv.ParseFloat(args[2], 64)
			if err != nil || v < 0 {
				return fmt.Errorf("USD %q: want an amount such as 250 or 12.5, or none to remove the budget", args[2])
			}
			usd = &v
		}
		if err := st.SetBudget(ctx, args[1], "cli", usd); err != nil {
			return err
		}
		b, err := st.GetBudget(ctx, args[1])
		if err != nil {
			return err
		}
		return printBudgets(stdout, []store.Budget{b})
	case args[0] == "budgets" && len(args) == 1:
		budgets, err := st.ListBudgets(ctx)
		if err != nil {
			return err
		}
		return printBudgets(stdout, budgets)
	default:
		return errors.New(tenantsUsage)
	}
}

func printBudgets(w io.Writer, budgets []store.Budget) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tMONTH\tBUDGET\tSPENT\tRESERVED\tUSED")
	for _, b := range budgets {
		budget, used := "none", "-"
		if b.MonthlyUSD != nil {
			budget = fmt.Sprintf("$%.2f", *b.MonthlyUSD)
			if *b.MonthlyUSD > 0 {
				used = fmt.Sprintf("%.0f%%", 100*b.SpentUSD / *b.MonthlyUSD)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t$%.4f\t$%.4f\t%s\n", b.TenantID, b.Month.Format("2006-01"), budget, b.SpentUSD, b.ReservedUSD, used)
	}
	return tw.Flush()
}
