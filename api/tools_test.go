package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/workflows"
)

// fakeLister answers tools/list for the MCP servers it knows, and records whether each
// listing had a deadline.
type fakeLister struct {
	tools map[string][]llm.ToolSpec
	mu    sync.Mutex
	bound map[string]bool
}

func (f *fakeLister) List(ctx context.Context, server *definitions.Tool) ([]llm.ToolSpec, error) {
	_, hasDeadline := ctx.Deadline()
	f.mu.Lock()
	f.bound[server.Name] = hasDeadline
	f.mu.Unlock()
	tools, ok := f.tools[server.Name]
	if !ok {
		return nil, errors.New("start mcp server: exec: \"nope\": executable file not found in $PATH")
	}
	return tools, nil
}

func TestListTools(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.server.Catalog.Tools = map[string]*definitions.Tool{
		"lookup_order": {Name: "lookup_order", Description: "Look up an order by its id.",
			Input: json.RawMessage(`{"type":"object","required":["order_id"],"properties":{"order_id":{"type":"string"}}}`),
			HTTP:  &definitions.HTTPTool{Method: "POST", URL: "http://127.0.0.1:9000/orders/lookup"}, Approval: true},
		"everything": {Name: "everything", MCP: &definitions.MCPServer{Command: []string{"mcp-server-everything", "stdio"}}},
		"broken":     {Name: "broken", MCP: &definitions.MCPServer{Command: []string{"nope"}}},
		"file_write": {Name: "file_write", Builtin: definitions.BuiltinFileWrite, Queue: "customer-host"},
	}
	lister := &fakeLister{bound: map[string]bool{}, tools: map[string][]llm.ToolSpec{
		"everything": {
			{Name: "echo", Description: "Echoes its input.", Parameters: json.RawMessage(`{"type":"object","properties":{"message":{"type":"string"}}}`)},
			{Name: "get-sum", Description: "Adds two numbers."},
		},
	}}

	list := func() []ToolSummary {
		resp := b.api.Get("/v1/tools")
		require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
		return decode[struct {
			Items []ToolSummary `json:"items"`
		}](t, resp.Body.String()).Items
	}
	items := list()
	require.Len(t, items, 4)
	require.Empty(t, items[1].Tools, "no lister: MCP tools are not listed")
	require.Empty(t, items[1].Error)

	b.server.Tools = lister
	items = list()
	names := make([]string, len(items))
	for i, item := range items {
		names[i] = item.Name
	}
	require.Equal(t, []string{"broken", "everything", "file_write", "lookup_order"}, names)

	broken, everything, fileWrite, lookup := items[0], items[1], items[2], items[3]
	require.Equal(t, "http", lookup.Kind)
	require.True(t, lookup.Approval)
	require.JSONEq(t, string(b.server.Catalog.Tools["lookup_order"].Input), string(lookup.Input))
	require.Equal(t, "Look up an order by its id.", lookup.Description)
	require.Empty(t, lookup.Tools)

	require.Equal(t, "builtin", fileWrite.Kind)
	require.Equal(t, "customer-host", fileWrite.Queue)

	require.Equal(t, "mcp", everything.Kind)
	require.Empty(t, everything.Error)
	require.Len(t, everything.Tools, 2)
	require.Equal(t, "everything/echo", everything.Tools[0].Name)
	require.Equal(t, "Echoes its input.", everything.Tools[0].Description)
	require.JSONEq(t, `{"type":"object","properties":{"message":{"type":"string"}}}`, string(everything.Tools[0].Input))
	require.Equal(t, "everything/get-sum", everything.Tools[1].Name)

	require.Equal(t, "mcp", broken.Kind)
	require.Contains(t, broken.Error, "executable file not found", "a server that fails shows its error; the route does not fail")
	require.Empty(t, broken.Tools)

	require.Equal(t, map[string]bool{"everything": true, "broken": true}, lister.bound, "only MCP servers are listed, each within a deadline")
}

// toolTask creates a task of tenant in the store (its workflow is whatever the test starts).
func (b *bundle) toolTask(t *testing.T, tenant string) store.Task {
	t.Helper()
	task, _, err := b.store.CreateTask(context.Background(), store.NewTask{TenantID: tenant, Type: "assistant", Input: json.RawMessage(`{}`)})
	require.NoError(t, err)
	return task
}

func TestListToolCalls(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	task := b.toolTask(t, DefaultTenant)
	require.NoError(t, b.store.RecordToolCall(ctx, store.ToolCall{TaskID: task.ID, CallID: "call_1", Tool: "lookup_order",
		Arguments: json.RawMessage(`{"order_id":"A-1"}`), Status: store.ToolCallRunning, Attempts: 1}))
	require.NoError(t, b.store.RecordToolCall(ctx, store.ToolCall{TaskID: task.ID, CallID: "call_1", Tool: "lookup_order",
		Result: json.RawMessage(`{"status":"shipped"}`), Status: store.ToolCallSucceeded, Attempts: 2, LatencyMS: 120}))
	require.NoError(t, b.store.RecordToolCall(ctx, store.ToolCall{TaskID: task.ID, CallID: "call_2", Tool: "file_write",
		Arguments: json.RawMessage(`{"path":"../x"}`), Status: store.ToolCallRejected, DecidedBy: "apikey:1", Comment: "no", Error: "rejected"}))

	resp := b.api.Get("/v1/tasks/" + task.ID.String() + "/tool-calls")
	require.Equal(t, http.StatusOK, resp.Code, resp.Body.String())
	calls := decode[struct {
		Items []ToolCall `json:"items"`
	}](t, resp.Body.String()).Items
	require.Len(t, calls, 2)
	first := calls[0]
	require.Equal(t, "call_1", first.CallID)
	require.Equal(t, "lookup_order", first.Tool)
	require.Equal(t, store.ToolCallSucceeded, first.Status)
	require.JSONEq(t, `{"order_id":"A-1"}`, string(first.Arguments))
	require.JSONEq(t, `{"status":"shipped"}`, string(first.Result))
	require.Equal(t, 2, first.Attempts)
	require.Equal(t, int64(120), first.LatencyMS)
	require.NotNil(t, first.FinishedAt)
	require.False(t, first.CreatedAt.IsZero())
	require.Equal(t, store.ToolCallRejected, calls[1].Status)
	require.Equal(t, "apikey:1", calls[1].DecidedBy)
	require.Equal(t, "no", calls[1].Comment)
	require.Equal(t, "rejected", calls[1].Error)

	other := b.toolTask(t, "globex")
	require.Equal(t, http.StatusNotFound, b.api.Get("/v1/tasks/"+other.ID.String()+"/tool-calls").Code, "another tenant's task")
	require.Equal(t, http.StatusNotFound, b.api.Get("/v1/tasks/"+uuid.NewString()+"/tool-calls").Code)
}

