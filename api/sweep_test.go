package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/troupe-dev/troupe/store"
)

// TestHangUpDuringSubmit submits tasks with clients that hang up 5 to 150 ms
// into the request, then retries each with its Idempotency-Key: every key
// ends with exactly one task, and the workflows are exactly the tasks'.
func TestHangUpDuringSubmit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := httptest.NewServer(b.server.Handler())
	t.Cleanup(srv.Close)
	body, err := json.Marshal(map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}})
	require.NoError(t, err)
	submit := func(client *http.Client, key string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/tasks", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		return client.Do(req)
	}
	delays := []time.Duration{5, 10, 15, 20, 30, 40, 50, 75, 100, 150}
	for _, d := range delays {
		resp, err := submit(&http.Client{Timeout: d * time.Millisecond}, fmt.Sprintf("hang-up-%d", d))
		if err == nil {
			require.NoError(t, resp.Body.Close())
		}
	}
	// Let the handlers of the abandoned requests end.
	time.Sleep(2 * time.Second)

	taskIDs := map[string]string{}
	for _, d := range delays {
		key := fmt.Sprintf("hang-up-%d", d)
		resp, err := submit(http.DefaultClient, key)
		require.NoError(t, err)
		var task Task
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&task))
		require.NoError(t, resp.Body.Close())
		require.Contains(t, []int{http.StatusCreated, http.StatusOK}, resp.StatusCode, key)
		taskIDs[key] = task.ID
	}
	require.Equal(t, len(delays), b.countTasks(t), "one task per key")

	tasks, _, err := b.store.ListTasks(t.Context(), store.TaskFilter{TenantID: DefaultTenant, Limit: 200})
	require.NoError(t, err)
	var want []string
	for _, task := range tasks {
		require.Equal(t, taskIDs[task.IdempotencyKey], task.ID.String())
		want = append(want, task.WorkflowID)
	}
	slices.Sort(want)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := b.temporal.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("TaskQueue = %q", b.server.TaskQueue),
		})
		require.NoError(c, err)
		var got []string
		for _, e := range resp.Executions {
			got = append(got, e.Execution.WorkflowId)
		}
		slices.Sort(got)
		require.Equal(c, want, got, "every task has its workflow, and no workflow lacks its task")
	}, 20*time.Second, 200*time.Millisecond)
}

// strand inserts a pending task with no workflow, created age ago, as a
// submit that died between the database write and the start leaves it.
func (b *bundle) strand(t *testing.T, taskType string, age time.Duration) store.Task {
	t.Helper()
	task, created, err := b.store.CreateTask(t.Context(), store.NewTask{
		TenantID: DefaultTenant, Type: taskType, Input: json.RawMessage(`{"prompt": "hi"}`), Model: "mock", Actor: "test",
	})
	require.NoError(t, err)
	require.True(t, created)
	conn, err := pgx.Connect(t.Context(), b.dbURL)
	require.NoError(t, err)
	defer func() { require.NoError(t, conn.Close(context.Background())) }()
	_, err = conn.Exec(t.Context(), `UPDATE tasks SET created_at = created_at - $2::interval WHERE id = $1`, task.ID, age.String())
	require.NoError(t, err)
	return task
}

// requireWorkflow fails unless the workflow of task exists.
func (b *bundle) requireWorkflow(t *testing.T, task store.Task) {
	t.Helper()
	desc, err := b.temporal.DescribeWorkflowExecution(t.Context(), task.WorkflowID, "")
	require.NoError(t, err, "the workflow of task %s", task.ID)
	require.Equal(t, "TaskWorkflow", desc.WorkflowExecutionInfo.Type.Name)
}

func TestSweepStartsStrandedTasks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stranded := b.strand(t, "chat", time.Minute)
	young := b.strand(t, "chat", 0)
	gone := b.strand(t, "no-longer-loaded", time.Minute)

	require.NoError(t, b.server.SweepPending(t.Context()))
	require.NoError(t, b.server.SweepPending(t.Context()), "a second sweep tolerates the started workflow")
	b.requireWorkflow(t, stranded)
	_, err := b.temporal.DescribeWorkflowExecution(t.Context(), young.WorkflowID, "")
	require.Error(t, err, "a task whose submit may still be starting it is left alone")

	failed, err := b.store.GetTask(t.Context(), DefaultTenant, gone.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusFailed, failed.Status)
	require.Contains(t, failed.Error, `the task was never started: its type "no-longer-loaded" can no longer be resolved`)
}

func TestReadStartsStrandedTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stranded := b.strand(t, "chat", time.Minute)
	got := b.api.Get("/v1/tasks/" + stranded.ID.String())
	require.Equal(t, http.StatusOK, got.Code, got.Body.String())
	require.Equal(t, store.StatusPending, decode[Task](t, got.Body.String()).Status)
	b.requireWorkflow(t, stranded)
}

func TestCancelStrandedTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stranded := b.strand(t, "chat", 0)
	resp := b.api.Post("/v1/tasks/" + stranded.ID.String() + "/cancel")
	require.Equal(t, http.StatusAccepted, resp.Code, resp.Body.String())
	require.Equal(t, store.StatusCanceled, decode[Task](t, resp.Body.String()).Status)

	task, err := b.store.GetTask(t.Context(), DefaultTenant, stranded.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCanceled, task.Status)
	for _, eventType := range []string{"task_cancel_requested", "task_canceled"} {
		audit, _, err := b.store.ListAudit(t.Context(), store.AuditFilter{TenantID: DefaultTenant, ResourceID: stranded.ID.String(), EventType: eventType})
		require.NoError(t, err)
		require.Len(t, audit, 1, eventType)
	}
	// A later sweep does not start it.
	require.NoError(t, b.server.SweepPending(t.Context()))
	_, err = b.temporal.DescribeWorkflowExecution(t.Context(), stranded.WorkflowID, "")
	require.Error(t, err)
}

// TestAmbiguousStartKeepsTask submits while Temporal does not answer: the
// start may or may not have happened, so the task is kept pending for the
// reconciler instead of deleted.
func TestAmbiguousStartKeepsTask(t *testing.T) {
	t.Parallel()
	down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	require.NoError(t, err)
	t.Cleanup(down.Close)
	b := setup(t, func(s *Server) { s.Temporal = down })
	resp := b.api.Post("/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}})
	require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	task := decode[Task](t, resp.Body.String())
	require.Equal(t, store.StatusPending, task.Status)
	require.Equal(t, 1, b.countTasks(t))
}
