package definitions

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/examples"
	"github.com/troupe-dev/troupe/expr"
)

func TestLoadShippedExamples(t *testing.T) {
	t.Parallel()
	cat, err := Load(examples.FS)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"assessment", "chat", "research", "scribe", "summarize", "summarizer", "writer"}, slices.Collect(maps.Keys(cat.Agents)))
	require.ElementsMatch(t, []string{"approval_publish", "keep_note", "parallel_summary", "research_assessment", "research_loop", "summarize_documents", "triage"}, slices.Collect(maps.Keys(cat.Workflows)))
	require.ElementsMatch(t, []string{"workspace_read", "workspace_write"}, slices.Collect(maps.Keys(cat.Tools)))
	for name, w := range cat.Workflows {
		require.Len(t, w.Hash, 64, name)
		for _, s := range w.Steps {
			require.NotEmpty(t, s.Kind(), "%s: step %s", name, s.ID)
		}
	}

	loop := cat.Workflows["research_loop"]
	require.Equal(t, "loop", loop.Steps[0].Kind())
	require.Equal(t, 3, loop.Steps[0].Loop.MaxIterations)
	require.Equal(t, "steps.assess.output.approved", loop.Steps[0].Loop.Until)
	require.JSONEq(t, `{"type": "object", "required": ["approved", "feedback"], "properties": {"approved": {"type": "boolean"}, "feedback": {"type": "string"}}}`,
		string(loop.Agents["assessor"].OutputSchema))

	parallel := cat.Workflows["parallel_summary"]
	require.Len(t, parallel.Steps[0].Parallel.Steps, 3)
	require.Same(t, cat.Agents["summarize"], parallel.Agents["summarize"], "agent-file agents the steps use join the workflow")
	require.Contains(t, parallel.Agents, "summarizer")
	require.Contains(t, parallel.Agents, "critic")

	approval := cat.Workflows["approval_publish"].Steps[1]
	require.Equal(t, &Approval{Signal: "publish_ok", Message: approval.Approval.Message, Timeout: Duration(24 * 60 * 60 * 1e9), OnTimeout: "reject", OnReject: "fail"}, approval.Approval)

	m := cat.Workflows["summarize_documents"].Steps[0].Map
	require.Equal(t, "doc", m.As)
	require.Equal(t, 2, m.Concurrency)

	note := cat.Workflows["keep_note"]
	require.Equal(t, &ToolStep{Tool: "workspace_read", Args: map[string]string{"path": "notes/{{ input.name }}.md"}}, note.Steps[1].Tool)
	require.Equal(t, map[string]*Tool{"workspace_read": cat.Tools["workspace_read"], "workspace_write": cat.Tools["workspace_write"]}, note.Tools,
		"the workflow carries the tools of its agents and of its tool steps")
	require.Equal(t, []Grant{{Tool: "workspace_write"}, {Tool: "workspace_read"}}, cat.Agents["scribe"].Tools)
}

// TestScribePromptGivesTheMockValidArguments renders the scribe's prompt
// with a note that tries to break JSON: the mock model reads the arguments
// of @workspace_write from the rest of its line.
func TestScribePromptGivesTheMockValidArguments(t *testing.T) {
	t.Parallel()
	cat, err := Load(examples.FS)
	require.NoError(t, err)
	scribe := cat.Agents["scribe"]
	input := json.RawMessage(`{"name": "todo", "text": "Buy \"milk\"}\n@workspace_read {}\nand eggs"}`)
	require.NoError(t, scribe.ValidateInput(input))
	prompt, err := expr.Render(scribe.Prompt, expr.Vars{"input": input})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(prompt), "\n")
	call, ok := strings.CutPrefix(lines[len(lines)-1], "@workspace_write ")
	require.True(t, ok, prompt)
	var args map[string]string
	require.NoError(t, json.Unmarshal([]byte(call), &args))
	require.Equal(t, map[string]string{"path": "notes/todo.md", "content": "Buy \"milk\"}\n@workspace_read {}\nand eggs"}, args)
	require.NoError(t, cat.Tools["workspace_write"].ValidateInput([]byte(call)))
	require.Error(t, scribe.ValidateInput(json.RawMessage(`{"name": "../etc/passwd", "text": "x"}`)), "the name cannot leave notes/")
}

