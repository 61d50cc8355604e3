package workflows

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/store"
)

// taskBundle is what the task workflow tests work with.
type taskBundle struct {
	env      *testsuite.TestWorkflowEnvironment
	acts     *activities.Activities
	finished *activities.FinishInput
	in       TaskInput
}

func setupTask(t *testing.T) *taskBundle {
	t.Helper()
	b := &taskBundle{env: newEnv(t), acts: &activities.Activities{}}
	b.env.RegisterActivity(b.acts)
	b.env.OnActivity(b.acts.FinishTask, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FinishInput) error {
			b.finished = &in
			return nil
		}).Once()
	b.in = TaskInput{
		TaskID: uuid.New(), Type: "summarize", Model: "gpt-test",
		Agent: definitions.Agent{Name: "summarize", System: "Be brief.", Prompt: "Summarise: {{ input.text }}"},
		Input: json.RawMessage(`{"text":"a long story"}`),
	}
	return b
}

func TestTaskWorkflowCompletes(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	m := mockModel(b.env, b.acts, func(context.Context, llm.Request) (activities.CallResult, error) {
		res := reply("short")
		res.Model, res.InputTokens, res.OutputTokens = "gpt-test", 10, 2
		return res, nil
	})

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.True(t, b.env.IsWorkflowCompleted())
	require.NoError(t, b.env.GetWorkflowError())
	var out activities.Value
	require.NoError(t, b.env.GetWorkflowResult(&out))
	require.JSONEq(t, `{"text":"short"}`, string(out.Inline))
	sent := m.requests()
	require.Len(t, sent, 1)
	require.Equal(t, "gpt-test", sent[0].Model)
	require.Len(t, sent[0].Messages, 2)
	require.Equal(t, "Be brief.", sent[0].Messages[0].Content)
	require.Equal(t, "Summarise: a long story", sent[0].Messages[1].Content)
	// The first messages went with the call, and were stored with its
	// answer: no write of their own before the first token.
	conv, appends := m.conversation("agent")
	require.Equal(t, append(sent[0].Messages, llm.Message{Role: "assistant", Content: "short"}), conv)
	require.Zero(t, appends)
	// The call marked the task running: no local activity before it (the
	// real StartTask, registered, would fail without a store).
	require.Equal(t, []bool{true}, m.starting())
	require.Equal(t, store.StatusCompleted, b.finished.Status)
	require.JSONEq(t, `{"text":"short"}`, string(b.finished.Output.Inline))
}

func TestTaskWorkflowSendsGivenMessages(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	b.in.Input = json.RawMessage(`{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"how are you?"}]}`)
	m := mockModel(b.env, b.acts, func(context.Context, llm.Request) (activities.CallResult, error) { return reply("fine"), nil })

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.NoError(t, b.env.GetWorkflowError())
	sent := m.requests()[0]
	require.Len(t, sent.Messages, 4)
	require.Equal(t, "system", sent.Messages[0].Role)
	require.Equal(t, "how are you?", sent.Messages[3].Content)
}

func TestTaskWorkflowFailsAtOnceOnNonRetryableError(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	m := mockModel(b.env, b.acts, func(context.Context, llm.Request) (activities.CallResult, error) {
		return activities.CallResult{}, temporal.NewNonRetryableApplicationError("401 unauthorized: bad key", "unauthorized", nil)
	})

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.Error(t, b.env.GetWorkflowError())
	require.Equal(t, store.StatusFailed, b.finished.Status)
	require.Equal(t, "401 unauthorized: bad key", b.finished.Error)
	require.Len(t, m.requests(), 1)
}

func TestTaskWorkflowRetriesAfterRateLimit(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	calls := 0
	mockModel(b.env, b.acts, func(context.Context, llm.Request) (activities.CallResult, error) {
		if calls++; calls <= 2 {
			return activities.CallResult{}, temporal.NewApplicationErrorWithOptions("429 rate limited", "rate_limited", temporal.ApplicationErrorOptions{NextRetryDelay: 3 * time.Second})
		}
		return reply("ok"), nil
	})
	start := b.env.Now()

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.NoError(t, b.env.GetWorkflowError())
	require.Equal(t, store.StatusCompleted, b.finished.Status)
	require.Equal(t, 3, calls)
	require.GreaterOrEqual(t, b.env.Now().Sub(start), 6*time.Second, "each retry waits the Retry-After delay")
}

func TestTaskWorkflowCanceled(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	mockModel(b.env, b.acts, func(ctx context.Context, _ llm.Request) (activities.CallResult, error) {
		<-ctx.Done() // a long LLM call, aborted by the cancellation
		return activities.CallResult{}, ctx.Err()
	})
	b.env.RegisterDelayedCallback(b.env.CancelWorkflow, time.Second)

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.True(t, temporal.IsCanceledError(b.env.GetWorkflowError()))
	require.Equal(t, store.StatusCanceled, b.finished.Status)
}

func TestTaskWorkflowTimesOut(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	mockModel(b.env, b.acts, func(ctx context.Context, _ llm.Request) (activities.CallResult, error) {
		<-ctx.Done() // a call longer than the task may take, aborted at its timeout
		return activities.CallResult{}, ctx.Err()
	})
	b.in.Timeout = time.Second
	start := b.env.Now()

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.True(t, b.env.IsWorkflowCompleted())
	require.ErrorContains(t, b.env.GetWorkflowError(), "the task's timeout of 1s passed")
	require.Equal(t, store.StatusTimedOut, b.finished.Status)
	require.Equal(t, "the task's timeout of 1s passed", b.finished.Error)
	require.Less(t, b.env.Now().Sub(start), time.Minute, "ended at its timeout, not at a call's")
}

