// Package llmtest provides a fake OpenAI-compatible chat completions server
// for tests: it records what it receives and answers what a Handler says.
package llmtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/troupe-dev/troupe/llm"
)

// Server is a fake OpenAI-compatible chat completions server on httptest.
type Server struct {
	// URL is the base URL including /v1, for llm.OpenAIConfig.BaseURL.
	URL string

	handler  Handler
	mu       sync.Mutex
	requests []llm.Request
	streamed []bool
	aborted  int
}

// Reply is what the fake answers to one request.
type Reply struct {
	Status                    int    // 0 = 200
	Content                   string // assistant message content; for a non-200, the error message (default: the status text)
	InputTokens, OutputTokens int64
	Cost                      *float64          // if set, usage.cost is included (OpenRouter style)
	Header                    map[string]string // e.g. {"Retry-After": "1"}
	Delay                     time.Duration     // sleep before answering (respecting request ctx cancellation)
	ErrorCode                 string            // for non-200: error.code in the body
	// ToolCalls are answered as message.tool_calls with finish_reason
	// "tool_calls" (content null when Content is empty).
	ToolCalls []llm.ToolCall

	// The fields below apply to a streamed answer (a request with "stream":
	// true), see Server.
	//
	// ChunkRunes is how many runes of Content each content chunk carries
	// (default 4), and of a tool call's arguments each arguments chunk.
	ChunkRunes int
	// ChunkDelay is the pause after each chunk but the last (respecting
	// request ctx cancellation): Delay is the time to the first token,
	// ChunkDelay the time between tokens.
	ChunkDelay time.Duration
	// NoUsage leaves out the usage chunk even when the request asked for
	// it, as some OpenAI-compatible servers do.
	NoUsage bool
	// ErrorAfterChunks, with a non-200 Status, answers 200 and streams that
	// many content chunks before an error event {"error": {...}} (message
	// Content, code ErrorCode, type from Status), as a provider failing
	// mid-answer does. 0 answers the HTTP error before any chunk.
	ErrorAfterChunks int
}

// Handler decides the reply to the n-th request (n starts at 1). req holds
// the model, messages (with their tool calls and tool call ids), tools,
// temperature, max_tokens (or max_completion_tokens) and, when
// response_format json_schema was sent, its schema and name.
type Handler func(n int, req llm.Request) Reply

// NewServer starts a server answering POST /v1/chat/completions with h,
// closed on t.Cleanup. A request with "stream": true is answered as OpenAI
// streams: chat.completion.chunk server-sent events (the role, the content
// in pieces of Reply.ChunkRunes, each tool call's id and name then its
// arguments in pieces, the finish reason, the usage chunk when
// stream_options.include_usage is set, then [DONE]), Reply.ChunkDelay
// apart. A body that does not decode gets a 400 and is
// neither recorded nor passed to h.
func NewServer(t testing.TB, h Handler) *Server {
	s := &Server{handler: h}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/v1"
	return s
}

// Requests returns what the server received, in order.
func (s *Server) Requests() []llm.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Streamed returns, for each request received in order, whether it asked
// for a streamed answer.
func (s *Server) Streamed() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.streamed)
}

// Aborted returns how many requests ended (their context done, as when the
// client goes away) before the answer was complete.
func (s *Server) Aborted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborted
}

// abort counts a request that ended before its answer was complete.
func (s *Server) abort() {
	s.mu.Lock()
	s.aborted++
	s.mu.Unlock()
}

// Count returns how many requests the server received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// LastToolResults returns the tool messages that end req (those after its
// last assistant message), in order: the results of the calls the model made
// last, nil if req does not end with any. A Handler uses it to tell the turn
// after tool calls from a fresh one and to assert what the model received.
func LastToolResults(req llm.Request) []llm.Message {
	i := len(req.Messages)
	for i > 0 && req.Messages[i-1].Role == "tool" {
		i--
	}
	if i == len(req.Messages) {
		return nil
	}
	return slices.Clone(req.Messages[i:])
}

