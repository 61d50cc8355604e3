package llmtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// chunk is a chat.completion.chunk.
type chunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	// Usage is null on every chunk but the last when usage was asked for,
	// absent when it was not.
	Usage *usage `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int     `json:"index"`
	Delta        delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type delta struct {
	Role      string          `json:"role,omitempty"`
	Content   *string         `json:"content,omitempty"`
	ToolCalls []toolCallDelta `json:"tool_calls,omitempty"`
}

// toolCallDelta is a piece of a streamed tool call: the first carries its
// id, type and name, the next ones pieces of its arguments.
type toolCallDelta struct {
	Index    int    `json:"index"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// stream answers reply as server-sent chat.completion.chunk events.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, n int, model string, reply Reply, includeUsage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	base := chunk{ID: fmt.Sprintf("chatcmpl-llmtest-%d", n), Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: model}
	var events []any
	add := func(d delta, finish *string) {
		c := base
		c.Choices = []chunkChoice{{Delta: d, FinishReason: finish}}
		events = append(events, c)
	}
	empty := ""
	add(delta{Role: "assistant", Content: &empty}, nil)
	size := cmp.Or(reply.ChunkRunes, 4)
	content := pieces(reply.Content, size)
	if reply.ErrorAfterChunks > 0 {
		for _, p := range content[:min(len(content), reply.ErrorAfterChunks)] {
			add(delta{Content: &p}, nil)
		}
		status := reply.Status
		events = append(events, errorBody(status, cmp.Or(reply.Content, http.StatusText(status)), reply.ErrorCode))
		s.send(w, r, rc, events, reply.ChunkDelay)
		return
	}
	for _, p := range content {
		add(delta{Content: &p}, nil)
	}
	for i, tc := range reply.ToolCalls {
		head := toolCallDelta{Index: i, ID: tc.ID, Type: "function"}
		head.Function.Name = tc.Name
		add(delta{ToolCalls: []toolCallDelta{head}}, nil)
		for _, p := range pieces(tc.Arguments, size) {
			d := toolCallDelta{Index: i}
			d.Function.Arguments = p
			add(delta{ToolCalls: []toolCallDelta{d}}, nil)
		}
	}
	finish := "stop"
	if len(reply.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	add(delta{}, &finish)
	if includeUsage && !reply.NoUsage {
		c := base
		c.Choices = []chunkChoice{}
		c.Usage = &usage{PromptTokens: reply.InputTokens, CompletionTokens: reply.OutputTokens,
			TotalTokens: reply.InputTokens + reply.OutputTokens, Cost: reply.Cost}
		events = append(events, c)
	}
	events = append(events, "[DONE]")
	s.send(w, r, rc, events, reply.ChunkDelay)
}

// send writes events as server-sent events, pause apart, and counts the
// request as aborted if it ends first.
func (s *Server) send(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, events []any, pause time.Duration) {
	for i, e := range events {
		if i > 0 && !s.sleep(r, pause) {
			return
		}
		data := []byte("[DONE]")
		if e != "[DONE]" {
			data, _ = json.Marshal(e)
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			s.abort()
			return
		}
		_ = rc.Flush()
	}
}

// sleep waits d, false (and the request counted as aborted) if the request
// ended first.
func (s *Server) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.Context().Done():
		s.abort()
		return false
	}
}

// pieces cuts s into pieces of size runes (none for an empty s).
func pieces(s string, size int) []string {
	var out []string
	runes := []rune(s)
	for len(runes) > 0 {
		k := min(size, len(runes))
		out = append(out, string(runes[:k]))
		runes = runes[k:]
	}
	return out
}
