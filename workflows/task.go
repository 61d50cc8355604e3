// Package workflows holds troupe's Temporal workflow code: the single-agent
// task workflow and the YAML workflow interpreter. Everything here is
// deterministic; I/O happens in activities.
package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
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
	// Timeout bounds the whole run; 0 is none.
	Timeout time.Duration `json:"timeout,omitzero"`
}

// TaskWorkflow runs a task whose type names an agent: one LLM conversation.
// The agent's first LLM call marks the task running while it makes its
// request (a run started before callStartsChange marks it before); the
// outcome is recorded at the end.
func TaskWorkflow(ctx workflow.Context, in TaskInput) (activities.Value, error) {
	callStarts := workflow.GetVersion(ctx, callStartsChange, workflow.DefaultVersion, 1) == 1
	return runTask(ctx, in.TaskID, in.Type, in.Timeout, !callStarts, func(ctx workflow.Context) (activities.Value, error) {
		var input any
		if err := json.Unmarshal(in.Input, &input); err != nil {
			return activities.Value{}, temporal.NewNonRetryableApplicationError("task input is not JSON: "+err.Error(), "bad_input", err)
		}
		msgs, err := agentMessages(&in.Agent, in.Input, expr.Vars{"input": input})
		if err != nil {
			return activities.Value{}, err
		}
		res, err := runAgent(ctx, agentCall{TaskID: in.TaskID, RunID: recordingRun(ctx), Key: "agent", Agent: &in.Agent, Model: in.Model, Messages: msgs, Toolset: in.Toolset, StartsTask: callStarts})
		return res.Output, err
	})
}

// callStartsChange is the workflow.GetVersion change id of a task workflow
// whose agent's first LLM call marks the task running
// (activities.CallInput.StartsTask), instead of a local activity before it.
const callStartsChange = "call-starts-task"

// runTask wraps the body of a task's workflow: it marks the task running
// (when start is set; else the body's first step does), runs body (canceled
// when the task's timeout, if any, passes), and records the outcome in the
// store, even when the workflow was canceled, before it even started.
func runTask(ctx workflow.Context, taskID uuid.UUID, taskType string, timeout time.Duration, start bool, body func(workflow.Context) (activities.Value, error)) (activities.Value, error) {
	var a *activities.Activities
	var out activities.Value
	var err error
	if start {
		err = workflow.ExecuteLocalActivity(storeOptions(ctx), a.StartTask, taskID).Get(ctx, nil)
	}
	if err == nil {
		out, err = within(ctx, timeout, body)
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == activities.ErrTaskEnded {
		// Canceled before this run started it: the task keeps that outcome.
		return out, temporal.NewCanceledError(app.Message())
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

// within runs body, canceling it once timeout (when positive) has passed
// since the call; body's error is then a timed_out one.
func within(ctx workflow.Context, timeout time.Duration, body func(workflow.Context) (activities.Value, error)) (activities.Value, error) {
	if timeout <= 0 {
		return body(ctx)
	}
	bctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	tctx, stopTimer := workflow.WithCancel(ctx)
	defer stopTimer()
	timedOut := false
	workflow.Go(tctx, func(gctx workflow.Context) {
		if workflow.NewTimer(gctx, timeout).Get(gctx, nil) == nil {
			timedOut = true
			cancel()
		}
	})
	out, err := body(bctx)
	if timedOut {
		msg := fmt.Sprintf("the task's timeout of %s passed", timeout)
		return out, temporal.NewNonRetryableApplicationError(msg, ErrTaskTimeout, err)
	}
	return out, err
}

// ErrTaskTimeout is the error type of a task stopped by its timeout.
const ErrTaskTimeout = "task_timeout"

// timeoutGrace is how much longer than the task's timeout Temporal lets a
// run live (its run timeout): time for the run to record that it timed out.
const timeoutGrace = 5 * time.Minute

// RunTimeout is the Temporal run timeout of a task with the given timeout:
// the timeout and a grace to record the outcome, or none without one.
func RunTimeout(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return 0
	}
	return timeout + timeoutGrace
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
	var app *temporal.ApplicationError
	switch {
	case err == nil:
		return store.StatusCompleted, ""
	case errors.As(err, &app) && app.Type() == ErrTaskTimeout:
		return store.StatusTimedOut, app.Message()
	case temporal.IsCanceledError(err):
		return store.StatusCanceled, "canceled"
	case errors.As(err, &timeout):
		return store.StatusTimedOut, "timed out: " + errorMessage(err)
	default:
		return store.StatusFailed, errorMessage(err)
	}
}
