package llm_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
)

const (
	addParams  = `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer","minimum":1}},"required":["a","b"],"additionalProperties":false}`
	echoParams = `{"type":"object","properties":{"text":{"type":"string","minLength":6},"loud":{"type":"boolean"}},"required":["text"]}`
)

// toolRequest asks the mock text, offering add, echo and now.
func toolRequest(text string) llm.Request {
	req := userRequest("mock", text)
	req.Tools = []llm.ToolSpec{
		{Name: "add", Description: "Add two integers.", Parameters: json.RawMessage(addParams)},
		{Name: "echo", Parameters: json.RawMessage(echoParams)},
		{Name: "now"},
	}
	return req
}

// mockChat asks the mock req and requires an answer.
func mockChat(t *testing.T, req llm.Request) llm.Response {
	t.Helper()
	resp, err := llm.NewMock().Chat(t.Context(), req)
	require.NoError(t, err)
	return resp
}

// requireCalls checks the calls of a tool answer: names and arguments in
// order, ids call_DIGEST_N.
func requireCalls(t *testing.T, resp llm.Response, want ...[2]string) {
	t.Helper()
	require.Equal(t, "tool_calls", resp.FinishReason)
	require.Empty(t, resp.Content)
	require.Len(t, resp.ToolCalls, len(want))
	digest := strings.Split(resp.ToolCalls[0].ID, "_")[1]
	require.Regexp(t, `^[0-9a-f]{8}$`, digest)
	for i, w := range want {
		got := resp.ToolCalls[i]
		require.Equal(t, "call_"+digest+"_"+strconv.Itoa(i+1), got.ID)
		require.Equal(t, w[0], got.Name, "call %d", i)
		require.JSONEq(t, w[1], got.Arguments, "call %d", i)
	}
}

func TestMockToolMentionWithArguments(t *testing.T) {
	t.Parallel()
	resp := mockChat(t, toolRequest("Please @add {\"a\": 2,\n\"b\": 3}\nand @add  {\"a\": 2, \"b\": 3} then stop."))
	// the first object spans two lines, so it does not count: minimal arguments
	requireCalls(t, resp, [2]string{"add", `{"a":0,"b":1}`}, [2]string{"add", `{"a":2,"b":3}`})
	require.Equal(t, `{"a":2,"b":3}`, resp.ToolCalls[1].Arguments, "compacted")

	resp = mockChat(t, toolRequest(`@add {"a": "two"} is taken as written`))
	requireCalls(t, resp, [2]string{"add", `{"a":"two"}`})

	resp = mockChat(t, toolRequest(`(@add{"a":1,"b":1}) @echo {"text": "broken}`))
	requireCalls(t, resp, [2]string{"add", `{"a":1,"b":1}`}, [2]string{"echo", `{"text":"mockxx"}`}) // invalid JSON: minimal arguments
}

func TestMockToolMentionWithoutArguments(t *testing.T) {
	t.Parallel()
	resp := mockChat(t, toolRequest("Say it back: @echo, then @now."))
	requireCalls(t, resp, [2]string{"echo", `{"text":"mockxx"}`}, [2]string{"now", `{}`})
	requireValid(t, echoParams, resp.ToolCalls[0].Arguments)

	req := toolRequest("@untyped")
	req.Tools = append(req.Tools, llm.ToolSpec{Name: "untyped", Parameters: json.RawMessage(`{"properties":{"x":{"type":"string"}},"required":["x"]}`)})
	requireCalls(t, mockChat(t, req), [2]string{"untyped", `{"x":"mock"}`})
}

func TestMockToolNoMention(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"What is 2 + 3?",
		"Mail bob@echo.example, ask @nobody", // an @ after a letter and an unknown tool are no mentions
		"@ADD is another name",
		"@add-on and @adds name no offered tool",
	} {
		resp := mockChat(t, toolRequest(text))
		requireCalls(t, resp, [2]string{"add", `{"a":0,"b":1}`})
		requireValid(t, addParams, resp.ToolCalls[0].Arguments)
	}
}

func TestMockToolParallelMentions(t *testing.T) {
	t.Parallel()
	resp := mockChat(t, toolRequest("First @add {\"a\":1,\"b\":2}\n(@echo {\"text\":\"hi @add\"}), @now\nthen @add again."))
	requireCalls(t, resp,
		[2]string{"add", `{"a":1,"b":2}`},
		[2]string{"echo", `{"text":"hi @add"}`}, // a mention inside arguments is no call
		[2]string{"now", `{}`},
		[2]string{"add", `{"a":0,"b":1}`},
	)
}

