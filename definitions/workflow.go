package definitions

import (
	"encoding/json"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Workflow is a multi-agent workflow in its full form: simple-form files
// are normalised when loaded. It is self-contained (Agents holds every agent
// its steps use) and JSON-serialisable, so a run can carry the definition it
// started with.
type Workflow struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Version     string `json:"version,omitempty"`
	// Input is the JSON Schema of the workflow input; nil accepts any.
	Input json.RawMessage `json:"input,omitempty"`
	// Agents are the workflow's own agents plus the agent-file agents its
	// steps use and those its agents grant as tools (at any depth), by name.
	Agents map[string]*Agent `json:"agents"`
	// Tools are the tools its agents are granted (directly or through the
	// agents they grant, at any depth) and its tool steps call, by name; an
	// MCP server by its own name.
	Tools    map[string]*Tool `json:"tools,omitempty"`
	Defaults Defaults         `json:"defaults"`
	Budget   *Budget          `json:"budget,omitempty"`
	Steps    []Step           `json:"steps"`
	// Output maps result fields to templates. When it is empty, the result
	// is the output of the last step.
	Output map[string]string `json:"output,omitempty"`
	// Hash is the hex SHA-256 of the canonical JSON of the definition (Hash
	// itself left empty): it changes whenever anything that affects a run
	// changes.
	Hash string `json:"hash"`

	inputSchema *jsonschema.Schema
}

// ValidateInput checks a workflow input against the Input schema.
func (w *Workflow) ValidateInput(input json.RawMessage) error {
	return validateWith(w.inputSchema, w.Input, input, "input")
}

// Defaults are the settings of the workflow's agent steps. Zero values
// leave the platform's defaults.
type Defaults struct {
	// Model is used by agents that name none.
	Model string `json:"model,omitempty"`
	// Timeout bounds one LLM call of an agent step (start to close).
	Timeout Duration    `json:"timeout,omitempty"`
	Retry   RetryPolicy `json:"retry"`
}

// RetryPolicy says how a failed call is retried: an agent's LLM calls (in
// the agent, or a workflow's defaults) or a tool's calls (tool files). The
// zero value keeps the default: retry until the call's deadline.
type RetryPolicy struct {
	MaxAttempts     int      `json:"max_attempts,omitempty"`
	InitialInterval Duration `json:"initial_interval,omitempty"`
	MaxInterval     Duration `json:"max_interval,omitempty"`
	Backoff         float64  `json:"backoff,omitempty"`
	// NonRetryable are error types that are never retried (e.g. bad_request).
	NonRetryable []string `json:"non_retryable,omitempty"`
}

// Budget bounds what a run may spend on LLM calls.
type Budget struct {
	MaxCostUSD float64 `json:"max_cost_usd"`
}

// wfSource is where the parts of a decoded workflow are in its file.
type wfSource struct {
	root   *node
	simple bool
	nodes  map[any]*node // *Step and *Case → their mapping
}

// field returns the value node of a step or case field. Fields of a step
// given inside its kind block (loop: {id: ...}) are found there.
func (src *wfSource) field(part any, key string) *node {
	n := src.nodes[part]
	if v := n.get(key); v != nil {
		return v
	}
	if s, ok := part.(*Step); ok {
		if v := n.get(s.Kind()).get(key); v != nil {
			return v
		}
	}
	if n == nil {
		return src.root
	}
	return n
}

// workflow decodes a workflow file.
func (d *decoder) workflow(root *node) (*Workflow, *wfSource) {
	w := &Workflow{}
	src := &wfSource{root: root, nodes: map[any]*node{}}
	var steps *node
	d.fields(root, "workflow", map[string]func(*node){
		"name":        func(v *node) { w.Name = d.name(v, "name") },
		"description": func(v *node) { w.Description = d.str(v, "description") },
		"version":     func(v *node) { w.Version = d.text(v, "version") },
		"input":       func(v *node) { w.Input, w.inputSchema = d.schema(v, "input") },
		"agents":      func(v *node) { w.Agents = d.localAgents(v) },
		"defaults":    func(v *node) { w.Defaults = d.defaults(v) },
		"budget":      func(v *node) { w.Budget = d.budget(v) },
		"steps":       func(v *node) { steps = v },
		"output":      func(v *node) { w.Output = d.output(v) },
		"coordination_type": func(v *node) {
			src.simple = true
			d.oneOf(v, "coordination_type", "sequential")
		},
	})
	if root.get("name") == nil {
		d.errorf(root.pos, "workflow has no name; add one, e.g. name: research_loop")
	}
	if w.Agents == nil {
		w.Agents = map[string]*Agent{}
	}
	if steps != nil && steps.kind == listKind {
		for _, item := range steps.items {
			src.simple = src.simple || item.get("agent_type") != nil
		}
	}
	if src.simple {
		w.Steps = d.simpleSteps(steps, src)
	} else {
		w.Steps = d.steps(steps, "steps", src)
	}
	return w, src
}

