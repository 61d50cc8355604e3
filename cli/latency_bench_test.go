package cli

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
)

// BenchmarkTimeToFirstToken measures, one task at a time, the time to the
// first piece of a chat task's answer through troupe against the fake
// provider's own time to first token (its first content chunk, fakeLatency
// after the request, read with troupe's client), measured in the same run,
// and reports what troupe adds (p50, p99) and the ratio of the medians.
// Two doors: "events" submits with POST /v1/tasks and reads the first
// llm.delta event at an SSE client (GET /v1/tasks/{id}/events/stream);
// "openai" streams a completion with the OpenAI Go SDK and reads its first
// content chunk.
//
//	go test -run '^$' -bench BenchmarkTimeToFirstToken -benchtime 50x ./cli/
func BenchmarkTimeToFirstToken(b *testing.B) {
	fake := llmtest.NewServer(b, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "The first token, then more of them.", InputTokens: 50, OutputTokens: 9,
			Delay: fakeLatency, ChunkDelay: 10 * time.Millisecond}
	})
	s := startDev(b, fake, nil)
	provider := providerTimeToFirstToken(b, fake)
	b.Run("events", func(b *testing.B) {
		benchmarkFirstToken(b, provider, func(mark func()) {
			var task taskJSON
			require.Equal(b, http.StatusCreated, s.call(b, http.MethodPost, "/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "hello"}}, nil, &task))
			events, stop := s.openEvents(b, task.ID, 0)
			defer stop()
			_, _, ok := nextDelta(b, events)
			mark()
			require.True(b, ok, "an llm.delta")
		})
	})
	client := s.openAI(s.memberKey(b, "default"))
	b.Run("openai", func(b *testing.B) {
		benchmarkFirstToken(b, provider, func(mark func()) {
			stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
				Model: "chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
			})
			content := false
			for stream.Next() { // to the end: a client that leaves cancels its task
				if c := stream.Current(); !content && len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
					content = true
					mark()
				}
			}
			require.NoError(b, stream.Err())
			require.True(b, content, "a content chunk")
		})
	})
}

// benchmarkFirstToken runs b.N tasks with run, one at a time, timing each
// from its start to its call of mark (at the first piece of the answer),
// and reports the figures against provider, the provider's own time to
// first token.
func benchmarkFirstToken(b *testing.B, provider time.Duration, run func(mark func())) {
	var ttft []time.Duration
	for range b.N {
		t0 := time.Now()
		run(func() { ttft = append(ttft, time.Since(t0)) })
		time.Sleep(300 * time.Millisecond) // the task ends before the next starts
	}
	b.ReportMetric(ms(provider), "provider-ttft-ms")
	reportPercentiles(b, "ttft", ttft)
	b.ReportMetric(ms(pct(ttft, 50)-provider), "added-p50-ms")
	b.ReportMetric(ms(pct(ttft, 99)-provider), "added-p99-ms")
	b.ReportMetric(float64(pct(ttft, 50))/float64(provider), "ttft/provider")
	b.ReportMetric(0, "ns/op")
}

// providerTimeToFirstToken is the median time from a streamed request to
// the fake to its first content piece, with troupe's OpenAI client.
func providerTimeToFirstToken(b *testing.B, fake *llmtest.Server) time.Duration {
	return directCalls(b, fake, func(c *llm.OpenAI, req llm.Request) (first time.Time, err error) {
		_, err = c.ChatStream(context.Background(), req, func(string) {
			if first.IsZero() {
				first = time.Now()
			}
		})
		return first, err
	})
}

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
	client := s.openAI(s.memberKey(b, "default"))

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
	reportPercentiles(b, "tasks", tasks)
	reportPercentiles(b, "completions", completions)
	b.ReportMetric(float64(pct(completions, 50))/float64(pct(tasks, 50)), "completions/tasks")
	b.ReportMetric(0, "ns/op")
}
