package definitions

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// toolStep decodes the tool a tool step calls.
func (d *decoder) toolStep(n *node) *ToolStep {
	ts := &ToolStep{Tool: d.str(n, "tool")}
	if msg := toolStepForm(ts.Tool); n.kind == stringKind && msg != "" {
		d.errorf(n.pos, "%s", msg)
	}
	return ts
}

// toolStepForm explains what is wrong with the form of the tool a tool
// step names, or "".
func toolStepForm(name string) string {
	switch {
	case name == "":
		return "tool must name a tool, e.g. tool: lookup_order or tool: everything/get-sum"
	case strings.HasPrefix(name, AgentPrefix):
		agent := strings.TrimPrefix(name, AgentPrefix)
		return fmt.Sprintf("a tool step calls a tool; to run agent %s, write an agent step: agent: %s", agent, agent)
	case strings.HasSuffix(name, "/*"):
		return fmt.Sprintf("a tool step calls one tool; name it, e.g. %s/<tool>", strings.TrimSuffix(name, "/*"))
	}
	return grantForm(name)
}

// args decodes a tool step's arguments: name → template. A number, a
// boolean or null is taken as the expression that gives it.
func (d *decoder) args(n *node) map[string]string {
	if n.kind == nullKind || !d.mapping(n, "args") {
		return nil
	}
	args := make(map[string]string, len(n.entries))
	for _, e := range n.entries {
		v := e.value
		f, isFloat := v.val.(float64)
		switch {
		case v.kind == stringKind:
			args[e.key] = v.str
		case v.kind == mapKind || v.kind == listKind:
			d.errorf(v.pos, "args %s must be a template; write a list or a mapping as an expression, e.g. \"{{ [input.a, input.b] }}\"", e.key)
		case isFloat && (math.IsInf(f, 0) || math.IsNaN(f)):
			d.errorf(v.pos, "args %s: %s has no JSON form", e.key, v.str)
		default:
			args[e.key] = "{{ " + celLiteral(v.val) + " }}"
		}
	}
	return args
}

// celLiteral writes a YAML scalar as a CEL literal.
func celLiteral(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		if x <= math.MaxInt64 {
			return strconv.FormatUint(x, 10)
		}
		return strconv.FormatUint(x, 10) + "u"
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	case bool:
		return strconv.FormatBool(x)
	}
	return "null"
}

// resolveTool checks that a tool step names a known tool (or an MCP
// server's tool), adds it to the workflow, and checks the step's argument
// names against the tool's input schema.
func (l *linker) resolveTool(s *Step) {
	at := l.src.field(s, "tool")
	name := s.Tool.Tool
	if toolStepForm(name) != "" {
		return // reported when decoded
	}
	if server, _, ok := strings.Cut(name, "/"); ok {
		t, msg := l.known.server(server)
		if t == nil {
			l.d.errorf(at.pos, "%s", msg)
			return
		}
		l.addTool(server, t)
		return
	}
	t, msg := l.known.tool(name)
	switch {
	case t == nil:
		l.d.errorf(at.pos, "%s", msg)
		return
	case t.MCP != nil:
		l.d.errorf(at.pos, "%q is an MCP server; a tool step calls one of its tools: tool: %s/<tool>", name, name)
		return
	}
	l.addTool(name, t)
	l.checkArgs(s, t)
}

// argsSchema is what an input schema says of argument names.
type argsSchema struct {
	Properties           map[string]json.RawMessage `json:"properties"`
	Required             []string                   `json:"required"`
	AdditionalProperties json.RawMessage            `json:"additionalProperties"`
}

// checkArgs checks that a tool step gives the arguments its tool requires,
// and, when the tool's schema lists its properties and allows no others,
// only those.
func (l *linker) checkArgs(s *Step, t *Tool) {
	var sch argsSchema
	if json.Unmarshal(t.Input, &sch) != nil {
		return // a schema that is not an object: the call reports what it needs
	}
	args := l.src.field(s, "args") // the step itself when it gives no args
	for _, name := range sch.Required {
		if _, ok := s.Tool.Args[name]; !ok {
			l.d.errorf(args.pos, "tool %q needs the argument %q; add it under args", t.Name, name)
		}
	}
	if len(sch.Properties) == 0 || string(sch.AdditionalProperties) != "false" || len(s.Tool.Args) == 0 {
		return
	}
	known := slices.Sorted(maps.Keys(sch.Properties))
	for _, e := range args.entries {
		if _, ok := sch.Properties[e.key]; ok {
			continue
		}
		if c := closest(e.key, known); c != "" {
			l.d.errorf(e.pos, "tool %q takes no argument %q; did you mean %q?", t.Name, e.key, c)
		} else {
			l.d.errorf(e.pos, "tool %q takes no argument %q; its arguments: %s", t.Name, e.key, strings.Join(known, ", "))
		}
	}
}
