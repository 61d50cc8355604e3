package api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"

	"github.com/troupe-dev/troupe/store"
)

const (
	// startTimeout bounds one attempt to start a task's workflow. The
	// attempt runs with a context the client cannot cancel.
	startTimeout = 10 * time.Second
	// strandedAfter is how long a task may stay pending with no workflow
	// before the API starts its workflow itself: longer than startTimeout, so
	// that the submit's own attempt is over.
	strandedAfter = 30 * time.Second
	// sweepInterval is the time between two sweeps of pending tasks.
	sweepInterval = time.Minute
	// sweepBatch bounds the tasks one query of a sweep reads.
	sweepBatch = 100
)

// definiteRefusal reports whether Temporal refused to start a workflow, so
// that none was created. Any other error (a deadline, a canceled or lost
// connection) leaves the start ambiguous: the workflow may exist.
func definiteRefusal(err error) bool {
	var invalid *serviceerror.InvalidArgument
	var namespace *serviceerror.NamespaceNotFound
	var denied *serviceerror.PermissionDenied
	return errors.As(err, &invalid) || errors.As(err, &namespace) || errors.As(err, &denied)
}

// startStranded starts the workflow of task t, pending with no workflow
// (its submit died between the database write and the start, or the start
// was ambiguous and did not happen). The task row holds all the start needs;
// when its type or pinned definition can no longer be resolved, or Temporal
// refuses the start, the task fails with an error saying why. It returns the
// task as it now stands.
func (s *Server) startStranded(ctx context.Context, t store.Task) store.Task {
	if t = s.reread(ctx, t); t.Status != store.StatusPending {
		return t // canceled meanwhile, or started by its submit
	}
	start, err := s.resolve(t)
	if err == nil {
		if err = s.startWorkflow(ctx, t, start); err == nil {
			s.Logger.InfoContext(ctx, "started the workflow of a stranded pending task", "task_id", t.ID)
			return t
		}
		if !definiteRefusal(err) {
			s.Logger.WarnContext(ctx, "start the workflow of a stranded pending task; retrying later", "task_id", t.ID, "error", err)
			return t
		}
		err = fmt.Errorf("the Temporal server refused to start its workflow: %w", err)
	}
	msg := "the task was never started: " + err.Error()
	if ferr := s.Store.FinishTask(ctx, t.ID, "", store.StatusFailed, nil, msg); ferr != nil {
		s.Logger.ErrorContext(ctx, "fail a stranded pending task", "task_id", t.ID, "error", ferr)
		return t
	}
	return s.reread(ctx, t)
}

// resolve rebuilds the workflow start of a stored task from its type, input
// and model, as createTask built it, with the definition pinned at submission.
func (s *Server) resolve(t store.Task) (workflowStart, error) {
	start, err := s.prepare(t.Type, "", t.Input, t.Model)
	if err != nil {
		return workflowStart{}, fmt.Errorf("its type %q can no longer be resolved: %w", t.Type, err)
	}
	if start.hash != t.DefinitionHash {
		return workflowStart{}, fmt.Errorf("the definition of %s it was submitted with (hash %s) is no longer loaded", t.Type, t.DefinitionHash)
	}
	return start, nil
}

// reread returns task t as the store now holds it, or t when it cannot tell.
func (s *Server) reread(ctx context.Context, t store.Task) store.Task {
	updated, err := s.Store.GetTask(ctx, t.TenantID, t.ID)
	if err != nil {
		s.Logger.WarnContext(ctx, "reread task", "task_id", t.ID, "error", err)
		return t
	}
	return updated
}

// StartSweep reconciles, at once and then every minute until ctx ends or the
// returned stop is called, the tasks of every tenant pending for longer than
// strandedAfter (see SweepPending). stop waits for the sweep under way.
func (s *Server) StartSweep(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		ticker := time.NewTicker(sweepInterval)
		defer ticker.Stop()
		for {
			if err := s.SweepPending(ctx); err != nil && ctx.Err() == nil {
				s.Logger.WarnContext(ctx, "sweep of pending tasks failed; retrying at the next one", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// SweepPending reconciles every task pending for longer than strandedAfter,
// in batches: one with no workflow has it started (or fails, see
// startStranded), one whose workflow ended outside troupe takes its outcome,
// one whose workflow exists is left to it.
func (s *Server) SweepPending(ctx context.Context) error {
	before := time.Now().Add(-strandedAfter)
	var afterAt time.Time
	var afterID uuid.UUID
	for {
		tasks, err := s.Store.ListPendingTasks(ctx, before, afterAt, afterID, sweepBatch)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tctx, cancel := context.WithTimeout(ctx, startTimeout)
			s.reconcile(tctx, t)
			cancel()
		}
		if len(tasks) < sweepBatch {
			return nil
		}
		last := tasks[len(tasks)-1]
		afterAt, afterID = last.CreatedAt, last.ID
	}
}
