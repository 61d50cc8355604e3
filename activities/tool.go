package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/telemetry"
	"github.com/troupe-dev/troupe/tool"
)

// toolbox makes tool calls.
type toolbox interface {
	Call(ctx context.Context, c tool.Call) (tool.Result, error)
	List(ctx context.Context, server *definitions.Tool) ([]llm.ToolSpec, error)
}

// Tools holds the tool activities. They need no store, so that a worker on a
// tool's own task queue (`troupe worker --tool-queue`, e.g. on a customer's
// host) runs them with nothing but the tools: the workflow records them.
// Register a pointer to it with a Temporal worker.
type Tools struct {
	Toolbox toolbox
	Metrics *telemetry.Metrics
	// Tracer makes a span per call (default: none).
	Tracer trace.Tracer
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// ToolInput is the input of CallTool.
type ToolInput struct {
	TaskID uuid.UUID `json:"task_id"`
	// CallID is the call's idempotency key, the same for every attempt.
	CallID string `json:"call_id"`
	// Name is the tool as granted ("lookup_order", "everything/get-sum").
	Name string           `json:"name"`
	Tool definitions.Tool `json:"tool"`
	// MCPName is the tool's name on its MCP server.
	MCPName string          `json:"mcp_name,omitempty"`
	Args    json.RawMessage `json:"args"`
}

// ToolOutput is the result of a tool call.
type ToolOutput struct {
	// Content is what the model sees; JSON the result as a JSON value, when
	// it is one.
	Content string          `json:"content"`
	JSON    json.RawMessage `json:"json,omitempty"`
	// IsError marks a tool error, told to the model as the result.
	IsError   bool  `json:"is_error,omitempty"`
	Attempt   int   `json:"attempt"`
	LatencyMS int64 `json:"latency_ms"`
}

// Reasons of failed tool calls, as Temporal error types.
const (
	errToolUnavailable = "tool_unavailable" // retried
	errToolFailed      = "tool_failed"      // not retried
)

// CallTool makes one tool call with its idempotency key. It heartbeats while
// the tool works, so a cancellation reaches it and a dead worker is noticed
// within seconds; the retry after that uses the same key. Failures a retry may
// fix are retryable (after the tool's Retry-After); a tool's own error is a
// result the model sees.
func (t *Tools) CallTool(ctx context.Context, in ToolInput) (ToolOutput, error) {
	attempt := int(activity.GetInfo(ctx).Attempt)
	ctx, span := t.tracer().Start(ctx, "tool.call "+in.Name, trace.WithAttributes(
		attribute.String("troupe.task_id", in.TaskID.String()),
		attribute.String("troupe.tool", in.Name),
		attribute.String("troupe.tool.kind", in.Tool.Kind()),
		attribute.String("troupe.tool.call_id", in.CallID),
		attribute.Int("troupe.tool.attempt", attempt),
	))
	defer span.End()
	// Heartbeats last the whole attempt, its log line included (see CallLLM).
	defer heartbeat(ctx)()
	started := t.now()
	res, err := t.Toolbox.Call(ctx, tool.Call{Tool: &in.Tool, Name: in.MCPName, Args: in.Args, Key: in.CallID})
	latency := t.now().Sub(started)
	outcome := "ok"
	switch {
	case ctx.Err() != nil:
		outcome = "canceled"
	case err != nil:
		outcome = "error"
	case res.IsError:
		outcome = "tool_error"
	}
	t.Metrics.ObserveToolCall(in.Name, outcome, latency)
	if err == nil {
		activity.GetLogger(ctx).Info("tool answered", "tool", in.Name, "outcome", outcome, "latency_ms", latency.Milliseconds(), "bytes", len(res.Content))
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return ToolOutput{}, classifyTool(ctx, err)
	}
	if res.IsError {
		span.SetStatus(codes.Error, "the tool answered with an error")
	}
	out := ToolOutput{Content: res.Content, JSON: res.JSON, IsError: res.IsError, Attempt: attempt, LatencyMS: latency.Milliseconds()}
	if len(out.Content) > MaxInline {
		out.Content = truncate(out.Content, MaxInline) + "\n[truncated: the result is larger than 256 KiB]"
		out.JSON = nil
	}
	if len(out.JSON) > MaxInline {
		out.JSON = nil
	}
	return out, nil
}

// ListTools lists the tools of an MCP server.
func (t *Tools) ListTools(ctx context.Context, server definitions.Tool) ([]llm.ToolSpec, error) {
	specs, err := t.Toolbox.List(ctx, &server)
	if err != nil {
		return nil, classifyTool(ctx, fmt.Errorf("list the tools of MCP server %s: %w", server.Name, err))
	}
	return specs, nil
}

// classifyTool turns a tool failure into the Temporal error that makes the
// retry decision.
func classifyTool(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var terr *tool.Error
	if !errors.As(err, &terr) {
		return temporal.NewApplicationErrorWithOptions(err.Error(), errToolUnavailable, temporal.ApplicationErrorOptions{
			NextRetryDelay: retryDelay(ctx, 0),
		})
	}
	kind := errToolUnavailable
	if !terr.Retryable {
		kind = errToolFailed
	}
	return temporal.NewApplicationErrorWithOptions(err.Error(), kind, temporal.ApplicationErrorOptions{
		NonRetryable:   !terr.Retryable,
		NextRetryDelay: retryDelay(ctx, terr.RetryAfter),
	})
}

func (t *Tools) tracer() trace.Tracer {
	if t.Tracer == nil {
		return noop.NewTracerProvider().Tracer("")
	}
	return t.Tracer
}

func (t *Tools) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// RecordToolCall records a tool call's state in tool_calls (with its
// event), idempotently. Run as a local activity by the workflow that makes
// the call, before and after it.
func (a *Activities) RecordToolCall(ctx context.Context, c store.ToolCall) error {
	if err := a.Store.RecordToolCall(ctx, c); err != nil {
		return fmt.Errorf("record tool call %s: %w", c.CallID, err)
	}
	return nil
}
