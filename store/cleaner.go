package store

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Cleaner enforces retention, in the manner of River's job cleaner: every
// Interval it deletes, in batches of BatchSize, the detail rows of tasks that
// finished more than Retention ago and the blobs no task needs any more (see
// DeleteExpired). Several workers may each run one: an advisory lock lets
// one of them work at a time.
type Cleaner struct {
	Store *Store
	// Retention is how long the details of a finished task are kept; it must
	// exceed the longest run of a task, whose large values live in blobs.
	Retention time.Duration
	// Interval is the time between passes (default 5 minutes).
	Interval time.Duration
	// BatchSize bounds the rows one statement deletes (default 1000).
	BatchSize int
	// Logger (required) receives a line for each pass that deleted rows or failed.
	Logger *slog.Logger

	// cleanedBefore is the end of the finish window of the last complete
	// pass: detail rows of tasks finished earlier are gone already.
	cleanedBefore time.Time
}

// Start runs the cleaner in the background until ctx ends or the returned
// stop is called; stop waits for the pass under way to end.
func (c *Cleaner) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { c.run(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// run cleans once at once, then every Interval, until ctx ends.
func (c *Cleaner) run(ctx context.Context) {
	ticker := time.NewTicker(cmp.Or(c.Interval, 5*time.Minute))
	defer ticker.Stop()
	for {
		if err := c.Clean(ctx); err != nil && ctx.Err() == nil {
			c.Logger.Warn("retention pass failed; retrying at the next one", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Clean makes one pass: it deletes batches until none comes back full, or
// until another worker's cleaner holds the lock (that one carries on, and
// this one covers the same window again next time). It is not safe for
// concurrent use with itself or Start.
func (c *Cleaner) Clean(ctx context.Context) error {
	limit := cmp.Or(c.BatchSize, 1000)
	before := c.Store.now().Add(-c.Retention)
	var total Expired
	defer func() {
		if total.Total() > 0 {
			c.Logger.Info("retention: deleted expired rows", "finished_before", before,
				"task_events", total.TaskEvents, "llm_calls", total.LLMCalls, "messages", total.Messages,
				"tool_calls", total.ToolCalls, "blobs", total.Blobs)
		}
	}()
	for {
		e, err := c.Store.DeleteExpired(ctx, c.cleanedBefore, before, limit)
		if errors.Is(err, ErrConflict) {
			c.Logger.Debug("retention: another cleaner is running; leaving this pass to it")
			return nil
		}
		if err != nil {
			return err
		}
		total.add(e)
		if !e.full(limit) {
			c.cleanedBefore = before
			return nil
		}
	}
}
