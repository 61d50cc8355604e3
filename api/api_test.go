package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/devserver"
	"github.com/troupe-dev/troupe/examples"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
	"github.com/troupe-dev/troupe/stream"
	"github.com/troupe-dev/troupe/workflows"
)

// temporalAddr is the embedded Temporal server shared by the package's tests.
var temporalAddr string

func TestMain(m *testing.M) {
	srv, err := devserver.StartTemporal(context.Background(), devserver.TemporalConfig{SearchAttributes: workflows.SearchAttributes()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start Temporal:", err)
		os.Exit(1)
	}
	temporalAddr = srv.Address()
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

// bundle is what an API test works with.
type bundle struct {
	api      humatest.TestAPI
	server   *Server
	store    *store.Store
	temporal client.Client
	// dbURL is the test's own database, for checks and faults the store does not offer.
	dbURL string
}

// setup builds a server on the test's own database; configure, if given,
// changes it before its operations are registered.
func setup(t *testing.T, configure ...func(*Server)) *bundle {
	t.Helper()
	catalog, err := definitions.Load(examples.FS)
	require.NoError(t, err)
	tc, err := client.Dial(client.Options{HostPort: temporalAddr})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	dbURL := storetest.NewDB(t)
	pool, err := store.Connect(t.Context(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	st := store.New(pool)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := stream.NewHub(st, logger)
	ctx, stop := context.WithCancel(context.Background())
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-hubDone)
	})
	s := &Server{
		Store: st, Temporal: tc, Catalog: catalog, Events: hub,
		TaskQueue: "troupe-api-test-" + uuid.NewString(), Namespace: "default", TemporalUI: "http://ui.test",
		DefaultModel: "mock", HashKey: []byte("test-key"), Logger: logger,
	}
	for _, c := range configure {
		c(s)
	}
	_, api := humatest.New(t, Config("http://api.test"))
	s.Register(api)
	return &bundle{api: api, server: s, store: st, temporal: tc, dbURL: dbURL}
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	return v
}

// countTasks counts the tenant's tasks in the store.
func (b *bundle) countTasks(t *testing.T) int {
	t.Helper()
	tasks, _, err := b.store.ListTasks(context.Background(), store.TaskFilter{TenantID: DefaultTenant, Limit: 200})
	require.NoError(t, err)
	return len(tasks)
}

func TestCreateTaskStartsItsWorkflow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp := b.api.Post("/v1/tasks", map[string]any{
		"type": "summarize", "input": map[string]any{"text": "Durable execution."},
		"user_email": "Ada@Example.com", "metadata": map[string]string{"source": "test"},
	})
	require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	task := decode[Task](t, resp.Body.String())
	require.Equal(t, "summarize", task.Type)
	require.Equal(t, store.StatusPending, task.Status)
	require.Equal(t, "mock", task.Model)
	require.Equal(t, "task-"+task.ID, task.WorkflowID)
	require.Equal(t, "http://ui.test/namespaces/default/workflows?query=WorkflowId%3D%22task-"+task.ID+"%22", task.Links.TemporalUI,
		"before its run is known, the link lists the workflow")
	require.Equal(t, "http://ui.test/namespaces/default/workflows/task-x/run-1/history",
		b.server.temporalUILink(store.Task{WorkflowID: "task-x", RunID: "run-1"}), "then it is the run's history")
	require.Equal(t, "/v1/tasks/"+task.ID, resp.Header().Get("Location"))

	desc, err := b.temporal.DescribeWorkflowExecution(context.Background(), task.WorkflowID, "")
	require.NoError(t, err)
	require.Equal(t, "TaskWorkflow", desc.WorkflowExecutionInfo.Type.Name)
	require.Equal(t, b.server.TaskQueue, desc.WorkflowExecutionInfo.TaskQueue)

	stored, err := b.store.GetTask(context.Background(), DefaultTenant, uuid.MustParse(task.ID))
	require.NoError(t, err)
	require.Equal(t, b.server.UserHash(DefaultTenant, "ada@example.com"), stored.UserIDHash, "emails are stored only as a keyed hash, case-insensitively")
	require.NotContains(t, stored.UserIDHash, "example")

	got := b.api.Get("/v1/tasks/" + task.ID)
	require.Equal(t, http.StatusOK, got.Code)
	require.Equal(t, task.ID, decode[Task](t, got.Body.String()).ID)
}

func TestCreateTaskIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}}
	first := b.api.Post("/v1/tasks", "Idempotency-Key: abc-123", body)
	require.Equal(t, http.StatusCreated, first.Code, first.Body.String())
	second := b.api.Post("/v1/tasks", "Idempotency-Key: abc-123", body)
	require.Equal(t, http.StatusOK, second.Code, second.Body.String())
	require.Equal(t, decode[Task](t, first.Body.String()).ID, decode[Task](t, second.Body.String()).ID)
	require.Equal(t, 1, b.countTasks(t))
}

func TestBadInputLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := []struct {
		name   string
		body   any
		status int
		detail string
	}{
		{"malformed JSON", strings.NewReader(`{"type": "summarize", "input": {`), http.StatusBadRequest, ""},
		{"wrong type", map[string]any{"type": 42, "input": map[string]any{"text": "x"}}, http.StatusUnprocessableEntity, "body.type"},
		{"missing type", map[string]any{"input": map[string]any{"text": "x"}}, http.StatusUnprocessableEntity, "type"},
		{"unknown type", map[string]any{"type": "translate", "input": map[string]any{}}, http.StatusUnprocessableEntity, "known types: "},
		{"input not matching the agent's schema", map[string]any{"type": "summarize", "input": map[string]any{"txt": "x"}}, http.StatusUnprocessableEntity, "text"},
		{"bad email", map[string]any{"type": "chat", "input": map[string]any{"prompt": "x"}, "user_email": "nope"}, http.StatusUnprocessableEntity, "email"},
		{"priority out of range", map[string]any{"type": "chat", "input": map[string]any{"prompt": "x"}, "priority": 9}, http.StatusUnprocessableEntity, "priority"},
		{"body over 1 MiB", map[string]any{"type": "summarize", "input": map[string]any{"text": strings.Repeat("a", 1<<20+1)}}, http.StatusRequestEntityTooLarge, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := b.api.Post("/v1/tasks", c.body)
			require.Equal(t, c.status, resp.Code, resp.Body.String())
			require.Equal(t, "application/problem+json", resp.Header().Get("Content-Type"))
			require.Contains(t, resp.Body.String(), c.detail)
		})
	}
	require.Equal(t, 0, b.countTasks(t), "no row is written for bad input")
	workflows, err := b.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: "TaskQueue = '" + b.server.TaskQueue + "'"})
	require.NoError(t, err)
	require.Empty(t, workflows.Executions, "no workflow is started for bad input")
}

func TestUnknownTypeListsKnownTypes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp := b.api.Post("/v1/tasks", map[string]any{"type": "translate", "input": map[string]any{}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code)
	require.Contains(t, resp.Body.String(), "summarize")
	require.Contains(t, resp.Body.String(), "chat")
}

func TestGetTaskBadAndUnknownIDs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bad := b.api.Get("/v1/tasks/not-a-uuid")
	require.Equal(t, http.StatusUnprocessableEntity, bad.Code)
	require.Contains(t, bad.Body.String(), "uuid")
	missing := b.api.Get("/v1/tasks/" + uuid.NewString())
	require.Equal(t, http.StatusNotFound, missing.Code)
	require.Equal(t, "application/problem+json", missing.Header().Get("Content-Type"))
}

func TestListTasksFiltersAndPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 5 {
		typ, input := "summarize", map[string]any{"text": fmt.Sprint(i)}
		if i%2 == 1 {
			typ, input = "chat", map[string]any{"prompt": fmt.Sprint(i)}
		}
		require.Equal(t, http.StatusCreated, b.api.Post("/v1/tasks", map[string]any{"type": typ, "input": input}).Code)
	}
	type page struct {
		Items      []Task `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	var ids []string
	cursor := ""
	for {
		resp := b.api.Get("/v1/tasks?type=summarize&limit=2&cursor=" + cursor)
		require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
		p := decode[page](t, resp.Body.String())
		for _, task := range p.Items {
			require.Equal(t, "summarize", task.Type)
			ids = append(ids, task.ID)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	require.Len(t, ids, 3)
	resp := b.api.Get("/v1/tasks?status=completed")
	require.Empty(t, decode[page](t, resp.Body.String()).Items)
	bad := b.api.Get("/v1/tasks?cursor=garbage")
	require.Equal(t, http.StatusUnprocessableEntity, bad.Code, bad.Body.String())
}

func TestAPIKeysIsolateTenants(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.server.RequireAuth = true
	ctx := context.Background()
	acme, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "acme", Role: "member", Name: "ci"})
	require.NoError(t, err)
	globex, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "globex", Role: "member", Name: "ci"})
	require.NoError(t, err)

	anon := b.api.Get("/v1/tasks")
	require.Equal(t, http.StatusUnauthorized, anon.Code)
	wrong := b.api.Get("/v1/tasks", "Authorization: Bearer trp_unknown")
	require.Equal(t, http.StatusUnauthorized, wrong.Code)

	created := b.api.Post("/v1/tasks", "Authorization: Bearer "+acme, map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}})
	require.Equal(t, http.StatusCreated, created.Code, created.Body.String())
	id := decode[Task](t, created.Body.String()).ID
	require.Equal(t, http.StatusOK, b.api.Get("/v1/tasks/"+id, "Authorization: Bearer "+acme).Code)
	require.Equal(t, http.StatusNotFound, b.api.Get("/v1/tasks/"+id, "Authorization: Bearer "+globex).Code)
	require.Equal(t, http.StatusNotFound, b.api.Post("/v1/tasks/"+id+"/cancel", "Authorization: Bearer "+globex).Code)
	require.Equal(t, http.StatusNotFound, b.api.Post("/v1/tasks/"+id+"/retry", "Authorization: Bearer "+globex).Code)
	require.Equal(t, http.StatusUnauthorized, b.api.Post("/v1/tasks/"+id+"/retry").Code)

	// Tenant-wide reports are for admin keys.
	require.Equal(t, http.StatusForbidden, b.api.Get("/v1/audit", "Authorization: Bearer "+acme).Code)
	require.Equal(t, http.StatusForbidden, b.api.Get("/v1/costs", "Authorization: Bearer "+acme).Code)
	admin, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "acme", Role: store.RoleAdmin, Name: "ops"})
	require.NoError(t, err)
	audit := b.api.Get("/v1/audit", "Authorization: Bearer "+admin)
	require.Equal(t, http.StatusOK, audit.Code)
	require.Contains(t, audit.Body.String(), id)
	other := b.api.Post("/v1/tasks", "Authorization: Bearer "+globex, map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}})
	require.Equal(t, http.StatusCreated, other.Code)
	otherID := decode[Task](t, other.Body.String()).ID
	require.NotContains(t, b.api.Get("/v1/audit", "Authorization: Bearer "+admin).Body.String(), otherID, "an admin sees only its tenant")

	// The audit chain is verified per tenant, by admins.
	require.Equal(t, http.StatusForbidden, b.api.Get("/v1/audit/verify", "Authorization: Bearer "+acme).Code)
	verified := b.api.Get("/v1/audit/verify", "Authorization: Bearer "+admin)
	require.Equal(t, http.StatusOK, verified.Code, verified.Body.String())
	check := decode[struct {
		OK          bool   `json:"ok"`
		Checked     int64  `json:"checked"`
		Head        string `json:"head"`
		FirstBroken *struct {
			ID int64 `json:"id"`
		} `json:"first_broken"`
	}](t, verified.Body.String())
	require.True(t, check.OK)
	require.Nil(t, check.FirstBroken)
	require.GreaterOrEqual(t, check.Checked, int64(1), "the task of acme")
	require.Len(t, check.Head, 64)
}

func TestCancelTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	created := b.api.Post("/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}})
	task := decode[Task](t, created.Body.String())
	resp := b.api.Post("/v1/tasks/" + task.ID + "/cancel")
	require.Equal(t, http.StatusAccepted, resp.Code, resp.Body.String())
	desc, err := b.temporal.DescribeWorkflowExecution(context.Background(), task.WorkflowID, "")
	require.NoError(t, err)
	require.NotNil(t, desc.WorkflowExecutionInfo)
	audit, _, err := b.store.ListAudit(context.Background(), store.AuditFilter{TenantID: DefaultTenant, ResourceID: task.ID, EventType: "task_cancel_requested"})
	require.NoError(t, err)
	require.Len(t, audit, 1)
}

func TestRequestsAreTraced(t *testing.T) {
	t.Parallel()
	b := setup(t)
	spans := tracetest.NewSpanRecorder()
	b.server.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	for _, path := range []string{"/v1/tasks", "/v1/tasks/" + uuid.NewString()} {
		rec := httptest.NewRecorder()
		b.server.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	}
	ended := spans.Ended()
	require.Len(t, ended, 2)
	// Spans are named by route pattern, never by a path holding an id.
	require.Equal(t, "GET /v1/tasks", ended[0].Name())
	require.Equal(t, "GET /v1/tasks/{id}", ended[1].Name())
}

func TestOpenAPIAndHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := b.server.Handler()
	for path, want := range map[string]string{"/openapi.json": `"openapi":"3.1`, "/docs": "<html", "/healthz": "ok", "/readyz": "ready"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, http.StatusOK, rec.Code, path+": "+rec.Body.String())
		require.Contains(t, rec.Body.String(), want, path)
	}
}

