package workflows

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/expr"
)

// DSLInput is the input of DSLWorkflow. The definition travels with it, so
// a run, and its replay, keep the definition it started with.
type DSLInput struct {
	TaskID   uuid.UUID            `json:"task_id"`
	Type     string               `json:"type"`
	Workflow definitions.Workflow `json:"workflow"`
	// Model is used by agents that name none, when the workflow's defaults
	// name none either.
	Model string          `json:"model"`
	Input json.RawMessage `json:"input"`
	// Timeout bounds the whole run; 0 is none.
	Timeout time.Duration `json:"timeout,omitzero"`
}

// ApprovalSignal is the payload of the signal that answers an approval step.
type ApprovalSignal struct {
	Approved bool   `json:"approved"`
	Comment  string `json:"comment,omitempty"`
	By       string `json:"by,omitempty"`
}

// DSLWorkflow interprets a YAML workflow: each agent step runs as a child
// workflow (AgentStepWorkflow) recorded as a subtask; loops, parallel
// branches, switches, maps and approvals run here.
func DSLWorkflow(ctx workflow.Context, in DSLInput) (activities.Value, error) {
	return runTask(ctx, in.TaskID, in.Type, in.Timeout, true, func(ctx workflow.Context) (activities.Value, error) {
		r := &run{in: in, wf: &in.Workflow, steps: map[string]any{}}
		r.bounded = workflow.GetVersion(ctx, boundsChange, workflow.DefaultVersion, 1) == 1
		r.runID = recordingRun(ctx)
		if err := json.Unmarshal(in.Input, &r.input); err != nil {
			return activities.Value{}, temporal.NewNonRetryableApplicationError("task input is not JSON: "+err.Error(), "bad_input", err)
		}
		var budget *float64
		if b := in.Workflow.Budget; b != nil {
			budget = &b.MaxCostUSD
		}
		last, err := r.runSteps(ctx, in.Workflow.Steps, scope{purse: newPurse(budget)})
		if err != nil {
			return activities.Value{}, err
		}
		return r.output(last)
	})
}

// run is the state of one interpretation. Coroutines of a workflow never run
// at the same time, so parallel branches share it safely.
type run struct {
	in    DSLInput
	wf    *definitions.Workflow
	input any
	steps map[string]any // step id → {"output": ...}
	// approvals collects decisions on tool calls, once a tool step needs one.
	approvals *approvals
	// bounded is false when replaying a run started before the history
	// guard, the cap on map items and budget shares (boundsChange).
	bounded bool
	// runID is the run the steps are recorded under (recordingRun).
	runID string
}

// boundsChange is the workflow.GetVersion change id of the history guard,
// the cap on map items and the budget shares of parallel branches and map
// items: runs started before them replay without them.
const boundsChange = "bounds"

// share is the purse of a branch starting now, one of ways: a share of p,
// or p itself in runs started before budget shares.
func (r *run) share(p *purse, name string, ways int) *purse {
	if !r.bounded {
		return p
	}
	return p.share(name, ways)
}

// settle ends the purse of a branch that share returned.
func (r *run) settle(p, branch *purse) {
	if r.bounded {
		p.settle(branch)
	}
}

// scope is where in the definition a step runs.
type scope struct {
	prefix    string // key prefix of enclosing loops, maps and branches
	iteration int    // iteration of the innermost loop, 0 outside loops
	as        string // name of the map variable, "" outside maps
	item      any
	purse     *purse // what the steps here may spend; nil without a budget
}

func (s scope) key(id string) string {
	k := s.prefix + id
	if s.iteration > 0 {
		k += fmt.Sprintf("#%d", s.iteration)
	}
	return k
}

func (r *run) vars(s scope) expr.Vars {
	v := expr.Vars{"input": r.input, "steps": r.steps, "iteration": int64(s.iteration)}
	if s.as != "" {
		v[s.as] = s.item
	}
	return v
}

// runSteps runs steps in order and returns the output of the last one.
func (r *run) runSteps(ctx workflow.Context, steps []definitions.Step, s scope) (activities.Value, error) {
	var last activities.Value
	for i := range steps {
		out, err := r.runStep(ctx, &steps[i], s)
		if err != nil {
			return activities.Value{}, err
		}
		last = out
	}
	return last, nil
}

