package workflows

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/definitions"
)

func TestScheduledTaskWorkflowCreatesATaskAndRunsItsWorkflow(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	acts := &activities.Activities{}
	env.RegisterActivity(acts)
	var created []activities.ScheduledTask
	env.OnActivity(acts.CreateScheduledTask, mock.Anything, mock.Anything).Return(
		func(_ context.Context, t activities.ScheduledTask) error {
			created = append(created, t)
			return nil
		})
	var child TaskInput
	var childInfo workflow.Info
	env.RegisterWorkflow(TaskWorkflow)
	env.OnWorkflow(TaskWorkflow, mock.Anything, mock.Anything).Return(
		func(ctx workflow.Context, in TaskInput) (activities.Value, error) {
			child, childInfo = in, *workflow.GetInfo(ctx)
			return activities.Value{}, nil
		})
	in := ScheduledTaskInput{
		Task:  activities.ScheduledTask{TenantID: "acme", ScheduleID: "nightly", Type: "summarize", Model: "gpt-test", Input: json.RawMessage(`{"text":"x"}`), Queue: "q1"},
		Agent: &TaskInput{Type: "summarize", Model: "gpt-test", Agent: definitions.Agent{Name: "summarize"}, Input: json.RawMessage(`{"text":"x"}`)},
	}

	env.ExecuteWorkflow(ScheduledTaskWorkflow, in)

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Len(t, created, 1)
	require.Equal(t, "nightly", created[0].ScheduleID)
	require.NotEqual(t, in.Task.ID, created[0].ID, "the workflow sets the task id")
	require.Equal(t, created[0].ID, child.TaskID, "the child runs the created task")
	require.Equal(t, "task-"+created[0].ID.String(), childInfo.WorkflowExecution.ID)
	require.Equal(t, "q1", childInfo.TaskQueueName, "on the task's queue")
}
