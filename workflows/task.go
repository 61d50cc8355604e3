// Package workflows holds troupe's Temporal workflow code: the single-agent
// task workflow and the YAML workflow interpreter. Everything here is
// deterministic; I/O happens in activities.
package workflows

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/expr"
	"github.com/troupe-dev/troupe/store"
)

// TaskInput is the input of TaskWorkflow. The agent definition travels with
// it, so a run keeps the definition it started with.
type TaskInput struct {
	TaskID uuid.UUID         `json:"task_id"`
	Type   string            `json:"type"`
	Agent  definitions.Agent `json:"agent"`
	Model  string            `json:"model"`
	Input  json.RawMessage   `json:"input"`
	// Toolset holds the tools the agent may call, and the agents it may run
	// as tools, pinned like the agent.
	Toolset Toolset `json:"toolset,omitzero"`
}

// TaskWorkflow runs a task whose type names an agent: one LLM conversation.
// It marks the task running, calls the agent, and records the outcome.
func TaskWorkflow(ctx workflow.Context, in TaskInput) (activities.Value, error) {
	return runTask(ctx, in.TaskID, in.Type, func(ctx workflow.Context) (activities.Value, error) {
		var input any
		if err := json.Unmarshal(in.Input, &input); err != nil {
			return activities.Value{}, temporal.NewNonRetryableApplicationError("task input is not JSON: "+err.Error(), "bad_input", err)
		}
		msgs, err := agentMessages(&in.Agent, in.Input, expr.Vars{"input": input})
		if err != nil {
			return activities.Value{}, err
		}
		res, err := runAgent(ctx, agentCall{TaskID: in.TaskID, RunID: recordingRun(ctx), Key: "agent", Agent: &in.Agent, Model: in.Model, Messages: msgs, Toolset: in.Toolset})
		return res.Output, err
	})
}

// runTask wraps the body of a task's workflow: it marks the task running,
// runs body, and records the outcome in the store, even when the workflow
// was canceled, before it even started.
func runTask(ctx workflow.Context, taskID uuid.UUID, taskType string, body func(workflow.Context) (activities.Value, error)) (activities.Value, error) {
	var a *activities.Activities
	var out activities.Value
	err := workflow.ExecuteLocalActivity(storeOptions(ctx), a.StartTask, taskID).Get(ctx, nil)
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == activities.ErrTaskEnded {
		// Canceled before this run started it: the task keeps that outcome.
		return out, temporal.NewCanceledError(app.Message())
	}
	if err == nil {
		out, err = body(ctx)
	}
	status, msg := outcome(err)
	finish := activities.FinishInput{TaskID: taskID, Type: taskType, Status: status, Output: out, Error: msg}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if ferr := workflow.ExecuteLocalActivity(storeOptions(dctx), a.FinishTask, finish).Get(dctx, nil); ferr != nil {
		return out, errors.Join(err, ferr)
	}
	return out, err
}

// runsChange is the workflow.GetVersion change id of recording a task's
// steps, tool calls and approvals under the workflow run that makes them,
// so that a run started by a reset records its own: runs started before it
// record them under no run.
const runsChange = "runs"

// recordingRun returns the id of the workflow's run, to record its steps
// under, or "" when replaying a run started before runsChange.
func recordingRun(ctx workflow.Context) string {
	if workflow.GetVersion(ctx, runsChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return ""
	}
	return workflow.GetInfo(ctx).WorkflowExecution.RunID
}

// storeOptions are the options of the local activities that write to the
// store: short attempts, retried until the store answers, for up to half an
// hour. A Postgres outage shorter than that fails no task: the steps wait,
// and what cannot be had again for free (an LLM's answer, a tool's result)
// is recorded once it is back.
func storeOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    10 * time.Second,
		ScheduleToCloseTimeout: storeWriteDeadline,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second},
	})
}

// storeWriteDeadline is how long a store write of a workflow waits for
// Postgres before it fails its task.
const storeWriteDeadline = 30 * time.Minute

// outcome maps a workflow error to the task's terminal status and message.
func outcome(err error) (store.Status, string) {
	var timeout *temporal.TimeoutError
	switch {
	case err == nil:
		return store.StatusCompleted, ""
	case temporal.IsCanceledError(err):
		return store.StatusCanceled, "canceled"
	case errors.As(err, &timeout):
		return store.StatusTimedOut, "timed out: " + errorMessage(err)
	default:
		return store.StatusFailed, errorMessage(err)
	}
}
