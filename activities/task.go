package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/troupe-dev/troupe/store"
)

// ErrTaskEnded is the error type of StartTask for a task that ended (was
// canceled) before its workflow started: the run ends without touching it.
const ErrTaskEnded = "task_ended"

// StartTask marks a task running. Run as a local activity at the start of a
// task's workflow.
func (a *Activities) StartTask(ctx context.Context, taskID uuid.UUID) error {
	runID := activity.GetInfo(ctx).WorkflowExecution.RunID
	err := a.Store.StartTask(ctx, taskID, runID)
	if errors.Is(err, store.ErrEndedBeforeStart) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTaskEnded, err)
	}
	if err != nil {
		return fmt.Errorf("start task %s: %w", taskID, err)
	}
	return nil
}

// FinishInput is the input of FinishTask.
type FinishInput struct {
	TaskID uuid.UUID    `json:"task_id"`
	Type   string       `json:"type"`
	Status store.Status `json:"status"`
	Output Value        `json:"output"`
	Error  string       `json:"error,omitempty"`
}

// FinishTask records the end of a task: its status, output (loaded from the
// blob store when it was passed by reference) or error.
func (a *Activities) FinishTask(ctx context.Context, in FinishInput) error {
	output, err := a.load(ctx, in.Output)
	if err != nil {
		return err
	}
	runID := activity.GetInfo(ctx).WorkflowExecution.RunID
	if err := a.Store.FinishTask(ctx, in.TaskID, runID, in.Status, output, in.Error); err != nil {
		return fmt.Errorf("finish task %s: %w", in.TaskID, err)
	}
	a.Metrics.ObserveTask(in.Type, string(in.Status))
	return nil
}
