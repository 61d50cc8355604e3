package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
)

// TestOpenAICompatibleAPI drives troupe dev with the official OpenAI Go SDK:
// the models are the agents and workflows, a completion of chat runs a task
// that /v1/tasks shows completed with the same usage, a streamed completion
// of summarize sends chunks, the usage chunk and [DONE], an Idempotency-Key
// replays the same task, an unknown model is a 404 and a bad key a 401 in
// OpenAI's error shape, a reader key a 403, a failed task is not
// retried, and a client hanging up cancels its task unless it asked not to.
func TestOpenAICompatibleAPI(t *testing.T) {
	t.Parallel()
	fake := llmtest.NewServer(t, func(_ int, req llm.Request) llmtest.Reply {
		switch last := req.Messages[len(req.Messages)-1].Content; {
		case strings.Contains(last, "take your time"):
			return llmtest.Reply{Content: "too late", Delay: time.Minute}
		case strings.Contains(last, "fail please"):
			return llmtest.Reply{Status: http.StatusUnauthorized, ErrorCode: "invalid_api_key"}
		case strings.Contains(last, "keep going"):
			return llmtest.Reply{Content: "Kept.", Delay: time.Second}
		}
		return llmtest.Reply{Content: "Durable answer.", InputTokens: 21, OutputTokens: 4}
	})
	s := startDev(t, fake, map[string]string{"TROUPE_AUTH": "apikey"})
	ctx := t.Context()
	key := s.memberKey(t, "acme")
	auth := map[string]string{"Authorization": "Bearer " + key}
	client := s.openAI(key)

	models, err := client.Models.List(ctx)
	require.NoError(t, err)
	var ids []string
	for _, m := range models.Data {
		require.Equal(t, "troupe", m.OwnedBy)
		ids = append(ids, m.ID)
	}
	require.Contains(t, ids, "summarize")
	require.Contains(t, ids, "chat")
	require.Contains(t, ids, "workflow:research_loop", "workflows are models too")

	var resp *http.Response
	answer, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("What is Temporal?")},
	}, option.WithResponseInto(&resp))
	require.NoError(t, err)
	require.Equal(t, "Durable answer.", answer.Choices[0].Message.Content)
	require.Equal(t, "stop", answer.Choices[0].FinishReason)
	require.Equal(t, int64(21), answer.Usage.PromptTokens)
	require.Equal(t, int64(4), answer.Usage.CompletionTokens)
	require.Equal(t, int64(25), answer.Usage.TotalTokens)
	require.Equal(t, answer.ID, resp.Header.Get("X-Troupe-Task-Id"))
	require.Equal(t, "What is Temporal?", lastPrompt(fake), "the conversation is the chat agent's input")
	var task taskJSON
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+answer.ID, nil, auth, &task))
	require.Equal(t, "completed", task.Status)
	require.Equal(t, int64(21), task.InputTokens)

	// Streamed, through the SDK.
	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         "summarize",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage(`{"text": "Temporal makes code durable."}`)},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var content, finish string
	var chunks int
	var usage openai.CompletionUsage
	for stream.Next() {
		c := stream.Current()
		chunks++
		require.Equal(t, "chat.completion.chunk", string(c.Object))
		if len(c.Choices) > 0 {
			content += c.Choices[0].Delta.Content
			finish += c.Choices[0].FinishReason
		}
		if c.Usage.TotalTokens > 0 {
			usage = c.Usage
		}
	}
	require.NoError(t, stream.Err())
	require.GreaterOrEqual(t, chunks, 4, "role, content (in one chunk or more), finish, usage")
	require.Equal(t, "Durable answer.", content)
	require.Equal(t, "stop", finish)
	require.Equal(t, int64(25), usage.TotalTokens)
	require.Contains(t, lastPrompt(fake), "Temporal makes code durable.", "a JSON object is the agent's input")

	// Streamed by hand, with an Idempotency-Key, to see [DONE]; the same
	// key through the SDK answers the same task without calling the model.
	idem := "openai-" + uuid.NewString()
	body, _ := json.Marshal(map[string]any{"model": "chat", "stream": true, "messages": []map[string]string{{"role": "user", "content": "Once only"}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.api+"/v1/chat/completions", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Idempotency-Key", idem)
	raw, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	sse, err := io.ReadAll(raw.Body)
	raw.Body.Close()
	require.NoError(t, err)
	require.Equal(t, "text/event-stream", raw.Header.Get("Content-Type"))
	require.True(t, strings.HasSuffix(string(sse), "data: [DONE]\n\n"), "stream: %s", sse)
	require.NotContains(t, string(sse), `"usage"`, "no usage chunk unless asked")
	calls := fake.Count()
	replay, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Once only")},
	}, option.WithHeader("Idempotency-Key", idem))
	require.NoError(t, err)
	require.Equal(t, raw.Header.Get("X-Troupe-Task-Id"), replay.ID)
	require.Equal(t, calls, fake.Count(), "the replay runs nothing")

	// Errors, in OpenAI's shape through the SDK.
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "no-such-agent", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusNotFound, apiErr.StatusCode)
	require.Equal(t, "model_not_found", apiErr.Code)
	require.Contains(t, apiErr.Message, "no-such-agent")
	stranger := s.openAI("not-a-key")
	_, err = stranger.Models.List(ctx)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
	require.Equal(t, "invalid_api_key", apiErr.Code)

	readerKey, _, err := s.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "acme", Role: store.RoleReader, Name: "openai-reader"})
	require.NoError(t, err)
	reader := s.openAI(readerKey)
	_, err = reader.Models.List(ctx)
	require.NoError(t, err, "a reader may list the models")
	_, err = reader.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusForbidden, apiErr.StatusCode, "but not run a task")
	require.Equal(t, "permission_error", apiErr.Type)

	// A task that fails is an error the SDK does not retry (by default it
	// retries a 500): a retry would run the agent again.
	retrying := s.openAI(key, option.WithMaxRetries(2)) // the SDK's default
	_, err = retrying.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("fail please")},
	})
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusInternalServerError, apiErr.StatusCode)
	require.Equal(t, "task_failed", apiErr.Code)
	failed := 0
	for _, r := range fake.Requests() {
		if r.Messages[len(r.Messages)-1].Content == "fail please" {
			failed++
		}
	}
	require.Equal(t, 1, failed, "one task, one call")

	// A client hanging up cancels its task, unless it asked to keep it
	// running.
	hangUp := func(prompt string, opts ...option.RequestOption) string {
		gone, cancel := context.WithCancel(ctx)
		defer cancel()
		stream := client.Chat.Completions.NewStreaming(gone, openai.ChatCompletionNewParams{
			Model: "chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
		}, opts...)
		require.True(t, stream.Next(), "the role chunk comes at once: %v", stream.Err())
		cancel()
		stream.Close()
		return stream.Current().ID
	}
	waitFor := func(id, status string) {
		deadline := time.Now().Add(time.Minute)
		for task.Status = ""; task.Status != status; time.Sleep(100 * time.Millisecond) {
			require.True(t, time.Now().Before(deadline), "task %s still %s after its client left, want %s", id, task.Status, status)
			require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+id, nil, auth, &task))
		}
	}
	waitFor(hangUp("take your time"), "canceled")
	waitFor(hangUp("keep going", option.WithHeader("X-Troupe-Keep-Running", "true")), "completed")
}