// simpleSteps decodes the steps of a simple-form workflow: a list of
// {agent_type: <agent>}, run one after the other. Ids and prompts are set
// when the workflow is linked.
func (d *decoder) simpleSteps(n *node, src *wfSource) []Step {
	if !d.list(n, "steps") {
		return nil
	}
	steps := make([]Step, len(n.items))
	for i, item := range n.items {
		src.nodes[&steps[i]] = item
		d.fields(item, "simple-form step (full-form steps take id, agent and prompt)", map[string]func(*node){
			"agent_type": func(v *node) { steps[i].Agent = d.str(v, "agent_type") },
		})
		if item.kind == mapKind && steps[i].Agent == "" {
			d.errorf(item.pos, "step has no agent_type; name the agent it runs, e.g. agent_type: research")
		}
	}
	return steps
}

// localAgents decodes a workflow's agents: name → agent fields.
func (d *decoder) localAgents(n *node) map[string]*Agent {
	agents := map[string]*Agent{}
	d.mapping(n, "agents")
	for _, e := range n.entries {
		a := &Agent{Name: d.name(&node{kind: stringKind, pos: e.pos, str: e.key}, "agent name")}
		d.agent(e.value, a, true)
		agents[e.key] = a
	}
	return agents
}

// defaults decodes a workflow's defaults.
func (d *decoder) defaults(n *node) Defaults {
	var def Defaults
	d.fields(n, "defaults", map[string]func(*node){
		"model":   func(v *node) { def.Model = d.str(v, "model") },
		"timeout": func(v *node) { def.Timeout = d.duration(v, "timeout") },
		"retry":   func(v *node) { def.Retry = d.retry(v) },
	})
	return def
}

// retry decodes a retry policy.
func (d *decoder) retry(n *node) RetryPolicy {
	var r RetryPolicy
	d.fields(n, "retry", map[string]func(*node){
		"max_attempts":     func(v *node) { r.MaxAttempts = d.integer(v, "max_attempts", 1) },
		"initial_interval": func(v *node) { r.InitialInterval = d.duration(v, "initial_interval") },
		"max_interval":     func(v *node) { r.MaxInterval = d.duration(v, "max_interval") },
		"backoff":          func(v *node) { r.Backoff = d.number(v, "backoff", 1, 100) },
		"non_retryable":    func(v *node) { r.NonRetryable = d.stringList(v, "non_retryable") },
	})
	if r.MaxInterval != 0 && r.MaxInterval < r.InitialInterval {
		d.errorf(n.get("max_interval").pos, "max_interval (%s) must not be shorter than initial_interval (%s)", r.MaxInterval, r.InitialInterval)
	}
	return r
}

// budget decodes a workflow's budget.
func (d *decoder) budget(n *node) *Budget {
	b := &Budget{}
	if d.fields(n, "budget", map[string]func(*node){
		"max_cost_usd": func(v *node) {
			if b.MaxCostUSD = d.number(v, "max_cost_usd", 0, 1e6); b.MaxCostUSD == 0 && (v.kind == intKind || v.kind == floatKind) {
				d.errorf(v.pos, "max_cost_usd must be positive")
			}
		},
	}) {
		d.require(n, "budget", "max_cost_usd", "the most a run may spend, in US dollars, e.g. max_cost_usd: 0.50")
	}
	return b
}

// output decodes a workflow's output mapping: field → template.
func (d *decoder) output(n *node) map[string]string {
	out := map[string]string{}
	d.mapping(n, "output")
	for _, e := range n.entries {
		out[e.key] = d.str(e.value, "output "+e.key)
	}
	return out
}
