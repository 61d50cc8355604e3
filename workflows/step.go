package workflows

import (
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/llm"
)

// StepInput is the input of AgentStepWorkflow: one agent step of a YAML
// workflow, with its conversation already rendered.
type StepInput struct {
	TaskID uuid.UUID `json:"task_id"`
	// RunID is the run of the task's workflow that records the step
	// (recordingRun), not the child's own.
	RunID     string                `json:"run_id,omitempty"`
	Key       string                `json:"key"`
	StepID    string                `json:"step_id"`
	Iteration int                   `json:"iteration"`
	Agent     definitions.Agent     `json:"agent"`
	Model     string                `json:"model"`
	Messages  []llm.Message         `json:"messages"`
	Timeout   time.Duration         `json:"timeout,omitempty"`
	Retry     *temporal.RetryPolicy `json:"retry,omitempty"`
	// Budget is what the run may still spend in USD; nil means no limit.
	Budget *float64 `json:"budget,omitempty"`
	// Toolset holds the tools the agent may call, and the agents it may run
	// as tools.
	Toolset Toolset `json:"toolset,omitzero"`
}

// StepResult is the output of an agent step with the totals of its calls.
type StepResult = agentResult

// AgentStepWorkflow runs one agent step as a child workflow of the YAML
// workflow interpreter, recorded as a subtask. The error of a failed step
// carries what it spent (see withCost).
func AgentStepWorkflow(ctx workflow.Context, in StepInput) (StepResult, error) {
	var a *activities.Activities
	var subtaskID uuid.UUID
	start := activities.SubtaskStart{TaskID: in.TaskID, RunID: in.RunID, Key: in.Key, StepID: in.StepID, Agent: in.Agent.Name, Iteration: in.Iteration, Model: in.Model}
	if err := workflow.ExecuteLocalActivity(storeOptions(ctx), a.StartSubtask, start).Get(ctx, &subtaskID); err != nil {
		return StepResult{}, err
	}
	res, err := runAgent(ctx, agentCall{
		TaskID: in.TaskID, RunID: in.RunID, SubtaskID: &subtaskID, Key: in.Key, Agent: &in.Agent, Model: in.Model,
		Messages: in.Messages, Timeout: in.Timeout, Retry: in.Retry, Budget: in.Budget, Toolset: in.Toolset,
	})
	err = withCost(err, res.CostUSD)
	status, msg := outcome(err)
	finish := activities.SubtaskFinish{SubtaskID: subtaskID, Status: status, Model: res.Model, Output: res.Output, Error: msg}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if ferr := workflow.ExecuteLocalActivity(storeOptions(dctx), a.FinishSubtask, finish).Get(dctx, nil); ferr != nil && err == nil {
		return res, ferr
	}
	return res, err
}
