package store

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// ToolCallStatus is the state of a tool call.
type ToolCallStatus string

// The states of a tool call: pending_approval → running → succeeded or failed; a call
// waiting for approval may be rejected instead. A call with no approval starts running.
const (
	ToolCallPendingApproval ToolCallStatus = "pending_approval"
	ToolCallRunning         ToolCallStatus = "running"
	ToolCallSucceeded       ToolCallStatus = "succeeded"
	ToolCallFailed          ToolCallStatus = "failed"
	ToolCallRejected        ToolCallStatus = "rejected"
)

// ToolCall is one call of a tool by a task (and one of its subtasks when SubtaskID is set).
// CallID is its idempotency key, unique within the task and stable across retries.
type ToolCall struct {
	ID         int64
	TaskID     uuid.UUID
	SubtaskID  *uuid.UUID
	CallID     string
	Tool       string
	Arguments  json.RawMessage
	Result     json.RawMessage
	Error      string
	Status     ToolCallStatus
	Attempts   int
	LatencyMS  int64
	WorkflowID string // the workflow that makes the call and waits for its approval
	DecidedBy  string
	Comment    string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}
