package definitions

import (
	"regexp"
	"slices"
	"strings"
)

// Step is one step of a workflow. Exactly one kind is set: Agent (with
// Prompt) or one of Loop, Parallel, Switch, Map, Approval, Tool.
// Expressions see the outputs of finished steps as steps.<ID>.output.
type Step struct {
	ID string `json:"id"`
	// Agent names the agent of an agent step; Prompt is its user prompt
	// template (the agent's own prompt when the YAML gives none).
	Agent  string `json:"agent,omitempty"`
	Prompt string `json:"prompt,omitempty"`
	// Queue is the task queue of an agent step, winning over its agent's.
	Queue    string    `json:"queue,omitempty"`
	Loop     *Loop     `json:"loop,omitempty"`
	Parallel *Parallel `json:"parallel,omitempty"`
	Switch   *Switch   `json:"switch,omitempty"`
	Map      *Map      `json:"map,omitempty"`
	Approval *Approval `json:"approval,omitempty"`
	Tool     *ToolStep `json:"tool,omitempty"`
}

// stepKinds are the kinds of steps, as Kind names them and as YAML keys.
var stepKinds = []string{"agent", "loop", "parallel", "switch", "map", "approval", "tool"}

// Kind names the step's kind: "agent", "loop", "parallel", "switch", "map",
// "approval" or "tool"; "" when none is set.
func (s *Step) Kind() string {
	switch {
	case s.Agent != "":
		return "agent"
	case s.Loop != nil:
		return "loop"
	case s.Parallel != nil:
		return "parallel"
	case s.Switch != nil:
		return "switch"
	case s.Map != nil:
		return "map"
	case s.Approval != nil:
		return "approval"
	case s.Tool != nil:
		return "tool"
	}
	return ""
}

// Loop runs Steps again and again until the CEL condition Until holds after
// an iteration, at most MaxIterations times. Its output is
// {"iterations": n, "completed": bool, <step id>: output of the last
// iteration, ...}.
type Loop struct {
	Steps         []Step `json:"steps"`
	Until         string `json:"until"`
	MaxIterations int    `json:"max_iterations"`
	// OnExhausted is "fail" (the default) or "continue".
	OnExhausted string `json:"on_exhausted"`
}

// Parallel runs Steps concurrently and waits for all of them. Its output is
// {<step id>: output, ...}.
type Parallel struct {
	Steps []Step `json:"steps"`
}

// Switch runs the steps of the first case whose condition holds, else
// Default. Its output is {"case": "1"... or "default", <step id>: output, ...}
// for the steps that ran.
type Switch struct {
	Cases   []Case `json:"cases"`
	Default []Step `json:"default,omitempty"`
}

// Case is a branch of a Switch: When is a CEL condition.
type Case struct {
	When  string `json:"when"`
	Steps []Step `json:"steps"`
}

// Map runs Step, an agent or tool step, once per item of the CEL list
// Items, with the item as the variable As, at most Concurrency at a time.
// Its output is the list of the item outputs, in item order.
type Map struct {
	Items       string `json:"items"`
	As          string `json:"as"`
	Concurrency int    `json:"concurrency"`
	Step        Step   `json:"step"`
}

// Approval waits for a person to answer on the signal Signal (by default the
// step id), with {"approved": bool, "comment": "...", "by": "..."}. Its
// output is {"approved", "comment", "by", "timed_out"}.
type Approval struct {
	Signal string `json:"signal"`
	// Message is a template shown to the approver.
	Message string `json:"message,omitempty"`
	// Timeout is how long to wait; zero waits for ever.
	Timeout Duration `json:"timeout,omitempty"`
	// OnTimeout is "fail" (the default), "approve" or "reject".
	OnTimeout string `json:"on_timeout"`
	// OnReject is "fail" (the default) or "continue".
	OnReject string `json:"on_reject"`
}

// Defaults of the step fields the YAML may leave out.
const (
	defaultMapVar      = "item"
	defaultConcurrency = 1
)

// Bounds of the step fields that decide how much a run may do: a
// definition over them is refused when it is loaded.
const (
	// MaxIterationsLimit is the largest max_iterations a loop may set.
	MaxIterationsLimit = 100
	// ConcurrencyLimit is the largest concurrency a map may set.
	ConcurrencyLimit = 50
	// MapItemsLimit is the most items a map runs its step for; the number
	// is known only at run time, where a longer list fails the run.
	MapItemsLimit = 1000
)