// TestOpenAIStreamsTokens streams a chat completion through the OpenAI Go
// SDK from troupe dev against a slow streaming fake: content chunks arrive
// while the task still runs, they join into the answer, and the usage
// chunk carries the provider's tokens.
func TestOpenAIStreamsTokens(t *testing.T) {
	t.Parallel()
	fake := llmtest.NewServer(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: slowAnswer, InputTokens: 30, OutputTokens: 64, ChunkRunes: 5, ChunkDelay: 40 * time.Millisecond}
	})
	s := startDev(t, fake, nil)
	client := s.openAI(s.memberKey(t, "default"))
	stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
		Model:         "chat",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream slowly")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var content, finish string
	var pieces int
	var usage openai.CompletionUsage
	for stream.Next() {
		c := stream.Current()
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			if pieces++; pieces == 1 {
				var task taskJSON
				require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+c.ID, nil, nil, &task))
				require.Equal(t, "running", task.Status, "the first chunk comes while the model still writes")
			}
			content += c.Choices[0].Delta.Content
		}
		if len(c.Choices) > 0 {
			finish += c.Choices[0].FinishReason
		}
		if c.Usage.TotalTokens > 0 {
			usage = c.Usage
		}
	}
	require.NoError(t, stream.Err())
	require.Equal(t, slowAnswer, content, "the chunks join into the answer")
	require.Greater(t, pieces, 3, "in several chunks, as it was written")
	require.Equal(t, "stop", finish)
	require.Equal(t, int64(30), usage.PromptTokens)
	require.Equal(t, int64(64), usage.CompletionTokens)
	require.Equal(t, int64(94), usage.TotalTokens)
}

// memberKey creates a member key of tenant.
func (s *devStack) memberKey(t testing.TB, tenant string) string {
	t.Helper()
	key, _, err := s.store.CreateAPIKey(context.Background(), store.NewAPIKey{TenantID: tenant, Role: store.RoleMember, Name: "openai sdk"})
	require.NoError(t, err)
	return key
}

// openAI is an OpenAI Go SDK client of s's OpenAI-compatible door with key,
// retrying nothing unless opts say otherwise.
func (s *devStack) openAI(key string, opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{option.WithBaseURL(s.api + "/v1"), option.WithAPIKey(key), option.WithMaxRetries(0)}, opts...)...)
}