func TestWorkflowsListAndValidate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp := b.api.Get("/v1/workflows")
	require.Equal(t, http.StatusOK, resp.Code)
	list := decode[struct {
		Items []WorkflowSummary `json:"items"`
	}](t, resp.Body.String())
	var names []string
	for _, w := range list.Items {
		names = append(names, w.TaskType)
		require.Len(t, w.Hash, 64)
	}
	require.Contains(t, names, "workflow:research_loop")
	require.Contains(t, names, "workflow:research_assessment")

	good := b.api.Post("/v1/workflows/validate", "Content-Type: application/yaml", strings.NewReader("name: two_steps\nsteps:\n  - id: a\n    agent: summarize\n    prompt: \"{{ input.text }}\"\n"))
	require.Equal(t, http.StatusOK, good.Code, good.Body.String())
	require.Contains(t, good.Body.String(), `"valid":true`)

	bad := b.api.Post("/v1/workflows/validate", "Content-Type: application/yaml", strings.NewReader("name: broken\nsteps:\n  - id: a\n    agent: nobody\n"))
	require.Equal(t, http.StatusOK, bad.Code, bad.Body.String())
	out := decode[struct {
		Valid    bool      `json:"valid"`
		Problems []Problem `json:"problems"`
	}](t, bad.Body.String())
	require.False(t, out.Valid)
	require.NotEmpty(t, out.Problems)
	require.Equal(t, 4, out.Problems[0].Line)
	require.Contains(t, out.Problems[0].Message, "nobody")

	// The same YAML as JSON {"yaml": ...} gets the same answer; JSON of any
	// other shape is told what to send.
	wrapped, err := json.Marshal(map[string]string{"yaml": "name: broken\nsteps:\n  - id: a\n    agent: nobody\n"})
	require.NoError(t, err)
	asJSON := b.api.Post("/v1/workflows/validate", "Content-Type: application/json", bytes.NewReader(wrapped))
	require.Equal(t, http.StatusOK, asJSON.Code, asJSON.Body.String())
	require.JSONEq(t, bad.Body.String(), asJSON.Body.String())
	for _, body := range []string{`{"definition": "name: x"}`, `{}`, `name: x`, `{"yaml": 3}`} {
		wrong := b.api.Post("/v1/workflows/validate", "Content-Type: application/json", strings.NewReader(body))
		require.Equal(t, http.StatusUnprocessableEntity, wrong.Code, body)
		require.Contains(t, wrong.Body.String(), `post {\"yaml\"`, body)
	}
}

