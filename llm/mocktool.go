package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strings"
)

// mockMention is an @NAME mention of a tool in a user message.
var mockMention = regexp.MustCompile(`@([a-zA-Z0-9_-]+)`)

// mockToolCalls are the calls the mock makes for turn, as documented on Mock.
func mockToolCalls(tools []ToolSpec, params []map[string]any, turn []Message, digest string) ([]ToolCall, error) {
	offered := make(map[string]int, len(tools))
	for i, t := range tools {
		offered[t.Name] = i
	}
	var calls []ToolCall
	add := func(tool int, args string) error {
		if args == "" {
			var err error
			if args, err = mockArguments(tools[tool].Name, params[tool]); err != nil {
				return err
			}
		}
		calls = append(calls, ToolCall{ID: fmt.Sprintf("call_%s_%d", digest, len(calls)+1), Name: tools[tool].Name, Arguments: args})
		return nil
	}
	text := mockLastUser(turn)
	skip := 0 // end of the arguments read last: mentions inside them do not count
	for _, loc := range mockMention.FindAllStringSubmatchIndex(text, -1) {
		if loc[0] < skip || loc[0] > 0 && isWordByte(text[loc[0]-1]) {
			continue
		}
		tool, ok := offered[text[loc[2]:loc[3]]]
		if !ok {
			continue
		}
		args, n := mockInlineArguments(text[loc[1]:])
		skip = loc[1] + n
		if err := add(tool, args); err != nil {
			return nil, err
		}
	}
	if len(calls) == 0 {
		if err := add(0, ""); err != nil {
			return nil, err
		}
	}
	return calls, nil
}

// isWordByte reports whether b is an ASCII letter, digit or underscore.
func isWordByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// mockInlineArguments reads the JSON object that follows a mention on the
// same line, compacted, and how many bytes of rest it spans; "" and 0 if
// there is none.
func mockInlineArguments(rest string) (string, int) {
	line, _, _ := strings.Cut(rest, "\n")
	obj := strings.TrimLeft(line, " \t")
	if !strings.HasPrefix(obj, "{") {
		return "", 0
	}
	var raw json.RawMessage
	dec := json.NewDecoder(strings.NewReader(obj))
	if err := dec.Decode(&raw); err != nil {
		return "", 0
	}
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return "", 0
	}
	return out.String(), len(line) - len(obj) + int(dec.InputOffset())
}

// mockArguments is the minimal JSON object valid against a tool's
// parameters, "{}" when it has none.
func mockArguments(name string, params map[string]any) (string, error) {
	if params == nil {
		return "{}", nil
	}
	if _, typed := params["type"]; !typed {
		params = maps.Clone(params)
		params["type"] = "object"
	}
	v, err := schemaValue(params, "mock")
	if err != nil {
		return "", invalidRequest("mock cannot satisfy the parameters of tool %s: %v", name, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return "", invalidRequest("tool %s: parameters must describe an object", name)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return "", invalidRequest("mock arguments of tool %s: %v", name, err)
	}
	return string(out), nil
}

// mockResults lists the tool results of turn as " (tools: NAME → RESULT;
// ...)", "" if there are none.
func mockResults(turn []Message) string {
	names := map[string]string{}
	var results []string
	for _, m := range turn {
		for _, tc := range m.ToolCalls {
			names[tc.ID] = tc.Name
		}
		if m.Role != "tool" {
			continue
		}
		name, ok := names[m.ToolCallID]
		if !ok {
			name = m.ToolCallID
		}
		results = append(results, name+" → "+mockClip(m.Content, mockResultRunes))
	}
	if len(results) == 0 {
		return ""
	}
	return " (tools: " + strings.Join(results, "; ") + ")"
}
