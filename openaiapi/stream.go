package openaiapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/store"
)

// Events follows the events of a task: Subscribe answers those with ids
// above after, stored then live, on a channel closed after the task's
// final status event or when ctx ends. The API's event hub satisfies it.
type Events interface {
	Subscribe(ctx context.Context, tenant string, task uuid.UUID, after int64) (<-chan store.Event, error)
}

// keepAliveEvery is how long a streamed completion stays silent before a
// comment line keeps the connection (and the proxies on its way) alive.
const keepAliveEvery = 15 * time.Second

// stream answers a completion as chat.completion.chunk server-sent events:
// the role at once, then the answer as the agent's model writes it (a
// chunk per llm.delta event, see answerText), the rest of the output's
// text if it extends what was streamed, the finish reason, the usage when
// asked, then [DONE]. A workflow's answer, or any answer when the Handler
// has no Events, comes whole when the task has completed. A comment keeps
// a silent stream alive. An error once the stream has started is an event
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
	fail := func(err error) {
		if ctx.Err() == nil {
			send(map[string]*apiError{"error": openAIError(err)})
		}
	}
	send(c.chunk(choice{Delta: &delta{Role: "assistant"}}))
	id := uuid.MustParse(c.id)
	var answer answerText
	var last int64 // the last event followed: the wait reads on from there
	if h.Events != nil {
		last = h.follow(ctx, w, rc, id, &answer, !strings.HasPrefix(c.model, workflowPrefix), func(text string) {
			send(c.chunk(choice{Delta: &delta{Content: text}}))
		})
	}
	t, err := h.wait(ctx, r, id, last)
	if err != nil {
		fail(err)
		return
	}
	if rest := answer.rest(outputText(t.Output)); rest != "" {
		send(c.chunk(choice{Delta: &delta{Content: rest}}))
	}
	send(c.chunk(choice{Delta: &delta{}, FinishReason: &stop}))
	if includeUsage {
		u := c.chunk()
		u.Choices, u.Usage = []choice{}, usageOf(t)
		send(u)
	}
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

// follow reads the task's events until its final one, the client's going
// away or the server's shutting down (the caller's wait tells which),
// passing the new text of its llm.delta events to sendText when streamText,
// and writing a keep-alive comment when the stream has been silent for
// keepAlive. It returns the id of the last event it read. When the events
// cannot be followed, it logs why and returns: the answer then comes whole.
func (h *Handler) follow(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, id uuid.UUID, answer *answerText, streamText bool, sendText func(string)) (last int64) {
	caller, _ := api.CallerOf(ctx) // the task's tenant: the caller created it
	events, err := h.Events.Subscribe(ctx, caller.Tenant, id, 0)
	if err != nil {
		h.api.Logger.WarnContext(ctx, "follow the events of a streamed completion", "task_id", id, "error", err)
		return
	}
	idle := time.NewTimer(h.keepAlive)
	defer idle.Stop()
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return last
			}
			last = e.ID
			if e.Kind != activities.DeltaKind || !streamText {
				continue
			}
			var d activities.Delta
			if err := json.Unmarshal(e.Payload, &d); err != nil {
				h.api.Logger.WarnContext(ctx, "read an llm.delta event", "task_id", id, "event_id", e.ID, "error", err)
				continue
			}
			if text := answer.add(d); text != "" {
				sendText(text)
				idle.Reset(h.keepAlive)
			}
		case <-idle.C:
			_, _ = fmt.Fprint(w, ": keep-alive\n\n")
			_ = rc.Flush()
			idle.Reset(h.keepAlive)
		case <-ctx.Done():
			return
		case <-api.ShuttingDown(ctx):
			return
		}
	}
}

// answerText puts together what a completion streams from the llm.delta
// events of a single-agent task: the text of each of its calls (those of
// agents run as tools, which have a subtask, are left out), a blank line
// between two calls that both wrote text (a turn that wrote some before
// calling tools, then the answer). A retried attempt of a call starts its
// text over, and only what goes past what the client already has of that
// call is sent: a retry that writes the same text again is not sent twice.
type answerText struct {
	callKey  string
	attempt  int
	text     string // of the current attempt of the current call
	sent     string // of the current call, sent
	streamed bool   // whether any text was sent
}

// add takes the next delta and returns the text to send, if any.
func (a *answerText) add(d activities.Delta) string {
	if d.SubtaskID != nil {
		return ""
	}
	var sep string
	switch {
	case d.CallKey != a.callKey:
		if a.sent != "" {
			sep = "\n\n"
		}
		a.callKey, a.attempt, a.text, a.sent = d.CallKey, d.Attempt, "", ""
	case d.Attempt > a.attempt:
		a.attempt, a.text = d.Attempt, ""
	case d.Attempt < a.attempt:
		return ""
	}
	a.text += d.Text
	if len(a.text) <= len(a.sent) || !strings.HasPrefix(a.text, a.sent) {
		return ""
	}
	next := a.text[len(a.sent):]
	a.sent, a.streamed = a.text, true
	return sep + next
}

// rest returns what to send of the task's output text once it has
// completed: all of it when nothing was streamed; else what it has past
// the last call's streamed text, when it extends it; else, when a retried
// attempt wrote something other than what the client has, the whole
// output after a blank line. Otherwise nothing: a structured answer, which
// the output holds as re-encoded JSON, was streamed as the model wrote it.
func (a *answerText) rest(output string) string {
	if !a.streamed {
		return output
	}
	if rest, ok := strings.CutPrefix(output, a.sent); ok {
		return rest
	}
	if a.text != a.sent {
		return "\n\n" + output
	}
	return ""
}