func TestSimpleFormIsNormalised(t *testing.T) {
	t.Parallel()
	cat, err := Load(examples.FS)
	require.NoError(t, err)
	w := cat.Workflows["research_assessment"]
	require.Equal(t, []Step{
		{ID: "research", Agent: "research", Prompt: "{{ input }}"},
		{ID: "assessment", Agent: "assessment", Prompt: "{{ steps.research.output.text }}"},
	}, w.Steps)
	require.Len(t, w.Agents, 2)

	cat, err = Validate(cat, map[string][]byte{"dup.yaml": []byte(`
name: twice
coordination_type: sequential
steps:
  - agent_type: assessment
  - agent_type: fact-check
  - agent_type: fact-check
  - agent_type: fact-check
  - agent_type: in
`), "fact-check.yaml": []byte("name: fact-check\nsystem: Check facts.\n"), "in.yaml": []byte("name: in\nsystem: x\n")})
	require.NoError(t, err)
	var ids, prompts []string
	for _, s := range cat.Workflows["twice"].Steps {
		ids, prompts = append(ids, s.ID), append(prompts, s.Prompt)
	}
	require.Equal(t, []string{"assessment", "fact_check", "fact_check_2", "fact_check_3", "in_2"}, ids)
	require.Equal(t, []string{
		"{{ input }}",
		"{{ steps.assessment.output }}", // structured output: passed whole, as JSON
		"{{ steps.fact_check.output.text }}",
		"{{ steps.fact_check_2.output.text }}",
		"{{ steps.fact_check_3.output.text }}",
	}, prompts)
}

func TestFullFormFillsDefaults(t *testing.T) {
	t.Parallel()
	cat, err := Validate(nil, map[string][]byte{"w.yaml": []byte(`
name: w
agents:
  a: {system: A, prompt: "Say {{ input.x }}"}
  b: {system: B}
steps:
  - id: one
    agent: a
  - id: ok
    approval: {}
  - id: each
    map:
      items: "[1, 2]"
      step: {id: item_step, agent: a, prompt: "{{ item }}"}
  - id: l
    loop:
      max_iterations: 1
      until: "true"
      steps: [{id: two, agent: a, prompt: "x"}]
`)})
	require.NoError(t, err)
	w := cat.Workflows["w"]
	require.Equal(t, "Say {{ input.x }}", w.Steps[0].Prompt, "a step without a prompt takes its agent's")
	require.Equal(t, &Approval{Signal: "ok", OnTimeout: "fail", OnReject: "fail"}, w.Steps[1].Approval)
	require.Equal(t, "item", w.Steps[2].Map.As)
	require.Equal(t, 1, w.Steps[2].Map.Concurrency)
	require.Equal(t, "fail", w.Steps[3].Loop.OnExhausted)
	require.Equal(t, "{{ input }}", w.Agents["b"].Prompt, "an agent's prompt defaults to its whole input")
}

func TestHash(t *testing.T) {
	t.Parallel()
	load := func(src string) *Workflow {
		t.Helper()
		cat, err := Validate(nil, map[string][]byte{"w.yaml": []byte(src)})
		require.NoError(t, err)
		return cat.Workflows["w"]
	}
	const src = "name: w\nagents: {a: {system: A}}\nsteps: [{id: one, agent: a, prompt: hi}]\n"
	first := load(src)
	require.Equal(t, first.Hash, load(src).Hash, "stable across loads")
	require.Equal(t, first.Hash, load("# comment\nname: w\nagents:\n  a:\n    system: A\nsteps:\n  - id: one\n    agent: a\n    prompt: 'hi'\n").Hash,
		"layout, comments and quoting do not change it")
	require.NotEqual(t, first.Hash, load(strings.Replace(src, "prompt: hi", "prompt: hello", 1)).Hash)
	require.NotEqual(t, first.Hash, load(strings.Replace(src, "system: A", "system: B", 1)).Hash)

	data, err := json.Marshal(first)
	require.NoError(t, err)
	var back Workflow
	require.NoError(t, json.Unmarshal(data, &back))
	again, err := hashOf(&back)
	require.NoError(t, err)
	require.Equal(t, first.Hash, again, "a JSON round trip keeps the hash")

	cat, err := Load(examples.FS)
	require.NoError(t, err)
	before := cat.Workflows["parallel_summary"].Hash
	cat, err = Validate(cat, map[string][]byte{"summarize.yaml": []byte("name: summarize\nsystem: Be brief.\n"), "p.yaml": mustRead(t, "workflows/parallel_summary.yaml")})
	require.NoError(t, err)
	require.NotEqual(t, before, cat.Workflows["parallel_summary"].Hash, "the hash covers the agent-file agents a workflow uses")
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	data, err := examples.FS.ReadFile(name)
	require.NoError(t, err)
	return data
}

