// Package ingest is the client of POST /v1/events, through which flows that
// run outside troupe (a script, a cron job, another framework) report their
// runs, so that they are listed, streamed and shown in the console beside
// troupe's own tasks.
//
//	c := ingest.NewClient("http://127.0.0.1:8080", os.Getenv("TROUPE_API_KEY"))
//	run := c.Run("nightly-etl", "2026-12-04")
//	run.Started(ctx, nil)
//	node := run.Node("extract")
//	node.Started(ctx)
//	node.Log(ctx, "info", "read 12 rows", nil)
//	node.OK(ctx, map[string]int{"rows": 12})
//	run.Completed(ctx, nil, nil)
//
// Every event is idempotent: sending one again (after a timeout, say)
// changes nothing, and events may arrive in any order.
package ingest

import (
	"encoding/json"
	"time"
)

// The types of events.
const (
	FlowStarted   = "flow_started"
	FlowCompleted = "flow_completed"
	TaskStarted   = "task_started"
	TaskOK        = "task_ok"
	TaskErr       = "task_err"
	TaskLog       = "task_log"
)

// FlowEvent is one event of a run of a flow, as POST /v1/events takes it.
type FlowEvent struct {
	Type  string `json:"type" enum:"flow_started,flow_completed,task_started,task_ok,task_err,task_log" doc:"flow_started and flow_completed begin and end a run; task_started, task_ok and task_err begin and end one of its task nodes; task_log is a log line."`
	RunID string `json:"run_id" minLength:"1" maxLength:"200" doc:"The client's id of the run, unique within the tenant: every event of a run names it."`
	Flow  string `json:"flow" minLength:"1" maxLength:"200" doc:"The flow's name: the run is listed as a task of this type."`
	// Task is the task node of task_* events.
	Task string `json:"task,omitempty" maxLength:"200" doc:"The task node (required for task_started, task_ok and task_err; optional for task_log)."`
	// TaskRunID tells two runs of one node apart (a retry of it).
	TaskRunID string `json:"task_run_id,omitempty" maxLength:"200" doc:"Tells two runs of one task node apart, e.g. a retry; default: the node's name."`
	// ID is a log line's id.
	ID string `json:"id,omitempty" maxLength:"200" doc:"A log line's id, so that a line sent twice is kept once; default: a hash of the line."`
	// At is when the event happened; zero means when troupe receives it.
	At         time.Time `json:"at,omitzero" doc:"When it happened (RFC 3339); default: when troupe receives it."`
	DurationMS int64     `json:"duration_ms,omitempty" minimum:"0" doc:"On task_ok, task_err and flow_completed: how long it ran, which dates its start when its start event is missing."`
	Error      string    `json:"error,omitempty" maxLength:"65536" doc:"Why a task node failed (task_err), or, on flow_completed, why the run failed: a run completed with an error is failed."`
	Level      string    `json:"level,omitempty" enum:"debug,info,warn,error" doc:"A log line's level; default info."`
	Message    string    `json:"message,omitempty" maxLength:"65536" doc:"A log line's text."`
	// Payload is the run's input (flow_started), an output (task_ok,
	// flow_completed), or a log line's attributes (task_log).
	Payload json.RawMessage `json:"payload,omitempty" doc:"The run's input on flow_started, the output on task_ok and flow_completed, the attributes of a log line."`
	TraceID string          `json:"trace_id,omitempty" pattern:"^[0-9a-f]{32}$" doc:"The run's OpenTelemetry trace id, if it has one."`
}

// EventBatch is the body of POST /v1/events.
type EventBatch struct {
	Events []FlowEvent `json:"events" minItems:"1" maxItems:"1000" doc:"The events, applied together: all or none."`
}

// RunState is the state of a run after a batch.
type RunState struct {
	RunID  string `json:"run_id"`
	TaskID string `json:"task_id" format:"uuid" doc:"The run's task: GET /v1/tasks/{task_id}, its events, subtasks and logs."`
	Status string `json:"status" enum:"running,completed,failed"`
}

// EventBatchResult is the answer of POST /v1/events.
type EventBatchResult struct {
	Runs []RunState `json:"runs" doc:"Each run the batch named, as it is after it."`
}
