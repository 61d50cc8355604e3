package api

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/sse"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/store"
)

// Subtask is one agent step of a workflow task.
type Subtask struct {
	ID           string          `json:"id" format:"uuid"`
	RunID        string          `json:"run_id,omitempty" doc:"The run of the task's workflow that ran the step: a reset (or a retry) starts a new run, which records its own steps."`
	StepID       string          `json:"step_id"`
	Agent        string          `json:"agent"`
	Iteration    int             `json:"iteration"`
	Status       store.Status    `json:"status"`
	Model        string          `json:"model"`
	InputTokens  int64           `json:"input_tokens"`
	OutputTokens int64           `json:"output_tokens"`
	CostUSD      float64         `json:"cost_usd"`
	Output       json.RawMessage `json:"output,omitempty"`
	Error        string          `json:"error,omitempty"`
	WorkflowID   string          `json:"workflow_id,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	StartedAt    *time.Time      `json:"started_at,omitempty"`
	FinishedAt   *time.Time      `json:"finished_at,omitempty"`
}

// LLMCall is one attempt of an LLM call.
type LLMCall struct {
	ID           int64           `json:"id"`
	SubtaskID    string          `json:"subtask_id,omitempty"`
	Attempt      int             `json:"attempt"`
	Provider     string          `json:"provider"`
	Model        string          `json:"model"`
	Request      json.RawMessage `json:"request"`
	Response     json.RawMessage `json:"response,omitempty"`
	InputTokens  int64           `json:"input_tokens"`
	OutputTokens int64           `json:"output_tokens"`
	CostUSD      float64         `json:"cost_usd"`
	LatencyMS    int64           `json:"latency_ms"`
	StatusCode   int             `json:"status_code,omitempty"`
	Error        string          `json:"error,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
}

// Event is one entry of a task's event log.
type Event struct {
	ID      int64           `json:"id"`
	Kind    string          `json:"kind"`
	Payload json.RawMessage `json:"payload,omitempty"`
	At      time.Time       `json:"at"`
}

// ListEventsInput is the request of listTaskEvents.
type ListEventsInput struct {
	TaskIDInput
	After int64 `query:"after" minimum:"0" doc:"Only events with a greater id."`
	Limit int   `query:"limit" minimum:"1" maximum:"1000" default:"200"`
}

// StreamEventsInput is the request of streamTaskEvents.
type StreamEventsInput struct {
	TaskIDInput
	LastEventID string `header:"Last-Event-ID" doc:"Resume after this event id."`
}

func (s *Server) registerChildren(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "listSubtasks", Method: http.MethodGet, Path: "/v1/tasks/{id}/subtasks",
		Summary: "List a task's subtasks", Description: "The agent steps of a workflow task, in the order they started, with iteration numbers.", Tags: []string{"tasks"},
		Errors: problems(http.StatusNotFound),
	}, func(ctx context.Context, in *TaskIDInput) (*listOutput[Subtask], error) {
		return itemsOf(s.Subtasks(ctx, uuid.MustParse(in.ID)))
	})
	huma.Register(api, huma.Operation{
		OperationID: "listLLMCalls", Method: http.MethodGet, Path: "/v1/tasks/{id}/llm-calls",
		Summary: "List a task's LLM calls", Description: "Every attempt, with messages, answer, tokens, cost and latency.", Tags: []string{"tasks"},
		Errors: problems(http.StatusNotFound),
	}, func(ctx context.Context, in *TaskIDInput) (*listOutput[LLMCall], error) {
		return itemsOf(s.LLMCalls(ctx, uuid.MustParse(in.ID)))
	})
	huma.Register(api, huma.Operation{
		OperationID: "listTaskEvents", Method: http.MethodGet, Path: "/v1/tasks/{id}/events",
		Summary: "List a task's events", Description: "The task's event log, oldest first. For a live stream use /v1/tasks/{id}/events/stream.", Tags: []string{"tasks"},
		Errors: problems(http.StatusNotFound),
	}, func(ctx context.Context, in *ListEventsInput) (*listOutput[Event], error) {
		rows, err := s.Store.ListEvents(ctx, who(ctx).Tenant, uuid.MustParse(in.ID), in.After, in.Limit)
		return listOf(rows, err, s.fail, ctx, "task "+in.ID, event)
	})
	sse.Register(api, huma.Operation{
		OperationID: "streamTaskEvents", Method: http.MethodGet, Path: "/v1/tasks/{id}/events/stream",
		Summary: "Stream a task's events", Description: "Server-sent events, one per event-log entry, pushed as they are written, until the task ends (or the server shuts down); a comment keeps an idle stream open. Reconnect with Last-Event-ID to resume. An unknown task, or another tenant's, is a 404 before any event.", Tags: []string{"tasks"},
		Errors:      problems(http.StatusNotFound),
		Middlewares: huma.Middlewares{s.findStreamedTask(api)},
	}, map[string]any{"message": Event{}}, s.streamEvents)
	// The stream has one kind of event: Huma's oneOf of one becomes its
	// schema, and the event name's const (which OpenAPI 3.0 lacks) an enum.
	stream := api.OpenAPI().Paths["/v1/tasks/{id}/events/stream"].Get.Responses["200"].Content["text/event-stream"].Schema
	message := stream.Items.Extensions["oneOf"].([]*huma.Schema)[0]
	message.Properties["event"].Enum = []any{"message"}
	delete(message.Properties["event"].Extensions, "const")
	stream.Items = message
}

