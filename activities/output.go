package activities

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/troupe-dev/troupe/definitions"
)

// ParseOutput turns an LLM answer into the step's output: {"text": content}
// without a schema; with one, the parsed JSON when it satisfies the schema,
// else a message saying what is wrong, fit to be sent back to the model.
func ParseOutput(schema json.RawMessage, content string) (output json.RawMessage, invalid string) {
	if len(schema) == 0 {
		out, _ := json.Marshal(map[string]string{"text": content})
		return out, ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(stripFence(content))); err != nil {
		return nil, "the answer is not valid JSON: " + err.Error()
	}
	agent := definitions.Agent{OutputSchema: schema}
	if err := agent.ValidateOutput(buf.Bytes()); err != nil {
		return nil, "the answer does not match the output schema: " + err.Error()
	}
	return buf.Bytes(), ""
}

// stripFence removes a Markdown code fence around a JSON answer, which models
// add even when asked not to.
func stripFence(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "```") {
		return s
	}
	s = strings.TrimPrefix(s, "```")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "```"))
}