// awaitDecisions is a workflow that waits for n tool decisions and returns them.
func awaitDecisions(ctx workflow.Context, n int) ([]workflows.ToolDecision, error) {
	ch := workflow.GetSignalChannel(ctx, workflows.ToolDecisionSignal)
	decisions := make([]workflows.ToolDecision, n)
	for i := range decisions {
		ch.Receive(ctx, &decisions[i])
	}
	return decisions, nil
}

func TestToolCallDecisions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	queue := "tool-decisions-" + uuid.NewString()
	w := worker.New(b.temporal, queue, worker.Options{})
	w.RegisterWorkflow(awaitDecisions)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	task := b.toolTask(t, DefaultTenant)
	// The call is made by a child workflow of the task: the decision goes to the one recorded.
	waiter := task.WorkflowID + "/agent"
	run, err := b.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: waiter, TaskQueue: queue}, awaitDecisions, 2)
	require.NoError(t, err)
	record := func(callID string, status store.ToolCallStatus) {
		require.NoError(t, b.store.RecordToolCall(ctx, store.ToolCall{TaskID: task.ID, CallID: callID, Tool: "file_write",
			Arguments: json.RawMessage(`{"path":"notes.txt"}`), Status: status, WorkflowID: waiter}))
	}
	record("call_a", store.ToolCallPendingApproval)
	record("call_b", store.ToolCallPendingApproval)
	record("call_done", store.ToolCallSucceeded)
	path := func(callID, verb string) string {
		return "/v1/tasks/" + task.ID.String() + "/tool-calls/" + callID + "/" + verb
	}

	require.Equal(t, http.StatusNotFound, b.api.Post(path("call_nope", "approve")).Code, "unknown call")
	other := b.toolTask(t, "globex")
	require.Equal(t, http.StatusNotFound, b.api.Post("/v1/tasks/"+other.ID.String()+"/tool-calls/call_a/approve").Code, "another tenant's task")
	done := b.api.Post(path("call_done", "reject"))
	require.Equal(t, http.StatusConflict, done.Code, done.Body.String())
	require.Contains(t, done.Body.String(), "succeeded")
	for name, resp := range map[string]*http.Response{
		"NUL in the comment":       b.api.Post(path("call_a", "approve"), map[string]any{"comment": "a\u0000"}).Result(),
		"invalid UTF-8 in comment": b.api.Post(path("call_a", "approve"), strings.NewReader("{\"comment\": \"\xfe\"}")).Result(),
		"NUL in the path":          b.api.Post(path("call_a%00", "approve")).Result(),
		"invalid UTF-8 in path":    b.api.Post(path("call_%FF", "reject")).Result(),
		"comment over 2000":        b.api.Post(path("call_a", "reject"), map[string]any{"comment": strings.Repeat("x", 2001)}).Result(),
	} {
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, name)
	}
	require.Empty(t, b.auditRows(t, task.ID.String(), "tool_call_approved"), "refused requests are not audited")
	require.Empty(t, b.auditRows(t, task.ID.String(), "tool_call_rejected"))
	names, _ := b.signals(t, waiter)
	require.Empty(t, names, "refused requests send nothing")

	approved := b.api.Post(path("call_a", "approve"), map[string]any{"comment": "fine"})
	require.Equal(t, http.StatusAccepted, approved.Code, approved.Body.String())
	call := decode[ToolCall](t, approved.Body.String())
	require.Equal(t, "call_a", call.CallID)
	require.Equal(t, "file_write", call.Tool)
	rejected := b.api.Post(path("call_b", "reject"))
	require.Equal(t, http.StatusAccepted, rejected.Code, rejected.Body.String())

	var decisions []workflows.ToolDecision
	require.NoError(t, run.Get(ctx, &decisions), "the workflow received both decisions")
	require.Equal(t, []workflows.ToolDecision{
		{CallID: "call_a", Approved: true, Comment: "fine", By: "anonymous"},
		{CallID: "call_b", Approved: false, By: "anonymous"},
	}, decisions)

	audit := b.auditRows(t, task.ID.String(), "tool_call_approved")
	require.Len(t, audit, 1)
	require.Equal(t, "anonymous", audit[0].Actor)
	require.JSONEq(t, `{"call_id":"call_a","tool":"file_write","comment":"fine"}`, string(audit[0].Metadata))
	require.Len(t, b.auditRows(t, task.ID.String(), "tool_call_rejected"), 1)
}
