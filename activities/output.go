package activities

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// parseOutput turns an LLM answer into the step's output: {"text": content}
// without a schema; with one, the parsed JSON when it satisfies the schema,
// else a message saying what is wrong, fit to be sent back to the model.
func parseOutput(schema json.RawMessage, content string) (output json.RawMessage, invalid string) {
	if len(schema) == 0 {
		out, _ := json.Marshal(map[string]string{"text": content})
		return out, ""
	}
	body := stripFence(content)
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
	if err != nil {
		return nil, "the answer is not valid JSON: " + err.Error()
	}
	compiled, err := compileSchema(schema)
	if err != nil {
		return nil, "the output schema does not compile: " + err.Error()
	}
	if err := compiled.Validate(doc); err != nil {
		return nil, "the answer does not match the output schema: " + err.Error()
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(body)); err != nil {
		return nil, "the answer is not valid JSON: " + err.Error()
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

func compileSchema(schema json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("output.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("output.json")
}