// runStep runs one step and records its output under its id.
func (r *run) runStep(ctx workflow.Context, step *definitions.Step, s scope) (activities.Value, error) {
	if err := r.checkHistory(ctx, "step "+s.key(step.ID)); err != nil {
		return activities.Value{}, err
	}
	var out activities.Value
	var err error
	switch step.Kind() {
	case "agent", "tool":
		out, err = r.runLeaf(ctx, step, s)
	case "loop":
		out, err = r.runLoop(ctx, step, s)
	case "parallel":
		out, err = r.runParallel(ctx, step, s)
	case "switch":
		out, err = r.runSwitch(ctx, step, s)
	case "map":
		out, err = r.runMap(ctx, step, s)
	case "approval":
		out, err = r.runApproval(ctx, step, s)
	default:
		err = temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %s has no known kind", step.ID), "bad_definition", nil)
	}
	if err != nil {
		return activities.Value{}, err
	}
	r.steps[step.ID] = map[string]any{"output": decode(out)}
	return out, nil
}

// runLeaf runs an agent or a tool step: a step of its own, or a map's
// step for one item.
func (r *run) runLeaf(ctx workflow.Context, step *definitions.Step, s scope) (activities.Value, error) {
	if step.Kind() == "tool" {
		return r.runToolStep(ctx, step, s)
	}
	return r.runAgentStep(ctx, step, s)
}

// checkHistory is checkHistory in runs started after boundsChange.
func (r *run) checkHistory(ctx workflow.Context, before string) error {
	if !r.bounded {
		return nil
	}
	return checkHistory(ctx, before)
}

// runAgentStep renders the step's prompt and runs the agent as a child
// workflow, within the budget.
func (r *run) runAgentStep(ctx workflow.Context, step *definitions.Step, s scope) (activities.Value, error) {
	agent, ok := r.wf.Agents[step.Agent]
	if !ok {
		return activities.Value{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %s: agent %q is not defined", step.ID, step.Agent), "bad_definition", nil)
	}
	var remaining *float64
	if p := s.purse; p != nil {
		left := p.left()
		if left <= 0 {
			return activities.Value{}, p.overBudget(step.ID)
		}
		remaining = &left
	}
	stepAgent := *agent
	stepAgent.Prompt = cmp.Or(step.Prompt, agent.Prompt)
	msgs, err := agentMessages(&stepAgent, nil, r.vars(s))
	if err != nil {
		return activities.Value{}, err
	}
	key := s.key(step.ID)
	in := StepInput{
		TaskID: r.in.TaskID, RunID: r.runID, Key: key, StepID: step.ID, Iteration: max(s.iteration, 1), Agent: *agent,
		Model:    cmp.Or(agent.Model, r.wf.Defaults.Model, r.in.Model),
		Messages: msgs, Timeout: time.Duration(r.wf.Defaults.Timeout), Retry: retryPolicy(r.wf.Defaults.Retry), Budget: remaining,
		Toolset: Toolset{Tools: r.wf.Tools, Agents: r.wf.Agents},
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:          workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + key,
		TaskQueue:           cmp.Or(step.Queue, agent.Queue), // "": the task's
		ParentClosePolicy:   enums.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation: true,
	})
	var res StepResult
	if err := workflow.ExecuteChildWorkflow(cctx, AgentStepWorkflow, in).Get(ctx, &res); err != nil {
		s.purse.charge(failedCost(err))
		return activities.Value{}, fmt.Errorf("step %s: %w", key, err)
	}
	s.purse.charge(res.CostUSD)
	return res.Output, nil
}

// runLoop runs the body until the until condition holds after an iteration,
// at most max_iterations times.
func (r *run) runLoop(ctx workflow.Context, step *definitions.Step, s scope) (activities.Value, error) {
	loop := step.Loop
	inner := scope{prefix: s.prefix + step.ID + "/", as: s.as, item: s.item, purse: s.purse}
	for i := 1; i <= loop.MaxIterations; i++ {
		inner.iteration = i
		if _, err := r.runSteps(ctx, loop.Steps, inner); err != nil {
			return activities.Value{}, err
		}
		done, err := expr.EvalBool(loop.Until, r.vars(inner))
		if err != nil {
			return activities.Value{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("loop %s: until: %v", step.ID, err), "bad_expression", err)
		}
		if done {
			return r.collect(loop.Steps, map[string]any{"iterations": i, "completed": true})
		}
	}
	if loop.OnExhausted != "continue" {
		return activities.Value{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("loop %s: %q still false after %d iterations", step.ID, loop.Until, loop.MaxIterations), "loop_exhausted", nil)
	}
	return r.collect(loop.Steps, map[string]any{"iterations": loop.MaxIterations, "completed": false})
}

