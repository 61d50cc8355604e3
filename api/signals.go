package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/troupe-dev/troupe/store"
)

// SignalInput is the request of signalTask.
type SignalInput struct {
	TaskIDInput
	Name string         `path:"name" minLength:"1" maxLength:"200" pattern:"^[A-Za-z0-9_.-]+$" doc:"Signal name, e.g. the signal of an approval step."`
	Body map[string]any `doc:"Signal payload; for an approval step: {\"approved\": true, \"comment\": \"...\"}. The authenticated caller is set as by, whatever the payload says."`
}

func (s *Server) registerSignals(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "signalTask", Method: http.MethodPost, Path: "/v1/tasks/{id}/signals/{name}",
		Summary: "Send a signal to a task", Description: "Delivers a signal to the task's workflow, e.g. the answer to an approval step. Answers 202; 422 naming the signals the task waits for when it does not wait for this one.",
		DefaultStatus: http.StatusAccepted, Tags: []string{"tasks"},
		Errors: problems(http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge),
	}, s.SignalTask)
}

// SignalTask delivers a signal to a task of ctx's tenant, as POST
// /v1/tasks/{id}/signals/{name} does: audited first, then sent. Its errors
// are huma.StatusErrors.
func (s *Server) SignalTask(ctx context.Context, in *SignalInput) (*TaskOutput, error) {
	if err := s.checkWaitsFor(ctx, in.ID, in.Name); err != nil {
		return nil, err
	}
	payload := in.Body
	if payload == nil {
		payload = map[string]any{}
	}
	payload["by"] = who(ctx).Actor // from authentication only: a client's "by" is overwritten
	meta := map[string]any{"signal": in.Name, "payload": payload}
	t, err := s.actOnTask(ctx, in.ID, "task_signaled", meta, func(ctx context.Context, t store.Task) error {
		return s.Temporal.SignalWorkflow(ctx, t.WorkflowID, "", in.Name, payload)
	})
	if err != nil {
		return nil, err
	}
	return &TaskOutput{Status: http.StatusAccepted, Body: s.task(t)}, nil
}
