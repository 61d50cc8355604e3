package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/troupe-dev/troupe/definitions"
)

// WorkflowSummary describes a loaded workflow definition.
type WorkflowSummary struct {
	Name        string          `json:"name"`
	TaskType    string          `json:"task_type" doc:"The type to submit: workflow:<name>."`
	Description string          `json:"description,omitempty"`
	Version     string          `json:"version,omitempty"`
	Hash        string          `json:"hash"`
	Input       json.RawMessage `json:"input_schema,omitempty"`
	Agents      []string        `json:"agents"`
}

// ValidateInput is the request of validateWorkflow: the YAML itself, or,
// with Content-Type application/json, {"yaml": "..."}.
type ValidateInput struct {
	// ContentType picks the form of the body. The document leaves it out:
	// the request body's media types describe it.
	ContentType string `header:"Content-Type" hidden:"true"`
	RawBody     []byte `contentType:"application/yaml" maxLength:"1048576"`
}

// yaml returns the posted YAML, unwrapped from its JSON form.
func (in *ValidateInput) yaml() ([]byte, error) {
	if !isJSON(in.ContentType) {
		return in.RawBody, nil
	}
	var wrapped struct {
		YAML *string `json:"yaml"`
	}
	dec := json.NewDecoder(bytes.NewReader(in.RawBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wrapped); err != nil || wrapped.YAML == nil {
		return nil, huma.Error422UnprocessableEntity(`with Content-Type application/json, post {"yaml": "<the YAML as a string>"}; or post the YAML itself as application/yaml`,
			&huma.ErrorDetail{Location: "body", Message: cmp.Or(errMessage(err), "yaml is missing")})
	}
	return []byte(*wrapped.YAML), nil
}

// isJSON says whether a Content-Type is JSON's.
func isJSON(contentType string) bool {
	media, _, _ := mime.ParseMediaType(contentType)
	return media == "application/json"
}

func errMessage(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Problem is one validation problem at a position in the YAML.
type Problem struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// ValidateOutput is the response of validateWorkflow.
type ValidateOutput struct {
	Body struct {
		Valid     bool      `json:"valid"`
		Problems  []Problem `json:"problems"`
		Workflows []string  `json:"workflows,omitempty"`
		Agents    []string  `json:"agents,omitempty"`
	}
}

func (s *Server) registerDefinitions(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "listWorkflows", Method: http.MethodGet, Path: "/v1/workflows",
		Summary: "List workflow definitions", Description: "The YAML workflows this server loaded, runnable as tasks of type workflow:<name>.", Tags: []string{"workflows"},
		Errors: problems(),
	}, func(ctx context.Context, _ *struct{}) (*listOutput[WorkflowSummary], error) {
		var items []*definitions.Workflow
		for _, w := range s.Catalog.Workflows {
			items = append(items, w)
		}
		slices.SortFunc(items, func(a, b *definitions.Workflow) int { return strings.Compare(a.Name, b.Name) })
		return listOf(items, nil, s.fail, ctx, "workflows", func(w *definitions.Workflow) WorkflowSummary {
			agents := make([]string, 0, len(w.Agents))
			for name := range w.Agents {
				agents = append(agents, name)
			}
			slices.Sort(agents)
			return WorkflowSummary{Name: w.Name, TaskType: "workflow:" + w.Name, Description: w.Description, Version: w.Version, Hash: w.Hash, Input: w.Input, Agents: agents}
		})
	})
	huma.Register(api, huma.Operation{
		OperationID: "validateWorkflow", Method: http.MethodPost, Path: "/v1/workflows/validate",
		Summary: "Validate a workflow or agent YAML", Description: "Runs the checks of `troupe validate` on the posted YAML (the loaded agents may be referenced): the YAML itself (any Content-Type but JSON's), or `{\"yaml\": \"...\"}` as application/json. Answers 200 with valid and the problems, each at a line and column; 413 for a YAML over 1 MiB.", Tags: []string{"workflows"},
		// A raw body gets no limit from Huma: one byte over a definition's.
		MaxBodyBytes: maxDefinitionBytes + 1, BodyReadTimeout: definitionReadTimeout,
		Errors: problems(http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity),
	}, func(ctx context.Context, in *ValidateInput) (*ValidateOutput, error) {
		yaml, err := in.yaml()
		if err != nil {
			return nil, err
		}
		found, err := definitions.Validate(s.Catalog, map[string][]byte{"posted.yaml": yaml})
		out := &ValidateOutput{}
		out.Body.Problems = []Problem{}
		var problems definitions.Errors
		switch {
		case errors.As(err, &problems):
			for _, p := range problems {
				out.Body.Problems = append(out.Body.Problems, Problem{Line: p.Line, Column: p.Col, Message: p.Message})
			}
		case err != nil:
			return nil, s.fail(ctx, "definition", err)
		default:
			out.Body.Valid = true
			for name := range found.Workflows {
				out.Body.Workflows = append(out.Body.Workflows, name)
			}
			for name := range found.Agents {
				out.Body.Agents = append(out.Body.Agents, name)
			}
		}
		return out, nil
	})
	// The body is YAML text (not the binary Huma assumes of a raw body), or
	// JSON that wraps it.
	api.OpenAPI().Paths["/v1/workflows/validate"].Post.RequestBody.Content = map[string]*huma.MediaType{
		"application/yaml": {Schema: &huma.Schema{Type: huma.TypeString, Description: "A workflow, agent or tool YAML file."}},
		"application/json": {Schema: &huma.Schema{Type: huma.TypeObject, Required: []string{"yaml"}, AdditionalProperties: false,
			Properties: map[string]*huma.Schema{"yaml": {Type: huma.TypeString, Description: "The YAML, as a string."}}}},
	}
}
