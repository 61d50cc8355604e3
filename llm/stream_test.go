package llm_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
)

// collector gathers the deltas of a streamed call.
type collector struct {
	mu     sync.Mutex
	pieces []string
}

func (c *collector) add(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pieces = append(c.pieces, text)
}

func (c *collector) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.pieces...)
}

func TestOpenAIChatStream(t *testing.T) {
	t.Parallel()
	cost := 0.0042
	client, srv := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "Paris is the capital of France.", InputTokens: 21, OutputTokens: 8, Cost: &cost, ChunkRunes: 5}
	})
	var deltas collector
	resp, err := client.ChatStream(t.Context(), userRequest("gpt-4o-mini", "Capital of France?"), deltas.add)
	require.NoError(t, err)
	require.Equal(t, llm.Response{
		Content:      "Paris is the capital of France.",
		Model:        "gpt-4o-mini",
		Provider:     "openai",
		InputTokens:  21,
		OutputTokens: 8,
		ReportedCost: &cost,
		FinishReason: "stop",
	}, resp, "tokens and cost are the usage chunk's")
	require.Equal(t, []string{"Paris", " is t", "he ca", "pital", " of F", "rance", "."}, deltas.got())
	require.Equal(t, []bool{true}, srv.Streamed())
}

func TestOpenAIChatStreamToolCalls(t *testing.T) {
	t.Parallel()
	calls := []llm.ToolCall{
		{ID: "call_1", Name: "add", Arguments: `{"a":2,"b":3}`},
		{ID: "call_2", Name: "echo", Arguments: `{"text":"héllo wörld"}`},
	}
	client, _ := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{ToolCalls: calls, InputTokens: 40, OutputTokens: 12, ChunkRunes: 3}
	})
	req := userRequest("gpt-4o", "add and echo")
	req.Tools = []llm.ToolSpec{{Name: "add"}, {Name: "echo"}}
	var deltas collector
	resp, err := client.ChatStream(t.Context(), req, deltas.add)
	require.NoError(t, err)
	require.Equal(t, calls, resp.ToolCalls, "the arguments are put together from their pieces")
	require.Equal(t, "tool_calls", resp.FinishReason)
	require.Empty(t, resp.Content)
	require.Empty(t, deltas.got(), "tool calls are not content")
	require.Equal(t, int64(40), resp.InputTokens)
	require.Equal(t, int64(12), resp.OutputTokens)
}

func TestOpenAIChatStreamWithoutUsage(t *testing.T) {
	t.Parallel()
	client, _ := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "twelve bytes", InputTokens: 99, OutputTokens: 99, NoUsage: true}
	})
	req := userRequest("gpt-4o", "hi")
	resp, err := client.ChatStream(t.Context(), req, func(string) {})
	require.NoError(t, err)
	require.Equal(t, "twelve bytes", resp.Content)
	require.Equal(t, int64((len("You are terse.")+len("hi")+3)/4), resp.InputTokens, "estimated as the mock counts")
	require.Equal(t, int64(3), resp.OutputTokens)
}

func TestOpenAIChatStreamErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		reply     llmtest.Reply
		status    int
		kind      string
		retryable bool
	}{
		{"HTTP error before the stream", llmtest.Reply{Status: 401, ErrorCode: "invalid_api_key"}, 401, "unauthorized", false},
		{"HTTP 429 before the stream", llmtest.Reply{Status: 429, Header: map[string]string{"Retry-After": "2"}}, 429, "rate_limited", true},
		{"server error mid-stream", llmtest.Reply{Status: 500, Content: "overloaded", ErrorAfterChunks: 2}, 500, "server_error", true},
		{"rate limited mid-stream", llmtest.Reply{Status: 429, ErrorCode: "rate_limit_exceeded", Content: "slow down", ErrorAfterChunks: 1}, 429, "rate_limited", true},
		{"context length mid-stream", llmtest.Reply{Status: 400, ErrorCode: "context_length_exceeded", Content: "too long", ErrorAfterChunks: 1}, 400, "context_length", false},
		{"bad request mid-stream", llmtest.Reply{Status: 400, Content: "bad", ErrorAfterChunks: 1}, 400, "bad_request", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, srv := setup(t, func(int, llm.Request) llmtest.Reply { return tc.reply })
			var deltas collector
			_, err := client.ChatStream(t.Context(), userRequest("gpt-4o", "hi"), deltas.add)
			var lerr *llm.Error
			require.ErrorAs(t, err, &lerr)
			require.Equal(t, tc.status, lerr.StatusCode)
			require.Equal(t, tc.kind, lerr.Kind())
			require.Equal(t, tc.retryable, lerr.Retryable)
			require.NotEmpty(t, lerr.Message)
			require.Len(t, deltas.got(), tc.reply.ErrorAfterChunks, "what came before the error was streamed")
			require.Equal(t, 1, srv.Count(), "the SDK must not retry: Temporal does")
		})
	}
}

func TestOpenAIChatStreamCanceled(t *testing.T) {
	t.Parallel()
	client, srv := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: strings.Repeat("slow ", 100), ChunkDelay: time.Second}
	})
	ctx, cancel := context.WithCancel(t.Context())
	start := time.Now()
	_, err := client.ChatStream(ctx, userRequest("gpt-4o", "hi"), func(string) { cancel() })
	require.Less(t, time.Since(start), 5*time.Second, "the stream in flight is aborted")
	require.ErrorIs(t, err, context.Canceled)
	require.Eventually(t, func() bool { return srv.Aborted() == 1 }, 5*time.Second, 10*time.Millisecond,
		"the provider sees the request end")
}

func TestMockChatStream(t *testing.T) {
	t.Parallel()
	mock := llm.NewMock()
	req := userRequest("mock", "  Summarise   the\nquarterly report ")
	var deltas collector
	streamed, err := mock.ChatStream(t.Context(), req, deltas.add)
	require.NoError(t, err)
	answered, err := mock.Chat(t.Context(), req)
	require.NoError(t, err)
	require.Equal(t, answered, streamed, "the same answer as Chat")
	pieces := deltas.got()
	require.Equal(t, streamed.Content, strings.Join(pieces, ""))
	require.Equal(t, []string{"mock ", "answer "}, pieces[:2], "word-sized pieces")
	require.Equal(t, "report", pieces[len(pieces)-1])

	router := llm.NewRouter(nil, nil)
	var routed collector
	_, err = router.ChatStream(t.Context(), req, routed.add)
	require.NoError(t, err)
	require.Equal(t, pieces, routed.got(), "the router streams the mock")
	_, err = router.ChatStream(t.Context(), userRequest("gpt-4o", "hi"), routed.add)
	var lerr *llm.Error
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, "not_configured", lerr.Kind())
}

func TestOpenAIChatStreamOutputSchema(t *testing.T) {
	t.Parallel()
	client, srv := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: `{"answer":"yes, streamed"}`, InputTokens: 1, OutputTokens: 1}
	})
	req := userRequest("gpt-4.1", "Well?")
	req.OutputSchema = json.RawMessage(`{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"],"additionalProperties":false}`)
	req.SchemaName = "verdict"
	var deltas collector
	resp, err := client.ChatStream(t.Context(), req, deltas.add)
	require.NoError(t, err)
	require.JSONEq(t, `{"answer":"yes, streamed"}`, resp.Content)
	require.Equal(t, resp.Content, strings.Join(deltas.got(), ""))
	got := srv.Requests()
	require.Len(t, got, 1)
	require.JSONEq(t, string(req.OutputSchema), string(got[0].OutputSchema), "response_format json_schema carries the schema")
	require.Equal(t, "verdict", got[0].SchemaName)
}
