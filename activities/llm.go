package activities

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/store"
)

// chatModel is the LLM the activities talk to.
type chatModel interface {
	Chat(ctx context.Context, req llm.Request) (llm.Response, error)
	// Provider names the provider of a model, for calls that failed.
	Provider(model string) string
}

// heartbeatEvery is how often a running LLM call heartbeats; the workflow's
// heartbeat timeout is a few times longer.
const heartbeatEvery = time.Second

// CallInput is the input of CallLLM.
type CallInput struct {
	TaskID    uuid.UUID   `json:"task_id"`
	SubtaskID *uuid.UUID  `json:"subtask_id,omitempty"`
	Request   llm.Request `json:"request"`
}

// CallResult is what one successful LLM call produced.
type CallResult struct {
	// Output is {"text": content} for free text, or the parsed JSON answer when
	// the request asked for an output schema and the answer satisfies it.
	Output Value `json:"output"`
	// Invalid explains why a structured answer did not satisfy the schema; the
	// workflow then asks again with this feedback. Content holds that answer.
	Invalid      string  `json:"invalid,omitempty"`
	Content      string  `json:"content,omitempty"`
	Model        string  `json:"model"`
	Provider     string  `json:"provider"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}

// CallLLM sends one chat completion request and records the attempt in
// llm_calls, whatever its outcome. It heartbeats while the provider works, so
// a cancellation of the workflow reaches it and aborts the HTTP request.
// Provider errors are classified: those a retry cannot fix are non-retryable,
// the others carry the provider's Retry-After as the next retry delay.
func (a *Activities) CallLLM(ctx context.Context, in CallInput) (CallResult, error) {
	info := activity.GetInfo(ctx)
	stop := a.heartbeat(ctx)
	started := a.now()
	resp, err := a.LLM.Chat(ctx, in.Request)
	stop()
	latency := a.now().Sub(started)

	call := store.LLMCall{
		TaskID:    in.TaskID,
		SubtaskID: in.SubtaskID,
		CallKey:   fmt.Sprintf("%s/%s/%s", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID),
		Attempt:   int(info.Attempt),
		Provider:  a.LLM.Provider(in.Request.Model),
		Model:     in.Request.Model,
		LatencyMS: latency.Milliseconds(),
	}
	call.Request, _ = json.Marshal(in.Request)
	var result CallResult
	if err == nil {
		result = CallResult{
			Model:        cmp.Or(resp.Model, in.Request.Model),
			Provider:     resp.Provider,
			InputTokens:  resp.InputTokens,
			OutputTokens: resp.OutputTokens,
			CostUSD:      a.Prices.CostOf(resp),
		}
		call.Provider, call.Model = resp.Provider, result.Model
		call.InputTokens, call.OutputTokens, call.CostUSD = resp.InputTokens, resp.OutputTokens, result.CostUSD
		call.StatusCode = 200
		call.Response, _ = json.Marshal(map[string]string{"content": resp.Content, "finish_reason": resp.FinishReason})
	} else {
		call.Error = err.Error()
		var perr *llm.Error
		if errors.As(err, &perr) {
			call.StatusCode = perr.StatusCode
		}
	}
	// Record even when the context is canceled: the attempt happened.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if rerr := a.Store.RecordLLMCall(recordCtx, call); rerr != nil {
		return CallResult{}, fmt.Errorf("record llm call: %w", rerr)
	}
	a.Metrics.ObserveLLMCall(call.Model, call.Provider, err, latency, call.InputTokens, call.OutputTokens, call.CostUSD)
	if err != nil {
		return CallResult{}, classify(ctx, err)
	}

	output, invalid := parseOutput(in.Request.OutputSchema, resp.Content)
	if invalid != "" {
		result.Invalid, result.Content = invalid, resp.Content
		return result, nil
	}
	result.Output, err = a.keep(ctx, in.TaskID, output)
	return result, err
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
		NextRetryDelay: perr.RetryAfter,
	})
}

// heartbeat records a heartbeat at a steady pace until the returned stop
// function is called, which returns once no heartbeat is in flight;
// cancellation is delivered through heartbeats.
func (a *Activities) heartbeat(ctx context.Context) (stop func()) {
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
