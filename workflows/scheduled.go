package workflows

import (
	"cmp"
	"errors"

	"github.com/google/uuid"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/store"
)

// ScheduledTaskInput is the input of ScheduledTaskWorkflow, the action of a
// schedule: the task to create (its ID is set by the workflow) and the
// arguments of its workflow, pinned when the schedule was created. Exactly
// one of Agent and Workflow is set, without a TaskID.
type ScheduledTaskInput struct {
	Task     activities.ScheduledTask `json:"task"`
	Agent    *TaskInput               `json:"agent,omitempty"`
	Workflow *DSLInput                `json:"workflow,omitempty"`
}

// scheduledTaskSpace is the UUID namespace of the ids of scheduled tasks.
var scheduledTaskSpace = uuid.MustParse("6f0b9a52-2c55-4d0e-9a51-3c1f9b0e7d21")

// ScheduledTaskID is the id of the task started by the run runID (the first
// run id of a ScheduledTaskWorkflow): the same for every retry of the run,
// and what the API shows for a schedule's recent actions.
func ScheduledTaskID(runID string) uuid.UUID {
	return uuid.NewSHA1(scheduledTaskSpace, []byte(runID))
}

// ScheduledTaskWorkflow runs one action of a schedule: it creates an
// ordinary task linked to the schedule, then runs the task's workflow
// (task-<id>) as a child and waits for it, so that the schedule's overlap
// policy counts the run as running until its task ends. Canceling this
// workflow (the overlap policies cancel_other and terminate_other) cancels
// the task.
func ScheduledTaskWorkflow(ctx workflow.Context, in ScheduledTaskInput) (activities.Value, error) {
	var a *activities.Activities
	var out activities.Value
	info := workflow.GetInfo(ctx)
	task := in.Task
	task.ID = ScheduledTaskID(info.FirstRunID)
	if err := workflow.ExecuteLocalActivity(storeOptions(ctx), a.CreateScheduledTask, task).Get(ctx, nil); err != nil {
		return out, err
	}
	var child any
	var args any
	switch {
	case in.Agent != nil:
		ti := *in.Agent
		ti.TaskID = task.ID
		child, args = TaskWorkflow, ti
	case in.Workflow != nil:
		di := *in.Workflow
		di.TaskID = task.ID
		child, args = DSLWorkflow, di
	default:
		return out, temporal.NewNonRetryableApplicationError("a scheduled task needs an agent or a workflow", "bad_input", nil)
	}
	opts := workflow.ChildWorkflowOptions{
		WorkflowID:            store.WorkflowID(task.ID),
		TaskQueue:             cmp.Or(task.Queue, info.TaskQueueName),
		WorkflowRunTimeout:    RunTimeout(task.Timeout),
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		ParentClosePolicy:     enums.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation:   true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			TenantKey.ValueSet(task.TenantID),
			TaskTypeKey.ValueSet(task.Type),
			UserHashKey.ValueSet(""),
		),
	}
	if task.Priority > 0 {
		opts.Priority = temporal.Priority{PriorityKey: task.Priority}
	}
	err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, opts), child, args).Get(ctx, &out)
	var started *temporal.ChildWorkflowExecutionAlreadyStartedError
	if errors.As(err, &started) {
		// The API started the task's workflow itself, finding the task
		// pending for long (this run stalled): that run does the task.
		return out, nil
	}
	return out, err
}
