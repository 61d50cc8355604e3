package api

import (
	"context"
	"net/http"
	"testing"
	"time"

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

	b.server.RequireAuth = true
	member, _, err := b.store.CreateAPIKey(t.Context(), store.NewAPIKey{TenantID: DefaultTenant, Role: "member", Name: "ci"})
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, b.api.Get("/v1/workers", "Authorization: Bearer "+member).Code)
}
