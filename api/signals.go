package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"

	"github.com/troupe-dev/troupe/store"
)

// SignalInput is the request of signalTask.
type SignalInput struct {
	TaskIDInput
	Name string         `path:"name" minLength:"1" maxLength:"200" pattern:"^[A-Za-z0-9_.-]+$" doc:"Signal name, e.g. the signal of an approval step."`
	Body map[string]any `doc:"Signal payload; for an approval step: {\"approved\": true, \"comment\": \"...\"}. The caller is recorded as by."`
}

func (s *Server) registerSignals(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "signalTask", Method: http.MethodPost, Path: "/v1/tasks/{id}/signals/{name}",
		Summary: "Send a signal to a task", Description: "Delivers a signal to the task's workflow, e.g. the answer to an approval step. Answers 202.",
		DefaultStatus: http.StatusAccepted, Tags: []string{"tasks"},
	}, s.signalTask)
}

func (s *Server) signalTask(ctx context.Context, in *SignalInput) (*TaskOutput, error) {
	p := who(ctx)
	t, err := s.Store.GetTask(ctx, p.Tenant, uuid.MustParse(in.ID))
	if err != nil {
		return nil, s.fail(ctx, "task "+in.ID, err)
	}
	if t.Status.Terminal() {
		return nil, huma.Error409Conflict(fmt.Sprintf("task %s already ended with status %s", t.ID, t.Status))
	}
	payload := in.Body
	if payload == nil {
		payload = map[string]any{}
	}
	if _, ok := payload["by"]; !ok {
		payload["by"] = p.Actor
	}
	if err := s.Temporal.SignalWorkflow(ctx, t.WorkflowID, "", in.Name, payload); err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil, huma.Error409Conflict(fmt.Sprintf("task %s is not running", t.ID))
		}
		return nil, s.fail(ctx, "task "+in.ID, err)
	}
	meta, _ := json.Marshal(map[string]any{"signal": in.Name, "payload": payload})
	if err := s.Store.AppendAudit(ctx, store.Audit{
		EventType: "task_signaled", ResourceType: "task", ResourceID: t.ID.String(),
		TenantID: t.TenantID, UserIDHash: t.UserIDHash, Actor: p.Actor, Metadata: meta,
	}); err != nil {
		return nil, s.fail(ctx, "task "+in.ID, err)
	}
	return &TaskOutput{Status: http.StatusAccepted, Body: s.task(t)}, nil
}
