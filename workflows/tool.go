package workflows

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/expr"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/store"
)

// Default limits of a tool call, used where the tool sets none.
const (
	defaultToolTimeout  = time.Minute
	defaultToolDeadline = 10 * time.Minute
)

// Toolset holds the definitions an agent may call, pinned with the run that
// uses them: its tools, and the agents it (or they) may run as tools.
type Toolset struct {
	Tools  map[string]*definitions.Tool  `json:"tools,omitempty"`
	Agents map[string]*definitions.Agent `json:"agents,omitempty"`
}

// boundTool is a tool an agent was granted, as the model sees it.
type boundTool struct {
	name     string             // as granted: "lookup_order", "everything/get-sum", "agent:summarize"
	def      *definitions.Tool  // nil for an agent
	mcpName  string             // the tool's name on its MCP server
	agent    *definitions.Agent // an agent run as a tool
	approval bool
	schema   json.RawMessage // of the arguments
}

// toolbelt is the tools of one agent run.
type toolbelt struct {
	specs  []llm.ToolSpec
	byName map[string]*boundTool // by the name the model calls
}

// bindTools resolves an agent's grants against its toolset, listing the
// tools of the MCP servers it is granted (an activity on the server's queue).
func bindTools(ctx workflow.Context, agent *definitions.Agent, set Toolset) (*toolbelt, error) {
	b := &toolbelt{byName: map[string]*boundTool{}}
	listed := map[string][]llm.ToolSpec{}
	for _, g := range agent.Tools {
		if name, ok := g.Agent(); ok {
			ag := set.Agents[name]
			if ag == nil {
				return nil, badDefinition("agent %s is granted agent %s as a tool, which the run does not carry", agent.Name, name)
			}
			b.add(&boundTool{name: g.Tool, agent: ag, approval: g.Approval, schema: agentToolSchema(ag)}, ag.Description)
			continue
		}
		if server, name, ok := g.Server(); ok {
			def := set.Tools[server]
			if def == nil || def.MCP == nil {
				return nil, badDefinition("agent %s is granted %s, but %s is not an MCP server the run carries", agent.Name, g.Tool, server)
			}
			specs, seen := listed[server]
			if !seen {
				var err error
				if specs, err = listTools(ctx, def); err != nil {
					return nil, err
				}
				listed[server] = specs
			}
			found := false
			for _, sp := range specs {
				if name == "*" || sp.Name == name {
					b.add(&boundTool{name: server + "/" + sp.Name, def: def, mcpName: sp.Name, approval: g.Approval || def.Approval, schema: sp.Parameters}, sp.Description)
					found = true
				}
			}
			if !found && name != "*" {
				var names []string
				for _, sp := range specs {
					names = append(names, sp.Name)
				}
				return nil, badDefinition("MCP server %s has no tool %q; it has: %s", server, name, strings.Join(names, ", "))
			}
			continue
		}
		def := set.Tools[g.Tool]
		if def == nil {
			return nil, badDefinition("agent %s is granted tool %s, which the run does not carry", agent.Name, g.Tool)
		}
		b.add(&boundTool{name: g.Tool, def: def, approval: g.Approval || def.Approval, schema: def.Input}, def.Description)
	}
	return b, nil
}

// invalidToolChars are the characters a function name may not hold.
var invalidToolChars = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// add offers t to the model under a function name derived from its grant
// ("everything/get-sum" → "everything__get-sum"), unique in the belt.
func (b *toolbelt) add(t *boundTool, description string) {
	for _, bt := range b.byName {
		if bt.name == t.name {
			bt.approval = bt.approval || t.approval
			return // granted twice
		}
	}
	base := strings.NewReplacer("/", "__", ":", "__").Replace(t.name)
	base = invalidToolChars.ReplaceAllString(base, "_")
	base = base[:min(len(base), 60)]
	name := base
	for i := 2; b.byName[name] != nil; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	b.byName[name] = t
	b.specs = append(b.specs, llm.ToolSpec{Name: name, Description: description, Parameters: t.schema})
}

// agentToolSchema is the arguments of an agent run as a tool: its input
// schema, or a question for agents that take any input.
func agentToolSchema(a *definitions.Agent) json.RawMessage {
	if len(a.Input) > 0 {
		return a.Input
	}
	return json.RawMessage(`{"type":"object","properties":{"input":{"type":"string","description":"What to ask the agent."}},"required":["input"]}`)
}

