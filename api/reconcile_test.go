package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/workflows"
)

// unrecordedTaskWorkflow stands in for TaskWorkflow when the store is away:
// it ends the way the real one would, but records nothing.
func unrecordedTaskWorkflow(_ workflow.Context, in workflows.TaskInput) (activities.Value, error) {
	if strings.Contains(string(in.Input), "FAIL") {
		return activities.Value{}, temporal.NewNonRetryableApplicationError("401 unauthorized: bad key", "unauthorized", nil)
	}
	return activities.Value{Inline: json.RawMessage(`{"text":"answered while Postgres was away"}`)}, nil
}

// A workflow that closed while the store could not record it (its last write
// gave up during a Postgres outage) is read back with its outcome: completed
// with its output, or failed with its error.
func TestReadReconcilesEveryClosedStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := worker.New(b.temporal, b.server.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(unrecordedTaskWorkflow, workflow.RegisterOptions{Name: "TaskWorkflow"})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	for _, c := range []struct {
		text   string
		status store.Status
		check  func(Task)
	}{
		{"all good", store.StatusCompleted, func(got Task) {
			require.JSONEq(t, `{"text":"answered while Postgres was away"}`, string(got.Output))
		}},
		{"FAIL please", store.StatusFailed, func(got Task) { require.Equal(t, "401 unauthorized: bad key", got.Error) }},
	} {
		created := b.api.Post("/v1/tasks", map[string]any{"type": "summarize", "input": map[string]any{"text": c.text}})
		require.Equal(t, http.StatusCreated, created.Code, created.Body.String())
		task := decode[Task](t, created.Body.String())
		require.Eventually(t, func() bool {
			desc, err := b.temporal.DescribeWorkflowExecution(context.Background(), task.WorkflowID, "")
			return err == nil && desc.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING
		}, 30*time.Second, 50*time.Millisecond)
		stored, err := b.store.GetTaskByID(context.Background(), uuid.MustParse(task.ID))
		require.NoError(t, err)
		require.Equal(t, store.StatusPending, stored.Status, "nothing was recorded")

		got := decode[Task](t, b.api.Get("/v1/tasks/"+task.ID).Body.String())
		require.Equal(t, c.status, got.Status)
		c.check(got)
		stored, err = b.store.GetTaskByID(context.Background(), stored.ID)
		require.NoError(t, err)
		require.Equal(t, c.status, stored.Status, "and recorded")
	}
}
