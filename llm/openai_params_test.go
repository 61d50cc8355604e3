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
		{"string length", "", `{"type":"object","properties":{"code":{"type":"string","minLength":3}},"required":["code"],"additionalProperties":false}`, "output", false},
		{"unique items", "", `{"type":"array","items":{"type":"string"},"uniqueItems":true}`, "output", false},
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
		require.Equal(t, tc.want, RetryAfter(tc.header, now), name)
	}
}

func TestParamsTools(t *testing.T) {
	t.Parallel()
	c := NewOpenAI(OpenAIConfig{APIKey: "k"})
	strict := `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"],"additionalProperties":false}`
	loose := `{"type":"object","properties":{"text":{"type":"string"}}}`
	bounded := `{"type":"object","properties":{"text":{"type":"string","maxLength":9}},"required":["text"],"additionalProperties":false}`
	got := body(t, c, Request{Model: "gpt-4o", Messages: []Message{{Role: "user", Content: "hi"}}, Tools: []ToolSpec{
		{Name: "add", Description: "Add two integers.", Parameters: json.RawMessage(strict)},
		{Name: "echo-v2", Parameters: json.RawMessage(loose)},
		{Name: "short_echo", Parameters: json.RawMessage(bounded)},
		{Name: "now"},
	}})
	raw, err := json.Marshal(got["tools"])
	require.NoError(t, err)
	require.JSONEq(t, `[
		{"type":"function","function":{"name":"add","description":"Add two integers.","parameters":`+strict+`,"strict":true}},
		{"type":"function","function":{"name":"echo-v2","parameters":`+loose+`}},
		{"type":"function","function":{"name":"short_echo","parameters":`+bounded+`}},
		{"type":"function","function":{"name":"now"}}
	]`, string(raw), "strict only where the schema allows it")

	got = body(t, c, Request{Model: "gpt-4o", Messages: []Message{{Role: "user", Content: "hi"}}})
	require.NotContains(t, got, "tools")
}

func TestParamsToolMessages(t *testing.T) {
	t.Parallel()
	got := body(t, NewOpenAI(OpenAIConfig{APIKey: "k"}), Request{Model: "gpt-4o", Messages: []Message{
		{Role: "user", Content: "add 2 and 3, echo hi"},
		{Role: "assistant", ToolCalls: []ToolCall{
			{ID: "call_1", Name: "add", Arguments: `{"a":2,"b":3}`},
			{ID: "call_2", Name: "echo", Arguments: `{"text":"hi"}`},
		}},
		{Role: "tool", ToolCallID: "call_1", Content: "5"},
		{Role: "tool", ToolCallID: "call_2", Content: "hi"},
		{Role: "assistant", Content: "Let me check.", ToolCalls: []ToolCall{{ID: "call_3", Name: "now", Arguments: `{}`}}},
		{Role: "tool", ToolCallID: "call_3", Content: ""},
		{Role: "assistant", Content: "5 and hi"},
	}})
	raw, err := json.Marshal(got["messages"])
	require.NoError(t, err)
	require.JSONEq(t, `[
		{"role":"user","content":"add 2 and 3, echo hi"},
		{"role":"assistant","tool_calls":[
			{"id":"call_1","type":"function","function":{"name":"add","arguments":"{\"a\":2,\"b\":3}"}},
			{"id":"call_2","type":"function","function":{"name":"echo","arguments":"{\"text\":\"hi\"}"}}
		]},
		{"role":"tool","tool_call_id":"call_1","content":"5"},
		{"role":"tool","tool_call_id":"call_2","content":"hi"},
		{"role":"assistant","content":"Let me check.","tool_calls":[
			{"id":"call_3","type":"function","function":{"name":"now","arguments":"{}"}}
		]},
		{"role":"tool","tool_call_id":"call_3","content":""},
		{"role":"assistant","content":"5 and hi"}
	]`, string(raw))
}

func TestParamsRejectsBadTools(t *testing.T) {
	t.Parallel()
	user := []Message{{Role: "user", Content: "hi"}}
	tests := map[string]struct {
		req  Request
		want string
	}{
		"empty name":         {Request{Messages: user, Tools: []ToolSpec{{Name: ""}}}, "must match"},
		"slash in name":      {Request{Messages: user, Tools: []ToolSpec{{Name: "everything/get-sum"}}}, "must match"},
		"name too long":      {Request{Messages: user, Tools: []ToolSpec{{Name: strings.Repeat("n", 65)}}}, "must match"},
		"duplicate":          {Request{Messages: user, Tools: []ToolSpec{{Name: "a"}, {Name: "a"}}}, "offered twice"},
		"array parameters":   {Request{Messages: user, Tools: []ToolSpec{{Name: "a", Parameters: json.RawMessage(`[]`)}}}, "not a JSON Schema object"},
		"tool message no id": {Request{Messages: []Message{{Role: "tool", Content: "5"}}}, "needs the id"},
	}
	for name, tc := range tests {
		_, err := NewOpenAI(OpenAIConfig{}).params(tc.req)
		var lerr *Error
		require.ErrorAs(t, err, &lerr, name)
		require.Equal(t, kindBadRequest, lerr.Kind(), name)
		require.Contains(t, lerr.Message, tc.want, name)
	}
}