// listTools lists the tools of an MCP server.
func listTools(ctx workflow.Context, server *definitions.Tool) ([]llm.ToolSpec, error) {
	var t *activities.Tools
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           server.Queue,
		StartToCloseTimeout: cmp.Or(time.Duration(server.Timeout), defaultToolTimeout),
		RetryPolicy:         cmp.Or(retryPolicy(server.Retry), defaultRetry()),
	})
	var specs []llm.ToolSpec
	err := workflow.ExecuteActivity(ctx, t.ListTools, *server).Get(ctx, &specs)
	return specs, err
}

// run makes the tool calls of one model turn, in parallel, and returns the
// tool messages answering them, in order, with what agents run as tools
// spent. turn and scope make the calls' ids.
func (b *toolbelt) run(ctx workflow.Context, c *agentCall, ap *approvals, scope string, calls []llm.ToolCall) ([]llm.Message, float64, error) {
	msgs := make([]llm.Message, len(calls))
	var spent float64
	var first error
	wg := workflow.NewWaitGroup(ctx)
	for i, tc := range calls {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			out, err := b.call(ctx, c, ap, fmt.Sprintf("%s#%d", scope, i), tc)
			spent += out.costUSD
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			msgs[i] = llm.Message{Role: "tool", ToolCallID: tc.ID, Content: out.content}
		})
	}
	wg.Wait(ctx)
	return msgs, spent, first
}

// call makes one tool call the model asked for. What the model got wrong
// (an unknown tool, arguments that are not valid) is told to it as the
// result, so that it can correct itself.
func (b *toolbelt) call(ctx workflow.Context, c *agentCall, ap *approvals, scope string, tc llm.ToolCall) (toolOutcome, error) {
	t := b.byName[tc.Name]
	if t == nil {
		names := make([]string, 0, len(b.specs))
		for _, sp := range b.specs {
			names = append(names, sp.Name)
		}
		return toolOutcome{content: fmt.Sprintf("error: there is no tool named %q; the tools are: %s", tc.Name, strings.Join(names, ", ")), isError: true}, nil
	}
	r := toolRun{
		taskID: c.TaskID, runID: c.RunID, subtaskID: c.SubtaskID, callID: toolCallID(c.TaskID, scope, tc), tool: t,
		args: json.RawMessage(cmp.Or(strings.TrimSpace(tc.Arguments), "{}")), model: c.Model, budget: c.Budget,
		set: c.Toolset, approvals: ap,
	}
	return r.run(ctx)
}

// toolCallID derives a call's id, its idempotency key, from the task, where
// in the run the call is, and what the model asked: stable across activity
// retries, worker crashes and replays, and different for a call a reset run
// makes differently.
func toolCallID(taskID uuid.UUID, scope string, tc llm.ToolCall) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s", taskID, scope, tc.ID, tc.Name, tc.Arguments)
	return "tc_" + hex.EncodeToString(h.Sum(nil))[:24]
}

// toolRun is one tool call to make.
type toolRun struct {
	taskID    uuid.UUID
	runID     string // the run of the task's workflow that records the call
	subtaskID *uuid.UUID
	callID    string
	tool      *boundTool
	args      json.RawMessage
	model     string   // default model of an agent run as a tool
	budget    *float64 // what an agent run as a tool may spend
	set       Toolset  // the definitions an agent run as a tool may use
	approvals *approvals
}

// toolOutcome is the result of a tool call.
type toolOutcome struct {
	content string
	json    json.RawMessage
	isError bool
	costUSD float64 // spent by an agent run as a tool
}

