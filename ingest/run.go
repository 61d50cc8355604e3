package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Run reports one run of a flow, one event per call.
type Run struct {
	c     *Client
	flow  string
	runID string
	began time.Time
}

// Run returns the reporter of the run runID of flow.
func (c *Client) Run(flow, runID string) *Run {
	return &Run{c: c, flow: flow, runID: runID}
}

// Started reports that the run started, with its input (nil for none).
func (r *Run) Started(ctx context.Context, input any) error {
	r.began = time.Now()
	return r.send(ctx, FlowEvent{Type: FlowStarted, At: r.began}, input)
}

// Completed reports that the run ended: failed when runErr is not nil,
// else completed with output (nil for none).
func (r *Run) Completed(ctx context.Context, output any, runErr error) error {
	e := FlowEvent{Type: FlowCompleted, At: time.Now()}
	if runErr != nil {
		e.Error = runErr.Error()
	}
	if !r.began.IsZero() {
		e.DurationMS = e.At.Sub(r.began).Milliseconds()
	}
	return r.send(ctx, e, output)
}

// Log reports a log line of the run, not of a node.
func (r *Run) Log(ctx context.Context, level, message string, attrs any) error {
	return r.send(ctx, FlowEvent{Type: TaskLog, At: time.Now(), Level: level, Message: message}, attrs)
}

// Node returns the reporter of the task node name of the run.
func (r *Run) Node(name string) *Node { return &Node{run: r, name: name} }

// Node reports one task node of a run.
type Node struct {
	run   *Run
	name  string
	began time.Time
}

// Started reports that the node started.
func (n *Node) Started(ctx context.Context) error {
	n.began = time.Now()
	return n.run.send(ctx, FlowEvent{Type: TaskStarted, Task: n.name, At: n.began}, nil)
}

// OK reports that the node ended well, with output (nil for none).
func (n *Node) OK(ctx context.Context, output any) error {
	return n.run.send(ctx, n.end(TaskOK, ""), output)
}

// Err reports that the node failed with nodeErr.
func (n *Node) Err(ctx context.Context, nodeErr error) error {
	return n.run.send(ctx, n.end(TaskErr, nodeErr.Error()), nil)
}

// Log reports a log line of the node.
func (n *Node) Log(ctx context.Context, level, message string, attrs any) error {
	return n.run.send(ctx, FlowEvent{Type: TaskLog, Task: n.name, At: time.Now(), Level: level, Message: message}, attrs)
}

func (n *Node) end(typ, errMsg string) FlowEvent {
	e := FlowEvent{Type: typ, Task: n.name, At: time.Now(), Error: errMsg}
	if !n.began.IsZero() {
		e.DurationMS = e.At.Sub(n.began).Milliseconds()
	}
	return e
}

// send fills in the run of e and its payload, and sends it.
func (r *Run) send(ctx context.Context, e FlowEvent, payload any) error {
	e.RunID, e.Flow = r.runID, r.flow
	if payload != nil {
		raw, err := json.Marshal(payload)
		if err != nil {
			return fmt.Errorf("marshal %s payload: %w", e.Type, err)
		}
		e.Payload = raw
	}
	_, err := r.c.Send(ctx, e)
	return err
}
