package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/troupe-dev/troupe/store"
)

// Budget is a tenant's monthly budget and its use this month.
type Budget struct {
	MonthlyUSD  *float64   `json:"monthly_usd" doc:"The monthly budget in USD; null when the tenant has none (no limit)."`
	Month       string     `json:"month" doc:"The month (UTC) the figures are of, e.g. 2026-12."`
	SpentUSD    float64    `json:"spent_usd" doc:"What the tenant's recorded LLM calls cost this month."`
	ReservedUSD float64    `json:"reserved_usd" doc:"The estimated cost of the calls in flight, reserved until they are recorded."`
	UsedPercent *float64   `json:"used_percent,omitempty" doc:"spent_usd as a share of the budget."`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
}

func budgetOf(b store.Budget) Budget {
	out := Budget{MonthlyUSD: b.MonthlyUSD, Month: b.Month.Format("2006-01"), SpentUSD: b.SpentUSD, ReservedUSD: b.ReservedUSD, UpdatedAt: b.UpdatedAt}
	if b.MonthlyUSD != nil && *b.MonthlyUSD > 0 {
		used := 100 * b.SpentUSD / *b.MonthlyUSD
		out.UsedPercent = &used
	}
	return out
}

// BudgetOutput is an answer holding a budget.
type BudgetOutput struct {
	Body Budget
}

// SetBudgetInput is the request of setBudget.
type SetBudgetInput struct {
	Body struct {
		MonthlyUSD *float64 `json:"monthly_usd" minimum:"0" doc:"The monthly budget in USD; null removes it."`
	}
}

func (s *Server) registerBudget(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "getBudget", Method: http.MethodGet, Path: "/v1/budget",
		Summary: "Read the tenant's budget", Description: "The monthly LLM budget of the caller's tenant and its use this month. Admin keys only.", Tags: []string{"reports"},
		Errors: problems(http.StatusForbidden),
	}, func(ctx context.Context, _ *struct{}) (*BudgetOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		b, err := s.Store.GetBudget(ctx, who(ctx).Tenant)
		if err != nil {
			return nil, s.fail(ctx, "budget", err)
		}
		return &BudgetOutput{Body: budgetOf(b)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "setBudget", Method: http.MethodPut, Path: "/v1/budget",
		Summary: "Set the tenant's budget",
		Description: "Sets (or, with null, removes) the monthly LLM budget of the caller's tenant, audited (budget_set). " +
			"Every LLM call first reserves its estimated cost; a call the budget cannot take fails its task with budget_exceeded. Admin keys only.",
		Tags: []string{"reports"}, Errors: problems(http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge),
	}, func(ctx context.Context, in *SetBudgetInput) (*BudgetOutput, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		p := who(ctx)
		if err := s.Store.SetBudget(ctx, p.Tenant, p.Actor, in.Body.MonthlyUSD); err != nil {
			return nil, s.fail(ctx, "budget", err)
		}
		b, err := s.Store.GetBudget(ctx, p.Tenant)
		if err != nil {
			return nil, s.fail(ctx, "budget", err)
		}
		return &BudgetOutput{Body: budgetOf(b)}, nil
	})
}
