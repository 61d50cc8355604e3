package api

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/workflows"
)

// ToolCall is one call of a tool by a task.
type ToolCall struct {
	CallID     string               `json:"call_id" doc:"The call's id, unique within the task's run; also its idempotency key."`
	RunID      string               `json:"run_id,omitempty" doc:"The run of the task's workflow that made the call: a reset (or a retry) starts a new run, which records its own calls."`
	SubtaskID  string               `json:"subtask_id,omitempty"`
	Tool       string               `json:"tool"`
	Arguments  json.RawMessage      `json:"arguments,omitempty"`
	Result     json.RawMessage      `json:"result,omitempty"`
	Error      string               `json:"error,omitempty"`
	Status     store.ToolCallStatus `json:"status" enum:"pending_approval,running,succeeded,failed,rejected"`
	Attempts   int                  `json:"attempts"`
	LatencyMS  int64                `json:"latency_ms"`
	DecidedBy  string               `json:"decided_by,omitempty" doc:"Who approved or rejected the call."`
	Comment    string               `json:"comment,omitempty" doc:"The comment of the decision."`
	CreatedAt  time.Time            `json:"created_at"`
	UpdatedAt  time.Time            `json:"updated_at"`
	FinishedAt *time.Time           `json:"finished_at,omitempty"`
}

func toolCall(c store.ToolCall) ToolCall {
	out := ToolCall{CallID: c.CallID, RunID: c.RunID, Tool: c.Tool, Arguments: c.Arguments, Result: c.Result,
		Error: c.Error, Status: c.Status, Attempts: c.Attempts, LatencyMS: c.LatencyMS,
		DecidedBy: c.DecidedBy, Comment: c.Comment, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		FinishedAt: c.FinishedAt}
	if c.SubtaskID != nil {
		out.SubtaskID = c.SubtaskID.String()
	}
	return out
}

// ToolDecisionInput is the request of approveToolCall and rejectToolCall.
type ToolDecisionInput struct {
	TaskIDInput
	CallID string `path:"call_id" minLength:"1" maxLength:"200" doc:"The call's id, as listed by listToolCalls."`
	Body   *ToolDecisionBody
}

// ToolDecisionBody is the optional body of a decision on a tool call.
type ToolDecisionBody struct {
	Comment string `json:"comment,omitempty" maxLength:"2000" doc:"Why; on a rejection, the model is told."`
}

// ToolCallOutput is a response holding one tool call.
type ToolCallOutput struct {
	Body ToolCall
}

func (s *Server) registerToolCalls(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "listToolCalls", Method: http.MethodGet, Path: "/v1/tasks/{id}/tool-calls",
		Summary: "List a task's tool calls", Description: "Every call of a tool by the task, in the order made, with its arguments, result or error, and status (pending_approval, running, succeeded, failed, rejected).", Tags: []string{"tasks"},
		Errors: problems(http.StatusNotFound),
	}, func(ctx context.Context, in *TaskIDInput) (*listOutput[ToolCall], error) {
		return itemsOf(s.ToolCalls(ctx, uuid.MustParse(in.ID)))
	})
	huma.Register(api, huma.Operation{
		OperationID: "approveToolCall", Method: http.MethodPost, Path: "/v1/tasks/{id}/tool-calls/{call_id}/approve",
		Summary: "Approve a tool call", Description: "Lets a call waiting for approval run. The decision is audited (tool_call_approved), then sent to the task's workflow. Answers 202 with the call; it shows running once the workflow has it.",
		DefaultStatus: http.StatusAccepted, Tags: []string{"tasks"},
		Errors: problems(http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge),
	}, s.DecideToolCall(true))
	huma.Register(api, huma.Operation{
		OperationID: "rejectToolCall", Method: http.MethodPost, Path: "/v1/tasks/{id}/tool-calls/{call_id}/reject",
		Summary: "Reject a tool call", Description: "Refuses a call waiting for approval: it does not run, and the model is told it was rejected, with the comment. The decision is audited (tool_call_rejected), then sent to the task's workflow. Answers 202 with the call.",
		DefaultStatus: http.StatusAccepted, Tags: []string{"tasks"},
		Errors: problems(http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge),
	}, s.DecideToolCall(false))
}

// ToolCalls lists the tool calls of a task of ctx's tenant, as GET
// /v1/tasks/{id}/tool-calls does. Its errors are huma.StatusErrors.
func (s *Server) ToolCalls(ctx context.Context, id uuid.UUID) ([]ToolCall, error) {
	rows, err := s.Store.ListToolCalls(ctx, who(ctx).Tenant, id)
	return convert(rows, err, s.fail, ctx, "task "+id.String(), toolCall)
}

// DecideToolCall returns the operation that approves (or rejects) a call waiting for approval,
// as the authenticated caller.
func (s *Server) DecideToolCall(approved bool) func(context.Context, *ToolDecisionInput) (*ToolCallOutput, error) {
	eventType := "tool_call_rejected"
	if approved {
		eventType = "tool_call_approved"
	}
	return func(ctx context.Context, in *ToolDecisionInput) (*ToolCallOutput, error) {
		p := who(ctx)
		c, err := s.Store.GetToolCall(ctx, p.Tenant, uuid.MustParse(in.ID), in.CallID)
		if err != nil {
			return nil, s.fail(ctx, "tool call "+in.CallID+" of task "+in.ID, err)
		}
		if c.Status != store.ToolCallPendingApproval {
			return nil, huma.Error409Conflict(fmt.Sprintf("tool call %s is %s: only a call waiting for approval can be decided", c.CallID, c.Status))
		}
		var comment string
		if in.Body != nil {
			comment = in.Body.Comment
		}
		decision := workflows.ToolDecision{CallID: c.CallID, Approved: approved, Comment: comment, By: p.Actor}
		meta := map[string]string{"call_id": c.CallID, "tool": c.Tool, "comment": comment}
		_, err = s.actOnTask(ctx, in.ID, eventType, meta, func(ctx context.Context, t store.Task) error {
			return s.Temporal.SignalWorkflow(ctx, cmp.Or(c.WorkflowID, t.WorkflowID), "", workflows.ToolDecisionSignal, decision)
		})
		if err != nil {
			return nil, err
		}
		return &ToolCallOutput{Body: toolCall(c)}, nil
	}
}
