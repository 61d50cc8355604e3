package openaiapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/google/uuid"
)

// stream answers a completion as chat.completion.chunk server-sent events:
// the role at once, the whole content when the task has completed (troupe
// does not stream tokens yet), the finish reason, the usage when asked,
// then [DONE]. An error once the stream has started is an event
// {"error": {...}}, which the OpenAI SDKs raise.
func (h *Handler) stream(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, r *http.Request, c completion, includeUsage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(v any) {
		data, _ := json.Marshal(v)
		_, _ = fmt.Fprintf(w, "data: %s\n\n", data)
		_ = rc.Flush()
	}
	send(c.chunk(choice{Delta: &delta{Role: "assistant"}}))
	t, err := h.wait(ctx, r, uuid.MustParse(c.id))
	if err != nil {
		if ctx.Err() == nil {
			send(map[string]*apiError{"error": openAIError(err)})
		}
		return
	}
	send(c.chunk(choice{Delta: &delta{Content: outputText(t.Output)}}))
	send(c.chunk(choice{Delta: &delta{}, FinishReason: &stop}))
	if includeUsage {
		u := c.chunk()
		u.Choices, u.Usage = []choice{}, usageOf(t)
		send(u)
	}
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}
