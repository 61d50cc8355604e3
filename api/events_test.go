package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/ingest"
	"github.com/troupe-dev/troupe/store"
)

func TestIngestedRunIsATask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.server.RequireAuth = true
	ctx := context.Background()
	acme, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "acme", Role: "member", Name: "cron"})
	require.NoError(t, err)
	globex, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "globex", Role: "member", Name: "cron"})
	require.NoError(t, err)
	reader, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "acme", Role: "reader", Name: "ro"})
	require.NoError(t, err)
	auth := "Authorization: Bearer " + acme

	// A single event, then a batch in the wrong order with a duplicate.
	one := b.api.Post("/v1/events", auth, batchOf(map[string]any{"type": "task_ok", "run_id": "r-1", "flow": "etl", "task": "extract",
		"at": "2026-12-04T10:00:05Z", "duration_ms": 4000, "payload": map[string]any{"rows": 3}}))
	require.Equal(t, http.StatusOK, one.Code, one.Body.String())
	res := decode[ingest.EventBatchResult](t, one.Body.String())
	require.Len(t, res.Runs, 1)
	require.Equal(t, "running", res.Runs[0].Status)
	id := res.Runs[0].TaskID

	batch := b.api.Post("/v1/events", auth, map[string]any{"events": []map[string]any{
		{"type": "flow_completed", "run_id": "r-1", "flow": "etl", "at": "2026-12-04T10:00:09Z", "payload": map[string]any{"ok": true}},
		{"type": "task_log", "run_id": "r-1", "flow": "etl", "task": "extract", "id": "l1", "level": "warn", "message": "slow source", "at": "2026-12-04T10:00:03Z"},
		{"type": "task_log", "run_id": "r-1", "flow": "etl", "task": "extract", "id": "l1", "level": "warn", "message": "slow source", "at": "2026-12-04T10:00:03Z"},
		{"type": "flow_started", "run_id": "r-1", "flow": "etl", "at": "2026-12-04T10:00:00Z", "trace_id": strings.Repeat("ab", 16)},
		{"type": "task_started", "run_id": "r-1", "flow": "etl", "task": "extract", "at": "2026-12-04T10:00:01Z"},
	}})
	require.Equal(t, http.StatusOK, batch.Code, batch.Body.String())
	require.Equal(t, "completed", decode[ingest.EventBatchResult](t, batch.Body.String()).Runs[0].Status)

	got := b.api.Get("/v1/tasks/"+id, auth)
	require.Equal(t, http.StatusOK, got.Code, got.Body.String())
	task := decode[Task](t, got.Body.String())
	require.Equal(t, store.SourceExternal, task.Source)
	require.Equal(t, "etl", task.Type)
	require.Equal(t, store.StatusCompleted, task.Status)
	require.Empty(t, task.WorkflowID)
	require.Empty(t, task.Links.TemporalUI, "no workflow, no link")
	require.Empty(t, task.Queue)
	require.Equal(t, strings.Repeat("ab", 16), task.TraceID)
	require.Equal(t, "2026-12-04T10:00:00Z", task.StartedAt.UTC().Format("2006-01-02T15:04:05Z"))

	logs := decode[struct{ Items []Log }](t, b.api.Get("/v1/tasks/"+id+"/logs", auth).Body.String()).Items
	require.Len(t, logs, 1)
	require.Equal(t, "slow source", logs[0].Message)
	require.Equal(t, "extract", logs[0].Node)
	subtasks := b.api.Get("/v1/tasks/"+id+"/subtasks", auth)
	require.Contains(t, subtasks.Body.String(), `"status":"completed"`)

	list := b.api.Get("/v1/tasks?source=external", auth)
	require.Contains(t, list.Body.String(), id)
	require.NotContains(t, b.api.Get("/v1/tasks?source=troupe", auth).Body.String(), id)

	// Troupe cannot act on a run it does not run.
	require.Equal(t, http.StatusConflict, b.api.Post("/v1/tasks/"+id+"/retry", auth).Code)
	open := b.api.Post("/v1/events", auth, batchOf(map[string]any{"type": "flow_started", "run_id": "r-2", "flow": "etl"}))
	openID := decode[ingest.EventBatchResult](t, open.Body.String()).Runs[0].TaskID
	cancel := b.api.Post("/v1/tasks/"+openID+"/cancel", auth)
	require.Equal(t, http.StatusConflict, cancel.Code, cancel.Body.String())
	require.Contains(t, cancel.Body.String(), "reported from outside")

	// Another tenant sees nothing, and its run of the same id is its own.
	require.Equal(t, http.StatusNotFound, b.api.Get("/v1/tasks/"+id, "Authorization: Bearer "+globex).Code)
	require.Equal(t, http.StatusNotFound, b.api.Get("/v1/tasks/"+id+"/logs", "Authorization: Bearer "+globex).Code)
	theirs := b.api.Post("/v1/events", "Authorization: Bearer "+globex, batchOf(map[string]any{"type": "flow_started", "run_id": "r-1", "flow": "etl"}))
	require.Equal(t, http.StatusOK, theirs.Code)
	require.NotEqual(t, id, decode[ingest.EventBatchResult](t, theirs.Body.String()).Runs[0].TaskID)
	// A reader reports nothing.
	require.Equal(t, http.StatusForbidden, b.api.Post("/v1/events", "Authorization: Bearer "+reader,
		batchOf(map[string]any{"type": "flow_started", "run_id": "r-3", "flow": "etl"})).Code)
}

