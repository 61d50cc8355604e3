package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// EventChannel is the Postgres NOTIFY channel on which each event row is announced, in the
// transaction that writes it, with a payload "<task id> <event id> <tenant id>".
const EventChannel = "troupe_events"

// EventNotice is the announcement of an event row: listeners hear of it once its transaction
// commits. A task's notices come in the order of its event ids.
type EventNotice struct {
	TenantID string
	TaskID   uuid.UUID
	ID       int64
}

// parseEventNotice reads the payload of a notice on EventChannel.
func parseEventNotice(payload string) (EventNotice, error) {
	task, rest, ok := strings.Cut(payload, " ")
	id, tenant, ok2 := strings.Cut(rest, " ")
	if !ok || !ok2 {
		return EventNotice{}, fmt.Errorf("%w: event notice %q", ErrInvalid, payload)
	}
	taskID, err := uuid.Parse(task)
	if err != nil {
		return EventNotice{}, fmt.Errorf("%w: event notice %q: %v", ErrInvalid, payload, err)
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return EventNotice{}, fmt.Errorf("%w: event notice %q: %v", ErrInvalid, payload, err)
	}
	return EventNotice{TenantID: tenant, TaskID: taskID, ID: n}, nil
}

// listenPing is how long a listening connection may stay silent before it is pinged, so that
// a connection lost without a word is noticed.
const listenPing = 30 * time.Second

// ListenEvents holds a connection of its own (not one of the pool's) that LISTENs on
// EventChannel, calls listening once it does, then notice for each event announced, in the
// order they commit, until ctx ends (nil) or the connection fails (the error). notice must be
// quick: the connection reads nothing while it runs. Notices sent while no connection listens
// are lost: after a failure, listeners read what they missed from the table.
func (s *Store) ListenEvents(ctx context.Context, listening func(), notice func(EventNotice)) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	// A wait that times out only sets a deadline: the connection stays usable for the ping
	// (the default handler would send a cancel request, which could cancel the ping).
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to listen for events: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+EventChannel); err != nil {
		return listenError(ctx, fmt.Errorf("listen for events: %w", err))
	}
	listening()
	for {
		waitCtx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			if err := conn.Ping(ctx); err != nil {
				return listenError(ctx, fmt.Errorf("ping the listening connection: %w", err))
			}
			continue
		case err != nil:
			return fmt.Errorf("wait for event notices: %w", err)
		}
		if en, err := parseEventNotice(n.Payload); err == nil {
			notice(en)
		}
	}
}

// listenError is err, or nil when ctx has ended (the listener was stopped, not lost).
func listenError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

const eventsAfter = `
SELECT e.id, e.task_id, e.kind, e.payload, e.at
FROM unnest($1::uuid[], $2::bigint[]) AS c(task_id, after_id)
CROSS JOIN LATERAL (
	SELECT id, task_id, kind, payload, at FROM task_events
	WHERE task_id = c.task_id AND id > c.after_id ORDER BY id LIMIT $3
) e
ORDER BY e.id`

// EventsAfter returns, in one query, the events of each task of after with ids above its
// value there, in id order: at most limit (default 500, at most 1000) per task. It does not
// look at tenants: callers check them first.
func (s *Store) EventsAfter(ctx context.Context, after map[uuid.UUID]int64, limit int) ([]Event, error) {
	if len(after) == 0 {
		return nil, nil
	}
	tasks := make([]uuid.UUID, 0, len(after))
	ids := make([]int64, 0, len(after))
	for task, id := range after {
		tasks = append(tasks, task)
		ids = append(ids, id)
	}
	rows, err := s.pool.Query(ctx, eventsAfter, tasks, ids, pageLimit(limit, 500, 1000))
	if err != nil {
		return nil, fmt.Errorf("read new events: %w", err)
	}
	events, err := collect(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("read new events: %w", err)
	}
	return events, nil
}

// scanEvent scans a row of id, task_id, kind, payload, at.
func scanEvent(row pgx.Row) (Event, error) {
	var e Event
	err := row.Scan(&e.ID, &e.TaskID, &e.Kind, &e.Payload, &e.At)
	return e, err
}

// CheckTask returns nil if the task exists and belongs to tenantID, else ErrNotFound.
func (s *Store) CheckTask(ctx context.Context, tenantID string, id uuid.UUID) error {
	return tenantTaskExists(ctx, s.pool, tenantID, id)
}

const tasksWithEventsAfter = `
SELECT t.tenant_id, e.task_id, min(e.id) FROM task_events e JOIN tasks t ON t.id = e.task_id
WHERE e.id > $2 AND t.tenant_id = ANY($1)
GROUP BY t.tenant_id, e.task_id`

// TasksWithEventsAfter returns, for each task of the tenants with events of ids above after,
// the notice of the first of them: what a listener that heard nothing past after (its
// connection was lost) missed.
func (s *Store) TasksWithEventsAfter(ctx context.Context, tenants []string, after int64) ([]EventNotice, error) {
	rows, err := s.pool.Query(ctx, tasksWithEventsAfter, tenants, after)
	if err != nil {
		return nil, fmt.Errorf("find tasks with missed events: %w", err)
	}
	notices, err := collect(rows, func(row pgx.Row) (EventNotice, error) {
		var n EventNotice
		err := row.Scan(&n.TenantID, &n.TaskID, &n.ID)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("find tasks with missed events: %w", err)
	}
	return notices, nil
}
