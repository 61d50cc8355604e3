package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// purse is what a sequence of steps may spend, in USD: the run's budget for
// its top-level steps, and a share of what was left for a parallel branch
// or a map item. Steps running at once split what is left evenly: each
// branch reserves its share when it starts, and when it ends its share is
// released and what it spent is counted, so the unused part goes back to
// the steps that start later. A step stops before an LLM call once its
// purse is spent, so a run spends at most its budget plus one call per
// step running at once. A nil purse is no budget.
type purse struct {
	name     string // who spends it, in errors: "the run", "branch left"
	limit    float64
	spent    float64 // by its steps, failed ones included, and settled branches
	reserved float64 // the shares of branches still running
}

// newPurse returns the purse of a run with budget max, nil for no budget.
func newPurse(budget *float64) *purse {
	if budget == nil {
		return nil
	}
	return &purse{name: "the run", limit: *budget}
}

// left is what the purse may still spend.
func (p *purse) left() float64 {
	return p.limit - p.spent - p.reserved
}

// charge counts what a step spent.
func (p *purse) charge(costUSD float64) {
	if p != nil {
		p.spent += costUSD
	}
}

// share reserves an even part of what is left for one of ways branches
// starting now, and returns the branch's purse; settle ends it.
func (p *purse) share(name string, ways int) *purse {
	if p == nil {
		return nil
	}
	s := max(p.left(), 0) / float64(max(ways, 1))
	p.reserved += s
	return &purse{name: name, limit: s}
}

// settle ends the purse of a branch: its share is released and what it
// spent is counted.
func (p *purse) settle(branch *purse) {
	if p != nil {
		p.reserved -= branch.limit
		p.spent += branch.spent
	}
}

// stepCost is the detail of a failed step's error that says what the step
// spent before it failed.
type stepCost struct {
	CostUSD float64 `json:"cost_usd"`
}

// withCost carries what a failed step spent in its error, an application
// error with the message and type of the failure's own, so the run counts
// it. A cancellation is left as it is: the step ends canceled.
func withCost(err error, costUSD float64) error {
	if err == nil || temporal.IsCanceledError(err) {
		return err
	}
	msg, kind := err.Error(), "step_failed"
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		msg, kind = app.Message(), app.Type()
	}
	return temporal.NewApplicationErrorWithOptions(msg, kind, temporal.ApplicationErrorOptions{
		NonRetryable: true, Cause: err, Details: []any{stepCost{CostUSD: costUSD}},
	})
}

// failedCost is what a failed step spent, as withCost carried it; 0 when
// the error does not say.
func failedCost(err error) float64 {
	var app *temporal.ApplicationError
	var c stepCost
	if errors.As(err, &app) && app.HasDetails() && app.Details(&c) == nil {
		return c.CostUSD
	}
	return 0
}

// overBudget is the error of a step that finds its purse spent.
func (p *purse) overBudget(stepID string) error {
	return budgetExceeded(fmt.Sprintf("%s spent $%.6f of its $%.4f before step %s", p.name, p.spent, p.limit, stepID))
}
