package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
)

// startToolWorker runs `troupe worker --tool-queue host` as a process of its
// own (the test binary, see TestMain), against the dev stack's Temporal.
func startToolWorker(t *testing.T, s *devStack) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(),
		cliEnv+"=worker --tool-queue host",
		"TEMPORAL_ADDRESS="+s.temporal,
		"TROUPE_METRICS_ADDR=127.0.0.1:0",
		"TROUPE_LOG_LEVEL=warn",
	)
	cmd.Stdout, cmd.Stderr = &testWriter{t: t}, &testWriter{t: t}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// A worker killed with SIGKILL in the middle of a tool call: Temporal notices
// the missing heartbeats, another worker retries the call with the same
// idempotency key, and the call has one tool_calls row.
func TestToolWorkerKilledMidCall(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	arrived := make(chan struct{}, 4)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	tools := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		first := len(keys) == 1
		mu.Unlock()
		arrived <- struct{}{}
		if first {
			select { // the worker dies before this answers
			case <-hold:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"report": "all good"}`))
	}))
	t.Cleanup(tools.Close)

	defs := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(defs, "inspect.yaml"), []byte(`
name: inspect
description: Inspect the customer's host.
queue: host
http:
  url: `+tools.URL+`/inspect
`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(defs, "agent.yaml"), []byte("name: inspector\ntools: [inspect]\n"), 0o644))
	fake := llmtest.NewServer(t, func(_ int, req llm.Request) llmtest.Reply {
		if len(llmtest.LastToolResults(req)) == 0 {
			return llmtest.Reply{ToolCalls: []llm.ToolCall{call("k1", "inspect", `{}`)}}
		}
		return llmtest.Reply{Content: "host says " + llmtest.LastToolResults(req)[0].Content}
	})
	s := startDev(t, fake, map[string]string{"TROUPE_DEFINITIONS": defs})
	doomed := startToolWorker(t, s)

	var task taskJSON
	require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "inspector", "input": map[string]any{}}, nil, &task))
	select {
	case <-arrived:
	case <-time.After(time.Minute):
		t.Fatal("the tool worker never called the tool")
	}
	require.NoError(t, doomed.Process.Kill()) // SIGKILL
	_ = doomed.Wait()
	startToolWorker(t, s)

	done := s.waitFor(t, task.ID, "completed", "failed")
	require.Equal(t, "completed", done.Status, done.Error)
	require.Contains(t, string(done.Output), "all good")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, keys, 2, "the call was retried once")
	require.Equal(t, keys[0], keys[1], "under the same idempotency key")
	calls, err := s.store.ListToolCalls(context.Background(), "default", uuid.MustParse(task.ID))
	require.NoError(t, err)
	require.Len(t, calls, 1)
	require.Equal(t, store.ToolCallSucceeded, calls[0].Status)
	require.Equal(t, keys[0], calls[0].CallID)
	require.Equal(t, 2, calls[0].Attempts)
}