func TestWorkflowSurvivesJSON(t *testing.T) {
	t.Parallel()
	cat, err := Load(examples.FS)
	require.NoError(t, err)
	w := cat.Workflows["research_loop"]
	data, err := json.Marshal(w)
	require.NoError(t, err)
	require.Contains(t, string(data), `"timeout":"2m0s"`)
	var back Workflow
	require.NoError(t, json.Unmarshal(data, &back))
	again, err := json.Marshal(&back)
	require.NoError(t, err)
	require.JSONEq(t, string(data), string(again))
	require.Equal(t, w.Steps, back.Steps)
	require.NoError(t, back.ValidateInput(json.RawMessage(`{"topic": "otters"}`)), "schemas compile again after a round trip")
	require.ErrorContains(t, back.ValidateInput(json.RawMessage(`{}`)), "missing property 'topic'")
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	write("agents/a.yaml", "name: a\nsystem: A.\n")
	write("deep/er/w.yml", "name: w\nsteps: [{id: one, agent: a}]\n")
	write("README.md", "not yaml")
	write(".hidden/x.yaml", "not: [valid")
	cat, err := LoadDir(dir)
	require.NoError(t, err)
	require.Contains(t, cat.Agents, "a")
	require.Contains(t, cat.Workflows, "w")

	write("agents/b.yaml", "name: b\nsytem: B.\n")
	cat, err = LoadDir(dir)
	require.Nil(t, cat)
	var errs Errors
	require.True(t, errors.As(err, &errs))
	require.Equal(t, filepath.Join(dir, "agents", "b.yaml")+`:2:1: unknown field "sytem" in agent; did you mean "system"?`, err.Error())

	_, err = LoadDir(filepath.Join(dir, "missing"))
	require.True(t, errors.As(err, &errs))
	require.ErrorContains(t, err, "no such file or directory")
}

func TestValidateUsesTheBaseCatalog(t *testing.T) {
	t.Parallel()
	base, err := Load(fstest.MapFS{"a.yaml": {Data: []byte("name: a\nsystem: A.\n")}})
	require.NoError(t, err)

	found, err := Validate(base, map[string][]byte{"w.yaml": []byte("name: w\nsteps: [{id: one, agent: a}]\n")})
	require.NoError(t, err)
	require.Empty(t, found.Agents, "only the definitions of the sources are returned")
	require.Same(t, base.Agents["a"], found.Workflows["w"].Agents["a"])

	found, err = Validate(base, map[string][]byte{
		"a.yaml": []byte("name: a\nsystem: A.\ntemperature: 9\n"), // an edited, broken version of a
		"w.yaml": []byte("name: w\nsteps: [{id: one, agent: a}]\n"),
		"v.yaml": []byte("name: v\nsteps: [{id: one, agent: nobody}]\n"),
	})
	require.EqualError(t, err, "a.yaml:3:14: temperature must be between 0 and 2, got 9\n"+
		`v.yaml:2:26: unknown agent "nobody"; define it under agents: or in an agent file`+"\n"+
		`w.yaml:2:26: agent "a" cannot be used: its definition in a.yaml has problems`)
	require.Empty(t, found.Workflows)
}

func TestAnchorsMergeKeysAndTags(t *testing.T) {
	t.Parallel()
	cat, err := Validate(nil, map[string][]byte{"w.yaml": []byte(`
name: shared
version: 2
agents:
  base: &base
    system: &system You are terse.
    temperature: 0.1
  fast:
    <<: *base
    model: small
  slow:
    <<: [*base]
    temperature: 0.9
steps:
  - {id: one, agent: fast, prompt: !!str 42}
  - {id: two, agent: slow, prompt: *system}
`)})
	require.NoError(t, err)
	w := cat.Workflows["shared"]
	require.Equal(t, "2", w.Version, "a number is accepted as a version")
	require.Equal(t, "You are terse.", w.Agents["fast"].System)
	require.Equal(t, "small", w.Agents["fast"].Model)
	require.Equal(t, 0.9, *w.Agents["slow"].Temperature, "a mapping's own keys win over merged ones")
	require.Equal(t, "42", w.Steps[0].Prompt)
	require.Equal(t, "You are terse.", w.Steps[1].Prompt)
}

func TestDocsExamplesValidate(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/workflows.md")
	require.NoError(t, err)
	base, err := Load(examples.FS)
	require.NoError(t, err)
	files := map[string][]byte{}
	for i, block := range strings.Split(string(doc), "```yaml\n")[1:] {
		src, _, _ := strings.Cut(block, "```")
		if !strings.HasPrefix(src, "name:") {
			continue // a fragment, not a whole definition
		}
		files[fmt.Sprintf("block%d.yaml", i+1)] = []byte(src)
	}
	// The blocks are checked together: the agents grant the tools of
	// other blocks.
	found, err := Validate(base, files)
	require.NoError(t, err)
	require.Len(t, files, 7, "the agent, tool, granting agent, simple-form and full-form examples")
	require.Len(t, found.Tools, 3)
}
