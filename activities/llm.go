package activities

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/store"
)

// chatModel is the LLM the activities talk to.
type chatModel interface {
	// ChatStream answers req, passing the content to onDelta as it is
	// written.
	ChatStream(ctx context.Context, req llm.Request, onDelta llm.DeltaFunc) (llm.Response, error)
	// Provider names the provider of a model, for calls that failed.
	Provider(model string) string
}

// heartbeatEvery is how often a running LLM or tool call heartbeats; the
// workflow's heartbeat timeout is a few times longer.
const heartbeatEvery = time.Second

// CallInput is the input of CallLLM. The conversation is not in it: it is
// kept in Postgres and named by Conversation, so that a long conversation
// does not pass through workflow history again at every turn. Only
// messages not stored yet come with it: a conversation's first messages,
// which RecordLLMCall stores with the answer.
type CallInput struct {
	TaskID       uuid.UUID    `json:"task_id"`
	SubtaskID    *uuid.UUID   `json:"subtask_id,omitempty"`
	Conversation Conversation `json:"conversation"`
	// Unstored are the messages after the stored ones.
	Unstored []llm.Message `json:"unstored,omitempty"`
	// Request is the request without its messages.
	Request llm.Request `json:"request"`
	// StartsTask says the call is the first step of its task: it marks the
	// task running (as StartTask does) while the request is made.
	StartsTask bool `json:"starts_task,omitempty"`
}

// CallResult is what one successful LLM call produced: the answer, not yet
// recorded. RecordLLMCall records it.
type CallResult struct {
	// Message is the assistant's message: its text, or the tool calls it
	// asks for.
	Message      llm.Message `json:"message"`
	FinishReason string      `json:"finish_reason,omitempty"`
	Model        string      `json:"model"`
	Provider     string      `json:"provider"`
	InputTokens  int64       `json:"input_tokens"`
	OutputTokens int64       `json:"output_tokens"`
	CostUSD      float64     `json:"cost_usd"`
	LatencyMS    int64       `json:"latency_ms"`
	// CallKey and Attempt identify the call's llm_calls row.
	CallKey string `json:"call_key"`
	Attempt int    `json:"attempt"`
}

