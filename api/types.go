package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/workflows"
)

// workflowStart is how a task of a given type starts: the Temporal workflow
// and its arguments, with the model and definition pinned at submission.
type workflowStart struct {
	workflow any
	model    string
	hash     string
	queue    string // the agent's, for a task that runs one
	args     func(t store.Task) []any
}

// prepare resolves a task type to its workflow and checks the input against
// the definition's input schema, before anything is written or started.
func (s *Server) prepare(taskType, definition string, input json.RawMessage, model string) (workflowStart, error) {
	if definition != "" {
		wf, err := s.inlineWorkflow(definition)
		if err != nil {
			return workflowStart{}, err
		}
		if taskType != "workflow:"+wf.Name {
			return workflowStart{}, huma.Error422UnprocessableEntity(fmt.Sprintf("type must be %q to run the posted definition", "workflow:"+wf.Name),
				&huma.ErrorDetail{Location: "body.type", Value: taskType})
		}
		return s.prepareWorkflow(wf, taskType, input, model)
	}
	if name, ok := strings.CutPrefix(taskType, "workflow:"); ok {
		if wf, ok := s.Catalog.Workflows[name]; ok {
			return s.prepareWorkflow(wf, taskType, input, model)
		}
	}
	agent, ok := s.Catalog.Agents[taskType]
	if !ok {
		return workflowStart{}, huma.Error422UnprocessableEntity(
			fmt.Sprintf("unknown task type %q; known types: %s", taskType, s.knownTypes()),
			&huma.ErrorDetail{Location: "body.type", Value: taskType, Message: "not an agent or workflow:<name> that this server loaded"})
	}
	if err := agent.ValidateInput(input); err != nil {
		return workflowStart{}, inputProblem(taskType, err)
	}
	tools, agents := s.Catalog.Toolset(agent)
	return workflowStart{
		workflow: workflows.TaskWorkflow,
		model:    cmp.Or(model, agent.Model, s.DefaultModel),
		queue:    agent.Queue,
		args: func(t store.Task) []any {
			return []any{workflows.TaskInput{TaskID: t.ID, Type: t.Type, Agent: *agent, Model: t.Model, Input: t.Input,
				Toolset: workflows.Toolset{Tools: tools, Agents: agents}, Timeout: t.Timeout}}
		},
	}, nil
}

// prepareWorkflow prepares a task that runs a YAML workflow.
func (s *Server) prepareWorkflow(wf *definitions.Workflow, taskType string, input json.RawMessage, model string) (workflowStart, error) {
	if err := wf.ValidateInput(input); err != nil {
		return workflowStart{}, inputProblem(taskType, err)
	}
	return workflowStart{
		workflow: workflows.DSLWorkflow,
		model:    cmp.Or(model, wf.Defaults.Model, s.DefaultModel),
		hash:     wf.Hash,
		args: func(t store.Task) []any {
			return []any{workflows.DSLInput{TaskID: t.ID, Type: t.Type, Workflow: *wf, Model: t.Model, Input: t.Input, Timeout: t.Timeout}}
		},
	}, nil
}

// inlineWorkflow validates a posted workflow definition.
func (s *Server) inlineWorkflow(src string) (*definitions.Workflow, error) {
	found, err := definitions.Validate(s.Catalog, map[string][]byte{"definition": []byte(src)})
	var problems definitions.Errors
	if errors.As(err, &problems) {
		details := make([]error, 0, len(problems))
		for _, p := range problems {
			details = append(details, &huma.ErrorDetail{Location: fmt.Sprintf("body.definition:%d:%d", p.Line, p.Col), Message: p.Message})
		}
		return nil, huma.Error422UnprocessableEntity("the definition is not valid", details...)
	} else if err != nil {
		return nil, err
	}
	for _, wf := range found.Workflows {
		if len(found.Workflows) == 1 {
			return wf, nil
		}
	}
	return nil, huma.Error422UnprocessableEntity("the definition must hold exactly one workflow", &huma.ErrorDetail{Location: "body.definition"})
}

func inputProblem(taskType string, err error) error {
	return huma.Error422UnprocessableEntity(
		fmt.Sprintf("input does not match the input schema of %s", taskType),
		&huma.ErrorDetail{Location: "body.input", Message: err.Error()})
}