// idPattern is what step ids look like: they are CEL field names.
var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// signalPattern is what signal names look like.
var signalPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// reservedWords cannot be step ids or variable names: CEL reserves them.
var reservedWords = []string{
	"as", "break", "const", "continue", "else", "false", "for", "function", "if", "import", "in",
	"let", "loop", "null", "package", "namespace", "return", "true", "var", "void", "while",
}

// steps decodes a list of full-form steps.
func (d *decoder) steps(n *node, field string, src *wfSource) []Step {
	if !d.list(n, field) {
		return nil
	}
	steps := make([]Step, len(n.items))
	for i, item := range n.items {
		d.step(&steps[i], item, src)
	}
	return steps
}

// step decodes a full-form step. Its id may be given beside its kind or
// inside its kind block.
func (d *decoder) step(s *Step, n *node, src *wfSource) {
	src.nodes[s] = n
	id := func(v *node) { d.stepID(s, v) }
	var args map[string]string
	ok := d.fields(n, "step", map[string]func(*node){
		"id": id,
		"agent": func(v *node) {
			if s.Agent = d.str(v, "agent"); s.Agent == "" {
				d.errorf(v.pos, "agent must name an agent")
			}
		},
		"prompt":   func(v *node) { s.Prompt = d.str(v, "prompt") },
		"queue":    func(v *node) { s.Queue = d.queue(v) },
		"loop":     func(v *node) { s.Loop = d.loop(v, id, src) },
		"parallel": func(v *node) { s.Parallel = d.parallel(v, id, src) },
		"switch":   func(v *node) { s.Switch = d.switchStep(v, id, src) },
		"map":      func(v *node) { s.Map = d.mapStep(v, id, src) },
		"approval": func(v *node) { s.Approval = d.approval(v, id) },
		"tool":     func(v *node) { s.Tool = d.toolStep(v) },
		"args":     func(v *node) { args = d.args(v) },
	})
	if !ok {
		return
	}
	var kinds []string
	for _, e := range n.entries {
		if slices.Contains(stepKinds, e.key) {
			kinds = append(kinds, e.key)
		}
	}
	switch {
	case len(kinds) == 0:
		d.errorf(n.pos, "step has no kind; give it one of: %s", strings.Join(stepKinds, ", "))
	case len(kinds) > 1:
		d.errorf(n.pos, "step has several kinds (%s); a step has exactly one", strings.Join(kinds, ", "))
	case s.Prompt != "" && kinds[0] != "agent":
		d.errorf(n.get("prompt").pos, "prompt belongs to agent steps; this is a %s step", kinds[0])
	case s.Queue != "" && kinds[0] != "agent":
		d.errorf(n.get("queue").pos, "queue belongs to agent steps (a tool's calls run on its tool's queue); this is a %s step", kinds[0])
	case n.get("args") != nil && kinds[0] != "tool":
		d.errorf(n.get("args").pos, "args belong to tool steps; this is a %s step", kinds[0])
	}
	if s.Tool != nil {
		s.Tool.Args = args
	}
	if s.ID == "" {
		d.errorf(n.pos, "step has no id; add one, e.g. id: research (later steps read its output as steps.research.output)")
	}
	if s.Approval != nil && s.Approval.Signal == "" {
		s.Approval.Signal = s.ID
	}
}

// stepID decodes a step id.
func (d *decoder) stepID(s *Step, v *node) {
	id := d.str(v, "id")
	switch {
	case id == "":
		return
	case s.ID != "":
		d.errorf(v.pos, "step has two ids (%q and %q); keep one", s.ID, id)
	case !idPattern.MatchString(id):
		d.errorf(v.pos, "step id %q must start with a lowercase letter and hold only a-z, 0-9 and _ (expressions read it as steps.<id>)", id)
	case slices.Contains(reservedWords, id):
		d.errorf(v.pos, "step id %q is a reserved word of expressions; choose another", id)
	}
	if s.ID == "" {
		s.ID = id
	}
}

// loop decodes a loop block.
func (d *decoder) loop(n *node, id func(*node), src *wfSource) *Loop {
	l := &Loop{OnExhausted: "fail"}
	if !d.fields(n, "loop", map[string]func(*node){
		"id":             id,
		"steps":          func(v *node) { l.Steps = d.steps(v, "steps", src) },
		"until":          func(v *node) { l.Until = d.str(v, "until") },
		"max_iterations": func(v *node) { l.MaxIterations = d.bounded(v, "max_iterations", 1, MaxIterationsLimit) },
		"on_exhausted":   func(v *node) { l.OnExhausted = d.oneOf(v, "on_exhausted", "fail", "continue") },
	}) {
		return l
	}
	d.require(n, "loop", "steps", "a list of steps to repeat")
	d.require(n, "loop", "until", "a condition checked after each iteration, e.g. until: steps.review.output.approved")
	d.require(n, "loop", "max_iterations", "the most iterations to run, at least 1")
	return l
}