// chatBody is the part of a chat completion request the fake reads.
type chatBody struct {
	Model               string    `json:"model"`
	Messages            []message `json:"messages"`
	Tools               []tool    `json:"tools"`
	Temperature         *float64  `json:"temperature"`
	MaxTokens           int       `json:"max_tokens"`
	MaxCompletionTokens int       `json:"max_completion_tokens"`
	Stream              bool      `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	ResponseFormat *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

func (b chatBody) request() llm.Request {
	req := llm.Request{
		Model:       b.Model,
		Temperature: b.Temperature,
		MaxTokens:   cmp.Or(b.MaxCompletionTokens, b.MaxTokens),
	}
	for _, m := range b.Messages {
		req.Messages = append(req.Messages, m.llm())
	}
	for _, t := range b.Tools {
		req.Tools = append(req.Tools, llm.ToolSpec{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	if rf := b.ResponseFormat; rf != nil && rf.Type == "json_schema" && rf.JSONSchema != nil {
		req.OutputSchema = rf.JSONSchema.Schema
		req.SchemaName = rf.JSONSchema.Name
	}
	return req
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var body chatBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("llmtest: invalid request body: %v", err), "")
		return
	}
	req := body.request()
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.streamed = append(s.streamed, body.Stream)
	n := len(s.requests)
	s.mu.Unlock()

	reply := s.handler(n, req)
	if !s.sleep(r, reply.Delay) {
		return
	}
	for k, v := range reply.Header {
		w.Header().Set(k, v)
	}
	status := cmp.Or(reply.Status, http.StatusOK)
	if status != http.StatusOK && (!body.Stream || reply.ErrorAfterChunks == 0) {
		writeError(w, status, cmp.Or(reply.Content, http.StatusText(status)), reply.ErrorCode)
		return
	}
	if body.Stream {
		s.stream(w, r, n, req.Model, reply, body.StreamOptions != nil && body.StreamOptions.IncludeUsage)
		return
	}
	answer, finish := message{Role: "assistant", ToolCalls: toolCalls(reply.ToolCalls)}, "stop"
	if len(reply.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	if reply.Content != "" || len(reply.ToolCalls) == 0 {
		answer.Content = &reply.Content
	}
	writeJSON(w, status, completion{
		ID:      fmt.Sprintf("chatcmpl-llmtest-%d", n),
		Object:  "chat.completion",
		Created: time.Now().Unix(),
		Model:   req.Model,
		Choices: []choice{{
			Message:      answer,
			FinishReason: finish,
		}},
		Usage: &usage{
			PromptTokens:     reply.InputTokens,
			CompletionTokens: reply.OutputTokens,
			TotalTokens:      reply.InputTokens + reply.OutputTokens,
			Cost:             reply.Cost,
		},
	})
}

// completion is a chat.completion object.
type completion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   *usage   `json:"usage"`
}

type choice struct {
	Index        int     `json:"index"`
	Message      message `json:"message"`
	FinishReason string  `json:"finish_reason"`
}

// message is a chat message, as sent in a request or answered in a choice.
type message struct {
	Role       string     `json:"role"`
	Content    *string    `json:"content"` // null on an assistant message with tool calls only
	ToolCalls  []toolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// llm converts m; a null content becomes "".
func (m message) llm() llm.Message {
	out := llm.Message{Role: m.Role, ToolCallID: m.ToolCallID}
	if m.Content != nil {
		out.Content = *m.Content
	}
	for _, tc := range m.ToolCalls {
		out.ToolCalls = append(out.ToolCalls, llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
	}
	return out
}

// toolCall is a function call in an assistant message.
type toolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// toolCalls converts calls to their wire form.
func toolCalls(calls []llm.ToolCall) []toolCall {
	out := make([]toolCall, len(calls))
	for i, c := range calls {
		out[i] = toolCall{ID: c.ID, Type: "function"}
		out[i].Function.Name, out[i].Function.Arguments = c.Name, c.Arguments
	}
	return out
}

// tool is a function tool offered in a request.
type tool struct {
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type usage struct {
	PromptTokens     int64    `json:"prompt_tokens"`
	CompletionTokens int64    `json:"completion_tokens"`
	TotalTokens      int64    `json:"total_tokens"`
	Cost             *float64 `json:"cost,omitempty"`
}

// apiError is OpenAI's error object, sent as {"error": apiError}.
type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Code    *string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, msg, code string) {
	writeJSON(w, status, errorBody(status, msg, code))
}

// errorBody is {"error": {...}} for a failure with status.
func errorBody(status int, msg, code string) map[string]apiError {
	e := apiError{Message: msg, Type: "invalid_request_error"}
	if status >= 500 {
		e.Type = "server_error"
	}
	if code != "" {
		e.Code = &code
	}
	return map[string]apiError{"error": e}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do then
}
