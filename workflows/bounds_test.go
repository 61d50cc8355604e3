package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/store"
)

// requireAppError checks that err holds a non-retryable application error
// of type kind whose message contains msg.
func requireAppError(t *testing.T, err error, kind, msg string) {
	t.Helper()
	require.Error(t, err)
	for e := err; e != nil; e = errors.Unwrap(e) {
		if app, ok := e.(*temporal.ApplicationError); ok && app.Type() == kind {
			require.True(t, app.NonRetryable())
			require.Contains(t, app.Message(), msg)
			return
		}
	}
	require.Failf(t, "no application error of type "+kind, "got %v", err)
}

func TestMapItemsAreCapped(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(_ context.Context, _, _ string, _ int) (activities.CallResult, error) { return text("x", 0), nil })
	docs, err := json.Marshal(map[string]any{"docs": make([]int, definitions.MapItemsLimit+1)})
	require.NoError(t, err)
	_, err = b.run(t, load(t, `
name: many
agents: {s: {system: S}}
steps:
  - map: {id: sums, items: input.docs, concurrency: 50, step: {id: sum, agent: s}}
`), string(docs))
	requireAppError(t, err, "map_items_limit", "map sums: items holds 1001 values; a map runs at most 1000")
	require.Empty(t, b.subtasks, "no item runs")
	require.Equal(t, store.StatusFailed, b.finished.Status)
}

func TestHistoryGuardStopsTheRun(t *testing.T) {
	t.Parallel()
	const flow = `
name: long
agents: {w: {system: W}}
steps:
  - {id: one, agent: w, prompt: "1"}
  - approval: {id: wait, timeout: 1h, on_timeout: approve}
  - {id: two, agent: w, prompt: "2"}
`
	for name, grow := range map[string]func(*dslBundle){
		"events": func(b *dslBundle) { b.env.SetCurrentHistoryLength(historyEventsLimit) },
		"bytes":  func(b *dslBundle) { b.env.SetCurrentHistorySize(historyBytesLimit) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupDSL(t, func(_ context.Context, _, prompt string, _ int) (activities.CallResult, error) {
				return text(prompt, 0), nil
			})
			b.env.RegisterDelayedCallback(func() {
				grow(b)
				b.env.SignalWorkflow("wait", ApprovalSignal{Approved: true})
			}, time.Minute)
			_, err := b.run(t, load(t, flow), `{}`)
			requireAppError(t, err, "history_limit", "it stopped before step two")
			require.Equal(t, []string{"w: 1"}, b.calls, "the steps before the limit ran, none after")
			require.Contains(t, b.finished.Error, "history_limit: the workflow's history holds")
		})
	}
}

func TestHistoryGuardStopsAnAgentTurn(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	m := mockModel(b.env, b.acts, func(context.Context, llm.Request) (activities.CallResult, error) { return reply("x"), nil })
	b.env.SetCurrentHistoryLength(historyEventsLimit + 1)
	b.env.ExecuteWorkflow(TaskWorkflow, b.in)
	requireAppError(t, b.env.GetWorkflowError(), "history_limit", "it stopped before turn 1 of agent summarize")
	require.Empty(t, m.requests())
	require.Equal(t, store.StatusFailed, b.finished.Status)
}

// loopingAgents is a workflow whose steps run the looper agent, which asks
// for the lookup tool again and again, with the tool's file.
func loopingAgents(t *testing.T, budget float64, steps string) definitions.Workflow {
	t.Helper()
	cat, err := definitions.Validate(&definitions.Catalog{}, map[string][]byte{
		"lookup.yaml": []byte("name: lookup\nhttp: {url: \"http://127.0.0.1:1/\"}\n"),
		"fan.yaml": []byte(fmt.Sprintf(`
name: fan
agents: {looper: {system: L, tools: [lookup], max_turns: 50}}
budget: {max_cost_usd: %g}
steps:
%s`, budget, steps)),
	})
	require.NoError(t, err)
	return *cat.Workflows["fan"]
}

