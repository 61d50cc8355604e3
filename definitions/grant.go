package definitions

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// known holds the definitions of agent and tool files that grants and steps
// may name: the base catalog's, then the sources'.
type known struct {
	agents       map[string]*Agent
	tools        map[string]*Tool
	brokenAgents map[string]string // agents of sources with problems → their file
	brokenTools  map[string]string // tools of sources with problems → their file
}

// agentSet is the agents a definition may name: a workflow's own first,
// then those of agent files.
type agentSet struct {
	local map[string]*Agent
	files map[string]*Agent
}

// get finds an agent by name.
func (s agentSet) get(name string) *Agent {
	if a, ok := s.local[name]; ok {
		return a
	}
	return s.files[name]
}

// names lists the names of the agents, sorted.
func (s agentSet) names() []string {
	names := slices.Collect(maps.Keys(s.files))
	for n := range s.local {
		if _, ok := s.files[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// grants decodes an agent's tools: each item a name, or a mapping
// {tool: NAME, approval: required}. The forms of names are checked here;
// what they name is checked once every file is decoded.
func (d *decoder) grants(n *node, a *Agent) []Grant {
	if n.kind == nullKind {
		return nil
	}
	if n.kind != listKind {
		d.errorf(n.pos, "tools must be a list, e.g. tools: [lookup_order, everything/*, agent:summarize], got %s", n.describe())
		return nil
	}
	var grants []Grant
	var at []*node
	seen := map[string]pos{}
	for _, item := range n.items {
		g, where, ok := d.grant(item)
		if !ok {
			continue
		}
		if first, dup := seen[g.Tool]; dup {
			d.errorf(where.pos, "%q is granted twice (first at %d:%d); grant a tool once", g.Tool, first.line, first.col)
			continue
		}
		seen[g.Tool] = where.pos
		grants, at = append(grants, g), append(at, where)
	}
	if d.grantNodes == nil {
		d.grantNodes = map[*Agent][]*node{}
	}
	d.grantNodes[a] = at
	return grants
}

// grant decodes one item of an agent's tools, and returns the node that
// names the tool.
func (d *decoder) grant(n *node) (Grant, *node, bool) {
	var g Grant
	where := n
	switch n.kind {
	case stringKind:
		g.Tool = n.str
	case mapKind:
		if len(n.entries) == 1 && n.entries[0].key+":" == AgentPrefix && n.entries[0].value.kind == stringKind {
			// The YAML parser reads agent:x in a flow list nested in a flow
			// mapping ({tools: [agent:x]}) as the mapping {agent: x}.
			g.Tool = AgentPrefix + n.entries[0].value.str
			break
		}
		before := len(d.errs)
		d.fields(n, "tools item", map[string]func(*node){
			"tool":     func(v *node) { g.Tool = d.str(v, "tool") },
			"approval": func(v *node) { g.Approval = d.approvalRequired(v) },
		})
		if where = n.get("tool"); where == nil {
			d.errorf(n.pos, "tools item has no tool; add one, e.g. {tool: lookup_order, approval: required}")
			return g, nil, false
		}
		if len(d.errs) > before {
			return g, nil, false
		}
	default:
		d.errorf(n.pos, "a tools item is a name or {tool: NAME, approval: required}, got %s", n.describe())
		return g, nil, false
	}
	if msg := grantForm(g.Tool); msg != "" {
		d.errorf(where.pos, "%s", msg)
		return g, nil, false
	}
	return g, where, true
}

// grantForm explains what is wrong with the form of a granted name, or "".
func grantForm(name string) string {
	if agent, ok := strings.CutPrefix(name, AgentPrefix); ok {
		if !namePattern.MatchString(agent) {
			return fmt.Sprintf("%q must name an agent after agent:, e.g. agent:summarize", name)
		}
		return ""
	}
	if server, tool, ok := strings.Cut(name, "/"); ok {
		if !namePattern.MatchString(server) || tool == "" {
			return fmt.Sprintf("%q must name an MCP server's tool as <server>/<tool>, or all of them as <server>/*", name)
		}
		return ""
	}
	if !namePattern.MatchString(name) {
		return fmt.Sprintf("%q is not a tool name: write a tool (lookup_order), an MCP server's tool (everything/get-sum or everything/*) or an agent (agent:summarize)", name)
	}
	return ""
}

// approvalRequired decodes an approval setting: required or none (true and
// false also do).
func (d *decoder) approvalRequired(n *node) bool {
	b, isBool := n.val.(bool)
	switch {
	case isBool:
		return b
	case n.kind == stringKind && n.str == "required":
		return true
	case n.kind == stringKind && n.str == "none":
		return false
	}
	d.errorf(n.pos, "approval must be required or none, got %s", shown(n))
	return false
}

// checkGrants checks that the grants of agent a, decoded by d, name known
// tools, MCP servers and agents.
func (k *known) checkGrants(d *decoder, a *Agent, agents agentSet) {
	for i, g := range a.Tools {
		if msg := k.grantProblem(g, agents); msg != "" {
			d.errorf(d.grantNodes[a][i].pos, "%s", msg)
		}
	}
}

// checkGrantedAgents reports the agents a grants that can no longer be
// used.
func (k *known) checkGrantedAgents(d *decoder, a *Agent, agents agentSet) {
	for i, g := range a.Tools {
		if name, ok := g.Agent(); ok && agents.get(name) == nil {
			d.errorf(d.grantNodes[a][i].pos, "%s", k.agentProblem(name, agents))
		}
	}
}

// grantProblem explains what is wrong with a grant, or "".
func (k *known) grantProblem(g Grant, agents agentSet) string {
	if name, ok := g.Agent(); ok {
		if agents.get(name) != nil {
			return ""
		}
		return k.agentProblem(name, agents)
	}
	if server, _, ok := g.Server(); ok {
		_, msg := k.server(server)
		return msg
	}
	t, msg := k.tool(g.Tool)
	switch {
	case t != nil && t.MCP != nil:
		return fmt.Sprintf("%q is an MCP server: grant all its tools as %s/* or one of them as %s/<tool>", g.Tool, g.Tool, g.Tool)
	case t == nil && agents.get(g.Tool) != nil:
		return fmt.Sprintf("unknown tool %q; to grant the agent %s as a tool, write agent:%s", g.Tool, g.Tool, g.Tool)
	}
	return msg
}

// agentProblem explains why no agent can be granted by a name.
func (k *known) agentProblem(name string, agents agentSet) string {
	if file, ok := k.brokenAgents[name]; ok {
		return fmt.Sprintf("agent %q cannot be used: its definition in %s has problems", name, file)
	}
	names := agents.names()
	if s := closest(name, names); s != "" {
		return fmt.Sprintf("unknown agent %q; did you mean agent:%s?", name, s)
	}
	if len(names) == 0 {
		return fmt.Sprintf("unknown agent %q; define it in an agent file", name)
	}
	return fmt.Sprintf("unknown agent %q; known agents: %s", name, strings.Join(names, ", "))
}

// tool finds a tool by name, or explains why there is none.
func (k *known) tool(name string) (*Tool, string) {
	if t, ok := k.tools[name]; ok {
		return t, ""
	}
	return nil, k.missing("tool", name, slices.Sorted(maps.Keys(k.tools)))
}

// server finds an MCP server by name, or explains why there is none.
func (k *known) server(name string) (*Tool, string) {
	t, ok := k.tools[name]
	switch {
	case ok && t.MCP != nil:
		return t, ""
	case ok:
		return nil, fmt.Sprintf("tool %q is not an MCP server: name it alone, without /", name)
	}
	var servers []string
	for n, t := range k.tools {
		if t.MCP != nil {
			servers = append(servers, n)
		}
	}
	slices.Sort(servers)
	return nil, k.missing("MCP server", name, servers)
}

// missing explains that no tool (what) has a name.
func (k *known) missing(what, name string, names []string) string {
	if file, ok := k.brokenTools[name]; ok {
		return fmt.Sprintf("%s %q cannot be used: its definition in %s has problems", what, name, file)
	}
	if s := closest(name, names); s != "" {
		return fmt.Sprintf("unknown %s %q; did you mean %q?", what, name, s)
	}
	if len(names) == 0 {
		return fmt.Sprintf("unknown %s %q; define it in a tool file (a file with http, mcp or builtin)", what, name)
	}
	return fmt.Sprintf("unknown %s %q; known: %s", what, name, strings.Join(names, ", "))
}

// toolset gathers what agents may call: the tools they are granted, and
// the agents they grant as tools with what those may call in turn.
type toolset struct {
	agent  func(name string) *Agent
	tool   func(name string) *Tool
	tools  map[string]*Tool
	agents map[string]*Agent
	seen   map[*Agent]bool
}

func newToolset(agent func(string) *Agent, tool func(string) *Tool) *toolset {
	return &toolset{agent: agent, tool: tool, tools: map[string]*Tool{}, agents: map[string]*Agent{}, seen: map[*Agent]bool{}}
}

// add gathers what agent a may call, once per agent, so that agents
// granting each other are safe.
func (ts *toolset) add(a *Agent) {
	if ts.seen[a] {
		return
	}
	ts.seen[a] = true
	for _, g := range a.Tools {
		if name, ok := g.Agent(); ok {
			if b := ts.agent(name); b != nil {
				ts.agents[name] = b
				ts.add(b)
			}
			continue
		}
		name := g.Tool
		if server, _, ok := g.Server(); ok {
			name = server
		}
		if t := ts.tool(name); t != nil {
			ts.tools[name] = t
		}
	}
}

// Toolset returns every tool agent a may call, directly or through the
// agents it grants as tools (at any depth), by name (an MCP server by its
// own name), and those agents. Both maps are non-nil.
func (c *Catalog) Toolset(a *Agent) (tools map[string]*Tool, agents map[string]*Agent) {
	ts := newToolset(func(name string) *Agent { return c.Agents[name] }, func(name string) *Tool { return c.Tools[name] })
	ts.add(a)
	return ts.tools, ts.agents
}
