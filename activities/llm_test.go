package activities

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

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

// call runs one model turn as the workflow does: the conversation stored,
// CallLLM, then RecordLLMCall.
func (b *bundle) call(schema string) (CallResult, RecordOutput, error) {
	ctx := context.Background()
	conv := Conversation{Key: "agent"}
	msgs := []llm.Message{{Role: "user", Content: "hi"}}
	if _, err := b.env.ExecuteActivity(b.acts.AppendMessages, AppendInput{TaskID: b.task.ID, Conversation: conv, Messages: msgs}); err != nil {
		return CallResult{}, RecordOutput{}, err
	}
	conv.Len = len(msgs)
	req := llm.Request{Model: "gpt-4o-mini"}
	if schema != "" {
		req.OutputSchema = json.RawMessage(schema)
	}
	v, err := b.env.ExecuteActivity(b.acts.CallLLM, CallInput{TaskID: b.task.ID, Conversation: conv, Request: req})
	if err != nil {
		return CallResult{}, RecordOutput{}, err
	}
	var res CallResult
	if err := v.Get(&res); err != nil {
		return res, RecordOutput{}, err
	}
	req.Messages = msgs
	rec, err := b.acts.RecordLLMCall(ctx, RecordInput{TaskID: b.task.ID, Conversation: conv, Request: req, Result: res})
	return res, rec, err
}

func TestCallLLMRecordsTheCallAndCost(t *testing.T) {
	t.Parallel()
	b := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "hello", InputTokens: 1000, OutputTokens: 100}
	})
	res, rec, err := b.call("")
	require.NoError(t, err)
	require.JSONEq(t, `{"text":"hello"}`, string(rec.Output.Inline))
	want := llm.DefaultPrices().Cost("gpt-4o-mini", 1000, 100)
	require.InDelta(t, want, res.CostUSD, 1e-12)

	calls, err := b.acts.Store.ListLLMCalls(context.Background(), "t", b.task.ID)
	require.NoError(t, err)
	require.Len(t, calls, 1)
	require.Equal(t, "openai", calls[0].Provider)
	require.InDelta(t, want, calls[0].CostUSD, 1e-12)
	require.Contains(t, string(calls[0].Request), `"hi"`, "the request is recorded with its messages")
	task, err := b.acts.Store.GetTaskByID(context.Background(), b.task.ID)
	require.NoError(t, err)
	require.EqualValues(t, 1000, task.InputTokens)
	msgs, err := b.acts.Store.Messages(context.Background(), b.task.ID, "agent", 2)
	require.NoError(t, err)
	require.JSONEq(t, `{"role":"assistant","content":"hello"}`, string(msgs[1]), "the answer joins the conversation")
}

// The call and its record are apart: the call writes nothing, so a failed
// record is retried without calling the provider again, and recording twice
// counts the answer once. An answer the database cannot hold as is (a NUL
// byte) is recorded cleaned, not lost.
func TestAPaidAnswerIsRecordedApartFromTheCall(t *testing.T) {
	t.Parallel()
	b := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "nul \u0000 byte", InputTokens: 10, OutputTokens: 2}
	})
	ctx := context.Background()
	conv := Conversation{Key: "agent"}
	require.NoError(t, b.acts.AppendMessages(ctx, AppendInput{TaskID: b.task.ID, Conversation: conv, Messages: []llm.Message{{Role: "user", Content: "hi"}}}))
	conv.Len = 1
	v, err := b.env.ExecuteActivity(b.acts.CallLLM, CallInput{TaskID: b.task.ID, Conversation: conv, Request: llm.Request{Model: "gpt-4o-mini"}})
	require.NoError(t, err)
	var res CallResult
	require.NoError(t, v.Get(&res))
	calls, err := b.acts.Store.ListLLMCalls(ctx, "t", b.task.ID)
	require.NoError(t, err)
	require.Empty(t, calls, "making the call records nothing")

	in := RecordInput{TaskID: b.task.ID, Conversation: conv, Request: llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: "user", Content: "hi"}}}, Result: res}
	for range 2 {
		_, err := b.acts.RecordLLMCall(ctx, in)
		require.NoError(t, err)
	}
	calls, err = b.acts.Store.ListLLMCalls(ctx, "t", b.task.ID)
	require.NoError(t, err)
	require.Len(t, calls, 1)
	task, err := b.acts.Store.GetTaskByID(ctx, b.task.ID)
	require.NoError(t, err)
	require.EqualValues(t, 10, task.InputTokens, "counted once")
}

func TestCallLLMKeepsLargeOutputsInPostgres(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", MaxInline+1)
	b := setup(t, func(int, llm.Request) llmtest.Reply { return llmtest.Reply{Content: big} })
	_, rec, err := b.call("")
	require.NoError(t, err)
	require.Empty(t, rec.Output.Inline, "a large output never goes through workflow history")
	require.NotEmpty(t, rec.Output.Ref)
	data, err := b.acts.load(context.Background(), rec.Output)
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
	_, _, err := b.call("")
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.True(t, app.NonRetryable())
	require.Equal(t, "context_length", app.Type())
	calls, lerr := b.acts.Store.ListLLMCalls(context.Background(), "t", b.task.ID)
	require.NoError(t, lerr)
	require.Len(t, calls, 1, "a failed attempt is recorded by the call")
	require.Equal(t, 400, calls[0].StatusCode)
	require.NotEmpty(t, calls[0].Error)
}

func TestCallLLMReportsInvalidStructuredAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, func(int, llm.Request) llmtest.Reply { return llmtest.Reply{Content: `{"approved": "maybe"}`} })
	res, rec, err := b.call(`{"type":"object","required":["approved"],"properties":{"approved":{"type":"boolean"}}}`)
	require.NoError(t, err)
	require.Contains(t, rec.Invalid, "approved")
	require.Equal(t, `{"approved": "maybe"}`, res.Message.Content)
}

// A conversation's first messages come with its first call instead of
// being read back from Postgres, and its record stores them before the
// answer; a record whose conversation is longer than its request is
// refused, not stored out of place.
func TestAFirstCallCarriesItsMessagesAndItsRecordStoresThem(t *testing.T) {
	t.Parallel()
	got := make(chan []llm.Message, 1)
	b := setup(t, func(_ int, req llm.Request) llmtest.Reply {
		got <- req.Messages
		return llmtest.Reply{Content: "hello", InputTokens: 10, OutputTokens: 1}
	})
	ctx := context.Background()
	first := []llm.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "hi"}}
	conv := Conversation{Key: "agent"}
	v, err := b.env.ExecuteActivity(b.acts.CallLLM, CallInput{TaskID: b.task.ID, Conversation: conv, Unstored: first, Request: llm.Request{Model: "gpt-4o-mini"}})
	require.NoError(t, err)
	require.Equal(t, first, <-got, "the provider got the messages the call carried")
	_, err = b.acts.Store.Messages(ctx, b.task.ID, "agent", 1)
	require.ErrorIs(t, err, store.ErrNotFound, "the call stores nothing")
	var res CallResult
	require.NoError(t, v.Get(&res))

	in := RecordInput{TaskID: b.task.ID, Conversation: conv, Request: llm.Request{Model: "gpt-4o-mini", Messages: first}, Result: res}
	for range 2 { // a retried record stores the same messages at the same places
		_, err := b.acts.RecordLLMCall(ctx, in)
		require.NoError(t, err)
	}
	stored, err := b.acts.Store.Messages(ctx, b.task.ID, "agent", 3)
	require.NoError(t, err)
	for i, want := range append(first, llm.Message{Role: "assistant", Content: "hello"}) {
		raw, _ := json.Marshal(want)
		require.JSONEq(t, string(raw), string(stored[i]))
	}
	_, err = b.acts.Store.Messages(ctx, b.task.ID, "agent", 4)
	require.ErrorIs(t, err, store.ErrNotFound)

	in.Conversation.Len = 3
	_, err = b.acts.RecordLLMCall(ctx, in)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.True(t, app.NonRetryable())
	require.Contains(t, err.Error(), "3 messages stored, but the request has 2")
}

// A task's first call marks it running while it makes its request: the
// task's "started" event comes before the answer's first llm.delta. A task
// canceled before its run started stays canceled: the call gives up at
// once with ErrTaskEnded, which is not retried, and writes no delta.
func TestAFirstCallStartsItsTask(t *testing.T) {
	t.Parallel()
	b := setup(t, func(_ int, req llm.Request) llmtest.Reply {
		if req.Messages[0].Content == "slow" {
			return llmtest.Reply{Content: "never", Delay: 30 * time.Second}
		}
		return llmtest.Reply{Content: "the first token, then more", InputTokens: 10, OutputTokens: 6, ChunkDelay: 5 * time.Millisecond}
	})
	ctx := context.Background()
	call := func(taskID uuid.UUID, prompt string) error {
		_, err := b.env.ExecuteActivity(b.acts.CallLLM, CallInput{TaskID: taskID, Conversation: Conversation{Key: "agent"},
			Unstored: []llm.Message{{Role: "user", Content: prompt}}, Request: llm.Request{Model: "gpt-4o-mini"}, StartsTask: true})
		return err
	}
	require.NoError(t, call(b.task.ID, "hi"))
	task, err := b.acts.Store.GetTaskByID(ctx, b.task.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusRunning, task.Status)
	events, err := b.acts.Store.ListEvents(ctx, "t", b.task.ID, 0, 100)
	require.NoError(t, err)
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	require.Greater(t, len(kinds), 3, "created, started, then the answer in deltas: %v", kinds)
	require.Equal(t, []string{"created", "started"}, kinds[:2])
	for _, k := range kinds[2:] {
		require.Equal(t, DeltaKind, k)
	}

	ended, _, err := b.acts.Store.CreateTask(ctx, store.NewTask{TenantID: "t", Type: "chat", Input: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.NoError(t, b.acts.Store.FinishTask(ctx, ended.ID, "", store.StatusCanceled, nil, "canceled before its workflow started"))
	began := time.Now()
	err = call(ended.ID, "slow")
	require.Less(t, time.Since(began), 20*time.Second, "the request was canceled, not answered")
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, ErrTaskEnded, app.Type())
	require.True(t, app.NonRetryable())
	got, err := b.acts.Store.GetTaskByID(ctx, ended.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCanceled, got.Status)
	events, err = b.acts.Store.ListEvents(ctx, "t", ended.ID, 0, 100)
	require.NoError(t, err)
	for _, e := range events {
		require.NotEqual(t, DeltaKind, e.Kind)
	}
}
