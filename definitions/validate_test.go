package definitions

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// agentsYAML is an agent file the workflows under test may use.
const agentsYAML = "name: helper\nsystem: Help.\n"

// problems validates one workflow or agent source (as f.yaml, beside an
// agent file defining helper) and returns its problems, one per line.
func problems(t *testing.T, src string) []string {
	t.Helper()
	_, err := Validate(nil, map[string][]byte{"f.yaml": []byte(src), "helper.yaml": []byte(agentsYAML)})
	require.Error(t, err)
	var errs Errors
	require.True(t, errors.As(err, &errs), "Validate returns Errors, got %T", err)
	return strings.Split(errs.Error(), "\n")
}

func TestValidateReportsEachProblemAtItsPosition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want string // "line:col: message fragment"
	}{
		{"YAML syntax", "name: w\nsteps: [1, 2\n", "2:8: YAML syntax: sequence end token ']' not found"},
		{"second document", "name: a\nsystem: x\n---\nname: b\n", "4:1: a file holds one definition"},
		{"not a mapping", "- a\n- b\n", "1:1: a definition is a mapping"},
		{"unknown field, close to a known one", "name: w\nstpes: []\nsteps: [{id: a, agent: helper}]\n", `2:1: unknown field "stpes" in workflow; did you mean "steps"?`},
		{"unknown field, far from any", "name: a\nsystem: x\nflavour: mint\n", `3:1: unknown field "flavour" in agent; known fields: description, fallback_models, input, max_tokens, max_turns, model, name, output_schema, prompt, queue, retry, system, temperature, tools`},
		{"unknown step field", "name: w\nsteps:\n  - id: a\n    agent: helper\n    promt: hi\n", `5:5: unknown field "promt" in step; did you mean "prompt"?`},
		{"wrong type", "name: a\nsystem: x\ntemperature: hot\n", "3:14: temperature must be a number, got a string"},
		{"wrong type of a list", "name: w\nsteps: {id: a}\n", "2:9: steps must be a list of steps, got a mapping"},
		{"number out of range", "name: a\nsystem: x\ntemperature: 3\n", "3:14: temperature must be between 0 and 2, got 3"},
		{"missing agent name", "system: x\n", "1:1: agent has no name"},
		{"missing workflow name", "steps: [{id: a, agent: helper}]\n", "1:1: workflow has no name"},
		{"bad name", "name: Summarize\nsystem: x\n", `1:7: name "Summarize" must start with a lowercase letter`},
		{"step without id", "name: w\nsteps:\n  - agent: helper\n", "3:5: step has no id"},
		{"duplicate step ids", "name: w\nsteps:\n  - {id: a, agent: helper}\n  - parallel:\n      steps:\n        - {id: a, agent: helper}\n", `6:16: step id "a" is used twice (first at 3:10)`},
		{"two ids", "name: w\nsteps:\n  - id: a\n    loop: {id: b, max_iterations: 1, until: 'true', steps: [{id: c, agent: helper}]}\n", `4:16: step has two ids ("a" and "b")`},
		{"bad step id", "name: w\nsteps:\n  - {id: Draft-1, agent: helper}\n", `3:10: step id "Draft-1" must start with a lowercase letter`},
		{"reserved step id", "name: w\nsteps:\n  - {id: in, agent: helper}\n", `3:10: step id "in" is a reserved word`},
		{"step without kind", "name: w\nsteps:\n  - id: a\n    prompt: hi\n", "3:5: step has no kind; give it one of: agent, loop, parallel, switch, map, approval, tool"},
		{"step with several kinds", "name: w\nsteps:\n  - id: a\n    agent: helper\n    approval: {}\n", "3:5: step has several kinds (agent, approval)"},
		{"prompt on a non-agent step", "name: w\nsteps:\n  - id: ok\n    prompt: hi\n    approval: {}\n", "4:13: prompt belongs to agent steps; this is a approval step"},
		{"undefined agent, close", "name: w\nsteps:\n  - {id: a, agent: helpr}\n", `3:20: unknown agent "helpr"; did you mean "helper"?`},
		{"undefined agent, far", "name: w\nagents: {writer: {system: W}}\nsteps:\n  - {id: a, agent: translator}\n", `4:20: unknown agent "translator"; known agents: helper, writer`},
		{"undefined agent, simple form", "name: w\ncoordination_type: sequential\nsteps:\n  - agent_type: helper\n  - agent_type: nobody\n", `5:17: unknown agent "nobody"`},
		{"simple-form step with full-form fields", "name: w\ncoordination_type: sequential\nsteps:\n  - agent_type: helper\n    prompt: hi\n", `5:5: unknown field "prompt" in simple-form step`},
		{"bad coordination_type", "name: w\ncoordination_type: parallel\nsteps:\n  - agent_type: helper\n", `2:20: coordination_type must be one of sequential, got "parallel"`},
		{"unknown step", "name: w\nsteps:\n  - {id: a, agent: helper}\n  - {id: b, agent: helper, prompt: '{{ steps.c.output.text }}'}\n", `4:40: unknown step "c"; the steps are: a, b`},
		{"unknown step, far", "name: w\nsteps:\n  - {id: draft, agent: helper}\n  - {id: final, agent: helper, prompt: '{{ steps.review.output }}'}\n", `4:44: unknown step "review"; the steps are: draft, final`},
		{"forward reference", "name: w\nsteps:\n  - {id: a, agent: helper, prompt: '{{ steps.b.output.text }}'}\n  - {id: b, agent: helper}\n", `3:40: step "b" runs after step "a" (dependency order)`},
		{"forward reference in output", "name: w\nsteps:\n  - {id: a, agent: helper}\noutput:\n  x: \"{{ steps.a.output }} {{ steps['a'].output }} {{ steps.z.output }}\"\n", `5:55: unknown step "z"; the steps are: a`},
		{"self reference", "name: w\nsteps:\n  - id: a\n    agent: helper\n    prompt: 'again: {{ steps.a.output.text }}'\n", `5:24: step "a" cannot use its own output`},
		{"reference to the enclosing loop", "name: w\nsteps:\n  - id: l\n    loop:\n      max_iterations: 2\n      until: 'true'\n      steps:\n        - {id: a, agent: helper, prompt: '{{ steps.l.output }}'}\n", `8:46: step "a" is inside "l"`},
		{"reference to a parallel sibling", "name: w\nsteps:\n  - id: p\n    parallel:\n      steps:\n        - {id: a, agent: helper}\n        - {id: b, agent: helper, prompt: '{{ steps.a.output.text }}'}\n", `7:46: step "a" runs in parallel with "b"`},
		{"reference to another switch branch", "name: w\nsteps:\n  - id: s\n    switch:\n      cases: [{when: 'input.x', steps: [{id: a, agent: helper}]}]\n      default: [{id: b, agent: helper, prompt: '{{ steps.a.output }}'}]\n", `6:52: step "a" is in another branch of switch "s"`},
		{"unguarded switch branch", "name: w\nsteps:\n  - id: s\n    switch:\n      cases: [{when: 'input.x', steps: [{id: a, agent: helper}]}]\n  - {id: b, agent: helper, prompt: '{{ steps.a.output }}'}\n", `6:40: steps.a may not be set here: it runs only when its branch of switch "s" is taken; guard it`},
		{"unguarded first iteration", "name: w\nsteps:\n  - id: l\n    loop:\n      max_iterations: 3\n      until: steps.b.output.ok\n      steps:\n        - {id: a, agent: helper, prompt: '{{ steps.b.output.text }}'}\n        - {id: b, agent: helper}\n", `8:46: steps.b may not be set here: it has not run yet in the first iteration of loop "l"`},
		{"map item step outside the map", "name: w\nsteps:\n  - id: m\n    map: {items: input.docs, step: {id: one, agent: helper}}\n  - {id: b, agent: helper, prompt: '{{ steps.one.output }}'}\n", `5:40: step "one" runs once per item of map "m"; read steps.m.output`},
		{"expression that does not parse", "name: w\nsteps:\n  - {id: a, agent: helper, prompt: 'x {{ input. }} y'}\n", `3:48: invalid expression "input.": Syntax error: no viable alternative at input '.'`},
		{"expression with an unknown function", "name: w\nsteps:\n  - {id: a, agent: helper, prompt: '{{ size(input) + lenght(input) }}'}\n", `3:60: invalid expression "size(input) + lenght(input)": undeclared reference to 'lenght'`},
		{"condition that is not a boolean", "name: w\nsteps:\n  - id: l\n    loop: {max_iterations: 2, until: '\"done\"', steps: [{id: a, agent: helper}]}\n", `4:38: expression "\"done\"" gives string; bool is needed here`},
		{"items that are not a list", "name: w\nsteps:\n  - id: m\n    map: {items: '42', step: {id: one, agent: helper}}\n", `4:18: expression "42" gives int; list(dyn) is needed here`},
		{"unknown variable in a template", "name: w\nsteps:\n  - id: a\n    agent: helper\n    prompt: |\n      Hello\n      {{ imput.name }}\n", `7:10: unknown variable "imput"; did you mean "input"?`},
		{"iteration outside a loop", "name: w\nsteps:\n  - {id: a, agent: helper, prompt: 'round {{ iteration }}'}\n", `3:46: unknown variable "iteration"; variables here: input, steps`},
		{"steps in an agent's prompt", "name: a\nsystem: x\nprompt: '{{ steps.b.output }}'\n", `3:13: unknown variable "steps"; variables here: input`},
		{"unclosed template", "name: w\nsteps:\n  - {id: a, agent: helper, prompt: 'Hi {{ input'}\n", "3:40: template: {{ is never closed by }}"},
		{"invalid input schema", "name: w\ninput:\n  type: object\n  properties:\n    n: {type: integr}\nsteps: [{id: a, agent: helper}]\n", "5:15: input: invalid JSON Schema: properties.n.type: enum: value must be one of 'array'"},
		{"invalid output schema", "name: a\nsystem: x\noutput_schema: {type: object, required: yes}\n", "3:41: output_schema: invalid JSON Schema: required:"},
		{"output schema that is not an object", "name: a\nsystem: x\noutput_schema: {type: string}\n", "3:17: output_schema must describe an object (type: object)"},
		{"schema referencing a file", "name: a\nsystem: x\ninput: {$ref: 'file:///etc/passwd'}\n", "3:9: input: invalid JSON Schema: failing loading \"file:///etc/passwd\": file:///etc/passwd: schemas may not reference other documents"},
		{"bad on_exhausted", "name: w\nsteps:\n  - id: l\n    loop: {max_iterations: 2, until: 'true', on_exhausted: stop, steps: [{id: a, agent: helper}]}\n", `4:60: on_exhausted must be one of fail, continue, got "stop"`},
		{"bad on_timeout", "name: w\nsteps:\n  - id: ok\n    approval: {timeout: 1h, on_timeout: maybe}\n", `4:41: on_timeout must be one of fail, approve, reject, got "maybe"`},
		{"bad on_reject", "name: w\nsteps:\n  - id: ok\n    approval: {on_reject: retry}\n", `4:27: on_reject must be one of fail, continue, got "retry"`},
		{"bad signal name", "name: w\nsteps:\n  - id: ok\n    approval: {signal: go ahead}\n", `4:24: signal "go ahead" may hold only letters, digits`},
		{"on_timeout without timeout", "name: w\nsteps:\n  - id: ok\n    approval: {on_timeout: approve}\n", "4:28: on_timeout needs a timeout"},
		{"loop without until", "name: w\nsteps:\n  - id: l\n    loop:\n      max_iterations: 2\n      steps: [{id: a, agent: helper}]\n", "5:7: loop has no until"},
		{"max_iterations below 1", "name: w\nsteps:\n  - id: l\n    loop: {max_iterations: 0, until: 'true', steps: [{id: a, agent: helper}]}\n", "4:28: max_iterations must be at least 1, got 0"},
		{"concurrency below 1", "name: w\nsteps:\n  - id: m\n    map: {items: input.docs, concurrency: 0, step: {id: one, agent: helper}}\n", "4:43: concurrency must be at least 1, got 0"},
		{"max_iterations above the limit", "name: w\nsteps:\n  - id: l\n    loop:\n      max_iterations: 1000000000\n      until: 'true'\n      steps: [{id: a, agent: helper}]\n", "5:23: max_iterations must be at most 100, got 1000000000"},
		{"concurrency above the limit", "name: w\nsteps:\n  - id: m\n    map:\n      items: input.docs\n      concurrency: 1000000\n      step: {id: one, agent: helper}\n", "6:20: concurrency must be at most 50, got 1000000"},
		{"max_iterations past int32", "name: w\nsteps:\n  - id: l\n    loop: {max_iterations: 99999999999, until: 'true', steps: [{id: a, agent: helper}]}\n", "4:28: max_iterations is too large"},
		{"map step that is not an agent step", "name: w\nsteps:\n  - id: m\n    map:\n      items: input.docs\n      step: {id: ok, approval: {}}\n", "6:14: a map runs an agent or tool step per item; this is a approval step"},
		{"bad map variable", "name: w\nsteps:\n  - id: m\n    map: {items: input.docs, as: steps, step: {id: one, agent: helper}}\n", `4:34: as "steps" must be a lowercase name`},
		{"zero duration", "name: w\ndefaults: {timeout: 0s}\nsteps: [{id: a, agent: helper}]\n", "2:21: timeout must be positive, got 0s"},
		{"negative duration", "name: w\nsteps:\n  - id: ok\n    approval: {timeout: -5m}\n", "4:25: timeout must be positive, got -5m"},
		{"unreadable duration", "name: w\ndefaults: {retry: {initial_interval: 2 days}}\nsteps: [{id: a, agent: helper}]\n", `2:38: initial_interval: "2 days" is not a duration`},
		{"duration given as a number", "name: w\ndefaults: {timeout: 30}\nsteps: [{id: a, agent: helper}]\n", `2:21: timeout must be a duration such as "30s"`},
		{"non-positive budget", "name: w\nbudget: {max_cost_usd: 0}\nsteps: [{id: a, agent: helper}]\n", "2:24: max_cost_usd must be positive"},
		{"backoff below 1", "name: w\ndefaults: {retry: {backoff: 0.5}}\nsteps: [{id: a, agent: helper}]\n", "2:29: backoff must be between 1 and 100, got 0.5"},
		{"empty steps", "name: w\nsteps: []\n", "2:8: steps must hold at least one step"},
		{"bad agent queue", "name: a\nsystem: x\nqueue: gpu pool\n", `3:8: queue "gpu pool" may hold only letters`},
		{"bad step queue", "name: w\nsteps: [{id: a, agent: helper, queue: 'a/b'}]\n", `2:39: queue "a/b" may hold only letters`},
		{"queue on a step that is not an agent step", "name: w\nsteps:\n  - id: ok\n    queue: gpu\n    approval: {}\n", "4:12: queue belongs to agent steps"},
		{"unsupported tag", "name: a\nsystem: !secret x\n", "2:9: unsupported tag !secret"},
		{"alias to nothing", "name: a\nsystem: *prompt\n", "2:9: alias *prompt refers to no anchor"},
		{"duplicate key", "name: a\nsystem: x\nsystem: y\n", "3:1: YAML syntax: mapping key \"system\" already defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := problems(t, tt.src)
			for _, p := range got {
				if strings.HasPrefix(p, "f.yaml:"+tt.want) {
					return
				}
			}
			require.Failf(t, "problem not reported", "want f.yaml:%s\ngot:\n%s", tt.want, strings.Join(got, "\n"))
		})
	}
}

