package activities

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"

	"github.com/troupe-dev/troupe/store"
)

// SubtaskStart identifies an agent step of a workflow task.
type SubtaskStart struct {
	TaskID uuid.UUID `json:"task_id"`
	// RunID is the run of the task's workflow that runs the step; empty
	// for runs started before steps were recorded by run.
	RunID     string `json:"run_id,omitempty"`
	Key       string `json:"key"`
	StepID    string `json:"step_id"`
	Agent     string `json:"agent"`
	Iteration int    `json:"iteration"`
	Model     string `json:"model"`
}

// StartSubtask records an agent step as running and returns its id; a retry
// returns the same id.
func (a *Activities) StartSubtask(ctx context.Context, in SubtaskStart) (uuid.UUID, error) {
	st, err := a.Store.StartSubtask(ctx, store.Subtask{
		TaskID: in.TaskID, RunID: in.RunID, Key: in.Key, StepID: in.StepID, Agent: in.Agent, Iteration: in.Iteration,
		Model: in.Model, WorkflowID: activity.GetInfo(ctx).WorkflowExecution.ID,
	})
	if err != nil {
		return uuid.Nil, fmt.Errorf("start subtask %s: %w", in.Key, err)
	}
	return st.ID, nil
}

// SubtaskFinish is the outcome of an agent step.
type SubtaskFinish struct {
	SubtaskID uuid.UUID    `json:"subtask_id"`
	Status    store.Status `json:"status"`
	Model     string       `json:"model"`
	Output    Value        `json:"output"`
	Error     string       `json:"error,omitempty"`
}

// FinishSubtask records the outcome of an agent step.
func (a *Activities) FinishSubtask(ctx context.Context, in SubtaskFinish) error {
	output, err := a.load(ctx, in.Output)
	if err != nil {
		return err
	}
	if err := a.Store.FinishSubtask(ctx, in.SubtaskID, in.Status, in.Model, output, in.Error); err != nil {
		return fmt.Errorf("finish subtask %s: %w", in.SubtaskID, err)
	}
	return nil
}

// EventInput is an entry for a task's event log.
type EventInput struct {
	TaskID uuid.UUID `json:"task_id"`
	// RunID is the run of the task's workflow the event belongs to, if any:
	// each run records its own (see store.AppendRunEvent).
	RunID     string `json:"run_id,omitempty"`
	Kind      string `json:"kind"`
	DedupeKey string `json:"dedupe_key"`
	Payload   any    `json:"payload"`
}

// RecordEvent appends an entry to a task's event log, once per run and
// dedupe key.
func (a *Activities) RecordEvent(ctx context.Context, in EventInput) error {
	if err := a.Store.AppendRunEvent(ctx, in.TaskID, in.RunID, in.Kind, in.DedupeKey, in.Payload); err != nil {
		return fmt.Errorf("record event %s: %w", in.Kind, err)
	}
	return nil
}
