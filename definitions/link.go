package definitions

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
)

// stepInfo places a step in the tree of a workflow's steps.
type stepInfo struct {
	step   *Step
	parent *stepInfo
	branch int // which branch of the parent (parallel step, switch case) it is in
}

// linker completes a decoded workflow: it normalises the simple form,
// resolves agents, checks expressions and the order of step references,
// and computes the hash.
type linker struct {
	d      *decoder
	w      *Workflow
	src    *wfSource
	known  *known
	agents agentSet // the workflow's own agents, then those of agent files
	infos  map[string]*stepInfo
}

// link runs the linker on a workflow.
func link(d *decoder, w *Workflow, src *wfSource, k *known) {
	local := maps.Clone(w.Agents)
	l := &linker{d: d, w: w, src: src, known: k, agents: agentSet{local: local, files: k.agents}, infos: map[string]*stepInfo{}}
	if src.simple {
		l.normaliseSimple()
	}
	for _, name := range slices.Sorted(maps.Keys(local)) {
		k.checkGrants(d, local[name], l.agents)
	}
	for i := range w.Steps {
		l.index(&w.Steps[i], nil, 0)
		l.resolve(&w.Steps[i])
	}
	l.gatherTools()
	root := scope{vars: []string{"input", "steps"}}.clone()
	final := l.seq(w.Steps, root)
	for _, key := range slices.Sorted(maps.Keys(w.Output)) {
		n := src.root.get("output").get(key)
		d.checkTemplate(n, w.Output[key], final, l.refCheck(nil, final))
	}
	if len(d.errs) > 0 {
		return
	}
	hash, err := hashOf(w)
	if err != nil {
		d.errorf(src.root.pos, "%v", err)
	}
	w.Hash = hash
}

// normaliseSimple turns simple-form steps into full-form ones: each step's
// id is its agent's name (made unique with _2, _3...), the first prompt is
// the workflow input and each later prompt the previous step's output.
func (l *linker) normaliseSimple() {
	used := map[string]bool{}
	for _, w := range reservedWords {
		used[w] = true
	}
	for i := range l.w.Steps {
		s := &l.w.Steps[i]
		if s.Agent == "" {
			continue // reported when decoded
		}
		base := strings.ReplaceAll(s.Agent, "-", "_")
		id := base
		for n := 2; used[id]; n++ {
			id = base + "_" + strconv.Itoa(n)
		}
		used[id] = true
		s.ID = id
		prev := Step{}
		if i > 0 {
			prev = l.w.Steps[i-1]
		}
		if prev.ID == "" {
			s.Prompt = defaultPrompt
			continue
		}
		if a := l.agent(prev.Agent); a != nil && len(a.OutputSchema) > 0 {
			s.Prompt = "{{ steps." + prev.ID + ".output }}"
		} else {
			s.Prompt = "{{ steps." + prev.ID + ".output.text }}"
		}
	}
}

// agent finds an agent by name: the workflow's own first.
func (l *linker) agent(name string) *Agent {
	return l.agents.get(name)
}

// eachChild calls fn for each step directly inside s, with the branch of s
// it is in: each step of a parallel is a branch of its own, each case of a
// switch is one (the default is the last).
func eachChild(s *Step, fn func(child *Step, branch int)) {
	switch {
	case s.Loop != nil:
		for i := range s.Loop.Steps {
			fn(&s.Loop.Steps[i], 0)
		}
	case s.Parallel != nil:
		for i := range s.Parallel.Steps {
			fn(&s.Parallel.Steps[i], i)
		}
	case s.Switch != nil:
		for j := range s.Switch.Cases {
			for i := range s.Switch.Cases[j].Steps {
				fn(&s.Switch.Cases[j].Steps[i], j)
			}
		}
		for i := range s.Switch.Default {
			fn(&s.Switch.Default[i], len(s.Switch.Cases))
		}
	case s.Map != nil:
		fn(&s.Map.Step, 0)
	}
}

// descendants returns the ids of the steps inside s, at any depth.
func descendants(s *Step) []string {
	var ids []string
	eachChild(s, func(c *Step, _ int) {
		ids = append(ids, c.ID)
		ids = append(ids, descendants(c)...)
	})
	return ids
}

