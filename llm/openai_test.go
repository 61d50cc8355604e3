package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
)

// setup starts a fake provider answering with h and a client pointed at it.
func setup(t *testing.T, h llmtest.Handler) (*llm.OpenAI, *llmtest.Server) {
	t.Helper()
	srv := llmtest.NewServer(t, h)
	return llm.NewOpenAI(llm.OpenAIConfig{APIKey: "test-key", BaseURL: srv.URL}), srv
}

// chat makes the call as troupe makes it, streamed, and drops the pieces.
func chat(ctx context.Context, c *llm.OpenAI, req llm.Request) (llm.Response, error) {
	return c.ChatStream(ctx, req, func(string) {})
}

func userRequest(model, text string) llm.Request {
	return llm.Request{Model: model, Messages: []llm.Message{
		{Role: "system", Content: "You are terse."},
		{Role: "user", Content: text},
	}}
}

func TestOpenAIChat(t *testing.T) {
	t.Parallel()
	client, srv := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "Paris.", InputTokens: 21, OutputTokens: 3}
	})
	temp := 0.2
	req := userRequest("gpt-4o-mini", "Capital of France?")
	req.Temperature = &temp
	req.MaxTokens = 50

	resp, err := chat(t.Context(), client, req)
	require.NoError(t, err)
	require.Equal(t, llm.Response{
		Content:      "Paris.",
		Model:        "gpt-4o-mini",
		Provider:     "openai",
		InputTokens:  21,
		OutputTokens: 3,
		FinishReason: "stop",
	}, resp)

	got := srv.Requests()
	require.Len(t, got, 1)
	require.Equal(t, req, got[0], "the provider receives model, messages, temperature and max tokens")
}

func TestOpenAIReportedCost(t *testing.T) {
	t.Parallel()
	cost := 0.00042
	client, _ := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "ok", InputTokens: 100, OutputTokens: 10, Cost: &cost}
	})
	resp, err := chat(t.Context(), client, userRequest("openai/gpt-4o-mini", "hi"))
	require.NoError(t, err)
	require.NotNil(t, resp.ReportedCost)
	require.InDelta(t, cost, *resp.ReportedCost, 1e-12)
	require.Equal(t, "openai/gpt-4o-mini", resp.Model)
}

func TestOpenAIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		reply      llmtest.Reply
		kind       string
		retryable  bool
		retryAfter time.Duration
	}{
		{"rate limited", llmtest.Reply{Status: 429, ErrorCode: "rate_limit_exceeded", Header: map[string]string{"Retry-After": "2"}}, "rate_limited", true, 2 * time.Second},
		{"retry-after-ms wins", llmtest.Reply{Status: 429, Header: map[string]string{"Retry-After": "2", "retry-after-ms": "1500"}}, "rate_limited", true, 1500 * time.Millisecond},
		{"quota exhausted", llmtest.Reply{Status: 429, ErrorCode: "insufficient_quota"}, "quota_exceeded", false, 0},
		{"server error", llmtest.Reply{Status: 500}, "server_error", true, 0},
		{"unavailable", llmtest.Reply{Status: 503, Header: map[string]string{"Retry-After": "7"}}, "server_error", true, 7 * time.Second},
		{"request timeout", llmtest.Reply{Status: 408}, "timeout", true, 0},
		{"context length code", llmtest.Reply{Status: 400, ErrorCode: "context_length_exceeded", Content: "too long"}, "context_length", false, 0},
		{"context length message", llmtest.Reply{Status: 413, Content: "This endpoint's maximum context length is 8192 tokens."}, "context_length", false, 0},
		{"bad request", llmtest.Reply{Status: 400, Content: "bad temperature"}, "bad_request", false, 0},
		{"unauthorized", llmtest.Reply{Status: 401, ErrorCode: "invalid_api_key"}, "unauthorized", false, 0},
		{"forbidden", llmtest.Reply{Status: 403}, "forbidden", false, 0},
		{"not found", llmtest.Reply{Status: 404, ErrorCode: "model_not_found"}, "not_found", false, 0},
		{"unprocessable", llmtest.Reply{Status: 422}, "unprocessable", false, 0},
		{"payment required", llmtest.Reply{Status: 402, Content: "Insufficient credits"}, "client_error", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, srv := setup(t, func(int, llm.Request) llmtest.Reply { return tc.reply })
			_, err := chat(t.Context(), client, userRequest("gpt-4o", "hi"))
			var lerr *llm.Error
			require.ErrorAs(t, err, &lerr)
			require.Equal(t, tc.reply.Status, lerr.StatusCode)
			require.Equal(t, tc.reply.ErrorCode, lerr.Code)
			require.Equal(t, tc.kind, lerr.Kind())
			require.Equal(t, tc.retryable, lerr.Retryable)
			require.Equal(t, tc.retryAfter, lerr.RetryAfter)
			require.NotEmpty(t, lerr.Message)
			require.Equal(t, 1, srv.Count(), "the SDK must not retry: Temporal does")
		})
	}
}