// parallel decodes a parallel block.
func (d *decoder) parallel(n *node, id func(*node), src *wfSource) *Parallel {
	p := &Parallel{}
	if d.fields(n, "parallel", map[string]func(*node){
		"id":    id,
		"steps": func(v *node) { p.Steps = d.steps(v, "steps", src) },
	}) {
		d.require(n, "parallel", "steps", "the list of steps to run at the same time")
	}
	return p
}

// switchStep decodes a switch block.
func (d *decoder) switchStep(n *node, id func(*node), src *wfSource) *Switch {
	sw := &Switch{}
	if !d.fields(n, "switch", map[string]func(*node){
		"id":      id,
		"cases":   func(v *node) { sw.Cases = d.cases(v, src) },
		"default": func(v *node) { sw.Default = d.steps(v, "default", src) },
	}) {
		return sw
	}
	d.require(n, "switch", "cases", "a list of {when: <condition>, steps: [...]}")
	return sw
}

// cases decodes the cases of a switch.
func (d *decoder) cases(n *node, src *wfSource) []Case {
	if n.kind != listKind || len(n.items) == 0 {
		d.errorf(n.pos, "cases must be a non-empty list of {when: <condition>, steps: [...]}")
		return nil
	}
	cases := make([]Case, len(n.items))
	for i, item := range n.items {
		c := &cases[i]
		src.nodes[c] = item
		if d.fields(item, "case", map[string]func(*node){
			"when":  func(v *node) { c.When = d.str(v, "when") },
			"steps": func(v *node) { c.Steps = d.steps(v, "steps", src) },
		}) {
			d.require(item, "case", "when", "the condition that selects it, e.g. when: input.kind == \"bug\"")
			d.require(item, "case", "steps", "the list of steps it runs")
		}
	}
	return cases
}

// mapStep decodes a map block.
func (d *decoder) mapStep(n *node, id func(*node), src *wfSource) *Map {
	m := &Map{As: defaultMapVar, Concurrency: defaultConcurrency}
	if !d.fields(n, "map", map[string]func(*node){
		"id":    id,
		"items": func(v *node) { m.Items = d.str(v, "items") },
		"as": func(v *node) {
			m.As = d.str(v, "as")
			if !idPattern.MatchString(m.As) || slices.Contains(reservedWords, m.As) || slices.Contains([]string{"input", "steps", "iteration"}, m.As) {
				d.errorf(v.pos, "as %q must be a lowercase name (a-z, 0-9, _) other than input, steps and iteration", m.As)
			}
		},
		"concurrency": func(v *node) { m.Concurrency = d.bounded(v, "concurrency", 1, ConcurrencyLimit) },
		"step": func(v *node) {
			d.step(&m.Step, v, src)
			if k := m.Step.Kind(); k != "" && k != "agent" && k != "tool" {
				d.errorf(v.pos, "a map runs an agent or tool step per item; this is a %s step", k)
			}
		},
	}) {
		return m
	}
	d.require(n, "map", "items", "a list expression, e.g. items: input.documents")
	d.require(n, "map", "step", "the agent or tool step to run per item, e.g. step: {id: summary, agent: summarizer, prompt: \"{{ item }}\"}")
	return m
}

// approval decodes an approval block.
func (d *decoder) approval(n *node, id func(*node)) *Approval {
	a := &Approval{OnTimeout: "fail", OnReject: "fail"}
	d.fields(n, "approval", map[string]func(*node){
		"id": id,
		"signal": func(v *node) {
			if a.Signal = d.str(v, "signal"); a.Signal != "" && !signalPattern.MatchString(a.Signal) {
				d.errorf(v.pos, "signal %q may hold only letters, digits, _, . and - (it is part of the URL that answers it)", a.Signal)
			}
		},
		"message":    func(v *node) { a.Message = d.str(v, "message") },
		"timeout":    func(v *node) { a.Timeout = d.duration(v, "timeout") },
		"on_timeout": func(v *node) { a.OnTimeout = d.oneOf(v, "on_timeout", "fail", "approve", "reject") },
		"on_reject":  func(v *node) { a.OnReject = d.oneOf(v, "on_reject", "fail", "continue") },
	})
	if v := n.get("on_timeout"); v != nil && a.Timeout == 0 {
		d.errorf(v.pos, "on_timeout needs a timeout, e.g. timeout: 24h")
	}
	return a
}
