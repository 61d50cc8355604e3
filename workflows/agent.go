package workflows

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/expr"
	"github.com/troupe-dev/troupe/llm"
)

// maxAnswerAttempts bounds how often an agent with an output schema is asked
// again after an answer that does not match it.
const maxAnswerAttempts = 3

// Default limits of an agent's LLM call, used where the definition sets none.
const (
	defaultCallTimeout  = 2 * time.Minute
	defaultCallDeadline = 10 * time.Minute
	// heartbeatTimeout leaves an attempt several missed heartbeats (the
	// worker sends one at least every 2 seconds) before the server
	// times it out, so a worker busy for a moment does not pay for a call
	// twice.
	heartbeatTimeout = 10 * time.Second
)

// agentCall is one run of an agent: the conversation to start with, the
// tools it may call, and where to record it.
type agentCall struct {
	TaskID uuid.UUID
	// RunID is the run of the task's workflow its tool calls are recorded
	// under (recordingRun).
	RunID     string
	SubtaskID *uuid.UUID
	// Key names the conversation within the task.
	Key      string
	Agent    *definitions.Agent
	Model    string
	Messages []llm.Message
	Timeout  time.Duration
	// Retry is the workflow's default retry policy; the agent's own wins.
	Retry *temporal.RetryPolicy
	// Budget is what the call may spend in USD; nil means no limit.
	Budget  *float64
	Toolset Toolset
	// StartsTask says the agent's first LLM call marks the task running.
	StartsTask bool
}

// agentResult is the output of an agent with the totals of its LLM calls.
type agentResult struct {
	Output       activities.Value `json:"output"`
	Model        string           `json:"model"`
	InputTokens  int64            `json:"input_tokens"`
	OutputTokens int64            `json:"output_tokens"`
	CostUSD      float64          `json:"cost_usd"`
}

// firstMessagesChange is the workflow.GetVersion change id of sending an
// agent's first messages with its first LLM call, stored with the answer,
// instead of storing them before it (see conversation).
const firstMessagesChange = "first-messages"

// runAgent runs an agent's conversation: one activity per model turn, each
// recorded by a local activity of its own, so that a failed write never
// makes Temporal pay for an answer twice. When the model asks for tools,
// each call is its own activity (several in parallel), their results go
// back to the model, and the loop goes on until a final answer, or fails
// after max_turns. When the agent has an output schema and the final answer
// does not match it, the answer is sent back with what is wrong, up to
// maxAnswerAttempts times. The budget and the history's size
// (checkHistory) are checked before every turn.
func runAgent(ctx workflow.Context, call agentCall) (agentResult, error) {
	llmCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    cmp.Or(call.Timeout, defaultCallTimeout),
		ScheduleToCloseTimeout: defaultCallDeadline,
		HeartbeatTimeout:       heartbeatTimeout,
		WaitForCancellation:    true,
		RetryPolicy:            cmp.Or(retryPolicy(call.Agent.Retry), call.Retry, defaultRetry()),
	})
	var a *activities.Activities
	var total agentResult
	conv := &conversation{taskID: call.TaskID, key: call.Key}
	if workflow.GetVersion(ctx, firstMessagesChange, workflow.DefaultVersion, 1) == 1 {
		conv.hold(call.Messages...)
	} else if err := conv.append(ctx, call.Messages...); err != nil {
		return total, err
	}
	belt, err := bindTools(ctx, call.Agent, call.Toolset)
	if err != nil {
		return total, err
	}
	var ap *approvals
	if belt.needsApproval() {
		ap = newApprovals(ctx)
	}
	maxTurns := cmp.Or(call.Agent.MaxTurns, definitions.DefaultMaxTurns)
	guarded := workflow.GetVersion(ctx, boundsChange, workflow.DefaultVersion, 1) == 1
	invalid := 0
	for turn := 1; ; turn++ {
		if guarded {
			if err := checkHistory(ctx, fmt.Sprintf("turn %d of agent %s", turn, call.Agent.Name)); err != nil {
				return total, err
			}
		}
		if call.Budget != nil && total.CostUSD >= *call.Budget {
			return total, budgetExceeded(fmt.Sprintf("the step spent $%.6f, all the run had left", total.CostUSD))
		}
		req := llm.Request{
			Model:        call.Model,
			Temperature:  call.Agent.Temperature,
			MaxTokens:    call.Agent.MaxTokens,
			OutputSchema: call.Agent.OutputSchema,
			SchemaName:   call.Agent.Name,
			Tools:        belt.specs,
		}
		res, err := callModels(ctx, llmCtx, activities.CallInput{
			TaskID: call.TaskID, SubtaskID: call.SubtaskID, Conversation: conv.ref(), Unstored: conv.unstored(), Request: req,
			StartsTask: call.StartsTask && turn == 1,
		}, call.Agent.FallbackModels)
		if err != nil {
			return total, err
		}
		req.Messages = conv.msgs
		var rec activities.RecordOutput
		err = workflow.ExecuteLocalActivity(storeOptions(ctx), a.RecordLLMCall, activities.RecordInput{
			TaskID: call.TaskID, SubtaskID: call.SubtaskID, Conversation: conv.ref(), Request: req, Result: res,
		}).Get(ctx, &rec)
		total.Model = res.Model
		total.InputTokens += res.InputTokens
		total.OutputTokens += res.OutputTokens
		total.CostUSD += res.CostUSD
		if err != nil {
			return total, err
		}
		conv.answered(res.Message)

		if calls := res.Message.ToolCalls; len(calls) > 0 {
			if turn >= maxTurns {
				return total, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("max_turns_exceeded: agent %s still asked for tools after %d turns (max_turns %d)", call.Agent.Name, turn, maxTurns),
					"max_turns_exceeded", nil)
			}
			msgs, spent, err := belt.run(ctx, &call, ap, fmt.Sprintf("%s#%d", call.Key, turn), calls)
			total.CostUSD += spent
			if err != nil {
				return total, err
			}
			if err := conv.append(ctx, msgs...); err != nil {
				return total, err
			}
			continue
		}
		if rec.Invalid == "" {
			total.Output = rec.Output
			return total, nil
		}
		if invalid++; invalid == maxAnswerAttempts {
			return total, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("agent %s gave no valid answer in %d attempts: %s", call.Agent.Name, invalid, rec.Invalid),
				"invalid_output", nil)
		}
		feedback := llm.Message{Role: "user", Content: "Your answer was rejected: " + rec.Invalid + ". Answer again with only a JSON value that matches the schema."}
		if err := conv.append(ctx, feedback); err != nil {
			return total, err
		}
	}
}

