package cli

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
)

// TestDevTaskLogsAndTrace checks that a task carries its trace id, and keeps
// the log lines of its activities: here, the provider's first answer is a
// 500, so the model call fails once and succeeds on its second attempt,
// whose answer is logged with its tokens.
func TestDevTaskLogsAndTrace(t *testing.T) {
	t.Parallel()
	fake := llmtest.NewServer(t, func(n int, _ llm.Request) llmtest.Reply {
		if n == 1 {
			return llmtest.Reply{Status: http.StatusInternalServerError, Content: "provider hiccup"}
		}
		return llmtest.Reply{Content: "a summary", InputTokens: 10, OutputTokens: 3}
	})
	s := startDev(t, fake, nil)

	var created struct {
		ID      string `json:"id"`
		TraceID string `json:"trace_id"`
	}
	require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks",
		map[string]any{"type": "summarize", "input": map[string]any{"text": "Durable execution."}}, nil, &created))
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{32}$`), created.TraceID, "the submit's trace")
	s.waitFor(t, created.ID, "completed")

	var logs struct {
		Items []struct {
			Level   string         `json:"level"`
			Message string         `json:"message"`
			Node    string         `json:"node"`
			Attrs   map[string]any `json:"attrs"`
		} `json:"items"`
	}
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+created.ID+"/logs", nil, nil, &logs))
	var lines []string
	for _, l := range logs.Items {
		lines = append(lines, l.Level+" "+l.Node+": "+l.Message)
	}
	joined := strings.Join(lines, "\n")
	require.Contains(t, joined, "warn CallLLM: CallLLM attempt 1 failed:", joined)
	require.Contains(t, joined, "provider hiccup")
	require.Contains(t, joined, "info CallLLM: CallLLM succeeded on attempt 2")
	require.Contains(t, joined, "info CallLLM: model answered", "a successful call says so")
	for _, l := range logs.Items {
		if l.Message == "model answered" {
			require.EqualValues(t, 10, l.Attrs["input_tokens"])
			require.EqualValues(t, 3, l.Attrs["output_tokens"])
			require.Equal(t, "gpt-4o-mini", l.Attrs["model"])
		}
	}

	var events struct {
		Items []struct {
			Kind    string         `json:"kind"`
			Payload map[string]any `json:"payload"`
		} `json:"items"`
	}
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+created.ID+"/events", nil, nil, &events))
	kinds := map[string]bool{}
	for _, e := range events.Items {
		kinds[e.Kind] = true
		if e.Kind == "completed" {
			require.Equal(t, created.TraceID, e.Payload["trace_id"], "status events carry the trace")
		}
	}
	require.True(t, kinds["log"], "log lines are events too, so streams carry them")
}
