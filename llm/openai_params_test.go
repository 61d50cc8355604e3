package llm

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// body returns the JSON the client would send for req.
func body(t *testing.T, c *OpenAI, req Request) map[string]any {
	t.Helper()
	p, err := c.params(req)
	require.NoError(t, err)
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

func TestParamsMaxTokens(t *testing.T) {
	t.Parallel()
	req := Request{Model: "o3", Messages: []Message{{Role: "user", Content: "hi"}}, MaxTokens: 99}

	got := body(t, NewOpenAI(OpenAIConfig{APIKey: "k"}), req)
	require.EqualValues(t, 99, got["max_completion_tokens"], "OpenAI's reasoning models need max_completion_tokens")
	require.NotContains(t, got, "max_tokens")

	got = body(t, NewOpenAI(OpenAIConfig{BaseURL: "http://127.0.0.1:11434/v1"}), req)
	require.EqualValues(t, 99, got["max_tokens"], "Ollama and friends read max_tokens")
	require.NotContains(t, got, "max_completion_tokens")
}

func TestParamsResponseFormat(t *testing.T) {
	t.Parallel()
	c := NewOpenAI(OpenAIConfig{APIKey: "k"})
	tests := []struct {
		name, schemaName, schema string
		wantName                 string
		strict                   bool
	}{
		{"strict", "verdict", `{"type":"object","properties":{"ok":{"type":"boolean"},"items":{"type":"array","items":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"],"additionalProperties":false}}},"required":["ok","items"],"additionalProperties":false}`, "verdict", true},
		{"optional property", "", `{"type":"object","properties":{"ok":{"type":"boolean"}},"required":[],"additionalProperties":false}`, "output", false},
		{"open object", "review step!", `{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}`, "review_step_", false},
		{"loose nested object", "", `{"type":"object","properties":{"inner":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}},"required":["inner"],"additionalProperties":false}`, "output", false},
		{"loose definition", "", `{"$defs":{"d":{"type":"object","additionalProperties":true}},"type":"object","properties":{},"additionalProperties":false}`, "output", false},
		{"oneOf", "", `{"oneOf":[{"type":"string"}]}`, "output", false},
		{"long name", strings.Repeat("n", 80), `{"type":"string"}`, strings.Repeat("n", 64), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := body(t, c, Request{Model: "gpt-4o", Messages: []Message{{Role: "user", Content: "hi"}}, OutputSchema: json.RawMessage(tc.schema), SchemaName: tc.schemaName})
			rf := got["response_format"].(map[string]any)
			require.Equal(t, "json_schema", rf["type"])
			js := rf["json_schema"].(map[string]any)
			require.Equal(t, tc.wantName, js["name"])
			require.Equal(t, tc.strict, js["strict"])
			schema, err := json.Marshal(js["schema"])
			require.NoError(t, err)
			require.JSONEq(t, tc.schema, string(schema))
		})
	}
}

func TestParamsRejectsBadSchema(t *testing.T) {
	t.Parallel()
	_, err := NewOpenAI(OpenAIConfig{}).params(Request{Model: "gpt-4o", OutputSchema: json.RawMessage(`[1]`)})
	var lerr *Error
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, kindBadRequest, lerr.Kind())
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		header http.Header
		want   time.Duration
	}{
		"absent":       {http.Header{}, 0},
		"seconds":      {http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		"fraction":     {http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		"http date":    {http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		"past date":    {http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		"milliseconds": {http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond},
		"garbage":      {http.Header{"Retry-After": {"soon"}}, 0},
	}
	for name, tc := range tests {
		require.Equal(t, tc.want, retryAfter(tc.header, now), name)
	}
}