// run makes the call: it waits for approval when the tool needs it, then
// calls the tool (an activity on the tool's queue, or a child workflow for an
// agent), recording each state in tool_calls. A failed call is an outcome
// with isError; the error is for cancellation and failed records.
func (r *toolRun) run(ctx workflow.Context) (toolOutcome, error) {
	row := store.ToolCall{
		TaskID: r.taskID, RunID: r.runID, SubtaskID: r.subtaskID, CallID: r.callID, Tool: r.tool.name,
		Arguments: r.args, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
	}
	if problem := r.tool.argsProblem(r.args); problem != "" {
		row.Status, row.Error = store.ToolCallFailed, problem
		return toolOutcome{content: "error: " + problem, isError: true}, recordToolCall(ctx, row)
	}
	if r.tool.approval {
		decision, err := r.approve(ctx, row)
		if err != nil || !decision.Approved {
			return toolOutcome{content: rejectionText(decision), isError: true}, err
		}
		row.DecidedBy, row.Comment = decision.By, decision.Comment
	}
	row.Status, row.Attempts = store.ToolCallRunning, 1
	if err := recordToolCall(ctx, row); err != nil {
		return toolOutcome{}, err
	}
	started := workflow.Now(ctx)
	out, attempts, err := r.call(ctx)
	row.LatencyMS = workflow.Now(ctx).Sub(started).Milliseconds()
	row.Attempts = max(attempts, 1)
	switch {
	case err != nil && temporal.IsCanceledError(err):
		row.Status, row.Error = store.ToolCallFailed, "canceled"
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		_ = recordToolCall(dctx, row)
		return out, err
	case err != nil:
		row.Status, row.Error = store.ToolCallFailed, errorMessage(err)
		out = toolOutcome{content: "error: " + row.Error, isError: true, costUSD: out.costUSD}
	case out.isError:
		row.Status, row.Error = store.ToolCallFailed, out.content
		row.Result, _ = json.Marshal(out.content)
	default:
		row.Status = store.ToolCallSucceeded
		row.Result = out.json
		if len(row.Result) == 0 {
			row.Result = jsonString(out.content)
		}
	}
	return out, recordToolCall(ctx, row)
}

// call runs the tool and returns its outcome and how many attempts it took.
func (r *toolRun) call(ctx workflow.Context) (toolOutcome, int, error) {
	if r.tool.agent != nil {
		out, err := r.runAgent(ctx)
		return out, 1, err
	}
	def := r.tool.def
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              def.Queue,
		ActivityID:             fmt.Sprintf("tool %s %s", r.tool.name, r.callID),
		StartToCloseTimeout:    cmp.Or(time.Duration(def.Timeout), defaultToolTimeout),
		ScheduleToCloseTimeout: defaultToolDeadline,
		HeartbeatTimeout:       heartbeatTimeout,
		WaitForCancellation:    true,
		RetryPolicy:            cmp.Or(retryPolicy(def.Retry), defaultRetry()),
	})
	var t *activities.Tools
	var res activities.ToolOutput
	err := workflow.ExecuteActivity(ctx, t.CallTool, activities.ToolInput{
		TaskID: r.taskID, CallID: r.callID, Name: r.tool.name, Tool: *def, MCPName: r.tool.mcpName, Args: r.args,
	}).Get(ctx, &res)
	if err != nil {
		return toolOutcome{}, 0, err
	}
	return toolOutcome{content: res.Content, json: res.JSON, isError: res.IsError}, res.Attempt, nil
}

// runAgent runs an agent granted as a tool as a child workflow, recorded as
// a subtask.
func (r *toolRun) runAgent(ctx workflow.Context) (toolOutcome, error) {
	ag := r.tool.agent
	input := r.args
	if len(ag.Input) == 0 {
		var q struct {
			Input string `json:"input"`
		}
		_ = json.Unmarshal(r.args, &q)
		input, _ = json.Marshal(q.Input)
	}
	var vars any
	_ = json.Unmarshal(input, &vars)
	msgs, err := agentMessages(ag, input, expr.Vars{"input": vars})
	if err != nil {
		return toolOutcome{content: "error: " + errorMessage(err), isError: true}, nil
	}
	key := "tool/" + r.callID
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:          workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + key,
		TaskQueue:           ag.Queue, // "": the task's
		ParentClosePolicy:   enums.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation: true,
	})
	var res StepResult
	err = workflow.ExecuteChildWorkflow(cctx, AgentStepWorkflow, StepInput{
		TaskID: r.taskID, RunID: r.runID, Key: key, StepID: r.tool.name, Iteration: 1, Agent: *ag,
		Model: cmp.Or(ag.Model, r.model), Messages: msgs, Budget: r.budget, Toolset: r.set,
	}).Get(ctx, &res)
	out := toolOutcome{costUSD: res.CostUSD}
	if err != nil {
		return out, err
	}
	out.content, out.json = valueText(res.Output)
	return out, nil
}

// valueText is what the model is told of an agent's output: its text, or its
// JSON.
func valueText(v activities.Value) (string, json.RawMessage) {
	if v.Ref != "" {
		return fmt.Sprintf("[the answer is larger than 256 KiB; it is stored as %s]", v.Ref), nil
	}
	var text struct {
		Text *string `json:"text"`
	}
	if json.Unmarshal(v.Inline, &text) == nil && text.Text != nil {
		return *text.Text, v.Inline
	}
	return string(v.Inline), v.Inline
}

