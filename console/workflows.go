package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
	"github.com/goccy/go-yaml"

	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/definitions"
)

// workflowView is a loaded workflow as its page shows it.
type workflowView struct {
	Name        string
	Description string
	Graph       graph
	YAML        string
	Fields      []field
}

// field is one input of a workflow's run form, from its input JSON Schema.
type field struct {
	Name        string
	Label       string
	Description string
	// Kind is the form control: text, textarea, number, integer, checkbox, json.
	Kind     string
	Required bool
	Enum     []string
	Default  string
}

func (c *Console) workflowsPage(w http.ResponseWriter, r *http.Request) error {
	var names []string
	for name := range c.api.Catalog.Workflows {
		names = append(names, name)
	}
	slices.Sort(names)
	var views []workflowView
	for _, name := range names {
		v, err := workflowOf(c.api.Catalog.Workflows[name])
		if err != nil {
			return err
		}
		views = append(views, v)
	}
	return c.page(w, r, "workflows", "Workflows", views)
}

// workflowOf renders a workflow: its graph, its definition as YAML (as
// loaded: the normalised form, with every agent it uses), its run form.
func workflowOf(wf *definitions.Workflow) (workflowView, error) {
	raw, err := json.Marshal(wf)
	if err != nil {
		return workflowView{}, fmt.Errorf("marshal workflow %s: %w", wf.Name, err)
	}
	text, err := yaml.JSONToYAML(raw)
	if err != nil {
		return workflowView{}, fmt.Errorf("workflow %s as YAML: %w", wf.Name, err)
	}
	return workflowView{Name: wf.Name, Description: wf.Description, Graph: graphOf(wf.Steps),
		YAML: string(text), Fields: fieldsOf(wf.Input)}, nil
}

// schema is the part of a JSON Schema the run form reads.
type schema struct {
	Type        any                `json:"type"`
	Title       string             `json:"title"`
	Description string             `json:"description"`
	Properties  map[string]*schema `json:"properties"`
	Required    []string           `json:"required"`
	Enum        []any              `json:"enum"`
	Default     any                `json:"default"`
	MaxLength   int                `json:"maxLength"`
}

// fieldsOf lists the form fields of an object input schema; other schemas
// (or none) get one JSON field for the whole input.
func fieldsOf(raw json.RawMessage) []field {
	var s schema
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil || len(s.Properties) == 0 {
		return []field{{Name: "", Label: "input (JSON)", Kind: "json", Default: "{}"}}
	}
	var names []string
	for name := range s.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []field
	for _, name := range names {
		p := s.Properties[name]
		f := field{Name: name, Label: name, Description: p.Description, Required: slices.Contains(s.Required, name)}
		if p.Title != "" {
			f.Label = p.Title
		}
		switch typ, _ := p.Type.(string); typ {
		case "string":
			f.Kind = "textarea"
			if p.MaxLength > 0 && p.MaxLength <= 200 || len(p.Enum) > 0 {
				f.Kind = "text"
			}
		case "number", "integer", "boolean":
			f.Kind = typ
		default:
			f.Kind = "json"
		}
		for _, e := range p.Enum {
			f.Enum = append(f.Enum, fmt.Sprint(e))
		}
		if p.Default != nil {
			if b, err := json.Marshal(p.Default); err == nil {
				f.Default = strings.Trim(string(b), `"`)
			}
		}
		out = append(out, f)
	}
	return out
}

// runWorkflow submits the run form as a task, through the API's own
// createTask, and shows its page.
func (c *Console) runWorkflow(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "name")
	wf, ok := c.api.Catalog.Workflows[name]
	if !ok {
		return huma.Error404NotFound("workflow " + name + " not found")
	}
	if err := r.ParseForm(); err != nil {
		return huma.Error400BadRequest("the form could not be read")
	}
	input, err := formInput(fieldsOf(wf.Input), r)
	if err != nil {
		return err
	}
	in := &api.CreateTaskInput{}
	in.Body.Type = "workflow:" + name
	in.Body.Input = input
	in.Body.UserEmail = strings.TrimSpace(r.PostFormValue("user_email"))
	out, err := c.api.CreateTask(r.Context(), in)
	if err != nil {
		return err
	}
	http.Redirect(w, r, Prefix+"/tasks/"+out.Body.ID, http.StatusSeeOther)
	return nil
}

// formInput builds a task input from the posted fields.
func formInput(fields []field, r *http.Request) (json.RawMessage, error) {
	if len(fields) == 1 && fields[0].Kind == "json" && fields[0].Name == "" {
		raw := strings.TrimSpace(r.PostFormValue("input"))
		if !json.Valid([]byte(raw)) {
			return nil, huma.Error422UnprocessableEntity("input: not valid JSON")
		}
		return json.RawMessage(raw), nil
	}
	input := map[string]any{}
	for _, f := range fields {
		v := r.PostFormValue("in." + f.Name)
		if v == "" && f.Kind != "boolean" {
			continue // left out: the schema says whether it may be
		}
		switch f.Kind {
		case "number", "integer":
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("%s: %q is not a number", f.Name, v))
			}
			input[f.Name] = n
		case "boolean":
			input[f.Name] = v == "true"
		case "json":
			var x any
			if err := json.Unmarshal([]byte(v), &x); err != nil {
				return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("%s: not valid JSON", f.Name))
			}
			input[f.Name] = x
		default:
			input[f.Name] = v
		}
	}
	raw, err := json.Marshal(input)
	if err != nil {
		return nil, fmt.Errorf("marshal input: %w", err)
	}
	return raw, nil
}