// index records where a step and those inside it are, and reports
// duplicate ids.
func (l *linker) index(s *Step, parent *stepInfo, branch int) {
	info := &stepInfo{step: s, parent: parent, branch: branch}
	if s.ID != "" {
		if first, dup := l.infos[s.ID]; dup {
			at := l.src.field(first.step, "id").pos
			l.d.errorf(l.src.field(s, "id").pos, "step id %q is used twice (first at %d:%d); step ids must be unique in a workflow", s.ID, at.line, at.col)
		} else {
			l.infos[s.ID] = info
		}
	}
	eachChild(s, func(c *Step, b int) { l.index(c, info, b) })
}

// resolve checks that agent steps name known agents and tool steps known
// tools, adds the agent files' agents they use to the workflow, and gives
// steps without a prompt their agent's.
func (l *linker) resolve(s *Step) {
	eachChild(s, func(c *Step, _ int) { l.resolve(c) })
	if s.Tool != nil {
		l.resolveTool(s)
	}
	if s.Agent == "" {
		return
	}
	a := l.agent(s.Agent)
	if a == nil {
		if file, ok := l.known.brokenAgents[s.Agent]; ok {
			l.d.errorf(l.agentNode(s).pos, "agent %q cannot be used: its definition in %s has problems", s.Agent, file)
		} else {
			l.d.errorf(l.agentNode(s).pos, "%s", l.unknownAgent(s.Agent))
		}
		return
	}
	if _, local := l.w.Agents[s.Agent]; !local {
		l.w.Agents[s.Agent] = a
	}
	if s.Prompt == "" {
		s.Prompt = a.Prompt
	}
}

// agentNode is where a step names its agent.
func (l *linker) agentNode(s *Step) *node {
	if l.src.simple {
		return l.src.field(s, "agent_type")
	}
	return l.src.field(s, "agent")
}

// unknownAgent explains that no agent has a name.
func (l *linker) unknownAgent(name string) string {
	names := l.agents.names()
	if s := closest(name, names); s != "" {
		return fmt.Sprintf("unknown agent %q; did you mean %q?", name, s)
	}
	if len(names) == 0 {
		return fmt.Sprintf("unknown agent %q; define it under agents: or in an agent file", name)
	}
	return fmt.Sprintf("unknown agent %q; known agents: %s", name, strings.Join(names, ", "))
}

// seq checks steps run one after the other and returns the scope after them.
func (l *linker) seq(steps []Step, sc scope) scope {
	for i := range steps {
		sc = l.step(&steps[i], sc)
	}
	return sc
}

// step checks the expressions of a step, evaluated in scope sc, and returns
// the scope after it.
func (l *linker) step(s *Step, sc scope) scope {
	owner := l.infos[s.ID]
	check := l.refCheck(owner, sc)
	out := sc.clone()
	switch {
	case s.Agent != "":
		l.d.checkTemplate(l.src.field(s, "prompt"), s.Prompt, sc, check)
	case s.Loop != nil:
		body := sc.withVar("iteration")
		for _, id := range descendants(s) {
			body.maybe[id] = fmt.Sprintf("it has not run yet in the first iteration of loop %q", s.ID)
		}
		after := l.seq(s.Loop.Steps, body)
		l.d.checkExpr(l.src.field(s, "until"), s.Loop.Until, 0, after, l.refCheck(owner, after), cel.BoolType)
		out = after.clone()
		out.vars = sc.vars
	case s.Parallel != nil:
		for i := range s.Parallel.Steps {
			branch := l.step(&s.Parallel.Steps[i], sc)
			maps.Copy(out.done, branch.done)
			maps.Copy(out.maybe, branch.maybe)
		}
	case s.Switch != nil:
		why := fmt.Sprintf("it runs only when its branch of switch %q is taken", s.ID)
		branches := [][]Step{s.Switch.Default}
		for i := range s.Switch.Cases {
			c := &s.Switch.Cases[i]
			l.d.checkExpr(l.src.field(c, "when"), c.When, 0, sc, check, cel.BoolType)
			branches = append(branches, c.Steps)
		}
		for _, steps := range branches {
			branch := l.seq(steps, sc)
			for id := range branch.done {
				if !sc.done[id] {
					out.maybe[id] = why
				}
			}
			maps.Copy(out.maybe, branch.maybe)
		}
	case s.Map != nil:
		l.d.checkExpr(l.src.field(s, "items"), s.Map.Items, 0, sc, check, cel.ListType(cel.DynType))
		l.step(&s.Map.Step, sc.withVar(s.Map.As))
	case s.Approval != nil:
		l.d.checkTemplate(l.src.field(s, "message"), s.Approval.Message, sc, check)
	case s.Tool != nil:
		args := l.src.field(s, "args")
		for _, name := range slices.Sorted(maps.Keys(s.Tool.Args)) {
			l.d.checkTemplate(args.get(name), s.Tool.Args[name], sc, check)
		}
	}
	for id := range out.done {
		delete(out.maybe, id)
	}
	out.finish(s.ID)
	return out
}

