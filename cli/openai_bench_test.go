package cli

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
)

// BenchmarkChatCompletions measures, one call at a time, an answer of the
// same agent ("chat", the fake answering after fakeLatency) through two
// doors, taken in turn in the same run: "completions", a non-streamed POST
// /v1/chat/completions with the OpenAI Go SDK; "tasks", POST /v1/tasks, its
// event stream read to the task's final event, then GET /v1/tasks/{id} for
// the output, as a client of the task API does. It reports the p50 and p99
// of each, and the ratio of the medians (completions/tasks).
//
//	go test -run '^$' -bench BenchmarkChatCompletions -benchtime 50x ./cli/
func BenchmarkChatCompletions(b *testing.B) {
	fake := llmtest.NewServer(b, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "ok", InputTokens: 50, OutputTokens: 5, Delay: fakeLatency}
	})
	s := startDev(b, fake, nil)
	key, _, err := s.store.CreateAPIKey(context.Background(), store.NewAPIKey{TenantID: "default", Role: store.RoleMember, Name: "bench"})
	require.NoError(b, err)
	client := openai.NewClient(option.WithBaseURL(s.api+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))

	viaTasks := func() {
		var task taskJSON
		require.Equal(b, http.StatusCreated, s.call(b, http.MethodPost, "/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "hello"}}, nil, &task))
		events, stop := s.openEvents(b, task.ID, 0)
		defer stop()
		for e := range events {
			if e.Kind == "completed" {
				break
			}
		}
		require.Equal(b, http.StatusOK, s.call(b, http.MethodGet, "/v1/tasks/"+task.ID, nil, nil, &task))
		require.Equal(b, "completed", task.Status)
	}
	viaCompletions := func() {
		c, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
		})
		require.NoError(b, err)
		require.Equal(b, "ok", c.Choices[0].Message.Content)
	}
	var tasks, completions []time.Duration
	timed := func(run func()) time.Duration {
		t0 := time.Now()
		run()
		return time.Since(t0)
	}
	b.ResetTimer()
	for range b.N {
		tasks = append(tasks, timed(viaTasks))
		completions = append(completions, timed(viaCompletions))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(pct(tasks, 50)), "tasks-p50-ms")
	b.ReportMetric(ms(pct(tasks, 99)), "tasks-p99-ms")
	b.ReportMetric(ms(pct(completions, 50)), "completions-p50-ms")
	b.ReportMetric(ms(pct(completions, 99)), "completions-p99-ms")
	b.ReportMetric(float64(pct(completions, 50))/float64(pct(tasks, 50)), "completions/tasks")
	b.ReportMetric(0, "ns/op")
}