func TestConcurrentStepsShareTheBudget(t *testing.T) {
	t.Parallel()
	var branches strings.Builder
	for i := range 4 {
		fmt.Fprintf(&branches, "        - {id: b%d, agent: looper, prompt: \"go\"}\n", i)
	}
	tests := map[string]string{
		"4 parallel branches":  "  - parallel:\n      id: all\n      steps:\n" + branches.String(),
		"a map of 4 at a time": "  - map: {id: all, items: input.docs, concurrency: 4, step: {id: one, agent: looper, prompt: \"go\"}}\n",
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const budget, call = 1.2, 0.1
			b := setupDSL(t, func(_ context.Context, _, _ string, n int) (activities.CallResult, error) {
				res := toolCalls(llm.ToolCall{ID: fmt.Sprint(n), Name: "lookup", Arguments: `{}`})
				res.CostUSD = call
				return res, nil
			})
			tools := &activities.Tools{}
			b.env.RegisterActivity(tools)
			b.env.OnActivity(tools.CallTool, mock.Anything, mock.Anything).Return(activities.ToolOutput{Content: "more", Attempt: 1}, nil)
			b.env.OnActivity((&activities.Activities{}).RecordToolCall, mock.Anything, mock.Anything).Return(nil)

			_, err := b.run(t, loopingAgents(t, budget, steps), `{"docs": [1, 2, 3, 4, 5, 6, 7, 8]}`)

			requireAppError(t, err, "budget_exceeded", "budget exceeded")
			spent := float64(len(b.calls)) * call
			require.LessOrEqual(t, spent, budget+call+1e-9, "the steps spent $%.2f of a $%.2f budget", spent, budget)
			require.GreaterOrEqual(t, len(b.calls), 4, "every step running at once made its first call")
		})
	}
}

func TestFailedStepCarriesItsCost(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(_ context.Context, _, _ string, _ int) (activities.CallResult, error) {
		return jsonAnswer(map[string]any{"wrong": true}, 0.25), nil
	})
	b.env.ExecuteWorkflow(AgentStepWorkflow, StepInput{
		TaskID: uuid.New(), Key: "judge", StepID: "judge", Iteration: 1, Model: "m",
		Agent:    definitions.Agent{Name: "judge", OutputSchema: json.RawMessage(`{"type":"object","required":["ok"]}`)},
		Messages: []llm.Message{{Role: "user", Content: "judge"}},
	})
	err := b.env.GetWorkflowError()
	requireAppError(t, err, "invalid_output", "agent judge gave no valid answer in 3 attempts")
	require.InDelta(t, 0.75, failedCost(err), 1e-9, "the three paid answers are counted")
	require.Len(t, b.results, 1)
	require.Equal(t, "agent judge gave no valid answer in 3 attempts: "+strings.SplitN(b.results[0].Error, ": ", 2)[1], b.results[0].Error, "the subtask keeps the failure's own message")
}

func TestMapRunsAToolStepPerItem(t *testing.T) {
	t.Parallel()
	b := setupDSL(t, func(_ context.Context, _, _ string, _ int) (activities.CallResult, error) { return text("x", 0), nil })
	tools := &activities.Tools{}
	b.env.RegisterActivity(tools)
	b.env.OnActivity(tools.CallTool, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ToolInput) (activities.ToolOutput, error) {
		return activities.ToolOutput{JSON: in.Args, Attempt: 1}, nil
	})
	b.env.OnActivity((&activities.Activities{}).RecordToolCall, mock.Anything, mock.Anything).Return(nil)
	cat, err := definitions.Validate(&definitions.Catalog{}, map[string][]byte{
		"lookup.yaml": []byte("name: lookup\nhttp: {url: \"http://127.0.0.1:1/\"}\n"),
		"each.yaml":   []byte("name: each\nsteps:\n  - map: {id: all, items: input.ids, concurrency: 2, step: {id: one, tool: lookup, args: {id: '{{ item }}'}}}\n"),
	})
	require.NoError(t, err)

	out, err := b.run(t, *cat.Workflows["each"], `{"ids": ["a", "b", "c"]}`)

	require.NoError(t, err)
	require.JSONEq(t, `[{"id": "a"}, {"id": "b"}, {"id": "c"}]`, string(out))
	require.Empty(t, b.calls, "no LLM is involved")
}
