package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// LogLine is the payload of a task's "log" events: a line written while the task ran, by
// troupe's activities or reported by a flow that runs elsewhere.
type LogLine struct {
	Level   string `json:"level"`
	Message string `json:"message"`
	// Node is the step, activity or reported task node that wrote the line, if any.
	Node string `json:"node,omitempty"`
	// Attrs are the line's attributes, a JSON object.
	Attrs json.RawMessage `json:"attrs,omitempty"`
}

// Log is a task's log line with its event id and time.
type Log struct {
	ID int64
	At time.Time
	LogLine
}

const listLogs = `
SELECT id, at, payload FROM task_events
WHERE task_id = $1 AND kind = 'log' AND id > $2 ORDER BY id LIMIT $3`

// AppendLog appends a log line to the task, once per dedupeKey.
func (s *Store) AppendLog(ctx context.Context, taskID uuid.UUID, dedupeKey string, at time.Time, line LogLine) error {
	line.Message = cleanText(line.Message)
	return insertEvent(ctx, s.pool, taskID, "log", "log:"+dedupeKey, line, at)
}

// ListLogs returns up to limit (default 100, at most 1000) log lines of the tenant's task
// with ids above afterID, oldest first. ErrNotFound if the task is not the tenant's.
func (s *Store) ListLogs(ctx context.Context, tenantID string, taskID uuid.UUID, afterID int64, limit int) ([]Log, error) {
	return listOfTask(ctx, s, tenantID, taskID, "logs", listLogs, func(row pgx.Row) (Log, error) {
		var l Log
		var raw []byte
		if err := row.Scan(&l.ID, &l.At, &raw); err != nil {
			return l, err
		}
		return l, json.Unmarshal(raw, &l.LogLine)
	}, afterID, pageLimit(limit, 100, 1000))
}
