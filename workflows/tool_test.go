package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
)

// toolBundle is what the tool loop tests work with.
type toolBundle struct {
	*taskBundle
	model *fakeModel
	mu    sync.Mutex
	rows  map[string][]store.ToolCall // call id → the states recorded, in order
	made  []activities.ToolInput      // tool calls made
}

// setupTools runs an agent granted lookup (an HTTP tool) and search (an MCP
// server), answered by answer; the tools answer from reply.
func setupTools(t *testing.T, answer func(req llm.Request) activities.CallResult, reply func(in activities.ToolInput) (activities.ToolOutput, error)) *toolBundle {
	t.Helper()
	b := &toolBundle{taskBundle: setupTask(t), rows: map[string][]store.ToolCall{}}
	tools := &activities.Tools{}
	b.env.RegisterActivity(tools)
	b.in.Agent.Tools = []definitions.Grant{{Tool: "lookup"}, {Tool: "search/*"}}
	b.in.Toolset = Toolset{Tools: map[string]*definitions.Tool{
		"lookup": {Name: "lookup", Description: "Look up.", HTTP: &definitions.HTTPTool{URL: "http://x/"}, Input: json.RawMessage(`{"type":"object","required":["id"],"properties":{"id":{"type":"string"}}}`)},
		"search": {Name: "search", MCP: &definitions.MCPServer{URL: "http://y/mcp"}},
	}}
	b.model = mockModel(b.env, b.acts, func(_ context.Context, req llm.Request) (activities.CallResult, error) { return answer(req), nil })
	b.env.OnActivity(tools.ListTools, mock.Anything, mock.Anything).Return([]llm.ToolSpec{{Name: "find", Parameters: json.RawMessage(`{"type":"object"}`)}}, nil)
	b.env.OnActivity(tools.CallTool, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ToolInput) (activities.ToolOutput, error) {
		b.mu.Lock()
		b.made = append(b.made, in)
		b.mu.Unlock()
		return reply(in)
	})
	b.env.OnActivity(b.acts.RecordToolCall, mock.Anything, mock.Anything).Return(func(_ context.Context, c store.ToolCall) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.rows[c.CallID] = append(b.rows[c.CallID], c)
		return nil
	})
	return b
}

// statuses lists the states recorded of each call, in the order of the calls made.
func (b *toolBundle) statuses() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, rows := range b.rows {
		var s []string
		for _, r := range rows {
			s = append(s, string(r.Status))
		}
		out = append(out, rows[0].Tool+":"+strings.Join(s, ">"))
	}
	return out
}

func toolCalls(calls ...llm.ToolCall) activities.CallResult {
	return activities.CallResult{Message: llm.Message{ToolCalls: calls}}
}

func TestToolLoopRunsParallelCallsAndAnswers(t *testing.T) {
	t.Parallel()
	b := setupTools(t, func(req llm.Request) activities.CallResult {
		if res := llmtest.LastToolResults(req); len(res) > 0 {
			return reply(fmt.Sprintf("%s + %s", res[0].Content, res[1].Content))
		}
		return toolCalls(
			llm.ToolCall{ID: "a", Name: "lookup", Arguments: `{"id": "7"}`},
			llm.ToolCall{ID: "b", Name: "search__find", Arguments: `{"q": "otters"}`},
		)
	}, func(in activities.ToolInput) (activities.ToolOutput, error) {
		return activities.ToolOutput{Content: in.Name + " says " + string(in.Args), Attempt: 1}, nil
	})

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.NoError(t, b.env.GetWorkflowError())
	require.JSONEq(t, `{"text": "lookup says {\"id\":\"7\"} + search/find says {\"q\":\"otters\"}"}`, string(b.finished.Output.Inline))
	sent := b.model.requests()
	require.Len(t, sent, 2)
	var names []string
	for _, spec := range sent[0].Tools {
		names = append(names, spec.Name)
	}
	require.Equal(t, []string{"lookup", "search__find"}, names, "MCP tools are offered as server__tool")
	require.ElementsMatch(t, []string{"lookup:running>succeeded", "search/find:running>succeeded"}, b.statuses())
	require.Len(t, b.made, 2)
	byName := map[string]activities.ToolInput{}
	for _, in := range b.made {
		byName[in.Name] = in
	}
	require.Equal(t, "find", byName["search/find"].MCPName, "the MCP call names the server's tool")
	require.NotEqual(t, byName["lookup"].CallID, byName["search/find"].CallID)
	require.Equal(t, toolCallID(b.in.TaskID, "agent#1#0", llm.ToolCall{ID: "a", Name: "lookup", Arguments: `{"id": "7"}`}), byName["lookup"].CallID,
		"a call's id is derived from the task and the call, so retries and replays send the same key")
}