func TestOpenAIRetryAfterDate(t *testing.T) {
	t.Parallel()
	client, _ := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Status: 429, Header: map[string]string{"Retry-After": time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)}}
	})
	_, err := chat(t.Context(), client, userRequest("gpt-4o", "hi"))
	var lerr *llm.Error
	require.ErrorAs(t, err, &lerr)
	require.Greater(t, lerr.RetryAfter, 25*time.Second)
	require.LessOrEqual(t, lerr.RetryAfter, 30*time.Second)
}

// sse answers with chunks as server-sent events, then [DONE], as a
// provider streams.
func sse(w http.ResponseWriter, chunks ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, c := range chunks {
		_, _ = fmt.Fprintf(w, "data: %s\n\n", c)
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
}

// TestOpenAIForeignResponses covers answers that are not OpenAI's shape: an
// HTML error page from a proxy, an error that is a bare string, and a
// success without any choice.
func TestOpenAIForeignResponses(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bad-gateway/chat/completions", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>502 Bad Gateway</html>"))
	})
	mux.HandleFunc("POST /string-error/chat/completions", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"overloaded, try later"}`))
	})
	mux.HandleFunc("POST /empty/chat/completions", func(w http.ResponseWriter, _ *http.Request) {
		sse(w, `{"id":"x","object":"chat.completion.chunk","model":"m","choices":[]}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	_, err := chat(t.Context(), llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.URL + "/bad-gateway"}), userRequest("m", "hi"))
	var lerr *llm.Error
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, http.StatusBadGateway, lerr.StatusCode)
	require.Equal(t, "server_error", lerr.Kind())
	require.True(t, lerr.Retryable)
	require.Contains(t, lerr.Message, "502 Bad Gateway")

	_, err = chat(t.Context(), llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.URL + "/string-error"}), userRequest("m", "hi"))
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, http.StatusServiceUnavailable, lerr.StatusCode)
	require.True(t, lerr.Retryable)
	require.Contains(t, lerr.Message, "overloaded, try later")

	_, err = chat(t.Context(), llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.URL + "/empty"}), userRequest("m", "hi"))
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, "invalid_response", lerr.Kind())
	require.True(t, lerr.Retryable)
}

func TestOpenAITransportError(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there any more

	_, err = chat(t.Context(), llm.NewOpenAI(llm.OpenAIConfig{BaseURL: "http://" + addr + "/v1"}), userRequest("gpt-4o", "hi"))
	var lerr *llm.Error
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, 0, lerr.StatusCode)
	require.Equal(t, "transport", lerr.Kind())
	require.True(t, lerr.Retryable)
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr, "the transport error stays reachable")
}

func TestOpenAIContextCanceled(t *testing.T) {
	t.Parallel()
	client, srv := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "late", Delay: time.Minute}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := chat(ctx, client, userRequest("gpt-4o", "hi"))
		require.Less(t, time.Since(start), 5*time.Second, "the request in flight is aborted")
		require.ErrorIs(t, err, context.Canceled)
		var lerr *llm.Error
		require.False(t, errors.As(err, &lerr), "a canceled call is not a provider error")
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := chat(ctx, client, userRequest("gpt-4o", "hi"))
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	require.Equal(t, 2, srv.Count())
}

func TestOpenAIRejectsUnknownRole(t *testing.T) {
	t.Parallel()
	client, srv := setup(t, func(int, llm.Request) llmtest.Reply { return llmtest.Reply{Content: "ok"} })
	_, err := chat(t.Context(), client, llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: "developer", Content: "x"}}})
	var lerr *llm.Error
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, "bad_request", lerr.Kind())
	require.False(t, lerr.Retryable)
	require.Contains(t, lerr.Error(), `unknown role "developer"`)
	require.Zero(t, srv.Count(), "nothing is sent")
}