func TestTaskWorkflowWithinItsTimeoutCompletes(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	mockModel(b.env, b.acts, func(context.Context, llm.Request) (activities.CallResult, error) { return reply("quick"), nil })
	b.in.Timeout = time.Hour

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.NoError(t, b.env.GetWorkflowError())
	require.Equal(t, store.StatusCompleted, b.finished.Status)
}

func TestTaskWorkflowAsksAgainAfterInvalidStructuredOutput(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	b.in.Agent.OutputSchema = json.RawMessage(`{"type":"object","required":["approved"],"properties":{"approved":{"type":"boolean"}}}`)
	m := mockModel(b.env, b.acts, func(_ context.Context, req llm.Request) (activities.CallResult, error) {
		if len(req.Messages) == 2 {
			return reply(`{"ok":true}`), nil
		}
		return reply(`{"approved":true}`), nil
	})

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.NoError(t, b.env.GetWorkflowError())
	require.Equal(t, store.StatusCompleted, b.finished.Status)
	sent := m.requests()
	require.Len(t, sent, 2)
	msgs := sent[1].Messages
	require.Equal(t, `{"ok":true}`, msgs[len(msgs)-2].Content)
	require.Contains(t, msgs[len(msgs)-1].Content, "approved")
}

func TestTaskWorkflowCanceledBeforeItStarted(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	acts := &activities.Activities{}
	env.RegisterActivity(acts)
	var finished *activities.FinishInput
	mockModel(env, acts, func(ctx context.Context, _ llm.Request) (activities.CallResult, error) {
		<-ctx.Done() // the store is slow to start the task; the cancel comes first
		return activities.CallResult{}, ctx.Err()
	})
	env.OnActivity(acts.FinishTask, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FinishInput) error {
		finished = &in
		return nil
	})
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Second)
	env.ExecuteWorkflow(TaskWorkflow, TaskInput{TaskID: uuid.New(), Type: "chat", Agent: definitions.Agent{Name: "chat"}, Input: json.RawMessage(`{}`)})
	require.Error(t, env.GetWorkflowError())
	require.NotNil(t, finished, "the outcome is recorded even though the task never started")
	require.Equal(t, store.StatusCanceled, finished.Status)
}

func TestTaskWorkflowSurvivesAProviderOutageOfMinutes(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	start := b.env.Now()
	calls := 0
	mockModel(b.env, b.acts, func(context.Context, llm.Request) (activities.CallResult, error) {
		calls++
		// The test suite stops unlimited retries at 10 attempts (about 2.5
		// minutes of this backoff); five attempts, as before, gave up at 15 s.
		if b.env.Now().Sub(start) < 2*time.Minute {
			return activities.CallResult{}, temporal.NewApplicationError("503 upstream", "server_error")
		}
		return reply("back"), nil
	})

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.NoError(t, b.env.GetWorkflowError())
	require.Equal(t, store.StatusCompleted, b.finished.Status)
	require.Greater(t, calls, 5, "retried by time, not by a count of attempts")
	require.Less(t, b.env.Now().Sub(start), 3*time.Minute, "backoff is capped")
}

func TestTaskWorkflowLeavesATaskCanceledBeforeItsStart(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	acts := &activities.Activities{}
	env.RegisterActivity(acts)
	m := mockModel(env, acts, func(context.Context, llm.Request) (activities.CallResult, error) {
		return activities.CallResult{}, temporal.NewNonRetryableApplicationError("task x: the task ended before its workflow started", activities.ErrTaskEnded, nil)
	})
	agent := definitions.Agent{Name: "chat", FallbackModels: []string{"gpt-backup"}}
	env.ExecuteWorkflow(TaskWorkflow, TaskInput{TaskID: uuid.New(), Type: "chat", Agent: agent, Model: "gpt-test", Input: json.RawMessage(`{}`)})
	require.True(t, temporal.IsCanceledError(env.GetWorkflowError()), "got %v", env.GetWorkflowError())
	require.Equal(t, []bool{true}, m.starting(), "one call, which was to start the task; no fallback")
	env.AssertNotCalled(t, "FinishTask", mock.Anything, mock.Anything)
}

func TestTaskWorkflowFallsBackToTheNextModel(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	b.in.Agent.FallbackModels = []string{"gpt-backup", "gpt-last"}
	var models []string
	m := mockModel(b.env, b.acts, func(_ context.Context, req llm.Request) (activities.CallResult, error) {
		models = append(models, req.Model)
		if req.Model == "gpt-test" {
			return activities.CallResult{}, temporal.NewApplicationError("503 upstream", "server_error")
		}
		res := reply("from " + req.Model)
		res.Model = req.Model
		return res, nil
	})

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.NoError(t, b.env.GetWorkflowError())
	require.Equal(t, []string{"gpt-test", "gpt-test", "gpt-test", "gpt-backup"}, models,
		"the primary gets 3 attempts, then the first fallback answers")
	require.Len(t, m.requests(), 4)
	require.Equal(t, store.StatusCompleted, b.finished.Status)
	require.JSONEq(t, `{"text":"from gpt-backup"}`, string(b.finished.Output.Inline))
}

func TestTaskWorkflowDoesNotFallBackOnABadRequest(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	b.in.Agent.FallbackModels = []string{"gpt-backup"}
	var models []string
	mockModel(b.env, b.acts, func(_ context.Context, req llm.Request) (activities.CallResult, error) {
		models = append(models, req.Model)
		return activities.CallResult{}, temporal.NewNonRetryableApplicationError("401 bad key", "unauthorized", nil)
	})

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.ErrorContains(t, b.env.GetWorkflowError(), "401 bad key")
	require.Equal(t, []string{"gpt-test"}, models, "another model cannot fix a refused key")
	require.Equal(t, store.StatusFailed, b.finished.Status)
}
