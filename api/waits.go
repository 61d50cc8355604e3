package api

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/store"
)

// Wait is something a task waits for from a person, and how to answer it.
type Wait struct {
	Kind    string    `json:"kind" enum:"signal,tool_call" doc:"signal: an approval step; tool_call: a tool call waiting for approval."`
	Signal  string    `json:"signal,omitempty" doc:"The signal that answers the approval step."`
	Step    string    `json:"step,omitempty"`
	Message string    `json:"message,omitempty" doc:"What the approval step asks."`
	CallID  string    `json:"call_id,omitempty"`
	Tool    string    `json:"tool,omitempty"`
	Since   time.Time `json:"since"`
	Answer  string    `json:"answer" doc:"The request that answers it."`
}

// waits lists what an unfinished task waits for from a person.
func (s *Server) waits(ctx context.Context, t store.Task) ([]Wait, error) {
	found, err := s.Store.Waits(ctx, t.TenantID, t.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Wait, 0, len(found))
	for _, w := range found {
		wait := Wait{Kind: w.Kind, Signal: w.Signal, Step: w.Step, Message: w.Message, CallID: w.CallID, Tool: w.Tool, Since: w.Since}
		if w.Kind == store.WaitToolCall {
			wait.Answer = fmt.Sprintf("POST /v1/tasks/%s/tool-calls/%s/approve (or /reject)", t.ID, w.CallID)
		} else {
			wait.Answer = fmt.Sprintf("POST /v1/tasks/%s/signals/%s", t.ID, w.Signal)
		}
		out = append(out, wait)
	}
	return out, nil
}

// checkWaitsFor refuses a signal that the task does not wait for, naming
// those it does. A task that is unknown or has ended is left to the caller's
// own checks.
func (s *Server) checkWaitsFor(ctx context.Context, id, signal string) error {
	t, err := s.Store.GetTask(ctx, who(ctx).Tenant, uuid.MustParse(id))
	if err != nil || t.Status.Terminal() {
		return nil
	}
	waits, err := s.waits(ctx, t)
	if err != nil {
		return s.fail(ctx, "task "+id, err)
	}
	var signals, calls []string
	for _, w := range waits {
		if w.Kind == store.WaitSignal && w.Signal == signal {
			return nil
		}
		if w.Kind == store.WaitSignal {
			signals = append(signals, w.Signal)
		} else {
			calls = append(calls, w.CallID)
		}
	}
	msg := fmt.Sprintf("task %s does not wait for signal %q", id, signal)
	switch {
	case len(signals) > 0:
		msg += "; it waits for: " + strings.Join(signals, ", ")
	case len(calls) == 0:
		msg += "; it waits for no signal now"
	}
	if len(calls) > 0 {
		msg += "; tool calls waiting for approval (answer them at /tool-calls/{call_id}/approve or /reject): " + strings.Join(calls, ", ")
	}
	return huma.Error422UnprocessableEntity(msg, &huma.ErrorDetail{Location: "path.name", Value: signal})
}
