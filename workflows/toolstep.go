package workflows

import (
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/expr"
	"github.com/troupe-dev/troupe/llm"
)

// runToolStep calls a tool with arguments rendered from the workflow's
// variables, no LLM involved. Its output is the tool's JSON result, else
// {"text": ...}; a tool error fails the step.
func (r *run) runToolStep(ctx workflow.Context, step *definitions.Step, s scope) (activities.Value, error) {
	ts := step.Tool
	t, err := r.stepTool(ts.Tool)
	if err != nil {
		return activities.Value{}, err
	}
	args := make(map[string]any, len(ts.Args))
	for name, tmpl := range ts.Args {
		if args[name], err = expr.RenderValue(tmpl, r.vars(s)); err != nil {
			return activities.Value{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("tool step %s: argument %s: %v", step.ID, name, err), "bad_expression", err)
		}
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return activities.Value{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("tool step %s: arguments: %v", step.ID, err), "bad_expression", err)
	}
	if t.approval && r.approvals == nil {
		r.approvals = newApprovals(ctx)
	}
	key := s.key(step.ID)
	call := toolRun{
		taskID: r.in.TaskID, runID: r.runID, callID: toolCallID(r.in.TaskID, "step "+key, llm.ToolCall{Name: ts.Tool}), tool: t, args: raw,
		model: r.in.Model, set: Toolset{Tools: r.wf.Tools, Agents: r.wf.Agents}, approvals: r.approvals,
	}
	out, err := call.run(ctx)
	s.purse.charge(out.costUSD)
	if err != nil {
		return activities.Value{}, err
	}
	if out.isError {
		return activities.Value{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("tool step %s: %s", step.ID, out.content), "tool_failed", nil)
	}
	if len(out.json) > 0 {
		return activities.Value{Inline: out.json}, nil
	}
	return encode(map[string]string{"text": out.content})
}

// stepTool binds the tool a tool step names: a tool, or an MCP server's
// tool as "server/tool".
func (r *run) stepTool(name string) (*boundTool, error) {
	g := definitions.Grant{Tool: name}
	if server, tool, ok := g.Server(); ok {
		def := r.wf.Tools[server]
		if def == nil || def.MCP == nil {
			return nil, badDefinition("tool step: %s is not an MCP server of the workflow", server)
		}
		return &boundTool{name: name, def: def, mcpName: tool, approval: def.Approval}, nil
	}
	def := r.wf.Tools[name]
	if def == nil {
		return nil, badDefinition("tool step: tool %s is not defined in the workflow", name)
	}
	return &boundTool{name: name, def: def, approval: def.Approval, schema: def.Input}, nil
}