// callModels runs CallLLM with the request's model, then, while the call
// fails with an error a retry could have fixed (its retry budget spent, or
// its deadline passed), with each fallback model in turn. Every model but
// the last gets fallbackAttempts attempts unless the agent or the workflow
// set a retry policy. The answer names the model that gave it.
func callModels(ctx, llmCtx workflow.Context, in activities.CallInput, fallbacks []string) (activities.CallResult, error) {
	var a *activities.Activities
	var res activities.CallResult
	models := append([]string{in.Request.Model}, fallbacks...)
	for i, model := range models {
		in.Request.Model = model
		cctx := llmCtx
		if i < len(models)-1 {
			opts := workflow.GetActivityOptions(llmCtx)
			if opts.RetryPolicy.MaximumAttempts == 0 {
				p := *opts.RetryPolicy
				p.MaximumAttempts = fallbackAttempts
				opts.RetryPolicy = &p
				cctx = workflow.WithActivityOptions(llmCtx, opts)
			}
		}
		err := workflow.ExecuteActivity(cctx, a.CallLLM, in).Get(ctx, &res)
		if err == nil || i == len(models)-1 || !worthAnotherModel(err) {
			return res, err
		}
		workflow.GetLogger(ctx).Warn("model failed; trying the next", "model", model, "next", models[i+1], "error", err)
	}
	return res, nil // not reached: the last model returns
}

// fallbackAttempts is how many attempts a model with fallbacks gets when no
// retry policy says otherwise.
const fallbackAttempts = 3

// worthAnotherModel reports whether a failed call may succeed with another
// model: it failed with an error a retry could fix, not a bad request, a
// refused key or a cancellation.
func worthAnotherModel(err error) bool {
	var app *temporal.ApplicationError
	var timeout *temporal.TimeoutError
	switch {
	case temporal.IsCanceledError(err):
		return false
	case errors.As(err, &app):
		return !app.NonRetryable()
	default:
		return errors.As(err, &timeout)
	}
}

// budgetExceeded is the error that stops a run over its budget.
func budgetExceeded(detail string) error {
	return temporal.NewNonRetryableApplicationError(
		"budget exceeded: "+detail+"; no further LLM call was started", "budget_exceeded", nil)
}

// defaultRetry retries a failed call by time, not by count: as often as
// needed until the call's deadline (ScheduleToClose), backing off from 1 s to
// at most 30 s, so a provider or tool outage of a few minutes is survived.
// Errors marked non-retryable end it at once.
func defaultRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    30 * time.Second,
	}
}

// agentMessages builds the conversation for an agent: its system prompt (with
// the output schema spelled out when it has one), then either the messages
// given in the input ({"messages": [...]}, as the chat agent takes them) or
// its prompt template rendered with vars.
func agentMessages(agent *definitions.Agent, input json.RawMessage, vars expr.Vars) ([]llm.Message, error) {
	var msgs []llm.Message
	system := agent.System
	if len(agent.OutputSchema) > 0 {
		system += "\n\nAnswer with a single JSON value, and nothing else, that matches this JSON Schema:\n" + string(agent.OutputSchema)
	}
	if system != "" {
		msgs = append(msgs, llm.Message{Role: "system", Content: system})
	}
	var given struct {
		Messages []llm.Message `json:"messages"`
	}
	if json.Unmarshal(input, &given) == nil && len(given.Messages) > 0 {
		return append(msgs, given.Messages...), nil
	}
	prompt, err := expr.Render(cmp.Or(agent.Prompt, "{{ input }}"), vars)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("render prompt of agent %s: %v", agent.Name, err), "bad_template", err)
	}
	return append(msgs, llm.Message{Role: "user", Content: prompt}), nil
}

// errorMessage is the message of the innermost application error, the one a
// person can act on, or err's own message.
func errorMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}
