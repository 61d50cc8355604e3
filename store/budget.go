package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ErrBudgetExceeded is the error of a call refused by its tenant's budget.
var ErrBudgetExceeded = errors.New("budget_exceeded")

// Budget is a tenant's monthly budget and its use in the current month (UTC).
type Budget struct {
	TenantID string
	// MonthlyUSD is the budget; nil when the tenant has none.
	MonthlyUSD *float64
	Month      time.Time
	SpentUSD   float64
	// ReservedUSD is what the calls in flight reserved.
	ReservedUSD float64
	UpdatedAt   *time.Time
}

// budgetMarks are the shares of a budget whose passing is announced.
var budgetMarks = []int{80, 100}

// monthOf is the first day (UTC) of the month of t.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

const upsertBudget = `
INSERT INTO tenant_budgets (tenant_id, monthly_usd, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id) DO UPDATE SET monthly_usd = EXCLUDED.monthly_usd, updated_at = EXCLUDED.updated_at`

// SetBudget sets the tenant's monthly budget in USD (nil removes it), with a budget_set audit
// row by actor. The marks (80%, 100%) the month's spend has already passed under the new
// budget are not announced; those it has not are, when the spend passes them.
func (s *Store) SetBudget(ctx context.Context, tenantID, actor string, monthlyUSD *float64) error {
	if tenantID == "" || (monthlyUSD != nil && *monthlyUSD < 0) {
		return fmt.Errorf("%w: a budget needs a tenant and an amount of 0 or more", ErrInvalid)
	}
	now := s.now()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		meta := `{"monthly_usd": null}`
		if monthlyUSD == nil {
			_, err = tx.Exec(ctx, `DELETE FROM tenant_budgets WHERE tenant_id = $1`, tenantID)
		} else {
			_, err = tx.Exec(ctx, upsertBudget, tenantID, *monthlyUSD, now)
			meta = fmt.Sprintf(`{"monthly_usd": %g}`, *monthlyUSD)
		}
		if err != nil {
			return fmt.Errorf("set budget: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE tenant_spend SET announced = CASE
	WHEN $3::numeric IS NULL THEN 0 WHEN spent_usd >= $3 THEN 100 WHEN spent_usd >= 0.8 * $3 THEN 80 ELSE 0 END
WHERE tenant_id = $1 AND month = $2`, tenantID, monthOf(now), monthlyUSD); err != nil {
			return fmt.Errorf("set budget: %w", err)
		}
		return insertAudit(ctx, tx, Audit{EventType: "budget_set", ResourceType: "tenant", ResourceID: tenantID,
			TenantID: tenantID, Actor: actor, At: now, Metadata: []byte(meta),
			DedupeKey: "budget_set:" + tenantID + ":" + uuid.NewString()})
	})
}

const selectBudget = `
SELECT b.monthly_usd, b.updated_at,
	COALESCE((SELECT spent_usd FROM tenant_spend WHERE tenant_id = $1 AND month = $2), 0),
	COALESCE((SELECT sum(amount_usd) FROM budget_reservations WHERE tenant_id = $1 AND expires_at > $3), 0)
FROM (SELECT 1) one LEFT JOIN tenant_budgets b ON b.tenant_id = $1`

// GetBudget returns the tenant's budget and its use this month.
func (s *Store) GetBudget(ctx context.Context, tenantID string) (Budget, error) {
	now := s.now()
	b := Budget{TenantID: tenantID, Month: monthOf(now)}
	err := s.pool.QueryRow(ctx, selectBudget, tenantID, b.Month, now).Scan(&b.MonthlyUSD, &b.UpdatedAt, &b.SpentUSD, &b.ReservedUSD)
	if err != nil {
		return Budget{}, fmt.Errorf("get budget: %w", err)
	}
	return b, nil
}

const listBudgets = `
SELECT b.tenant_id, b.monthly_usd, b.updated_at, COALESCE(s.spent_usd, 0),
	COALESCE((SELECT sum(amount_usd) FROM budget_reservations r WHERE r.tenant_id = b.tenant_id AND r.expires_at > $2), 0)
FROM tenant_budgets b LEFT JOIN tenant_spend s ON s.tenant_id = b.tenant_id AND s.month = $1
ORDER BY b.tenant_id`

// ListBudgets returns every tenant that has a budget, with its use this month.
func (s *Store) ListBudgets(ctx context.Context) ([]Budget, error) {
	now := s.now()
	rows, err := s.pool.Query(ctx, listBudgets, monthOf(now), now)
	if err != nil {
		return nil, fmt.Errorf("list budgets: %w", err)
	}
	budgets, err := collect(rows, func(row pgx.Row) (Budget, error) {
		b := Budget{Month: monthOf(now)}
		err := row.Scan(&b.TenantID, &b.MonthlyUSD, &b.UpdatedAt, &b.SpentUSD, &b.ReservedUSD)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("list budgets: %w", err)
	}
	return budgets, nil
}

const lockBudget = `SELECT monthly_usd FROM tenant_budgets WHERE tenant_id = $1 FOR UPDATE`

const spentAndReserved = `
SELECT COALESCE((SELECT spent_usd FROM tenant_spend WHERE tenant_id = $1 AND month = $2), 0),
	COALESCE((SELECT sum(amount_usd) FROM budget_reservations WHERE tenant_id = $1 AND expires_at > $3 AND call_key <> $4), 0)`

const upsertReservation = `
INSERT INTO budget_reservations (call_key, tenant_id, amount_usd, expires_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (call_key) DO UPDATE SET amount_usd = EXCLUDED.amount_usd, expires_at = EXCLUDED.expires_at`

// ReserveBudget reserves estimateUSD of the budget of tenant for the LLM call callKey, until
// it is recorded (RecordLLMCall settles it) or until ttl has passed. It refuses with
// ErrBudgetExceeded, naming the figures, when the month's spend, what the calls in flight
// reserved and the estimate pass the budget. Reservers of a tenant take turns (a row lock),
// so concurrent calls overshoot the budget only by what their actual costs exceed their
// estimates. A tenant without a budget reserves nothing; CallTerms tells a call whether it
// need ask.
func (s *Store) ReserveBudget(ctx context.Context, tenant, callKey string, estimateUSD float64, ttl time.Duration) error {
	now := s.now()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var budget float64
		err := tx.QueryRow(ctx, lockBudget, tenant).Scan(&budget)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // no budget
		}
		if err != nil {
			return fmt.Errorf("lock budget: %w", err)
		}
		// One statement, so one snapshot: a call settled meanwhile is either
		// still reserved or already spent, never neither.
		var spent, reserved float64
		if err := tx.QueryRow(ctx, spentAndReserved, tenant, monthOf(now), now, callKey).Scan(&spent, &reserved); err != nil {
			return fmt.Errorf("read spend: %w", err)
		}
		if spent >= budget || spent+reserved+estimateUSD > budget {
			return fmt.Errorf("%w: the monthly budget of tenant %q is used up: $%.4f of $%.2f spent in %s, $%.4f reserved by calls in flight, and this call may cost $%.4f; an admin can raise it (troupe tenants set-budget, PUT /v1/budget)",
				ErrBudgetExceeded, tenant, spent, budget, monthOf(now).Format("2006-01"), reserved, estimateUSD)
		}
		if _, err := tx.Exec(ctx, upsertReservation, callKey, tenant, estimateUSD, now.Add(ttl)); err != nil {
			return fmt.Errorf("reserve budget: %w", err)
		}
		return nil
	})
}

const addSpend = `
INSERT INTO tenant_spend (tenant_id, month, spent_usd) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, month) DO UPDATE SET spent_usd = tenant_spend.spent_usd + EXCLUDED.spent_usd
RETURNING spent_usd, announced`

// settleBudget, in the transaction that records the LLM call callKey of the task, releases its
// reservation and adds its cost to the tenant's spend of the month; when the spend passes 80%
// or 100% of a budget for the first time this month, it writes a budget_<mark> audit row and a
// "budget" event of the task.
func settleBudget(ctx context.Context, tx pgx.Tx, taskID uuid.UUID, callKey string, costUSD float64, at time.Time) error {
	var tenant string
	var budget *float64
	err := tx.QueryRow(ctx, `SELECT t.tenant_id, b.monthly_usd FROM tasks t LEFT JOIN tenant_budgets b ON b.tenant_id = t.tenant_id WHERE t.id = $1`, taskID).Scan(&tenant, &budget)
	if err != nil {
		return fmt.Errorf("read budget: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM budget_reservations WHERE call_key = $1`, callKey); err != nil {
		return fmt.Errorf("settle reservation: %w", err)
	}
	if costUSD == 0 && budget == nil {
		return nil
	}
	month := monthOf(at)
	var spent float64
	var announced int
	if err := tx.QueryRow(ctx, addSpend, tenant, month, costUSD).Scan(&spent, &announced); err != nil {
		return fmt.Errorf("add spend: %w", err)
	}
	if budget == nil || *budget <= 0 {
		return nil
	}
	for _, mark := range budgetMarks {
		if announced >= mark || spent < *budget*float64(mark)/100 {
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE tenant_spend SET announced = $3 WHERE tenant_id = $1 AND month = $2`, tenant, month, mark); err != nil {
			return fmt.Errorf("announce budget mark: %w", err)
		}
		announced = mark
		payload := map[string]any{"tenant": tenant, "mark_percent": mark, "spent_usd": spent, "monthly_usd": *budget, "month": month.Format("2006-01")}
		meta, err := json.Marshal(payload)
		if err != nil {
			return fmt.Errorf("marshal budget mark: %w", err)
		}
		if err := insertAudit(ctx, tx, Audit{EventType: fmt.Sprintf("budget_%d", mark), ResourceType: "tenant", ResourceID: tenant,
			TenantID: tenant, Actor: systemActor, At: at, Metadata: meta,
			DedupeKey: fmt.Sprintf("budget_%d:%s:%s", mark, tenant, month.Format("2006-01"))}); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, taskID, "budget", fmt.Sprintf("budget_%d:%s", mark, month.Format("2006-01")), payload, at); err != nil {
			return err
		}
	}
	return nil
}