// runParallel runs the steps concurrently and waits for all of them; the
// first failure cancels the others.
func (r *run) runParallel(ctx workflow.Context, step *definitions.Step, s scope) (activities.Value, error) {
	ctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	inner := s
	inner.prefix = s.prefix + step.ID + "/"
	wg := workflow.NewWaitGroup(ctx)
	var first error
	n := len(step.Parallel.Steps)
	for i := range step.Parallel.Steps {
		branch := &step.Parallel.Steps[i]
		bs := inner
		bs.purse = r.share(s.purse, "branch "+branch.ID, n-i)
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			defer r.settle(s.purse, bs.purse)
			if _, err := r.runStep(ctx, branch, bs); err != nil && first == nil {
				first = err
				cancel()
			}
		})
	}
	wg.Wait(ctx)
	if first != nil {
		return activities.Value{}, first
	}
	return r.collect(step.Parallel.Steps, nil)
}

// runSwitch runs the steps of the first case whose condition holds, else the
// default ones.
func (r *run) runSwitch(ctx workflow.Context, step *definitions.Step, s scope) (activities.Value, error) {
	sw := step.Switch
	chosen, branch := sw.Default, "default"
	for i, c := range sw.Cases {
		ok, err := expr.EvalBool(c.When, r.vars(s))
		if err != nil {
			return activities.Value{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("switch %s: case %d: %v", step.ID, i+1, err), "bad_expression", err)
		}
		if ok {
			chosen, branch = c.Steps, fmt.Sprint(i+1)
			break
		}
	}
	if _, err := r.runSteps(ctx, chosen, s); err != nil {
		return activities.Value{}, err
	}
	return r.collect(chosen, map[string]any{"case": branch})
}

// runMap runs the map's step once per item, at most concurrency at a time,
// and returns the list of their outputs in item order. A list longer than
// definitions.MapItemsLimit fails the step.
func (r *run) runMap(ctx workflow.Context, step *definitions.Step, s scope) (activities.Value, error) {
	m := step.Map
	v, err := expr.Eval(m.Items, r.vars(s))
	if err != nil {
		return activities.Value{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("map %s: items: %v", step.ID, err), "bad_expression", err)
	}
	items, ok := v.([]any)
	if !ok {
		return activities.Value{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("map %s: items is %T, not a list", step.ID, v), "bad_expression", nil)
	}
	if r.bounded && len(items) > definitions.MapItemsLimit {
		return activities.Value{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("map %s: items holds %d values; a map runs at most %d", step.ID, len(items), definitions.MapItemsLimit), "map_items_limit", nil)
	}
	ctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	concurrency := max(m.Concurrency, 1)
	sem := workflow.NewSemaphore(ctx, int64(concurrency))
	wg := workflow.NewWaitGroup(ctx)
	outputs := make([]any, len(items))
	var first error
	running := 0
	for i, item := range items {
		if err := sem.Acquire(ctx, 1); err != nil {
			break // canceled after a failure
		}
		if err := r.checkHistory(ctx, fmt.Sprintf("item %d of map %s", i+1, step.ID)); err != nil {
			first = cmp.Or(first, err)
			cancel()
			break
		}
		inner := scope{
			prefix: fmt.Sprintf("%s%s[%d]/", s.prefix, step.ID, i), iteration: s.iteration, as: cmp.Or(m.As, "item"), item: item,
			purse: r.share(s.purse, fmt.Sprintf("item %d of map %s", i+1, step.ID), min(concurrency-running, len(items)-i)),
		}
		running++
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			defer sem.Release(1)
			defer func() { running-- }()
			defer r.settle(s.purse, inner.purse)
			out, err := r.runLeaf(ctx, &m.Step, inner)
			if err != nil {
				if first == nil {
					first = err
					cancel()
				}
				return
			}
			outputs[i] = decode(out)
		})
	}
	wg.Wait(ctx)
	if first != nil {
		return activities.Value{}, first
	}
	return encode(outputs)
}

