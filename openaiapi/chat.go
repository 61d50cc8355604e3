package openaiapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/store"
)

// maxRequestBytes bounds the body of a chat completion request.
const maxRequestBytes = 4 << 20

// chatRequest is the part of OpenAI's chat completion request troupe reads.
type chatRequest struct {
	Model         string          `json:"model"`
	Messages      []chatMessage   `json:"messages"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options"`
	N             *int            `json:"n"`
	Tools         json.RawMessage `json:"tools"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// chatMessage is a message of a request: content is a string or an array
// of parts, of which the text parts are read.
type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// message is a message as troupe's agents take it ({"messages": [...]}).
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// decodeChatRequest reads and checks a chat completion request.
func decodeChatRequest(r *http.Request, w http.ResponseWriter) (chatRequest, error) {
	var req chatRequest
	// Read to the end: only then does the server watch the connection and
	// cancel the request when the client goes away.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		e := invalid("", fmt.Sprintf("The body is over %d bytes.", tooLarge.Limit))
		e.Status = http.StatusRequestEntityTooLarge
		return req, e
	}
	if err != nil {
		return req, invalid("", "The body could not be read: "+err.Error())
	}
	if !api.StorableJSON(body) || !api.StorableJSON([]byte(r.Header.Get("Idempotency-Key"))) {
		return req, invalid("", "The request must be valid UTF-8 without NUL characters.")
	}
	if len(r.Header.Get("Idempotency-Key")) > 255 {
		return req, invalid("", "The Idempotency-Key is longer than 255 bytes.")
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, invalid("", "The body is not a chat completion request: "+err.Error())
	}
	switch {
	case req.Model == "":
		return req, invalid("model", "Name a model: GET /v1/models lists the agents and workflows you may run.")
	case len(req.Messages) == 0:
		return req, invalid("messages", "Send at least one message.")
	case req.N != nil && *req.N != 1:
		return req, invalid("n", "troupe answers one choice (n=1).")
	case len(req.Tools) > 0 && string(req.Tools) != "null" && string(req.Tools) != "[]":
		return req, invalid("tools", "Tools in the request are not supported: an agent's tools are those of its definition.")
	}
	return req, nil
}

// messages turns the request's messages into the agents' form. A
// developer message is a system one; tool messages are refused.
func (req chatRequest) messages() ([]message, error) {
	out := make([]message, 0, len(req.Messages))
	for i, m := range req.Messages {
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		if !slices.Contains([]string{"system", "user", "assistant"}, role) {
			return nil, invalid(fmt.Sprintf("messages[%d].role", i), "Role "+m.Role+" is not supported: send system, developer, user or assistant messages.")
		}
		text, err := contentText(m.Content)
		if err != nil {
			return nil, invalid(fmt.Sprintf("messages[%d].content", i), err.Error())
		}
		out = append(out, message{Role: role, Content: text})
	}
	return out, nil
}

// contentText reads a message's content: a string, or the text of an array
// of parts ([{"type": "text", "text": "..."}]), joined by newlines.
func contentText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("content must be a string or an array of text parts")
	}
	var texts []string
	for _, p := range parts {
		if p.Type != "text" {
			return "", errors.New("only text parts are supported, not " + p.Type)
		}
		texts = append(texts, p.Text)
	}
	return strings.Join(texts, "\n"), nil
}

// taskInput is the input of the task a request runs: the last user message
// when it is a JSON object (e.g. {"text": "..."} for summarize, {"topic":
// "..."} for a workflow), else {"messages": [...]}, the conversation, as the
// chat agent takes it.
func taskInput(msgs []message) json.RawMessage {
	for _, m := range slices.Backward(msgs) {
		if m.Role != "user" {
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(m.Content), &obj) == nil && obj != nil {
			return json.RawMessage(m.Content)
		}
		break
	}
	in, _ := json.Marshal(map[string][]message{"messages": msgs})
	return in
}

func (h *Handler) chatCompletions(w http.ResponseWriter, r *http.Request) {
	ctx, err := h.api.Authenticate(r.Context(), r.Header.Get("Authorization"), "openai.createChatCompletion", true)
	if err != nil {
		writeError(w, err)
		return
	}
	req, err := decodeChatRequest(r, w)
	if err != nil {
		writeError(w, err)
		return
	}
	if !slices.Contains(h.modelIDs(), req.Model) {
		writeError(w, modelNotFound(req.Model))
		return
	}
	msgs, err := req.messages()
	if err != nil {
		writeError(w, err)
		return
	}
	in := &api.CreateTaskInput{IdempotencyKey: r.Header.Get("Idempotency-Key")}
	in.Body.Type, in.Body.Input = req.Model, taskInput(msgs)
	created, err := h.api.CreateTask(ctx, in)
	if err != nil {
		writeError(w, err)
		return
	}
	id := uuid.MustParse(created.Body.ID)
	w.Header().Set("X-Troupe-Task-Id", id.String())
	// The task exists: a retry by the SDK, which would run it again unless
	// the request has an Idempotency-Key, is not the SDK's to decide.
	w.Header().Set("X-Should-Retry", "false")
	// The answer waits for the task: it outlives the server's deadlines,
	// and past the read deadline the connection's background read would
	// cancel the request.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	c := completion{id: id.String(), model: req.Model, created: created.Body.CreatedAt.Unix()}
	if req.Stream {
		h.stream(ctx, w, rc, r, c, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return
	}
	t, err := h.wait(ctx, r, id, 0)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c.answer(t))
}

// wait reads the task once it has ended, and answers an error unless it
// completed. It reads it when the task's final event arrives (from Events,
// read after the event id after),
// and every poll when that event cannot come (no Events, a subscription
// refused or ended early), or every 25 polls meanwhile. When the client goes
// away first, the task is canceled unless the request's
// X-Troupe-Keep-Running header is true; when the server shuts down, the
// task runs on.
func (h *Handler) wait(ctx context.Context, r *http.Request, id uuid.UUID, after int64) (store.Task, error) {
	var ended <-chan struct{} // closed after the task's final event
	poll := h.poll
	if caller, ok := api.CallerOf(ctx); ok && h.Events != nil {
		if events, err := h.Events.Subscribe(ctx, caller.Tenant, id, after); err == nil {
			ended, poll = drain(events), 25*h.poll
		}
	}
	var t store.Task
	for read := ended == nil; ; read = true {
		if read {
			var err error
			t, err = h.api.ReadTask(ctx, id)
			if ctx.Err() != nil { // the client left, perhaps during the read
				return t, h.leave(ctx, r, id)
			}
			if err != nil {
				return t, err
			}
			if t.Status.Terminal() {
				return t, taskError(t)
			}
		}
		select {
		case <-ctx.Done():
			return t, h.leave(ctx, r, id)
		case <-api.ShuttingDown(ctx):
			return t, &apiError{Status: http.StatusServiceUnavailable, Type: "server_error",
				Message: "troupe is shutting down; the task runs on: GET /v1/tasks/" + id.String() + " has its result."}
		case <-ended:
			ended, poll = nil, h.poll
		case <-time.After(poll):
		}
	}
}

// drain reads events to their end, and closes the returned channel then.
func drain(events <-chan store.Event) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range events {
		}
	}()
	return done
}

// leave cancels the task of a client gone away, unless the request's
// X-Troupe-Keep-Running header is true, and returns why the client left.
func (h *Handler) leave(ctx context.Context, r *http.Request, id uuid.UUID) error {
	if r.Header.Get("X-Troupe-Keep-Running") != "true" {
		if _, err := h.api.CancelTask(context.WithoutCancel(ctx), &api.TaskIDInput{ID: id.String()}); err != nil {
			h.api.Logger.WarnContext(ctx, "cancel the task of a client gone away", "task_id", id, "error", err)
		}
	}
	return ctx.Err()
}

// taskError is the error of a task that ended without completing, nil for
// a completed one.
func taskError(t store.Task) error {
	status := http.StatusInternalServerError
	switch t.Status {
	case store.StatusCompleted:
		return nil
	case store.StatusCanceled:
		status = http.StatusConflict
	case store.StatusTimedOut:
		status = http.StatusGatewayTimeout
	}
	code := "task_" + string(t.Status)
	return &apiError{Status: status, Type: "server_error", Code: &code,
		Message: fmt.Sprintf("task %s %s: %s", t.ID, t.Status, t.Error)}
}
