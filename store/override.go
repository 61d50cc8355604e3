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

// ModelOverride returns the model the LLM calls of the task's workflow workflowID must use
// instead of the one they name, or "" when they keep theirs.
func (s *Store) ModelOverride(ctx context.Context, taskID uuid.UUID, workflowID string) (string, error) {
	var model string
	err := s.pool.QueryRow(ctx, `SELECT model FROM model_overrides WHERE task_id = $1 AND workflow_id = $2`, taskID, workflowID).Scan(&model)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read model override: %w", err)
	}
	return model, nil
}
