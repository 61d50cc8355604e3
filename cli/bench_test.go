package cli

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
)

// fakeLatency is the fixed latency of the fake LLM in the benchmark.
const fakeLatency = 100 * time.Millisecond

// BenchmarkTasks drives b.N single-step tasks through the real path (HTTP
// API, embedded Temporal, worker, Postgres, a fake OpenAI-compatible server
// answering after fakeLatency), 32 in flight, and reports submit and
// end-to-end latency percentiles, throughput, and the orchestration
// overhead per task (end-to-end minus the LLM call). Latencies and
// throughput come from the tasks' own timestamps in Postgres. The baseline, measured
// in the same run, is a direct call to the fake LLM with the same client.
//
//	go test -run '^$' -bench BenchmarkTasks -benchtime 100x ./cli/
func BenchmarkTasks(b *testing.B) {
	fake := llmtest.NewServer(b, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "ok", InputTokens: 50, OutputTokens: 5, Delay: fakeLatency}
	})
	s := startDev(b, fake, nil)
	baseline := directCallLatency(b, fake)
	for _, inFlight := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("inflight=%d", inFlight), func(b *testing.B) { benchmarkLoad(b, s, inFlight, baseline) })
	}
}

// benchmarkLoad runs b.N tasks, inFlight at a time, and reports the figures.
func benchmarkLoad(b *testing.B, s *devStack, inFlight int, baseline time.Duration) {
	var (
		mu              sync.Mutex
		submit, e2e, oh []time.Duration
		ids             []uuid.UUID
	)
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	b.ResetTimer()
	for range b.N {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var task taskJSON
			t0 := time.Now()
			code := s.call(b, http.MethodPost, "/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "hello"}}, nil, &task)
			d := time.Since(t0)
			if code != http.StatusCreated {
				b.Errorf("submit: %d", code)
				return
			}
			// Latencies come from the task's own timestamps; polling
			// slowly keeps the poller's load off the machine under test.
			done := s.poll(b, 500*time.Millisecond, task.ID, "completed", "failed")
			if done.Status != "completed" {
				b.Errorf("task %s: %s", task.ID, done.Error)
			}
			mu.Lock()
			submit = append(submit, d)
			ids = append(ids, uuid.MustParse(task.ID))
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()

	ctx := context.Background()
	var first, last time.Time
	for _, id := range ids {
		task, err := s.store.GetTaskByID(ctx, id)
		require.NoError(b, err)
		calls, err := s.store.ListLLMCalls(ctx, task.TenantID, id)
		require.NoError(b, err)
		if first.IsZero() || task.CreatedAt.Before(first) {
			first = task.CreatedAt
		}
		if task.FinishedAt.After(last) {
			last = *task.FinishedAt
		}
		total := task.FinishedAt.Sub(task.CreatedAt)
		e2e = append(e2e, total)
		oh = append(oh, total-time.Duration(calls[0].LatencyMS)*time.Millisecond)
	}
	reportPercentiles(b, "submit", submit)
	reportPercentiles(b, "e2e", e2e)
	reportPercentiles(b, "overhead", oh)
	b.ReportMetric(float64(len(ids))/last.Sub(first).Seconds(), "tasks/s")
	b.ReportMetric(ms(baseline), "baseline-llm-ms")
	b.ReportMetric(float64(pct(e2e, 50))/float64(baseline), "e2e/baseline")
	b.ReportMetric(0, "ns/op")
}

// directCallLatency is the median latency of calling the fake LLM directly
// with troupe's OpenAI client: the floor under any task's end-to-end time.
func directCallLatency(b *testing.B, fake *llmtest.Server) time.Duration {
	return directCalls(b, fake, func(c *llm.OpenAI, req llm.Request) (time.Time, error) {
		_, err := c.ChatStream(context.Background(), req, func(string) {})
		return time.Now(), err
	})
}

// directCalls is the median, over 20 calls of the fake made with troupe's
// OpenAI client by call, of the time from a call's start to the moment it
// returns.
func directCalls(b *testing.B, fake *llmtest.Server, call func(*llm.OpenAI, llm.Request) (time.Time, error)) time.Duration {
	c := llm.NewOpenAI(llm.OpenAIConfig{APIKey: "k", BaseURL: fake.URL})
	req := llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: "user", Content: "hi"}}}
	var ds []time.Duration
	for range 20 {
		t0 := time.Now()
		at, err := call(c, req)
		require.NoError(b, err)
		ds = append(ds, at.Sub(t0))
	}
	return pct(ds, 50)
}

// reportPercentiles reports the median and 99th percentile of ds as the
// metrics name-p50-ms and name-p99-ms.
func reportPercentiles(b *testing.B, name string, ds []time.Duration) {
	b.ReportMetric(ms(pct(ds, 50)), name+"-p50-ms")
	b.ReportMetric(ms(pct(ds, 99)), name+"-p99-ms")
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
