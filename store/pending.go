package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

const selectPendingTasks = `SELECT ` + taskColumns + ` FROM tasks
WHERE status = 'pending' AND created_at < $1 AND (created_at, id) > ($2, $3)
ORDER BY created_at, id LIMIT $4`

// ListPendingTasks returns, oldest first and whatever their tenant, at most
// limit tasks still pending that were created before createdBefore, after the
// task (afterAt, afterID) in that order (zero values: from the first). It is
// how the API finds tasks whose submit may have died before their workflow
// started.
func (s *Store) ListPendingTasks(ctx context.Context, createdBefore, afterAt time.Time, afterID uuid.UUID, limit int) ([]Task, error) {
	rows, err := s.pool.Query(ctx, selectPendingTasks, createdBefore, afterAt, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list pending tasks: %w", err)
	}
	tasks, err := collect(rows, scanTask)
	if err != nil {
		return nil, fmt.Errorf("list pending tasks: %w", err)
	}
	return tasks, nil
}
