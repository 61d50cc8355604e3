package activities

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

// bundle is what the activity tests work with: real store, real OpenAI
// client, fake provider over HTTP.
type bundle struct {
	acts *Activities
	env  *testsuite.TestActivityEnvironment
	task store.Task
}

func setup(t *testing.T, h llmtest.Handler) *bundle {
	t.Helper()
	st := storetest.NewStore(t)
	fake := llmtest.NewServer(t, h)
	acts := &Activities{Store: st, LLM: llm.NewRouter(llm.NewOpenAI(llm.OpenAIConfig{APIKey: "k", BaseURL: fake.URL}), nil), Prices: llm.DefaultPrices()}
	task, _, err := st.CreateTask(context.Background(), store.NewTask{TenantID: "t", Type: "chat", Input: json.RawMessage(`{}`)})
	require.NoError(t, err)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return &bundle{acts: acts, env: env, task: task}
}

func (b *bundle) call(schema string) (CallResult, error) {
	req := llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: "user", Content: "hi"}}}
	if schema != "" {
		req.OutputSchema = json.RawMessage(schema)
	}
	v, err := b.env.ExecuteActivity(b.acts.CallLLM, CallInput{TaskID: b.task.ID, Request: req})
	if err != nil {
		return CallResult{}, err
	}
	var res CallResult
	return res, v.Get(&res)
}

func TestCallLLMRecordsTheCallAndCost(t *testing.T) {
	t.Parallel()
	b := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "hello", InputTokens: 1000, OutputTokens: 100}
	})
	res, err := b.call("")
	require.NoError(t, err)
	require.JSONEq(t, `{"text":"hello"}`, string(res.Output.Inline))
	want := llm.DefaultPrices().Cost("gpt-4o-mini", 1000, 100)
	require.InDelta(t, want, res.CostUSD, 1e-12)

	calls, err := b.acts.Store.ListLLMCalls(context.Background(), "t", b.task.ID)
	require.NoError(t, err)
	require.Len(t, calls, 1)
	require.Equal(t, "openai", calls[0].Provider)
	require.InDelta(t, want, calls[0].CostUSD, 1e-12)
	task, err := b.acts.Store.GetTaskByID(context.Background(), b.task.ID)
	require.NoError(t, err)
	require.EqualValues(t, 1000, task.InputTokens)
}

func TestCallLLMKeepsLargeOutputsInPostgres(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", MaxInline+1)
	b := setup(t, func(int, llm.Request) llmtest.Reply { return llmtest.Reply{Content: big} })
	res, err := b.call("")
	require.NoError(t, err)
	require.Empty(t, res.Output.Inline, "a large output never goes through workflow history")
	require.NotEmpty(t, res.Output.Ref)
	data, err := b.acts.load(context.Background(), res.Output)
	require.NoError(t, err)
	var out map[string]string
	require.NoError(t, json.Unmarshal(data, &out))
	require.Equal(t, big, out["text"])
}

func TestCallLLMClassifiesProviderErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Status: 400, ErrorCode: "context_length_exceeded"}
	})
	_, err := b.call("")
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.True(t, app.NonRetryable())
	require.Equal(t, "context_length", app.Type())
	calls, lerr := b.acts.Store.ListLLMCalls(context.Background(), "t", b.task.ID)
	require.NoError(t, lerr)
	require.Len(t, calls, 1)
	require.Equal(t, 400, calls[0].StatusCode)
	require.NotEmpty(t, calls[0].Error)
}

func TestCallLLMReportsInvalidStructuredAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, func(int, llm.Request) llmtest.Reply { return llmtest.Reply{Content: `{"approved": "maybe"}`} })
	res, err := b.call(`{"type":"object","required":["approved"],"properties":{"approved":{"type":"boolean"}}}`)
	require.NoError(t, err)
	require.Contains(t, res.Invalid, "approved")
	require.Equal(t, `{"approved": "maybe"}`, res.Content)
}