func TestWorkflowTaskInputIsValidated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp := b.api.Post("/v1/tasks", map[string]any{"type": "workflow:research_loop", "input": map[string]any{"subject": "x"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
	require.Contains(t, resp.Body.String(), "topic")
	require.Equal(t, 0, b.countTasks(t))

	ok := b.api.Post("/v1/tasks", map[string]any{"type": "workflow:research_loop", "input": map[string]any{"topic": "otters"}})
	require.Equal(t, http.StatusCreated, ok.Code, ok.Body.String())
	task := decode[Task](t, ok.Body.String())
	stored, err := b.store.GetTask(context.Background(), DefaultTenant, uuid.MustParse(task.ID))
	require.NoError(t, err)
	require.Equal(t, b.server.Catalog.Workflows["research_loop"].Hash, stored.DefinitionHash, "the run is pinned to the definition's hash")
}

func TestInlineDefinition(t *testing.T) {
	t.Parallel()
	b := setup(t)
	src := "name: inline_one\nsteps:\n  - id: s\n    agent: summarize\n    prompt: \"{{ input.text }}\"\n"
	resp := b.api.Post("/v1/tasks", map[string]any{"type": "workflow:inline_one", "definition": src, "input": map[string]any{"text": "hi"}})
	require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())

	broken := b.api.Post("/v1/tasks", map[string]any{"type": "workflow:x", "definition": "name: x\nsteps:\n  - id: s\n    agent: ghost\n", "input": map[string]any{}})
	require.Equal(t, http.StatusUnprocessableEntity, broken.Code)
	require.Contains(t, broken.Body.String(), "body.definition:4:")
	require.Equal(t, 1, b.countTasks(t))
}

func TestSignalNeedsARunningTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	missing := b.api.Post("/v1/tasks/"+uuid.NewString()+"/signals/approve", map[string]any{"approved": true})
	require.Equal(t, http.StatusNotFound, missing.Code)
	task := b.approvalTask(t)
	sent := b.api.Post("/v1/tasks/"+task.ID+"/signals/publish_ok", map[string]any{"approved": true, "comment": "ship it"})
	require.Equal(t, http.StatusAccepted, sent.Code, sent.Body.String())
	audit, _, err := b.store.ListAudit(context.Background(), store.AuditFilter{TenantID: DefaultTenant, ResourceID: task.ID, EventType: "task_signaled"})
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.Contains(t, string(audit[0].Metadata), "ship it")
}

func TestCostsAndAudit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	created := b.api.Post("/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}, "user_email": "ada@example.com"})
	require.Equal(t, http.StatusCreated, created.Code)
	task := decode[Task](t, created.Body.String())

	costs := b.api.Get("/v1/costs?group_by=type,user")
	require.Equal(t, http.StatusOK, costs.Code, costs.Body.String())
	rows := decode[struct {
		Items []CostRow `json:"items"`
	}](t, costs.Body.String()).Items
	require.Len(t, rows, 1)
	require.Equal(t, "chat", rows[0].Group["type"])
	require.Equal(t, b.server.UserHash(DefaultTenant, "ada@example.com"), rows[0].Group["user"])
	require.EqualValues(t, 1, rows[0].Tasks)
	bad := b.api.Get("/v1/costs?group_by=planet")
	require.Equal(t, http.StatusUnprocessableEntity, bad.Code, bad.Body.String())

	audit := b.api.Get("/v1/audit?resource_id=" + task.ID)
	require.Equal(t, http.StatusOK, audit.Code)
	entries := decode[struct {
		Items []AuditRow `json:"items"`
	}](t, audit.Body.String()).Items
	require.Len(t, entries, 1)
	require.Equal(t, "task_created", entries[0].EventType)
	require.Equal(t, "anonymous", entries[0].Actor)
	require.NotContains(t, audit.Body.String(), "ada@example.com")
}

func TestTerminatedWorkflowEndsItsTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	created := b.api.Post("/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "hi"}})
	require.Equal(t, http.StatusCreated, created.Code)
	task := decode[Task](t, created.Body.String())
	require.NoError(t, b.temporal.TerminateWorkflow(context.Background(), task.WorkflowID, "", "stuck"))

	got := decode[Task](t, b.api.Get("/v1/tasks/"+task.ID).Body.String())
	require.Equal(t, store.StatusFailed, got.Status)
	require.Contains(t, got.Error, "terminated in Temporal")
	require.NotNil(t, got.FinishedAt)
	audit, _, err := b.store.ListAudit(context.Background(), store.AuditFilter{TenantID: DefaultTenant, ResourceID: task.ID, EventType: "task_failed"})
	require.NoError(t, err)
	require.Len(t, audit, 1)
}