func TestValidateReportsDuplicateNamesAcrossFiles(t *testing.T) {
	t.Parallel()
	_, err := Validate(nil, map[string][]byte{
		"a.yaml": []byte("name: helper\nsystem: One.\n"),
		"b.yaml": []byte("name: helper\nsystem: Two.\n"),
		"c.yaml": []byte("name: flow\nsteps: [{id: a, agent: helper}]\n"),
		"d.yaml": []byte("# the same workflow again\nname: flow\nsteps: [{id: a, agent: helper}]\n"),
	})
	require.EqualError(t, err, `b.yaml:1:7: agent "helper" is also defined at a.yaml:1:7; names must be unique
d.yaml:2:7: workflow "flow" is also defined at c.yaml:1:7; names must be unique`)
}

func TestValidateReportsEveryProblemSorted(t *testing.T) {
	t.Parallel()
	_, err := Validate(nil, map[string][]byte{
		"z.yaml": []byte("name: w\nsteps:\n  - {id: a, agent: nobody}\n  - {id: b, agent: nobody, promt: x}\n"),
		"a.yaml": []byte("name: a\ntemperature: -1\n"),
	})
	require.EqualError(t, err, `a.yaml:2:14: temperature must be between 0 and 2, got -1
z.yaml:3:20: unknown agent "nobody"; define it under agents: or in an agent file
z.yaml:4:20: unknown agent "nobody"; define it under agents: or in an agent file
z.yaml:4:28: unknown field "promt" in step; did you mean "prompt"?`)
}

