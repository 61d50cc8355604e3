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
	b.env.OnActivity(b.acts.StartTask, mock.Anything, mock.Anything).Return(nil).Once()
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
	var sent activities.CallInput
	b.env.OnActivity(b.acts.CallLLM, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CallInput) (activities.CallResult, error) {
			sent = in
			return activities.CallResult{Output: activities.Value{Inline: json.RawMessage(`{"text":"short"}`)}, Model: "gpt-test", InputTokens: 10, OutputTokens: 2}, nil
		}).Once()

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.True(t, b.env.IsWorkflowCompleted())
	require.NoError(t, b.env.GetWorkflowError())
	var out activities.Value
	require.NoError(t, b.env.GetWorkflowResult(&out))
	require.JSONEq(t, `{"text":"short"}`, string(out.Inline))
	require.Equal(t, "gpt-test", sent.Request.Model)
	require.Len(t, sent.Request.Messages, 2)
	require.Equal(t, "Be brief.", sent.Request.Messages[0].Content)
	require.Equal(t, "Summarise: a long story", sent.Request.Messages[1].Content)
	require.Equal(t, store.StatusCompleted, b.finished.Status)
	require.JSONEq(t, `{"text":"short"}`, string(b.finished.Output.Inline))
}

func TestTaskWorkflowSendsGivenMessages(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	b.in.Input = json.RawMessage(`{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"how are you?"}]}`)
	var sent activities.CallInput
	b.env.OnActivity(b.acts.CallLLM, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CallInput) (activities.CallResult, error) {
			sent = in
			return activities.CallResult{Output: activities.Value{Inline: json.RawMessage(`{"text":"fine"}`)}}, nil
		}).Once()

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.NoError(t, b.env.GetWorkflowError())
	require.Len(t, sent.Request.Messages, 4)
	require.Equal(t, "system", sent.Request.Messages[0].Role)
	require.Equal(t, "how are you?", sent.Request.Messages[3].Content)
}

func TestTaskWorkflowFailsAtOnceOnNonRetryableError(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	b.env.OnActivity(b.acts.CallLLM, mock.Anything, mock.Anything).Return(
		activities.CallResult{}, temporal.NewNonRetryableApplicationError("401 unauthorized: bad key", "unauthorized", nil)).Once()

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.Error(t, b.env.GetWorkflowError())
	require.Equal(t, store.StatusFailed, b.finished.Status)
	require.Equal(t, "401 unauthorized: bad key", b.finished.Error)
	b.env.AssertExpectations(t)
}

func TestTaskWorkflowRetriesAfterRateLimit(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	b.env.OnActivity(b.acts.CallLLM, mock.Anything, mock.Anything).Return(
		activities.CallResult{}, temporal.NewApplicationErrorWithOptions("429 rate limited", "rate_limited", temporal.ApplicationErrorOptions{NextRetryDelay: 3 * time.Second})).Twice()
	b.env.OnActivity(b.acts.CallLLM, mock.Anything, mock.Anything).Return(
		activities.CallResult{Output: activities.Value{Inline: json.RawMessage(`{"text":"ok"}`)}}, nil).Once()
	start := b.env.Now()

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.NoError(t, b.env.GetWorkflowError())
	require.Equal(t, store.StatusCompleted, b.finished.Status)
	require.GreaterOrEqual(t, b.env.Now().Sub(start), 6*time.Second, "each retry waits the Retry-After delay")
	b.env.AssertExpectations(t)
}

func TestTaskWorkflowCanceled(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	b.env.OnActivity(b.acts.CallLLM, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, _ activities.CallInput) (activities.CallResult, error) {
			<-ctx.Done() // a long LLM call, aborted by the cancellation
			return activities.CallResult{}, ctx.Err()
		})
	b.env.RegisterDelayedCallback(b.env.CancelWorkflow, time.Second)

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.True(t, temporal.IsCanceledError(b.env.GetWorkflowError()))
	require.Equal(t, store.StatusCanceled, b.finished.Status)
}

func TestTaskWorkflowAsksAgainAfterInvalidStructuredOutput(t *testing.T) {
	t.Parallel()
	b := setupTask(t)
	b.in.Agent.OutputSchema = json.RawMessage(`{"type":"object","required":["approved"],"properties":{"approved":{"type":"boolean"}}}`)
	b.env.OnActivity(b.acts.CallLLM, mock.Anything, mock.Anything).Return(
		activities.CallResult{Invalid: "missing property approved", Content: `{"ok":true}`, InputTokens: 5}, nil).Once()
	var second activities.CallInput
	b.env.OnActivity(b.acts.CallLLM, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CallInput) (activities.CallResult, error) {
			second = in
			return activities.CallResult{Output: activities.Value{Inline: json.RawMessage(`{"approved":true}`)}, InputTokens: 7}, nil
		}).Once()

	b.env.ExecuteWorkflow(TaskWorkflow, b.in)

	require.NoError(t, b.env.GetWorkflowError())
	require.Equal(t, store.StatusCompleted, b.finished.Status)
	msgs := second.Request.Messages
	require.Equal(t, `{"ok":true}`, msgs[len(msgs)-2].Content)
	require.Contains(t, msgs[len(msgs)-1].Content, "missing property approved")
}

func TestTaskWorkflowCanceledBeforeItStarted(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	acts := &activities.Activities{}
	env.RegisterActivity(acts)
	var finished *activities.FinishInput
	env.OnActivity(acts.StartTask, mock.Anything, mock.Anything).Return(func(ctx context.Context, _ uuid.UUID) error {
		<-ctx.Done() // the store is slow; the cancel comes first
		return ctx.Err()
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
