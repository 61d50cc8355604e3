package definitions

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// defaultPrompt is the prompt of an agent that names none: its whole input.
const defaultPrompt = "{{ input }}"

// DefaultMaxTurns is the max_turns of an agent that sets none.
const DefaultMaxTurns = 10

// maxTurnsLimit is the largest max_turns an agent may set.
const maxTurnsLimit = 100

// maxFallbackModels bounds an agent's fallback_models.
const maxFallbackModels = 5

// Agent is an LLM agent: a system prompt, a prompt template and model
// settings. Used as a task type, its prompt is rendered with the task input
// as `input`; but when that input holds a "messages" list
// ([{"role", "content"}, ...]) the runtime sends those messages as the
// conversation instead (the chat agent relies on this). In a workflow, a
// step's prompt replaces the agent's.
//
// The output of an agent is {"text": "..."}, or, when it has an
// OutputSchema, the JSON object the model answered, valid against it.
type Agent struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Model is the model to call; empty means the workflow's default model,
	// else the platform's.
	Model  string `json:"model,omitempty"`
	System string `json:"system,omitempty"`
	// Prompt is the user prompt template; after loading it is never empty
	// ("{{ input }}" by default).
	Prompt      string   `json:"prompt"`
	Temperature *float64 `json:"temperature,omitempty"`
	MaxTokens   int      `json:"max_tokens,omitempty"`
	// Input is the JSON Schema of the task input, when the agent runs as a
	// task type; nil accepts any input.
	Input json.RawMessage `json:"input,omitempty"`
	// OutputSchema is the JSON Schema (an object) of a structured answer.
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
	// Tools are the tools the agent may call.
	Tools []Grant `json:"tools,omitempty"`
	// MaxTurns bounds the model turns of a conversation with tools; 0 means
	// DefaultMaxTurns.
	MaxTurns int `json:"max_turns,omitempty"`
	// Retry says how the agent's failed LLM calls are retried; it wins over
	// a workflow's defaults. The zero value keeps them.
	Retry RetryPolicy `json:"retry,omitzero"`
	// FallbackModels are tried in order when the model fails with an error
	// a retry could fix (a provider down, rate limits, timeouts) past its
	// retry budget.
	FallbackModels []string `json:"fallback_models,omitempty"`
	// Queue is the Temporal task queue whose workers (troupe worker --queue)
	// run the agent's steps; "" keeps the task's queue.
	Queue string `json:"queue,omitempty"`

	inputSchema  *jsonschema.Schema // compiled Input, when loaded from YAML
	outputSchema *jsonschema.Schema // compiled OutputSchema, when loaded from YAML
}

// ValidateInput checks a task input against the agent's Input schema. The
// error names each failing field and rule.
func (a *Agent) ValidateInput(input json.RawMessage) error {
	return validateWith(a.inputSchema, a.Input, input, "input")
}

// ValidateOutput checks a structured answer against the agent's
// OutputSchema.
func (a *Agent) ValidateOutput(output json.RawMessage) error {
	return validateWith(a.outputSchema, a.OutputSchema, output, "output")
}

// validateWith validates doc against a compiled schema, or against raw when
// the definition came without its compiled form (as after a JSON round trip).
func validateWith(sch *jsonschema.Schema, raw, doc json.RawMessage, what string) error {
	if len(raw) == 0 {
		return nil
	}
	if sch == nil {
		var err error
		if sch, err = compileSchema(raw); err != nil {
			return fmt.Errorf("%s schema: %w", what, err)
		}
	}
	return validateAgainst(sch, doc, what)
}

// agent decodes an agent, from an agent file or, local, from under a
// workflow's agents (named by its key there).
func (d *decoder) agent(n *node, a *Agent, local bool) {
	setters := map[string]func(*node){
		"description": func(v *node) { a.Description = d.str(v, "description") },
		"model":       func(v *node) { a.Model = d.str(v, "model") },
		"system":      func(v *node) { a.System = d.str(v, "system") },
		"prompt": func(v *node) {
			a.Prompt = d.str(v, "prompt")
			d.checkTemplate(v, a.Prompt, agentScope(), nil)
		},
		"temperature": func(v *node) {
			t := d.number(v, "temperature", 0, 2)
			a.Temperature = &t
		},
		"max_tokens": func(v *node) { a.MaxTokens = d.integer(v, "max_tokens", 1) },
		"input":      func(v *node) { a.Input, a.inputSchema = d.schema(v, "input") },
		"output_schema": func(v *node) {
			a.OutputSchema, a.outputSchema = d.objectSchema(v, "output_schema", "the agent answers with that object")
		},
		"tools":     func(v *node) { a.Tools = d.grants(v, a) },
		"max_turns": func(v *node) { a.MaxTurns = d.bounded(v, "max_turns", 1, maxTurnsLimit) },
		"retry":     func(v *node) { a.Retry = d.retry(v) },
		"queue":     func(v *node) { a.Queue = d.queue(v) },
		"fallback_models": func(v *node) {
			a.FallbackModels = d.stringList(v, "fallback_models")
			if len(a.FallbackModels) > maxFallbackModels {
				d.errorf(v.pos, "fallback_models lists %d models; at most %d", len(a.FallbackModels), maxFallbackModels)
			}
			for i, m := range a.FallbackModels {
				if m == "" {
					d.errorf(v.items[i].pos, "a fallback model needs a name")
				}
			}
		},
	}
	what := "agent " + a.Name
	if !local {
		what = "agent"
		setters["name"] = func(v *node) { a.Name = d.name(v, "name") }
	}
	if d.fields(n, what, setters) && !local && n.get("name") == nil {
		d.errorf(n.pos, "agent has no name; add one, e.g. name: summarize")
	}
	if a.Prompt == "" {
		a.Prompt = defaultPrompt
	}
}

// objectSchema decodes a JSON Schema that must describe an object, for why.
func (d *decoder) objectSchema(n *node, field, why string) (json.RawMessage, *jsonschema.Schema) {
	raw, sch := d.schema(n, field)
	if sch != nil && (n.get("type") == nil || n.get("type").str != "object") {
		d.errorf(n.pos, "%s must describe an object (type: object): %s", field, why)
	}
	return raw, sch
}

// schema decodes a JSON Schema written in YAML.
func (d *decoder) schema(n *node, field string) (json.RawMessage, *jsonschema.Schema) {
	if n.kind == nullKind {
		return nil, nil
	}
	raw, err := json.Marshal(n.plain())
	if err != nil {
		d.errorf(n.pos, "%s holds a value JSON cannot represent: %v", field, err)
		return nil, nil
	}
	sch, err := compileSchema(raw)
	if err != nil {
		at := n.pos
		var p *schemaProblem
		if errors.As(err, &p) {
			at = n.at(p.path).pos
		}
		d.errorf(at, "%s: %v", field, err)
		return nil, nil
	}
	return raw, sch
}