func TestValidateAcceptsGuardedAndOrderedReferences(t *testing.T) {
	t.Parallel()
	cat, err := Validate(nil, map[string][]byte{"helper.yaml": []byte(agentsYAML), "f.yaml": []byte(`
name: refs
steps:
  - id: first
    agent: helper
  - id: l
    loop:
      max_iterations: 3
      until: steps.check.output.text == "ok" && iteration >= 1
      steps:
        - id: draft
          agent: helper
          prompt: |
            {{ steps.first.output.text }}
            {{ has(steps.check) ? steps.check.output.text : "" }}
            {{ "draft" in steps ? steps["draft"].output.text : "" }}
            {{ has(steps.draft) ? steps.draft.output.text : "" }}
        - id: check
          agent: helper
          prompt: "{{ steps.draft.output.text }} {{ [1, 2].map(x, x * iteration) }}"
  - id: both
    parallel:
      steps:
        - {id: left, agent: helper, prompt: "{{ steps.check.output }}"}
        - {id: right, agent: helper, prompt: "{{ steps.l.output.iterations }}"}
  - id: route
    switch:
      cases:
        - when: steps.left.output.text == "x"
          steps: [{id: x, agent: helper, prompt: "{{ steps.right.output }}"}]
      default:
        - {id: y, agent: helper}
        - {id: z, agent: helper, prompt: "{{ steps.y.output }}"}
  - id: m
    map:
      items: "[steps.left.output, steps.right.output]"
      as: part
      step: {id: each, agent: helper, prompt: "{{ part.text }} {{ has(steps.x) ? steps.x.output : null }}"}
  - id: ok
    approval:
      message: "{{ size(steps.m.output) }} parts"
output:
  parts: "{{ steps.m.output }}"
  approved: "{{ steps.ok.output.approved }}"
  which: "{{ has(steps.x) ? 'x' : 'z' }}"
`)})
	require.NoError(t, err)
	require.Contains(t, cat.Workflows, "refs")
}
