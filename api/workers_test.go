package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func idle(ctx workflow.Context) error { return nil }

// GET /v1/workers shows the workers polling troupe's queue, and the backlog
// of a queue no worker polls.
func TestWorkersList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := worker.New(b.temporal, b.server.TaskQueue, worker.Options{Identity: "test-worker@here"})
	w.RegisterWorkflow(idle)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	list := func() []TaskQueue {
		resp := b.api.Get("/v1/workers")
		require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
		return decode[struct{ Items []TaskQueue }](t, resp.Body.String()).Items
	}
	require.Eventually(t, func() bool {
		q := list()[0]
		return q.Name == b.server.TaskQueue && len(q.Workflow.Workers) == 1 && q.Workflow.Workers[0].Identity == "test-worker@here" &&
			len(q.Activity.Workers) == 1
	}, 20*time.Second, 200*time.Millisecond, "the worker shows on both sides of the queue")

	// A queue nobody polls piles up.
	b.server.TaskQueue += "-unpolled"
	_, err := b.temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{TaskQueue: b.server.TaskQueue}, "idle")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		q := list()[0]
		return len(q.Workflow.Workers) == 0 && q.Workflow.Backlog >= 1
	}, 20*time.Second, 200*time.Millisecond, "the backlog of an unpolled queue shows")

	// A queue named only by a submitted task shows while the task waits.
	gpu := "gpu-" + uuid.NewString()[:8]
	created := b.api.Post("/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}, "queue": gpu})
	require.Equal(t, http.StatusCreated, created.Code, created.Body.String())
	require.Eventually(t, func() bool {
		for _, q := range list() {
			if q.Name == gpu {
				return len(q.Workflow.Workers) == 0 && q.Workflow.Backlog >= 1
			}
		}
		return false
	}, 20*time.Second, 200*time.Millisecond, "the task's queue shows, with its backlog and no worker")

	b.server.RequireAuth = true
	member, _, err := b.store.CreateAPIKey(t.Context(), store.NewAPIKey{TenantID: DefaultTenant, Role: "member", Name: "ci"})
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, b.api.Get("/v1/workers", "Authorization: Bearer "+member).Code)
}
