package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// SetModelOverride makes the LLM calls of the task's workflow workflowID use model from now
// on (see ModelOverride), replacing the task's earlier overrides; an empty model removes
// them. A retry sets it for the step that failed.
func (s *Store) SetModelOverride(ctx context.Context, taskID uuid.UUID, workflowID, model string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM model_overrides WHERE task_id = $1`, taskID); err != nil {
			return fmt.Errorf("remove model overrides: %w", err)
		}
		if model == "" {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO model_overrides (task_id, workflow_id, model, created_at) VALUES ($1, $2, $3, $4)`,
			taskID, workflowID, cleanText(model), s.now())
		if isForeignKeyViolation(err) {
			return fmt.Errorf("task %s: %w", taskID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("set model override: %w", err)
		}
		return nil
	})
}

// CallTerms is what an LLM call of a task reads before it is made.
type CallTerms struct {
	// Model is the model a retry chose for the calls of the call's workflow
	// (SetModelOverride), or "" when they keep their own.
	Model string
	// Tenant is the task's tenant. Budgeted says it has a budget: the call
	// must reserve its estimated cost first (ReserveBudget).
	Tenant   string
	Budgeted bool
}

const selectCallTerms = `
SELECT COALESCE((SELECT o.model FROM model_overrides o WHERE o.task_id = t.id AND o.workflow_id = $2), ''),
	t.tenant_id, EXISTS (SELECT 1 FROM tenant_budgets b WHERE b.tenant_id = t.tenant_id)
FROM tasks t WHERE t.id = $1`

// CallTerms returns the terms of an LLM call of the task's workflow workflowID, in one
// statement: it is on the way to every call's first token.
func (s *Store) CallTerms(ctx context.Context, taskID uuid.UUID, workflowID string) (CallTerms, error) {
	var c CallTerms
	err := s.pool.QueryRow(ctx, selectCallTerms, taskID, workflowID).Scan(&c.Model, &c.Tenant, &c.Budgeted)
	if errors.Is(err, pgx.ErrNoRows) {
		return CallTerms{}, fmt.Errorf("task %s: %w", taskID, ErrNotFound)
	}
	if err != nil {
		return CallTerms{}, fmt.Errorf("read the terms of an llm call: %w", err)
	}
	return c, nil
}
