package workflows

import (
	"context"
	"slices"
	"sync"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/llm"
)

// fakeModel stands in for the LLM activities in workflow tests: it keeps
// conversations as the activities keep them in Postgres, hands each request,
// its messages included, to a scripted answer, and records what was sent.
type fakeModel struct {
	mu    sync.Mutex
	convs map[string][]llm.Message
	sent  []llm.Request
	// starts holds each request's CallInput.StartsTask.
	starts []bool
	// appends counts the AppendMessages calls.
	appends int
}

// mockModel mocks AppendMessages, CallLLM and RecordLLMCall of acts in env;
// answer answers each request.
func mockModel(env *testsuite.TestWorkflowEnvironment, acts *activities.Activities, answer func(ctx context.Context, req llm.Request) (activities.CallResult, error)) *fakeModel {
	m := &fakeModel{convs: map[string][]llm.Message{}}
	env.OnActivity(acts.AppendMessages, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AppendInput) error {
		m.put(in.Conversation, in.Messages...)
		m.mu.Lock()
		m.appends++
		m.mu.Unlock()
		return nil
	})
	env.OnActivity(acts.CallLLM, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.CallInput) (activities.CallResult, error) {
		req := in.Request
		m.mu.Lock()
		req.Messages = append(slices.Clone(m.convs[in.Conversation.Key][:in.Conversation.Len]), in.Unstored...)
		m.sent = append(m.sent, req)
		m.starts = append(m.starts, in.StartsTask)
		m.mu.Unlock()
		res, err := answer(ctx, req)
		res.Message.Role = "assistant"
		return res, err
	})
	env.OnActivity(acts.RecordLLMCall, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RecordInput) (activities.RecordOutput, error) {
		msgs, err := in.Unrecorded()
		if err != nil {
			return activities.RecordOutput{}, err
		}
		m.put(in.Conversation, msgs...)
		if len(in.Result.Message.ToolCalls) > 0 {
			return activities.RecordOutput{}, nil
		}
		out, invalid := activities.ParseOutput(in.Request.OutputSchema, in.Result.Message.Content)
		return activities.RecordOutput{Output: activities.Value{Inline: out}, Invalid: invalid}, nil
	})
	return m
}

// put stores msgs at the end of a conversation as it was.
func (m *fakeModel) put(conv activities.Conversation, msgs ...llm.Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.convs[conv.Key] = append(m.convs[conv.Key][:conv.Len], msgs...)
}

// conversation returns the stored messages of the conversation key, and
// how many AppendMessages calls stored messages.
func (m *fakeModel) conversation(key string) ([]llm.Message, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.convs[key]), m.appends
}

// requests returns what was sent, in order.
func (m *fakeModel) requests() []llm.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sent)
}

// reply is an answer with text.
func reply(content string) activities.CallResult {
	return activities.CallResult{Message: llm.Message{Content: content}}
}

// starting returns, for each request in order, whether it started its task.
func (m *fakeModel) starting() []bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.starts)
}
