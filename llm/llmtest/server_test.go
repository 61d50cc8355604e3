package llmtest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
)

func TestLastToolResults(t *testing.T) {
	t.Parallel()
	user := llm.Message{Role: "user", Content: "add and echo"}
	calls := llm.Message{Role: "assistant", ToolCalls: []llm.ToolCall{{ID: "a", Name: "add"}, {ID: "b", Name: "echo"}}}
	first := llm.Message{Role: "tool", ToolCallID: "a", Content: "5"}
	second := llm.Message{Role: "tool", ToolCallID: "b", Content: "hi"}
	again := llm.Message{Role: "assistant", ToolCalls: []llm.ToolCall{{ID: "c", Name: "now"}}}
	third := llm.Message{Role: "tool", ToolCallID: "c", Content: "noon"}

	require.Nil(t, llmtest.LastToolResults(llm.Request{}))
	require.Nil(t, llmtest.LastToolResults(llm.Request{Messages: []llm.Message{user}}))
	require.Nil(t, llmtest.LastToolResults(llm.Request{Messages: []llm.Message{user, calls}}))

	req := llm.Request{Messages: []llm.Message{user, calls, first, second}}
	got := llmtest.LastToolResults(req)
	require.Equal(t, []llm.Message{first, second}, got)
	got[0].Content = "changed"
	require.Equal(t, "5", req.Messages[2].Content, "a copy: the request is left alone")

	req.Messages = append(req.Messages, again, third)
	require.Equal(t, []llm.Message{third}, llmtest.LastToolResults(req), "only the results of the last calls")
}