// approve records the call as waiting for approval and waits for the
// decision, or the tool's approval timeout (a rejection). A rejection is
// recorded here.
func (r *toolRun) approve(ctx workflow.Context, row store.ToolCall) (ToolDecision, error) {
	row.Status = store.ToolCallPendingApproval
	if err := recordToolCall(ctx, row); err != nil {
		return ToolDecision{}, err
	}
	var timeout time.Duration
	if r.tool.def != nil {
		timeout = time.Duration(r.tool.def.ApprovalTimeout)
	}
	decision, err := r.approvals.wait(ctx, r.callID, timeout)
	if err != nil {
		row.Status, row.Error = store.ToolCallRejected, "canceled while waiting for approval"
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		_ = recordToolCall(dctx, row)
		return decision, err
	}
	if !decision.Approved {
		row.Status, row.Error = store.ToolCallRejected, strings.TrimPrefix(rejectionText(decision), "error: ")
		row.DecidedBy, row.Comment = decision.By, decision.Comment
		return decision, recordToolCall(ctx, row)
	}
	return decision, nil
}

// rejectionText tells the model that a call was rejected.
func rejectionText(d ToolDecision) string {
	switch {
	case d.By == "":
		return "error: the call was not approved in time, and did not run"
	case d.Comment != "":
		return fmt.Sprintf("error: %s rejected the call, which did not run: %s", d.By, d.Comment)
	}
	return fmt.Sprintf("error: %s rejected the call, which did not run", d.By)
}

// approvals collects the decisions on tool calls of one workflow execution,
// delivered on ToolDecisionSignal.
type approvals struct {
	decided map[string]ToolDecision
}

// newApprovals starts collecting the decisions sent to the workflow.
func newApprovals(ctx workflow.Context) *approvals {
	ap := &approvals{decided: map[string]ToolDecision{}}
	ch := workflow.GetSignalChannel(ctx, ToolDecisionSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var d ToolDecision
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &d) })
			sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
			sel.Select(ctx)
			if ctx.Err() != nil {
				return
			}
			if _, seen := ap.decided[d.CallID]; !seen {
				ap.decided[d.CallID] = d
			}
		}
	})
	return ap
}

// wait waits for the decision on a call, for at most timeout (0: for
// ever); no decision in time is a rejection by nobody. Cancellation of the
// workflow ends the wait with its error.
func (ap *approvals) wait(ctx workflow.Context, callID string, timeout time.Duration) (ToolDecision, error) {
	decided := func() bool { _, ok := ap.decided[callID]; return ok }
	if timeout > 0 {
		ok, err := workflow.AwaitWithTimeout(ctx, timeout, decided)
		if err != nil || !ok {
			return ToolDecision{CallID: callID}, err
		}
	} else if err := workflow.Await(ctx, decided); err != nil {
		return ToolDecision{CallID: callID}, err
	}
	return ap.decided[callID], nil
}

// recordToolCall records a tool call's state.
func recordToolCall(ctx workflow.Context, c store.ToolCall) error {
	var a *activities.Activities
	return workflow.ExecuteLocalActivity(storeOptions(ctx), a.RecordToolCall, c).Get(ctx, nil)
}

// argsProblem says what is wrong with a call's arguments: not a JSON
// object, or not valid against the schema of a defined tool or agent (an MCP
// server checks its own); "" when nothing is.
func (t *boundTool) argsProblem(args json.RawMessage) string {
	var obj map[string]any
	if err := json.Unmarshal(args, &obj); err != nil || obj == nil {
		return fmt.Sprintf("the arguments must be a JSON object; got %s", truncateText(string(args), 200))
	}
	var err error
	switch {
	case t.agent != nil:
		err = t.agent.ValidateInput(args)
	case t.def.MCP == nil:
		err = t.def.ValidateInput(args)
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// jsonString encodes s as a JSON string.
func jsonString(s string) json.RawMessage {
	data, _ := json.Marshal(s)
	return data
}

// truncateText cuts s to n runes, marking the cut.
func truncateText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// badDefinition is the error of a run whose definitions do not fit together.
func badDefinition(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), "bad_definition", nil)
}

// needsApproval reports whether any tool of the belt waits for approval.
func (b *toolbelt) needsApproval() bool {
	for _, t := range b.byName {
		if t.approval {
			return true
		}
	}
	return false
}