func TestMockToolFinalAnswer(t *testing.T) {
	t.Parallel()
	req := toolRequest("Use @add {\"a\":2,\"b\":3} and @echo {\"text\":\"hi\"}")
	first := mockChat(t, req)
	long := strings.Repeat("word ", 100)
	req.Messages = append(req.Messages,
		llm.Message{Role: "assistant", ToolCalls: first.ToolCalls},
		llm.Message{Role: "tool", ToolCallID: first.ToolCalls[0].ID, Content: "5"},
		llm.Message{Role: "tool", ToolCallID: first.ToolCalls[1].ID, Content: "hi\n  there"},
		llm.Message{Role: "tool", ToolCallID: "call_elsewhere", Content: long},
	)
	resp := mockChat(t, req)
	require.Equal(t, "stop", resp.FinishReason)
	require.Empty(t, resp.ToolCalls)
	clipped := strings.Repeat("word ", 39) + "word…" // 200 runes
	require.Regexp(t, `^mock answer \[[0-9a-f]{8}\]: Use @add \{"a":2,"b":3\} and @echo \{"text":"hi"\} \(tools: add → 5; echo → hi there; call_elsewhere → `+clipped+`\)$`, resp.Content)

	schema := `{"type":"object","properties":{"summary":{"type":"string"},"ok":{"type":"boolean"}},"required":["summary","ok"],"additionalProperties":false}`
	req.OutputSchema = json.RawMessage(schema)
	resp = mockChat(t, req)
	require.Equal(t, "stop", resp.FinishReason)
	requireValid(t, schema, resp.Content)
	var out struct{ Summary string }
	require.NoError(t, json.Unmarshal([]byte(resp.Content), &out))
	require.Contains(t, out.Summary, "(tools: add → 5; echo → hi there;")

	req.Tools, req.OutputSchema = nil, nil
	require.Contains(t, mockChat(t, req).Content, "(tools: add → 5;", "results are used even when no tools are offered any more")

	req.Tools = toolRequest("").Tools
	req.Messages = append(req.Messages, llm.Message{Role: "assistant", Content: resp.Content}, llm.Message{Role: "user", Content: "Now @now"})
	requireCalls(t, mockChat(t, req), [2]string{"now", `{}`})
}

func TestMockToolDeterministic(t *testing.T) {
	t.Parallel()
	req := toolRequest("@add and @echo")
	first, second := mockChat(t, req), mockChat(t, req)
	require.Equal(t, first, second, "same input, same output")

	other := mockChat(t, toolRequest("@add and @echo!"))
	require.NotEqual(t, first.ToolCalls[0].ID, other.ToolCalls[0].ID, "different input, different call ids")

	req.Messages = append(req.Messages, llm.Message{Role: "assistant", ToolCalls: first.ToolCalls},
		llm.Message{Role: "tool", ToolCallID: first.ToolCalls[0].ID, Content: "1"},
		llm.Message{Role: "tool", ToolCallID: first.ToolCalls[1].ID, Content: "x"})
	final := mockChat(t, req)
	require.Equal(t, final, mockChat(t, req))
	req.Messages[len(req.Messages)-1].Content = "y"
	require.NotEqual(t, final.Content[:22], mockChat(t, req).Content[:22], "the digest covers tool results")
}

func TestMockToolTokens(t *testing.T) {
	t.Parallel()
	req := toolRequest("@add {\"a\":1,\"b\":2}")
	resp := mockChat(t, req)
	specs := len("add") + len("Add two integers.") + len(addParams) + len("echo") + len(echoParams) + len("now")
	contents := len("You are terse.") + len(req.Messages[1].Content)
	require.Equal(t, int64((contents+specs+3)/4), resp.InputTokens, "offered tools count as input")
	require.Equal(t, int64((len("add")+len(`{"a":1,"b":2}`)+3)/4), resp.OutputTokens, "tool calls count as output")

	req.Messages = append(req.Messages,
		llm.Message{Role: "assistant", ToolCalls: resp.ToolCalls},
		llm.Message{Role: "tool", ToolCallID: resp.ToolCalls[0].ID, Content: "three"})
	final := mockChat(t, req)
	require.Equal(t, int64((contents+specs+len("add")+len(`{"a":1,"b":2}`)+len("three")+3)/4), final.InputTokens, "earlier calls and tool results count as input")
	require.Equal(t, int64((len(final.Content)+3)/4), final.OutputTokens)
}

func TestMockToolErrors(t *testing.T) {
	t.Parallel()
	for name, tools := range map[string][]llm.ToolSpec{
		"bad name":              {{Name: "get sum"}},
		"duplicate":             {{Name: "a"}, {Name: "a"}},
		"parameters not object": {{Name: "a", Parameters: json.RawMessage(`"x"`)}},
		"unsatisfiable":         {{Name: "a", Parameters: json.RawMessage(`{"type":"object","required":["x"],"additionalProperties":false}`)}},
		"not an object":         {{Name: "a", Parameters: json.RawMessage(`{"type":"string"}`)}},
	} {
		req := userRequest("mock", "hi")
		req.Tools = tools
		_, err := llm.NewMock().Chat(t.Context(), req)
		var lerr *llm.Error
		require.ErrorAs(t, err, &lerr, name)
		require.Equal(t, "bad_request", lerr.Kind(), name)
	}
}