func TestToolLoopTellsTheModelWhatWentWrong(t *testing.T) {
	t.Parallel()
	b := setupTools(t, func(req llm.Request) activities.CallResult {
		if res := llmtest.LastToolResults(req); len(res) > 0 {
			var all []string
			for _, m := range res {
				all = append(all, m.Content)
			}
			return reply(strings.Join(all, " | "))
		}
		return toolCalls(
			llm.ToolCall{ID: "a", Name: "nope", Arguments: `{}`},
			llm.ToolCall{ID: "b", Name: "lookup", Arguments: `{"id": 7}`},
			llm.ToolCall{ID: "c", Name: "lookup", Arguments: `not json`},
			llm.ToolCall{ID: "d", Name: "lookup", Arguments: `{"id": "gone"}`},
			llm.ToolCall{ID: "e", Name: "lookup", Arguments: `{"id": "down"}`},
		)
	}, func(in activities.ToolInput) (activities.ToolOutput, error) {
		if strings.Contains(string(in.Args), "down") {
			return activities.ToolOutput{}, temporal.NewNonRetryableApplicationError("the service is down", "tool_failed", nil)
		}
		return activities.ToolOutput{Content: "HTTP 404 Not Found", IsError: true, Attempt: 1}, nil
	})

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.NoError(t, b.env.GetWorkflowError())
	var out struct{ Text string }
	require.NoError(t, json.Unmarshal(b.finished.Output.Inline, &out))
	parts := strings.Split(out.Text, " | ")
	require.Len(t, parts, 5)
	require.Contains(t, parts[0], `no tool named "nope"`)
	require.Contains(t, parts[1], "id")
	require.Contains(t, parts[2], "JSON object")
	require.Equal(t, "HTTP 404 Not Found", parts[3])
	require.Contains(t, parts[4], "the service is down")
	require.Len(t, b.made, 2, "only calls with valid arguments are made")
	require.ElementsMatch(t, []string{"lookup:failed", "lookup:failed", "lookup:running>failed", "lookup:running>failed"}, b.statuses())
}

func TestToolLoopStopsAtMaxTurns(t *testing.T) {
	t.Parallel()
	b := setupTools(t, func(req llm.Request) activities.CallResult {
		return toolCalls(llm.ToolCall{ID: "x", Name: "lookup", Arguments: `{"id": "1"}`})
	}, func(activities.ToolInput) (activities.ToolOutput, error) {
		return activities.ToolOutput{Content: "again"}, nil
	})
	b.in.Agent.MaxTurns = 3

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	var app *temporal.ApplicationError
	require.ErrorAs(t, b.env.GetWorkflowError(), &app)
	require.Equal(t, "max_turns_exceeded", app.Type())
	require.Equal(t, store.StatusFailed, b.finished.Status)
	require.Contains(t, b.finished.Error, "max_turns")
	require.Len(t, b.model.requests(), 3)
	require.Len(t, b.made, 2, "the last turn's calls are not made")
}

func TestToolLoopWaitsForApproval(t *testing.T) {
	for _, approve := range []bool{true, false} {
		t.Run(fmt.Sprint("approved=", approve), func(t *testing.T) {
			t.Parallel()
			b := setupTools(t, func(req llm.Request) activities.CallResult {
				if res := llmtest.LastToolResults(req); len(res) > 0 {
					return reply(res[0].Content)
				}
				return toolCalls(llm.ToolCall{ID: "x", Name: "lookup", Arguments: `{"id": "1"}`})
			}, func(activities.ToolInput) (activities.ToolOutput, error) {
				return activities.ToolOutput{Content: "found"}, nil
			})
			b.in.Agent.Tools[0].Approval = true
			b.env.RegisterDelayedCallback(func() {
				require.Equal(t, []string{"lookup:pending_approval"}, b.statuses())
				for id := range b.rows {
					b.env.SignalWorkflow(ToolDecisionSignal, ToolDecision{CallID: "another call", Approved: !approve, By: "mallory"})
					b.env.SignalWorkflow(ToolDecisionSignal, ToolDecision{CallID: id, Approved: approve, Comment: "checked", By: "apikey:alice"})
				}
			}, time.Hour)

			b.env.ExecuteWorkflow(TaskWorkflow, b.in)

			require.NoError(t, b.env.GetWorkflowError())
			for _, rows := range b.rows {
				last := rows[len(rows)-1]
				require.Equal(t, "apikey:alice", last.DecidedBy)
				require.Equal(t, "checked", last.Comment)
			}
			if approve {
				require.Equal(t, []string{"lookup:pending_approval>running>succeeded"}, b.statuses())
				require.JSONEq(t, `{"text": "found"}`, string(b.finished.Output.Inline))
			} else {
				require.Equal(t, []string{"lookup:pending_approval>rejected"}, b.statuses())
				require.Empty(t, b.made, "a rejected call is never made")
				require.Contains(t, string(b.finished.Output.Inline), "apikey:alice rejected the call, which did not run: checked")
			}
		})
	}
}

func TestToolLoopCancelEndsAnApprovalWait(t *testing.T) {
	t.Parallel()
	b := setupTools(t, func(llm.Request) activities.CallResult {
		return toolCalls(llm.ToolCall{ID: "x", Name: "lookup", Arguments: `{"id": "1"}`})
	}, func(activities.ToolInput) (activities.ToolOutput, error) { return activities.ToolOutput{}, nil })
	b.in.Agent.Tools[0].Approval = true
	b.env.RegisterDelayedCallback(b.env.CancelWorkflow, time.Hour)

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.True(t, temporal.IsCanceledError(b.env.GetWorkflowError()))
	require.Equal(t, store.StatusCanceled, b.finished.Status)
	require.Equal(t, []string{"lookup:pending_approval>rejected"}, b.statuses())
}

func TestApprovalStepEndsOnCancel(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(context.Context, string, string, int) (activities.CallResult, error) { return text("x", 0), nil })
	wf := load(t, "name: waits\nsteps:\n  - id: ok\n    approval: {message: \"go?\"}\n")
	b.env.RegisterDelayedCallback(b.env.CancelWorkflow, time.Hour)
	_, err := b.run(t, wf, `{}`)
	require.True(t, temporal.IsCanceledError(err), "got %v", err)
	require.Equal(t, store.StatusCanceled, b.finished.Status)
}