func TestIngestRefusesBadEventsWhole(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, body := range map[string]any{
		"unknown type":   batchOf(map[string]any{"type": "flow_paused", "run_id": "r", "flow": "f"}),
		"no run id":      batchOf(map[string]any{"type": "flow_started", "flow": "f"}),
		"node with none": map[string]any{"events": []map[string]any{{"type": "flow_started", "run_id": "r", "flow": "f"}, {"type": "task_ok", "run_id": "r", "flow": "f"}}},
		"empty batch":    map[string]any{"events": []any{}},
		"bad trace id":   batchOf(map[string]any{"type": "flow_started", "run_id": "r", "flow": "f", "trace_id": "xyz"}),
		"a bare event":   map[string]any{"type": "flow_started", "run_id": "r", "flow": "f"},
	} {
		resp := b.api.Post("/v1/events", body)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Code, name+": "+resp.Body.String())
		require.Equal(t, "application/problem+json", resp.Header().Get("Content-Type"), name)
	}
	require.Zero(t, b.countTasks(t), "a refused batch writes nothing")
}

func TestIngestClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := httptest.NewServer(b.server.Handler())
	t.Cleanup(srv.Close)
	c := ingest.NewClient(srv.URL, "")
	ctx := context.Background()
	run := c.Run("backup", "2026-12-04")
	require.NoError(t, run.Started(ctx, map[string]string{"target": "s3"}))
	node := run.Node("dump")
	require.NoError(t, node.Started(ctx))
	require.NoError(t, node.Log(ctx, "info", "dumped 3 tables", map[string]int{"tables": 3}))
	require.NoError(t, node.Err(ctx, context.DeadlineExceeded))
	require.NoError(t, run.Completed(ctx, nil, context.DeadlineExceeded))

	task, err := b.store.GetTask(ctx, DefaultTenant, store.ExternalTaskID(DefaultTenant, "2026-12-04"))
	require.NoError(t, err)
	require.Equal(t, store.StatusFailed, task.Status)
	require.Equal(t, "context deadline exceeded", task.Error)
	require.JSONEq(t, `{"target":"s3"}`, string(task.Input))
	logs, err := b.store.ListLogs(ctx, DefaultTenant, task.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.JSONEq(t, `{"tables":3}`, string(logs[0].Attrs))

	_, err = c.Send(ctx, ingest.FlowEvent{Type: "nope", RunID: "r", Flow: "f"})
	var apiErr *ingest.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnprocessableEntity, apiErr.Status)
}

// batchOf is the body of POST /v1/events reporting events.
func batchOf(events ...map[string]any) map[string]any {
	return map[string]any{"events": events}
}
