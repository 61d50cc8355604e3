package activities

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseOutput(t *testing.T) {
	t.Parallel()
	schema := json.RawMessage(`{"type":"object","required":["approved"],"properties":{"approved":{"type":"boolean"}}}`)
	cases := []struct {
		name, schema, content, output, invalid string
	}{
		{"free text", "", "hello", `{"text":"hello"}`, ""},
		{"valid JSON", string(schema), `{"approved": true}`, `{"approved":true}`, ""},
		{"fenced JSON", string(schema), "```json\n{\"approved\": false}\n```", `{"approved":false}`, ""},
		{"not JSON", string(schema), "Sure! Here it is", "", "not valid JSON"},
		{"wrong shape", string(schema), `{"approved": "yes"}`, "", "approved"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, invalid := ParseOutput(json.RawMessage(c.schema), c.content)
			if c.invalid != "" {
				require.Contains(t, invalid, c.invalid)
				require.Nil(t, out)
				return
			}
			require.Empty(t, invalid)
			require.JSONEq(t, c.output, string(out))
		})
	}
}
