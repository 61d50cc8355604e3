package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Run is one run of a task's workflow, as the task's events tell it: a reset (an
// operator's, or a retry) starts a new run. Status and Error are those the run ended the
// task with; an empty Status is a run that recorded no end (it is running, or a reset
// replaced it while it ran).
type Run struct {
	RunID     string
	StartedAt time.Time
	Status    Status
	Error     string
	EndedAt   *time.Time
}

// A run's events are its "started" event and the event of the status it ended the task
// with, each carrying the run id in its payload.
const listRuns = `
SELECT payload->>'run_id', min(at),
	COALESCE((array_agg(kind ORDER BY id DESC) FILTER (WHERE kind <> 'started'))[1], ''),
	COALESCE((array_agg(payload->>'error' ORDER BY id DESC) FILTER (WHERE kind <> 'started'))[1], ''),
	max(at) FILTER (WHERE kind <> 'started')
FROM task_events
WHERE task_id = $1 AND kind IN ('started', 'completed', 'failed', 'canceled', 'timed_out')
	AND payload->>'run_id' <> ''
GROUP BY 1
ORDER BY min(id)`

// ListRuns returns the workflow runs of the tenant's task, oldest first. ErrNotFound if the
// task is not the tenant's.
func (s *Store) ListRuns(ctx context.Context, tenantID string, taskID uuid.UUID) ([]Run, error) {
	return listOfTask(ctx, s, tenantID, taskID, "runs", listRuns, func(row pgx.Row) (Run, error) {
		var r Run
		err := row.Scan(&r.RunID, &r.StartedAt, &r.Status, &r.Error, &r.EndedAt)
		return r, err
	})
}