func TestOpenAIToolLoop(t *testing.T) {
	t.Parallel()
	add := llm.ToolSpec{Name: "add", Description: "Add two integers.", Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"],"additionalProperties":false}`)}
	echo := llm.ToolSpec{Name: "echo", Parameters: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`)}
	single := []llm.ToolCall{{ID: "call_a", Name: "add", Arguments: `{"a":2,"b":3}`}}
	parallel := []llm.ToolCall{
		{ID: "call_b", Name: "add", Arguments: `{"a":5,"b":1}`},
		{ID: "call_c", Name: "echo", Arguments: `{"text":"hi"}`},
	}
	client, srv := setup(t, func(n int, req llm.Request) llmtest.Reply {
		switch n {
		case 1:
			return llmtest.Reply{ToolCalls: single, InputTokens: 40, OutputTokens: 9}
		case 2:
			return llmtest.Reply{Content: "Two more.", ToolCalls: parallel, InputTokens: 60, OutputTokens: 20}
		default:
			var results []string
			for _, m := range req.Messages {
				if m.Role == "tool" {
					results = append(results, m.ToolCallID+"="+m.Content)
				}
			}
			return llmtest.Reply{Content: "Results: " + strings.Join(results, ", "), InputTokens: 80, OutputTokens: 6}
		}
	})

	req := userRequest("gpt-4o", "Add 2 and 3, then 5 and 1, and echo hi.")
	req.Tools = []llm.ToolSpec{add, echo}
	resp, err := chat(t.Context(), client, req)
	require.NoError(t, err)
	require.Equal(t, "tool_calls", resp.FinishReason)
	require.Empty(t, resp.Content)
	require.Equal(t, single, resp.ToolCalls)

	req.Messages = append(req.Messages,
		llm.Message{Role: "assistant", ToolCalls: resp.ToolCalls},
		llm.Message{Role: "tool", ToolCallID: "call_a", Content: "5"})
	resp, err = chat(t.Context(), client, req)
	require.NoError(t, err)
	require.Equal(t, "tool_calls", resp.FinishReason)
	require.Equal(t, "Two more.", resp.Content)
	require.Equal(t, parallel, resp.ToolCalls, "parallel calls, in order")

	req.Messages = append(req.Messages,
		llm.Message{Role: "assistant", Content: resp.Content, ToolCalls: resp.ToolCalls},
		llm.Message{Role: "tool", ToolCallID: "call_b", Content: "6"},
		llm.Message{Role: "tool", ToolCallID: "call_c", Content: "hi"})
	resp, err = chat(t.Context(), client, req)
	require.NoError(t, err)
	require.Equal(t, "stop", resp.FinishReason)
	require.Empty(t, resp.ToolCalls)
	require.Equal(t, "Results: call_a=5, call_b=6, call_c=hi", resp.Content, "the final answer uses the tool results")

	got := srv.Requests()
	require.Len(t, got, 3)
	for _, r := range got {
		require.Len(t, r.Tools, 2, "the tools are offered on every turn")
		require.Equal(t, "add", r.Tools[0].Name)
		require.Equal(t, "Add two integers.", r.Tools[0].Description)
		require.JSONEq(t, string(add.Parameters), string(r.Tools[0].Parameters))
		require.JSONEq(t, string(echo.Parameters), string(r.Tools[1].Parameters))
	}
	require.Equal(t, req.Messages, got[2].Messages, "the provider receives the assistant tool calls and the tool messages")
	require.Nil(t, llmtest.LastToolResults(got[0]))
	require.Equal(t, []llm.Message{{Role: "tool", ToolCallID: "call_a", Content: "5"}}, llmtest.LastToolResults(got[1]))
	require.Equal(t, []llm.Message{
		{Role: "tool", ToolCallID: "call_b", Content: "6"},
		{Role: "tool", ToolCallID: "call_c", Content: "hi"},
	}, llmtest.LastToolResults(got[2]), "the results of the parallel calls reach the model")
}

// TestOpenAIToolCallsLeniently covers tool calls from servers that differ
// from OpenAI: no type, no id, finish_reason "stop", and a cut answer.
func TestOpenAIToolCallsLeniently(t *testing.T) {
	t.Parallel()
	answers := map[string]string{
		"untyped": `{"index":0,"finish_reason":"stop","delta":{"role":"assistant","content":null,"tool_calls":[
			{"index":0,"function":{"name":"add","arguments":"{\"a\":1}"}},
			{"index":1,"id":"","type":"function","function":{"name":"now","arguments":"{}"}}]}}`,
		"cut":    `{"index":0,"finish_reason":"length","delta":{"role":"assistant","tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"add","arguments":"{\"a\":"}}]}}`,
		"custom": `{"index":0,"finish_reason":"tool_calls","delta":{"role":"assistant","tool_calls":[{"index":0,"id":"c1","type":"custom","custom":{"name":"grammar","input":"x"}}]}}`,
	}
	mux := http.NewServeMux()
	for name, choice := range answers {
		mux.HandleFunc("POST /"+name+"/chat/completions", func(w http.ResponseWriter, _ *http.Request) {
			sse(w, strings.ReplaceAll(`{"id":"x","object":"chat.completion.chunk","model":"m","choices":[`+choice+`]}`, "\n", ""))
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	answer := func(name string) (llm.Response, error) {
		return chat(t.Context(), llm.NewOpenAI(llm.OpenAIConfig{BaseURL: srv.URL + "/" + name}), userRequest("m", "hi"))
	}

	resp, err := answer("untyped")
	require.NoError(t, err)
	require.Equal(t, "tool_calls", resp.FinishReason)
	require.Equal(t, []llm.ToolCall{
		{ID: "call_1", Name: "add", Arguments: `{"a":1}`},
		{ID: "call_2", Name: "now", Arguments: `{}`},
	}, resp.ToolCalls, "a call without type is a function call; one without id gets its position")

	resp, err = answer("cut")
	require.NoError(t, err)
	require.Equal(t, "length", resp.FinishReason, "arguments that may be cut are not hidden")
	require.Equal(t, []llm.ToolCall{{ID: "c1", Name: "add", Arguments: `{"a":`}}, resp.ToolCalls)

	_, err = answer("custom")
	var lerr *llm.Error
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, "invalid_response", lerr.Kind())
	require.Contains(t, lerr.Message, `"custom" tool call`)
}