// Subtasks lists the subtasks of a task of ctx's tenant, as GET
// /v1/tasks/{id}/subtasks does. Its errors are huma.StatusErrors.
func (s *Server) Subtasks(ctx context.Context, id uuid.UUID) ([]Subtask, error) {
	rows, err := s.Store.ListSubtasks(ctx, who(ctx).Tenant, id)
	return convert(rows, err, s.fail, ctx, "task "+id.String(), func(st store.Subtask) Subtask {
		return Subtask{ID: st.ID.String(), RunID: st.RunID, StepID: st.StepID, Agent: st.Agent, Iteration: st.Iteration, Status: st.Status,
			Model: st.Model, InputTokens: st.InputTokens, OutputTokens: st.OutputTokens, CostUSD: st.CostUSD,
			Output: st.Output, Error: st.Error, WorkflowID: st.WorkflowID, CreatedAt: st.CreatedAt, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt}
	})
}

// LLMCalls lists the LLM calls of a task of ctx's tenant, as GET
// /v1/tasks/{id}/llm-calls does. Its errors are huma.StatusErrors.
func (s *Server) LLMCalls(ctx context.Context, id uuid.UUID) ([]LLMCall, error) {
	rows, err := s.Store.ListLLMCalls(ctx, who(ctx).Tenant, id)
	return convert(rows, err, s.fail, ctx, "task "+id.String(), func(c store.LLMCall) LLMCall {
		out := LLMCall{ID: c.ID, Attempt: c.Attempt, Provider: c.Provider, Model: c.Model, Request: c.Request, Response: c.Response,
			InputTokens: c.InputTokens, OutputTokens: c.OutputTokens, CostUSD: c.CostUSD, LatencyMS: c.LatencyMS,
			StatusCode: c.StatusCode, Error: c.Error, CreatedAt: c.CreatedAt}
		if c.SubtaskID != nil {
			out.SubtaskID = c.SubtaskID.String()
		}
		return out
	})
}

// listOutput is a response holding a list.
type listOutput[T any] struct {
	Body struct {
		Items []T `json:"items"`
	}
}

func listOf[S, T any](rows []S, err error, fail func(context.Context, string, error) error, ctx context.Context, what string, conv func(S) T) (*listOutput[T], error) {
	if err != nil {
		return nil, fail(ctx, what, err)
	}
	out := &listOutput[T]{}
	out.Body.Items = make([]T, 0, len(rows))
	for _, r := range rows {
		out.Body.Items = append(out.Body.Items, conv(r))
	}
	return out, nil
}

// convert maps rows to the API's items, or the error to a problem (see fail).
func convert[S, T any](rows []S, err error, fail func(context.Context, string, error) error, ctx context.Context, what string, conv func(S) T) ([]T, error) {
	out, err := listOf(rows, err, fail, ctx, what, conv)
	if err != nil {
		return nil, err
	}
	return out.Body.Items, nil
}

// itemsOf wraps items, or returns err.
func itemsOf[T any](items []T, err error) (*listOutput[T], error) {
	if err != nil {
		return nil, err
	}
	out := &listOutput[T]{}
	out.Body.Items = items
	return out, nil
}

func event(e store.Event) Event {
	return Event{ID: e.ID, Kind: e.Kind, Payload: e.Payload, At: e.At}
}

// defaultKeepAlive is how long an event stream stays silent before a comment keeps it open.
const defaultKeepAlive = 15 * time.Second

// findStreamedTask answers like the rest of the API (a problem, 404 for an
// unknown task or another tenant's) before an event stream starts: once it
// has, the status is 200. It hands the stream its writer, for keep-alive
// comments.
func (s *Server) findStreamedTask(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		id, err := uuid.Parse(ctx.Param("id"))
		if err != nil {
			next(ctx) // the operation's validation answers 422
			return
		}
		if _, err := s.Store.GetTask(ctx.Context(), who(ctx.Context()).Tenant, id); err != nil {
			writeProblem(api, ctx, s.fail(ctx.Context(), "task "+id.String(), err))
			return
		}
		next(huma.WithValue(ctx, bodyWriterKey{}, ctx.BodyWriter()))
	}
}

type bodyWriterKey struct{}

func (s *Server) streamEvents(ctx context.Context, in *StreamEventsInput, send sse.Sender) {
	id := uuid.MustParse(in.ID)
	after, _ := strconv.ParseInt(in.LastEventID, 10, 64)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the subscription with the stream
	events, err := s.Events.Subscribe(ctx, who(ctx).Tenant, id, after)
	if err != nil {
		// findStreamedTask found the task: this is a failure of the store,
		// and the stream has started; end it.
		s.Logger.ErrorContext(ctx, "stream events", "task_id", id, "error", err)
		return
	}
	every := cmp.Or(s.KeepAlive, defaultKeepAlive)
	idle := time.NewTimer(every)
	defer idle.Stop()
	for {
		select {
		case e, ok := <-events:
			if !ok { // the task has ended, or the server is stopping
				return
			}
			if err := send(sse.Message{ID: int(e.ID), Data: event(e)}); err != nil {
				return
			}
		case <-idle.C:
			if err := keepAlive(ctx); err != nil {
				return
			}
		case <-ctx.Done():
			return
		case <-ShuttingDown(ctx):
			return
		}
		idle.Reset(every)
	}
}

// keepAlive writes a comment on the event stream of ctx (see findStreamedTask),
// which clients ignore and proxies take for traffic.
func keepAlive(ctx context.Context) error {
	w, ok := ctx.Value(bodyWriterKey{}).(http.ResponseWriter)
	if !ok {
		return nil
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(sse.WriteTimeout)) // none on test recorders
	if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
		return err
	}
	return rc.Flush()
}
