package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/ingest"
	"github.com/troupe-dev/troupe/store"
)

// IngestEventsInput is the request of ingestEvents.
type IngestEventsInput struct {
	Body ingest.EventBatch
}

// IngestEventsOutput is the answer of ingestEvents.
type IngestEventsOutput struct {
	Body ingest.EventBatchResult
}

// Log is a log line of a task as the API shows it.
type Log struct {
	ID      int64           `json:"id"`
	At      time.Time       `json:"at"`
	Level   string          `json:"level"`
	Message string          `json:"message"`
	Node    string          `json:"node,omitempty" doc:"The step, activity or reported task node that wrote it."`
	Attrs   json.RawMessage `json:"attrs,omitempty"`
}

// ListLogsInput is the request of listTaskLogs.
type ListLogsInput struct {
	TaskIDInput
	After int64 `query:"after" minimum:"0" doc:"Only lines after this id (the id of the last line read)."`
	Limit int   `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

func (s *Server) registerEvents(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "ingestEvents", Method: http.MethodPost, Path: "/v1/events",
		Summary: "Report events of a flow that runs elsewhere",
		Description: "A script, a cron job or another framework reports its runs here: a batch of 1 to 1000 events, applied together (all or none), in a body of at most 1 MiB. " +
			"Each run (its client-chosen run_id, unique within the tenant) becomes a task of source external and type flow, each task node a subtask, " +
			"each task_log a log line: listed, streamed and shown like troupe's own tasks. Events are idempotent and may arrive in any order: " +
			"a run or node ends once, with its first end; starts are the earliest reported.",
		Tags:   []string{"events"},
		Errors: problems(http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge),
	}, func(ctx context.Context, in *IngestEventsInput) (*IngestEventsOutput, error) {
		p := who(ctx)
		events := make([]store.ExternalEvent, len(in.Body.Events))
		for i, e := range in.Body.Events {
			events[i] = store.ExternalEvent{Kind: e.Type, RunID: e.RunID, Flow: e.Flow, Node: e.Task, NodeRunID: e.TaskRunID,
				ID: e.ID, At: e.At, Duration: time.Duration(e.DurationMS) * time.Millisecond, Error: e.Error,
				Level: e.Level, Message: e.Message, Payload: compactJSON(e.Payload), TraceID: e.TraceID}
		}
		runs, err := s.Store.RecordExternalEvents(ctx, p.Tenant, p.Actor, events)
		if err != nil {
			return nil, s.fail(ctx, "events", err)
		}
		out := &IngestEventsOutput{}
		out.Body.Runs = make([]ingest.RunState, len(runs))
		for i, r := range runs {
			out.Body.Runs[i] = ingest.RunState{RunID: r.RunID, TaskID: r.TaskID.String(), Status: string(r.Status)}
		}
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "listTaskLogs", Method: http.MethodGet, Path: "/v1/tasks/{id}/logs",
		Summary: "List a task's log lines",
		Description: "The lines written while the task ran, by troupe's activities or reported by its flow (task_log), oldest first. " +
			"They are also the task's \"log\" events, so its event stream carries them live.",
		Tags: []string{"tasks"}, Errors: problems(http.StatusNotFound),
	}, func(ctx context.Context, in *ListLogsInput) (*listOutput[Log], error) {
		return itemsOf(s.Logs(ctx, in))
	})
}

// Logs lists log lines of a task of ctx's tenant, as GET
// /v1/tasks/{id}/logs does. Its errors are huma.StatusErrors.
func (s *Server) Logs(ctx context.Context, in *ListLogsInput) ([]Log, error) {
	rows, err := s.Store.ListLogs(ctx, who(ctx).Tenant, uuid.MustParse(in.ID), in.After, in.Limit)
	return convert(rows, err, s.fail, ctx, "task "+in.ID, func(l store.Log) Log {
		return Log{ID: l.ID, At: l.At, Level: l.Level, Message: l.Message, Node: l.Node, Attrs: l.Attrs}
	})
}

// compactJSON is raw without insignificant white space (nil stays nil).
func compactJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var out bytes.Buffer
	if json.Compact(&out, raw) != nil {
		return raw
	}
	return out.Bytes()
}
