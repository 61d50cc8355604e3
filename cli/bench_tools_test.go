package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/tool"
)

// toolLatency is the fixed latency of the HTTP tool in the benchmark.
const toolLatency = 20 * time.Millisecond

// benchTurns is how many tool turns an agent of the benchmark makes.
const benchTurns = 5

// BenchmarkToolCalls measures what a tool call costs through troupe (an
// activity of its own, recorded in tool_calls before and after, its result
// added to the conversation in Postgres) against calling the same HTTP tool
// directly with the same client, in the same run. Each of b.N tasks makes
// benchTurns tool calls, one per model turn, with an instant fake LLM; the
// same agent without tools gives the cost of a task with no tool call.
//
//	go test -run '^$' -bench BenchmarkToolCalls -benchtime 20x ./cli/
func BenchmarkToolCalls(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(toolLatency)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok": true}`))
	}))
	b.Cleanup(srv.Close)
	defs := b.TempDir()
	toolYAML := "name: ping\ndescription: Ping.\nhttp:\n  url: " + srv.URL + "/ping\n"
	require.NoError(b, os.WriteFile(filepath.Join(defs, "ping.yaml"), []byte(toolYAML), 0o644))
	require.NoError(b, os.WriteFile(filepath.Join(defs, "pinger.yaml"), []byte("name: pinger\nprompt: \"{{ input.prompt }}\"\ntools: [ping]\nmax_turns: 10\n"), 0o644))
	require.NoError(b, os.WriteFile(filepath.Join(defs, "plain.yaml"), []byte("name: plain\nprompt: \"{{ input.prompt }}\"\n"), 0o644))
	fake := llmtest.NewServer(b, func(_ int, req llm.Request) llmtest.Reply {
		if len(req.Tools) > 0 && turns(req) < benchTurns {
			return llmtest.Reply{ToolCalls: []llm.ToolCall{call(fmt.Sprintf("c%d", turns(req)), "ping", `{}`)}}
		}
		return llmtest.Reply{Content: "ok", InputTokens: 5, OutputTokens: 1}
	})
	s := startDev(b, fake, map[string]string{"TROUPE_DEFINITIONS": defs})

	// The baseline: the tool called directly, with troupe's tool client.
	cat, err := definitions.LoadDir(defs)
	require.NoError(b, err)
	tb := tool.New(tool.Config{Getenv: os.Getenv})
	b.Cleanup(func() { _ = tb.Close() })
	var direct []time.Duration
	for range 20 {
		t0 := time.Now()
		_, err := tb.Call(context.Background(), tool.Call{Tool: cat.Tools["ping"], Args: []byte(`{}`), Key: uuid.NewString()})
		require.NoError(b, err)
		direct = append(direct, time.Since(t0))
	}

	run := func(typ string) (e2e time.Duration, calls []time.Duration) {
		var task taskJSON
		require.Equal(b, http.StatusCreated, s.call(b, http.MethodPost, "/v1/tasks", map[string]any{"type": typ, "input": map[string]any{"prompt": "go"}}, nil, &task))
		done := s.poll(b, 20*time.Millisecond, task.ID, "completed", "failed")
		require.Equal(b, "completed", done.Status, done.Error)
		id := uuid.MustParse(task.ID)
		t, err := s.store.GetTaskByID(context.Background(), id)
		require.NoError(b, err)
		rows, err := s.store.ListToolCalls(context.Background(), t.TenantID, id)
		require.NoError(b, err)
		for _, r := range rows {
			calls = append(calls, time.Duration(r.LatencyMS)*time.Millisecond)
		}
		return t.FinishedAt.Sub(t.CreatedAt), calls
	}
	var plain, withTools, perCall []time.Duration
	b.ResetTimer()
	for range b.N {
		p, _ := run("plain")
		w, calls := run("pinger")
		require.Len(b, calls, benchTurns)
		plain, withTools, perCall = append(plain, p), append(withTools, w), append(perCall, calls...)
	}
	b.StopTimer()
	turn := (pct(withTools, 50) - pct(plain, 50)) / benchTurns
	b.ReportMetric(ms(pct(direct, 50)), "direct-tool-ms")
	reportPercentiles(b, "tool-call", perCall)
	b.ReportMetric(float64(pct(perCall, 50))/float64(pct(direct, 50)), "call/direct")
	b.ReportMetric(ms(turn), "tool-turn-ms")
	b.ReportMetric(float64(turn)/float64(pct(direct, 50)), "turn/direct")
	b.ReportMetric(0, "ns/op")
}