// CallLLM sends one chat completion request, the conversation loaded from
// Postgres, with the model a retry chose for its workflow if there is one
// (store.CallTerms), and streams the answer: its text is written as it arrives into
// llm.delta events of the task (see Delta), coalesced and off the read
// loop. It heartbeats while the provider works, so a cancellation of the
// workflow reaches it and aborts the HTTP request. It does not record a
// successful answer: the workflow records it with RecordLLMCall, so a failed
// write can never make Temporal pay for the same answer twice. A failed
// attempt is recorded here, as well as the store allows. Provider errors are
// classified: those a retry cannot fix are non-retryable, the others carry
// the provider's Retry-After as the next retry delay.
//
// A call that starts its task (StartsTask) marks the task running at the
// same time as it makes the request, rather than after a local activity of
// its own: the task's first token comes the sooner for it. Its llm.delta
// events wait for the start, so the task's "started" event comes first. A
// start that fails cancels the request and fails the attempt: with
// ErrTaskEnded, not retried, when the task ended before its run started it.
func (a *Activities) CallLLM(ctx context.Context, in CallInput) (CallResult, error) {
	// Heartbeats last the whole attempt: what comes before the call and
	// after the answer waits on the store, and an attempt the server timed
	// out for want of heartbeats while Postgres was down would go on
	// unaware, paying for an answer nobody records.
	defer heartbeat(ctx)()
	if !in.StartsTask {
		return a.call(ctx, in, a.Store)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := &taskStart{events: a.Store, done: make(chan struct{})}
	go func() {
		defer close(start.done)
		if start.err = a.StartTask(ctx, in.TaskID); start.err != nil {
			cancel()
		}
	}()
	res, err := a.call(ctx, in, start)
	if err := start.wait(); err != nil {
		return CallResult{}, err
	}
	return res, err
}

// taskStart is a task being started (StartTask) while its first LLM call
// is made. Its events are written once the start is done, and not at all
// when it failed.
type taskStart struct {
	events eventAppender
	done   chan struct{}
	err    error // once done is closed
}

// wait waits for the start to be done and returns its error.
func (s *taskStart) wait() error {
	<-s.done
	return s.err
}

func (s *taskStart) AppendTransientEvent(ctx context.Context, taskID uuid.UUID, kind, dedupeKey string, payload any) error {
	select {
	case <-s.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.err != nil {
		return s.err
	}
	return s.events.AppendTransientEvent(ctx, taskID, kind, dedupeKey, payload)
}

// call makes one LLM call, as CallLLM says, writing its llm.delta events
// with events.
func (a *Activities) call(ctx context.Context, in CallInput, events eventAppender) (CallResult, error) {
	info := activity.GetInfo(ctx)
	req := in.Request
	var err error
	if req.Messages, err = a.conversation(ctx, in.TaskID, in.Conversation); err != nil {
		return CallResult{}, err
	}
	req.Messages = append(req.Messages, in.Unstored...)
	terms, err := a.Store.CallTerms(ctx, in.TaskID, info.WorkflowExecution.ID)
	if err != nil {
		return CallResult{}, err
	}
	// A retry may have chosen another model for the step that failed.
	req.Model = cmp.Or(terms.Model, req.Model)
	callKey := fmt.Sprintf("%s/%s/%s", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID)
	if terms.Budgeted {
		if err := a.reserveBudget(ctx, terms.Tenant, req, callKey, info); err != nil {
			return CallResult{}, err
		}
	}
	deltas := newDeltaWriter(events, in.TaskID, Delta{CallKey: callKey, Attempt: int(info.Attempt), SubtaskID: in.SubtaskID}, slog.Default(), deltaInterval)
	started := a.now()
	resp, err := a.LLM.ChatStream(ctx, req, deltas.add)
	latency := a.now().Sub(started)
	// The rest of a canceled call's text is not written: the task ends.
	deltas.close(ctx.Err() == nil)
	if err != nil {
		a.recordFailedCall(ctx, in, req, callKey, int(info.Attempt), latency, err)
		return CallResult{}, classify(ctx, err)
	}
	cost := a.Prices.CostOf(resp)
	activity.GetLogger(ctx).Info("model answered", "model", cmp.Or(resp.Model, req.Model), "finish_reason", resp.FinishReason,
		"input_tokens", resp.InputTokens, "output_tokens", resp.OutputTokens, "cost_usd", cost, "latency_ms", latency.Milliseconds(), "tool_calls", len(resp.ToolCalls))
	return CallResult{
		Message:      llm.Message{Role: "assistant", Content: resp.Content, ToolCalls: resp.ToolCalls},
		FinishReason: resp.FinishReason,
		Model:        cmp.Or(resp.Model, req.Model),
		Provider:     resp.Provider,
		InputTokens:  resp.InputTokens,
		OutputTokens: resp.OutputTokens,
		CostUSD:      cost,
		LatencyMS:    latency.Milliseconds(),
		CallKey:      callKey,
		Attempt:      int(info.Attempt),
	}, nil
}

// reserveBudget reserves the estimated cost of the call (attempt) callKey
// of the budget of tenant, until RecordLLMCall settles it or the
// attempt's deadline has passed (see store.ReserveBudget). A call the budget
// refuses fails the task with a non-retryable budget_exceeded error.
func (a *Activities) reserveBudget(ctx context.Context, tenant string, req llm.Request, callKey string, info activity.Info) error {
	ttl := time.Until(info.Deadline) + time.Minute
	if info.Deadline.IsZero() {
		ttl = 15 * time.Minute
	}
	err := a.Store.ReserveBudget(ctx, tenant, callKey+"#"+strconv.Itoa(int(info.Attempt)), a.Prices.Estimate(req), ttl)
	if errors.Is(err, store.ErrBudgetExceeded) {
		return temporal.NewNonRetryableApplicationError(err.Error(), store.ErrBudgetExceeded.Error(), nil)
	}
	return err
}

// recordFailedCall records a failed attempt in llm_calls. A failure to
// record it is logged, not returned: the attempt is retried anyway, and
// nothing was paid for.
func (a *Activities) recordFailedCall(ctx context.Context, in CallInput, req llm.Request, callKey string, attempt int, latency time.Duration, callErr error) {
	call := store.LLMCall{
		TaskID: in.TaskID, SubtaskID: in.SubtaskID, CallKey: callKey, Attempt: attempt,
		Provider: a.LLM.Provider(req.Model), Model: req.Model, LatencyMS: latency.Milliseconds(),
		Error: callErr.Error(),
	}
	call.Request, _ = json.Marshal(req)
	var perr *llm.Error
	if errors.As(callErr, &perr) {
		call.StatusCode = perr.StatusCode
	}
	a.Metrics.ObserveLLMCall(call.Model, call.Provider, callErr, latency, 0, 0, 0)
	// Record even when the context is canceled: the attempt happened.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.Store.RecordLLMCall(recordCtx, call); err != nil {
		activity.GetLogger(ctx).Warn("record failed llm call", "call_key", callKey, "attempt", attempt, "error", err)
	}
}

// RecordInput is the input of RecordLLMCall, run as a local activity: its
// input stays out of workflow history, so it may carry the whole request.
type RecordInput struct {
	TaskID    uuid.UUID  `json:"task_id"`
	SubtaskID *uuid.UUID `json:"subtask_id,omitempty"`
	// Conversation is the stored part of the request's messages.
	Conversation Conversation `json:"conversation"`
	// Request is the request as sent, with its messages.
	Request llm.Request `json:"request"`
	Result  CallResult  `json:"result"`
}

// Unrecorded returns what RecordLLMCall adds to the conversation: the
// request's messages not stored before the call, then the answer.
func (in RecordInput) Unrecorded() ([]llm.Message, error) {
	if in.Conversation.Len > len(in.Request.Messages) {
		return nil, fmt.Errorf("conversation %s: %d messages stored, but the request has %d", in.Conversation.Key, in.Conversation.Len, len(in.Request.Messages))
	}
	return append(slices.Clone(in.Request.Messages[in.Conversation.Len:]), in.Result.Message), nil
}

// RecordOutput is what RecordLLMCall makes of an answer.
type RecordOutput struct {
	// Output is the agent's output when the answer is final (no tool
	// calls) and valid: {"text": content}, or the structured answer.
	Output Value `json:"output"`
	// Invalid explains why a structured answer did not satisfy the schema;
	// the workflow then asks again with this feedback.
	Invalid string `json:"invalid,omitempty"`
}

// RecordLLMCall records a successful LLM call: its llm_calls row (adding
// its tokens and cost to the task's totals), and the assistant's message as
// the next message of the conversation. Everything it writes is idempotent,
// so it is retried until the store answers. For a final answer it returns
// the agent's output, or why a structured answer is invalid.
func (a *Activities) RecordLLMCall(ctx context.Context, in RecordInput) (RecordOutput, error) {
	res := in.Result
	call := store.LLMCall{
		TaskID: in.TaskID, SubtaskID: in.SubtaskID, CallKey: res.CallKey, Attempt: res.Attempt,
		Provider: res.Provider, Model: res.Model, LatencyMS: res.LatencyMS, StatusCode: 200,
		InputTokens: res.InputTokens, OutputTokens: res.OutputTokens, CostUSD: res.CostUSD,
	}
	var err error
	if call.Request, err = json.Marshal(in.Request); err != nil {
		return RecordOutput{}, fmt.Errorf("encode llm request: %w", err)
	}
	if call.Response, err = json.Marshal(response{Content: res.Message.Content, FinishReason: res.FinishReason, ToolCalls: res.Message.ToolCalls}); err != nil {
		return RecordOutput{}, fmt.Errorf("encode llm response: %w", err)
	}
	if err := a.Store.RecordLLMCall(ctx, call); err != nil {
		return RecordOutput{}, fmt.Errorf("record llm call: %w", err)
	}
	msgs, err := in.Unrecorded()
	if err != nil {
		return RecordOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), "bad_conversation", err)
	}
	if err := a.appendMessages(ctx, in.TaskID, in.Conversation, msgs...); err != nil {
		return RecordOutput{}, err
	}
	a.Metrics.ObserveLLMCall(res.Model, res.Provider, nil, time.Duration(res.LatencyMS)*time.Millisecond, res.InputTokens, res.OutputTokens, res.CostUSD)
	if len(res.Message.ToolCalls) > 0 {
		return RecordOutput{}, nil
	}
	output, invalid := ParseOutput(in.Request.OutputSchema, res.Message.Content)
	if invalid != "" {
		return RecordOutput{Invalid: invalid}, nil
	}
	value, err := a.keep(ctx, in.TaskID, output)
	return RecordOutput{Output: value}, err
}

// response is an answer as llm_calls keeps it.
type response struct {
	Content      string         `json:"content"`
	FinishReason string         `json:"finish_reason"`
	ToolCalls    []llm.ToolCall `json:"tool_calls,omitempty"`
}

// classify turns a provider error into the Temporal error that makes the
// retry decision: non-retryable where a retry cannot help, else retryable
// after the delay the provider asked for.
func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var perr *llm.Error
	if !errors.As(err, &perr) {
		return err
	}
	return temporal.NewApplicationErrorWithOptions(perr.Error(), perr.Kind(), temporal.ApplicationErrorOptions{
		NonRetryable:   !perr.Retryable,
		NextRetryDelay: retryDelay(ctx, perr.RetryAfter),
	})
}

// heartbeat records a heartbeat at a steady pace until the returned stop
// function is called, which returns once no heartbeat is in flight;
// cancellation is delivered through heartbeats.
func heartbeat(ctx context.Context) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}