// runApproval waits for the approval signal, or the timeout.
func (r *run) runApproval(ctx workflow.Context, step *definitions.Step, s scope) (activities.Value, error) {
	ap := step.Approval
	signal := cmp.Or(ap.Signal, step.ID)
	key := s.key(step.ID)
	message, err := expr.Render(ap.Message, r.vars(s))
	if err != nil {
		return activities.Value{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("approval %s: message: %v", step.ID, err), "bad_template", err)
	}
	r.event(ctx, "approval_waiting", key, map[string]any{"step": step.ID, "signal": signal, "message": message, "timeout": time.Duration(ap.Timeout).String()})

	var answer ApprovalSignal
	timedOut := false
	tctx, cancelTimer := workflow.WithCancel(ctx)
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, signal), func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &answer) })
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {}) // a cancel ends the wait
	if ap.Timeout > 0 {
		sel.AddFuture(workflow.NewTimer(tctx, time.Duration(ap.Timeout)), func(workflow.Future) { timedOut = true })
	}
	sel.Select(ctx)
	cancelTimer()
	if err := ctx.Err(); err != nil {
		return activities.Value{}, temporal.NewCanceledError()
	}
	if timedOut {
		switch ap.OnTimeout {
		case "approve":
			answer.Approved = true
		case "reject":
			answer.Approved = false
		default:
			return activities.Value{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("approval %s: no answer on signal %q within %s", step.ID, signal, time.Duration(ap.Timeout)), "approval_timed_out", nil)
		}
	}
	r.event(ctx, "approval_answered", key, map[string]any{"step": step.ID, "approved": answer.Approved, "by": answer.By, "comment": answer.Comment, "timed_out": timedOut})
	if !answer.Approved && ap.OnReject != "continue" {
		return activities.Value{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("approval %s was rejected%s", step.ID, rejection(answer, timedOut)), "approval_rejected", nil)
	}
	return encode(map[string]any{"approved": answer.Approved, "comment": answer.Comment, "by": answer.By, "timed_out": timedOut})
}

func rejection(a ApprovalSignal, timedOut bool) string {
	switch {
	case timedOut:
		return " (timed out)"
	case a.By != "" && a.Comment != "":
		return fmt.Sprintf(" by %s: %s", a.By, a.Comment)
	case a.Comment != "":
		return ": " + a.Comment
	}
	return ""
}

// event appends an entry to the task's event log.
func (r *run) event(ctx workflow.Context, kind, key string, payload any) {
	var a *activities.Activities
	in := activities.EventInput{TaskID: r.in.TaskID, RunID: r.runID, Kind: kind, DedupeKey: kind + ":" + key, Payload: payload}
	if err := workflow.ExecuteLocalActivity(storeOptions(ctx), a.RecordEvent, in).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("record event", "kind", kind, "error", err)
	}
}

// collect returns the outputs of steps, by id, with extra fields.
func (r *run) collect(steps []definitions.Step, extra map[string]any) (activities.Value, error) {
	out := map[string]any{}
	for k, v := range extra {
		out[k] = v
	}
	for _, st := range steps {
		if v, ok := r.steps[st.ID].(map[string]any); ok {
			out[st.ID] = v["output"]
		}
	}
	return encode(out)
}

// output is the workflow's result: its output mapping, or the output of
// its last step.
func (r *run) output(last activities.Value) (activities.Value, error) {
	if len(r.wf.Output) == 0 {
		return last, nil
	}
	out := make(map[string]any, len(r.wf.Output))
	for name, tmpl := range r.wf.Output {
		v, err := expr.RenderValue(tmpl, r.vars(scope{}))
		if err != nil {
			return activities.Value{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("output %s: %v", name, err), "bad_expression", err)
		}
		out[name] = v
	}
	return encode(out)
}

// retryPolicy converts a definition's retry policy; nil keeps the default.
func retryPolicy(p definitions.RetryPolicy) *temporal.RetryPolicy {
	if p.MaxAttempts == 0 && p.InitialInterval == 0 && p.MaxInterval == 0 && p.Backoff == 0 && len(p.NonRetryable) == 0 {
		return nil
	}
	d := defaultRetry()
	return &temporal.RetryPolicy{
		InitialInterval:        cmp.Or(time.Duration(p.InitialInterval), d.InitialInterval),
		BackoffCoefficient:     cmp.Or(p.Backoff, d.BackoffCoefficient),
		MaximumInterval:        cmp.Or(time.Duration(p.MaxInterval), d.MaximumInterval),
		MaximumAttempts:        cmp.Or(int32(p.MaxAttempts), d.MaximumAttempts),
		NonRetryableErrorTypes: p.NonRetryable,
	}
}

// decode turns a Value into the plain value expressions see; a value kept
// by reference shows as {"$ref": "<blob>"}.
func decode(v activities.Value) any {
	if v.Ref != "" {
		return map[string]any{"$ref": v.Ref}
	}
	var out any
	if len(v.Inline) > 0 {
		_ = json.Unmarshal(v.Inline, &out)
	}
	return out
}

func encode(v any) (activities.Value, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return activities.Value{}, errors.New("encode output: " + err.Error())
	}
	return activities.Value{Inline: data}, nil
}
