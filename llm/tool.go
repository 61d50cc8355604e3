package llm

import (
	"encoding/json"
	"regexp"
)

// toolName is what providers accept as a function name.
var toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// toolParameters checks the tools of a request, for every provider: names
// match toolName and are unique, parameters (when given) are a JSON object.
// It returns each tool's parameters decoded, nil where none were given.
func toolParameters(tools []ToolSpec) ([]map[string]any, error) {
	seen := make(map[string]bool, len(tools))
	params := make([]map[string]any, len(tools))
	for i, t := range tools {
		if !toolName.MatchString(t.Name) {
			return nil, invalidRequest("tool %d: name %q must match %s", i, t.Name, toolName)
		}
		if seen[t.Name] {
			return nil, invalidRequest("tool %d: name %q is offered twice", i, t.Name)
		}
		seen[t.Name] = true
		if len(t.Parameters) == 0 {
			continue
		}
		if err := json.Unmarshal(t.Parameters, &params[i]); err != nil {
			return nil, invalidRequest("tool %s: parameters are not a JSON Schema object: %v", t.Name, err)
		}
	}
	return params, nil
}