// refCheck judges the uses of steps.<id> by the expressions of owner (nil
// for the workflow's output), evaluated in scope sc.
func (l *linker) refCheck(owner *stepInfo, sc scope) refCheck {
	return func(id string, test, guarded bool) string {
		if sc.done[id] {
			return ""
		}
		if why, ok := sc.maybe[id]; ok {
			if test || guarded {
				return ""
			}
			return fmt.Sprintf("steps.%s may not be set here: %s; guard it, e.g. has(steps.%s) ? steps.%s.output : null", id, why, id, id)
		}
		target := l.infos[id]
		if target == nil {
			return l.unknownStep(id)
		}
		return ordering(owner, target)
	}
}

// unknownStep explains that no step has an id.
func (l *linker) unknownStep(id string) string {
	ids := slices.Sorted(maps.Keys(l.infos))
	if s := closest(id, ids); s != "" {
		return fmt.Sprintf("unknown step %q; did you mean %q?", id, s)
	}
	return fmt.Sprintf("unknown step %q; the steps are: %s", id, strings.Join(ids, ", "))
}

// ordering explains why the output of target is never there when owner's
// expressions run.
func ordering(owner, target *stepInfo) string {
	for a := owner; a != nil; a = a.parent {
		if a == target && a == owner {
			return fmt.Sprintf("step %q cannot use its own output (a step may read its previous output only inside a loop, guarded by has())", target.step.ID)
		}
		if a == target {
			return fmt.Sprintf("step %q is inside %q, whose output exists only once it has finished", owner.step.ID, target.step.ID)
		}
	}
	for a := target.parent; a != nil; a = a.parent {
		if a.step.Map != nil && !isWithin(owner, a) {
			return fmt.Sprintf("step %q runs once per item of map %q; read steps.%s.output, the list of its outputs", target.step.ID, a.step.ID, a.step.ID)
		}
	}
	if lca, ob, tb := commonAncestor(owner, target); lca != nil && ob != tb {
		switch {
		case lca.step.Parallel != nil:
			return fmt.Sprintf("step %q runs in parallel with %q (in %q), so its output is not there yet: move the step that reads it after the parallel step", target.step.ID, owner.step.ID, lca.step.ID)
		case lca.step.Switch != nil:
			return fmt.Sprintf("step %q is in another branch of switch %q: the two never both run", target.step.ID, lca.step.ID)
		}
	}
	who := "this expression"
	if owner != nil {
		who = fmt.Sprintf("step %q", owner.step.ID)
	}
	return fmt.Sprintf("step %q runs after %s (dependency order): a step can only read the output of steps that ran before it", target.step.ID, who)
}

// isWithin tells whether s is a or inside a.
func isWithin(s, a *stepInfo) bool {
	for ; s != nil; s = s.parent {
		if s == a {
			return true
		}
	}
	return false
}

// commonAncestor returns the innermost step containing both a and b, with
// the branches of it that each is in.
func commonAncestor(a, b *stepInfo) (*stepInfo, int, int) {
	for x := a; x != nil && x.parent != nil; x = x.parent {
		for y := b; y != nil && y.parent != nil; y = y.parent {
			if x.parent == y.parent {
				return x.parent, x.branch, y.branch
			}
		}
	}
	return nil, 0, 0
}

// hashOf is the hex SHA-256 of the canonical JSON of a workflow.
func hashOf(w *Workflow) (string, error) {
	c := *w
	c.Hash = ""
	data, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("hash workflow: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// gatherTools adds to the workflow every tool its agents are granted and
// the agents they grant as tools, at any depth. Tool steps add theirs when
// resolved.
func (l *linker) gatherTools() {
	ts := newToolset(l.agent, func(name string) *Tool { return l.known.tools[name] })
	for _, name := range slices.Sorted(maps.Keys(l.w.Agents)) {
		ts.add(l.w.Agents[name])
	}
	for name, a := range ts.agents {
		if _, ok := l.w.Agents[name]; !ok {
			l.w.Agents[name] = a
		}
	}
	for name, t := range ts.tools {
		l.addTool(name, t)
	}
}

// addTool adds a tool to the workflow.
func (l *linker) addTool(name string, t *Tool) {
	if l.w.Tools == nil {
		l.w.Tools = map[string]*Tool{}
	}
	l.w.Tools[name] = t
}
