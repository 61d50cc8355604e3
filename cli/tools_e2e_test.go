package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/tool/tooltest"
)

// orderServer is an HTTP tool's server: it records what it receives.
type orderServer struct {
	url  string
	mu   sync.Mutex
	seen []orderRequest
}

type orderRequest struct {
	Path, Query, Key, Auth string
	Body                   map[string]any
}

func newOrderServer(t *testing.T) *orderServer {
	s := &orderServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		s.mu.Lock()
		s.seen = append(s.seen, orderRequest{Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Key: r.Header.Get("Idempotency-Key"), Auth: r.Header.Get("Authorization"), Body: body})
		s.mu.Unlock()
		id, _ := body["order_id"].(string)
		switch {
		case id == "missing":
			http.Error(w, `{"error": "no such order"}`, http.StatusNotFound)
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"order_id": %q, "status": "shipped"}`, id)
		}
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *orderServer) requests() []orderRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// firstUser is the first user message of a request: the scenario's marker.
func firstUser(req llm.Request) string {
	for _, m := range req.Messages {
		if m.Role == "user" {
			return m.Content
		}
	}
	return ""
}

// turns counts the assistant messages of a request: the turns before it.
func turns(req llm.Request) int {
	n := 0
	for _, m := range req.Messages {
		if m.Role == "assistant" {
			n++
		}
	}
	return n
}

func toolNames(req llm.Request) []string {
	var names []string
	for _, t := range req.Tools {
		names = append(names, t.Name)
	}
	return names
}

func call(id, name, args string) llm.ToolCall {
	return llm.ToolCall{ID: id, Name: name, Arguments: args}
}

func TestDevTools(t *testing.T) {
	orders := newOrderServer(t)
	mcpURL, mcpLog := tooltest.ServeHTTP(t)
	stdio, stdioLog := tooltest.StdioServer(t)
	defs := t.TempDir()
	files := map[string]string{
		"lookup_order.yaml": `
name: lookup_order
description: Look up an order by its id.
input:
  type: object
  required: [order_id]
  properties: {order_id: {type: string}}
http:
  method: POST
  url: ` + orders.url + `/orders/lookup
  headers: {Authorization: "Bearer ${ORDERS_TOKEN}"}
  body: {order_id: "{{ args.order_id }}"}
`,
		"order_path.yaml": `
name: order_path
description: Fetch an order by path.
input: {type: object, required: [id], properties: {id: {type: string}}}
http:
  method: GET
  url: ` + orders.url + `/orders/{{ args.id }}?expand={{ args.id }}
`,
		"local.yaml":     "name: local\nmcp:\n  command: " + mustJSON(t, stdio.Command) + "\n  env: " + mustJSON(t, stdio.Env) + "\n",
		"remote.yaml":    "name: remote\nmcp:\n  url: " + mcpURL + "\n",
		"workspace.yaml": "name: workspace\nbuiltin: file_write\n",
		"clerk.yaml": `
name: clerk
prompt: "{{ input.prompt }}"
tools: [lookup_order, order_path, local/*, remote/add, workspace]
`,
		"careful.yaml": `
name: careful
prompt: "{{ input.prompt }}"
tools: [{tool: lookup_order, approval: required}]
`,
		"brief.yaml":  "name: brief\nprompt: \"{{ input.prompt }}\"\ntools: [lookup_order]\nmax_turns: 2\n",
		"long.yaml":   "name: long\nprompt: \"{{ input.prompt }}\"\ntools: [remote/echo]\nmax_turns: 50\n",
		"helper.yaml": "name: helper\ndescription: Answers questions about orders.\nprompt: \"{{ input }}\"\n",
		"boss.yaml":   "name: boss\nprompt: \"{{ input.prompt }}\"\ntools: [agent:helper]\n",
		"pipeline.yaml": `
name: pipeline
steps:
  - id: fetch
    tool: lookup_order
    args: {order_id: "{{ input.order }}"}
  - id: tell
    agent: helper
    prompt: "PIPELINE order {{ steps.fetch.output.order_id }} is {{ steps.fetch.output.status }}"
`,
	}
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(defs, name), []byte(data), 0o644))
	}

	fake := llmtest.NewServer(t, func(_ int, req llm.Request) llmtest.Reply {
		user, results := firstUser(req), llmtest.LastToolResults(req)
		answer := func() llmtest.Reply {
			var parts []string
			for _, m := range results {
				parts = append(parts, m.Content)
			}
			return llmtest.Reply{Content: "done: " + strings.Join(parts, " | "), InputTokens: 10, OutputTokens: 5}
		}
		first := turns(req) == 0
		switch {
		case strings.Contains(user, "HTTP-ORDER") && first:
			return llmtest.Reply{ToolCalls: []llm.ToolCall{call("c1", "lookup_order", `{"order_id": "A-42"}`)}, InputTokens: 10, OutputTokens: 5}
		case strings.Contains(user, "ESCAPE") && first:
			return llmtest.Reply{ToolCalls: []llm.ToolCall{call("c1", "order_path", `{"id": "../../admin?x=1#y"}`)}}
		case strings.Contains(user, "PARALLEL") && first:
			return llmtest.Reply{ToolCalls: []llm.ToolCall{
				call("p1", "local__add", `{"a": 2, "b": 3}`),
				call("p2", "remote__add", `{"a": 10, "b": 20}`),
				call("p3", "lookup_order", `{"order_id": "B-7"}`),
			}}
		case strings.Contains(user, "RECOVER") && first:
			return llmtest.Reply{ToolCalls: []llm.ToolCall{call("r1", "lookup_order", `{"order_id": "missing"}`)}}
		case strings.Contains(user, "RECOVER") && turns(req) == 1:
			return llmtest.Reply{ToolCalls: []llm.ToolCall{call("r2", "lookup_order", `{"order_id": "C-1"}`)}}
		case strings.Contains(user, "LOOPS"):
			return llmtest.Reply{ToolCalls: []llm.ToolCall{call(fmt.Sprintf("l%d", turns(req)), "lookup_order", `{"order_id": "D-1"}`)}}
		case strings.Contains(user, "APPROVE") && first:
			return llmtest.Reply{ToolCalls: []llm.ToolCall{call("a1", "lookup_order", `{"order_id": "E-1"}`)}}
		case strings.Contains(user, "TRAVERSE") && first:
			return llmtest.Reply{ToolCalls: []llm.ToolCall{call("w1", "workspace", `{"path": "../../etc/evil", "content": "x"}`)}}
		case strings.Contains(user, "WRITE") && first:
			return llmtest.Reply{ToolCalls: []llm.ToolCall{call("w1", "workspace", `{"path": "notes/a.md", "content": "hello"}`)}}
		case strings.Contains(user, "DELEGATE") && first:
			return llmtest.Reply{ToolCalls: []llm.ToolCall{call("d1", "agent__helper", `{"input": "HELPER what is order F-1?"}`)}}
		case strings.Contains(user, "HELPER"):
			return llmtest.Reply{Content: "F-1 is lost", InputTokens: 7, OutputTokens: 3}
		case strings.Contains(user, "LONG") && turns(req) < 40:
			return llmtest.Reply{ToolCalls: []llm.ToolCall{call(fmt.Sprintf("e%d", turns(req)), "remote__echo", fmt.Sprintf(`{"text": %q}`, strings.Repeat("x", 2048)))}}
		case strings.Contains(user, "PIPELINE"):
			return llmtest.Reply{Content: "told: " + user}
		}
		return answer()
	})
	s := startDev(t, fake, map[string]string{
		"TROUPE_DEFINITIONS": defs,
		"ORDERS_TOKEN":       "s3cr3t-token",
		"TROUPE_FILE_ROOT":   t.TempDir(),
	})
	ctx := context.Background()

	submit := func(t *testing.T, typ, prompt string) taskJSON {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": typ, "input": map[string]any{"prompt": prompt}}, nil, &task))
		return task
	}
	// completes submits a task and waits until it has completed.
	completes := func(t *testing.T, typ, prompt string) (taskJSON, taskJSON) {
		t.Helper()
		task := submit(t, typ, prompt)
		done := s.waitFor(t, task.ID, "completed", "failed")
		require.Equal(t, "completed", done.Status, done.Error)
		return task, done
	}
	toolCalls := func(t *testing.T, id string) []store.ToolCall {
		calls, err := s.store.ListToolCalls(ctx, "default", uuid.MustParse(id))
		require.NoError(t, err)
		return calls
	}

	t.Run("an HTTP tool gets the arguments, the secret and the idempotency key", func(t *testing.T) {
		task, done := completes(t, "clerk", "HTTP-ORDER please")
		require.JSONEq(t, `{"text": "done: {\"order_id\": \"A-42\", \"status\": \"shipped\"}"}`, string(done.Output))

		calls := toolCalls(t, task.ID)
		require.Len(t, calls, 1)
		require.Equal(t, store.ToolCallSucceeded, calls[0].Status)
		require.Equal(t, "lookup_order", calls[0].Tool)
		var got []orderRequest
		for _, r := range orders.requests() {
			if r.Body["order_id"] == "A-42" {
				got = append(got, r)
			}
		}
		require.Len(t, got, 1)
		require.Equal(t, "/orders/lookup", got[0].Path)
		require.Equal(t, calls[0].CallID, got[0].Key, "the call's id is its Idempotency-Key")
		require.Equal(t, "Bearer s3cr3t-token", got[0].Auth)

		// The model saw the tools and then the result.
		var sawTools, sawResult bool
		for _, req := range fake.Requests() {
			if firstUser(req) != "HTTP-ORDER please" {
				continue
			}
			sawTools = sawTools || slices.Contains(toolNames(req), "lookup_order")
			sawResult = sawResult || len(llmtest.LastToolResults(req)) == 1 && strings.Contains(llmtest.LastToolResults(req)[0].Content, "shipped")
		}
		require.True(t, sawTools && sawResult)
		require.Contains(t, s.eventKinds(t, task.ID), "tool_call.finished")
		lines, err := s.store.ListLogs(ctx, "default", uuid.MustParse(task.ID), 0, 100)
		require.NoError(t, err)
		var messages []string
		for _, l := range lines {
			messages = append(messages, l.Node+": "+l.Message)
		}
		require.Contains(t, messages, "CallTool: tool answered", "the task's log says what its tools did")
		require.Contains(t, messages, "CallLLM: model answered")

		// The conversation, tool calls included, is in llm-calls.
		var llmCalls struct {
			Items []struct {
				Request  json.RawMessage `json:"request"`
				Response json.RawMessage `json:"response"`
			} `json:"items"`
		}
		require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+task.ID+"/llm-calls", nil, nil, &llmCalls))
		require.Len(t, llmCalls.Items, 2)
		require.Contains(t, string(llmCalls.Items[0].Response), `"lookup_order"`)
		require.Contains(t, string(llmCalls.Items[1].Request), `"role":"tool"`)

		// The secret is nowhere: not in history, not in the database.
		history := workflowHistory(t, s.temporal, done.WorkflowID)
		require.NotContains(t, history, "s3cr3t-token")
		require.Contains(t, history, "${ORDERS_TOKEN}", "the definition, not the secret, travels")
		db := dumpDatabase(t, s)
		require.Contains(t, db, "A-42", "the dump holds the call")
		require.NotContains(t, db, "s3cr3t-token")
		recordHistory(t, s.temporal, done.WorkflowID, "tool_loop")
	})

	t.Run("tool arguments cannot change the scheme or the host", func(t *testing.T) {
		completes(t, "clerk", "ESCAPE")
		var found bool
		for _, r := range orders.requests() {
			if strings.HasPrefix(r.Path, "/orders/..%2F") {
				found = true
				require.Equal(t, "/orders/..%2F..%2Fadmin%3Fx=1%23y", r.Path)
				require.Equal(t, "expand=..%2F..%2Fadmin%3Fx%3D1%23y", r.Query)
			}
		}
		require.True(t, found, "the request reached the tool's own host, escaped: %v", orders.requests())
	})

	t.Run("parallel calls over stdio MCP, Streamable HTTP MCP and HTTP", func(t *testing.T) {
		task, done := completes(t, "clerk", "PARALLEL")
		var out struct{ Text string }
		require.NoError(t, json.Unmarshal(done.Output, &out))
		parts := strings.Split(strings.TrimPrefix(out.Text, "done: "), " | ")
		require.Len(t, parts, 3, "results in the order of the calls")
		require.Contains(t, parts[0], "5")
		require.Contains(t, parts[1], "30")
		require.Contains(t, parts[2], "B-7")
		calls := toolCalls(t, task.ID)
		require.Len(t, calls, 3)
		var names []string
		for _, c := range calls {
			require.Equal(t, store.ToolCallSucceeded, c.Status)
			names = append(names, c.Tool)
		}
		require.ElementsMatch(t, []string{"local/add", "remote/add", "lookup_order"}, names)
		ids := map[string]string{}
		for _, c := range calls {
			ids[c.Tool] = c.CallID
		}
		require.Equal(t, []string{ids["local/add"]}, stdioLog.Keys(t, "add"), "the stdio MCP call carried its id in _meta")
		require.Equal(t, []string{ids["remote/add"]}, mcpLog.Keys(t, "add"), "and so did the Streamable HTTP one")
	})

	t.Run("a tool error is fed back and the model recovers", func(t *testing.T) {
		task, done := completes(t, "clerk", "RECOVER")
		require.Contains(t, string(done.Output), "C-1")
		calls := toolCalls(t, task.ID)
		require.Len(t, calls, 2)
		require.Equal(t, store.ToolCallFailed, calls[0].Status)
		require.Contains(t, calls[0].Error, "404")
		require.Equal(t, store.ToolCallSucceeded, calls[1].Status)
	})

	t.Run("max_turns ends a loop that never answers", func(t *testing.T) {
		task := submit(t, "brief", "LOOPS")
		done := s.waitFor(t, task.ID, "completed", "failed")
		require.Equal(t, "failed", done.Status)
		require.Contains(t, done.Error, "max_turns")
		require.Len(t, toolCalls(t, task.ID), 1, "the second turn's calls are not made")
	})

	t.Run("approval before a call: approved, then rejected", func(t *testing.T) {
		for _, approve := range []bool{true, false} {
			task := submit(t, "careful", "APPROVE")
			var pending store.ToolCall
			require.Eventually(t, func() bool {
				calls := toolCalls(t, task.ID)
				if len(calls) == 1 && calls[0].Status == store.ToolCallPendingApproval {
					pending = calls[0]
					return true
				}
				return false
			}, 30*time.Second, 50*time.Millisecond)
			var listed struct {
				Items []struct {
					CallID string `json:"call_id"`
					Status string `json:"status"`
				} `json:"items"`
			}
			require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+task.ID+"/tool-calls", nil, nil, &listed))
			require.Equal(t, "pending_approval", listed.Items[0].Status)
			before := len(orders.requests())
			verb := map[bool]string{true: "approve", false: "reject"}[approve]
			require.Equal(t, http.StatusAccepted, s.call(t, http.MethodPost, "/v1/tasks/"+task.ID+"/tool-calls/"+pending.CallID+"/"+verb, map[string]any{"comment": "checked"}, nil, nil))
			done := s.waitFor(t, task.ID, "completed", "failed")
			require.Equal(t, "completed", done.Status, done.Error)
			calls := toolCalls(t, task.ID)
			require.Len(t, calls, 1)
			require.Contains(t, s.auditEvents(t, task.ID), map[bool]string{true: "tool_call_approved", false: "tool_call_rejected"}[approve])
			if approve {
				require.Equal(t, store.ToolCallSucceeded, calls[0].Status)
				require.Len(t, orders.requests(), before+1)
				require.Contains(t, string(done.Output), "E-1")
			} else {
				require.Equal(t, store.ToolCallRejected, calls[0].Status)
				require.Len(t, orders.requests(), before, "a rejected call is never made")
				require.Contains(t, string(done.Output), "rejected the call")
				require.Contains(t, string(done.Output), "checked")
			}
			require.Equal(t, "anonymous", calls[0].DecidedBy)
		}
	})

	t.Run("file_write refuses a path out of its root", func(t *testing.T) {
		task, done := completes(t, "clerk", "TRAVERSE")
		require.Contains(t, string(done.Output), "outside")
		calls := toolCalls(t, task.ID)
		require.Len(t, calls, 1)
		require.Equal(t, store.ToolCallFailed, calls[0].Status)
	})

	t.Run("an agent delegates to another agent, run as a child with a subtask", func(t *testing.T) {
		task, done := completes(t, "boss", "DELEGATE")
		require.Contains(t, string(done.Output), "F-1 is lost")
		var subtasks struct {
			Items []struct {
				Agent  string `json:"agent"`
				Status string `json:"status"`
			} `json:"items"`
		}
		require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+task.ID+"/subtasks", nil, nil, &subtasks))
		require.Len(t, subtasks.Items, 1)
		require.Equal(t, "helper", subtasks.Items[0].Agent)
		require.Equal(t, "completed", subtasks.Items[0].Status)
	})

	t.Run("a tool step in a workflow calls the tool with no LLM", func(t *testing.T) {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "workflow:pipeline", "input": map[string]any{"order": "G-9"}}, nil, &task))
		done := s.waitFor(t, task.ID, "completed", "failed")
		require.Equal(t, "completed", done.Status, done.Error)
		require.Contains(t, string(done.Output), "PIPELINE order G-9 is shipped")
		calls := toolCalls(t, task.ID)
		require.Len(t, calls, 1)
		require.Equal(t, "lookup_order", calls[0].Tool)
		recordHistory(t, s.temporal, done.WorkflowID, "tool_step")
	})

	t.Run("a 40-turn tool loop keeps its history under 1 MiB", func(t *testing.T) {
		task, done := completes(t, "long", "LONG")
		require.Len(t, toolCalls(t, task.ID), 40)
		size := len(workflowHistory(t, s.temporal, done.WorkflowID))
		require.Less(t, size, 1<<20, "history of 40 turns with 2 KiB results")
		t.Logf("history of a 40-turn loop: %d bytes", size)
	})
}

// workflowHistory returns a workflow's history in Temporal's binary
// encoding, payloads as they are stored: what counts towards history limits,
// and where a secret would show.
func workflowHistory(t *testing.T, temporalAddr, workflowID string) string {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: temporalAddr})
	require.NoError(t, err)
	defer c.Close()
	var b strings.Builder
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, 0)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		data, err := proto.Marshal(e)
		require.NoError(t, err)
		b.Write(data)
	}
	return b.String()
}

// dumpDatabase returns every row of the store's tables as text.
func dumpDatabase(t *testing.T, s *devStack) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var b strings.Builder
	for _, table := range []string{"tasks", "subtasks", "llm_calls", "tool_calls", "messages", "task_events", "audit_logs", "blobs"} {
		var dump *string
		require.NoError(t, conn.QueryRow(context.Background(), "SELECT string_agg(t::text, E'\\n') FROM "+table+" t").Scan(&dump))
		if dump != nil {
			b.WriteString(*dump)
		}
	}
	return b.String()
}

func mustJSON(t *testing.T, v any) string {
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return string(data)
}
