package cli

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/troupe-dev/troupe/devserver"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
)

// startServe runs `troupe serve` as a process of its own (the test binary,
// see TestMain) against the dev stack's database and Temporal, and returns
// it once it answers.
func startServe(t *testing.T, s *devStack, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(),
		cliEnv+"=serve",
		"DATABASE_URL="+s.dbURL,
		"TEMPORAL_ADDRESS="+s.temporal,
		"TROUPE_ADDR="+addr,
		"TROUPE_AUTH=none",
		"TROUPE_HASH_KEY=k",
		"TROUPE_DEFAULT_MODEL=gpt-4o-mini",
		"TROUPE_METRICS_ADDR=127.0.0.1:0",
		"TROUPE_LOG_LEVEL=warn",
		// Its clients flood it on purpose: no rate limits.
		"TROUPE_RATE_KEY=0", "TROUPE_RATE_TENANT=0", "TROUPE_TASKS_PER_MINUTE=0",
	)
	cmd.Stdout, cmd.Stderr = &testWriter{t: t}, &testWriter{t: t}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}, time.Minute, 100*time.Millisecond, "troupe serve answers")
	return cmd
}

// `troupe serve` killed with SIGKILL while clients submit tasks: once
// the clients retry with their Idempotency-Keys (on another API process),
// every key has exactly one task, every task completes (a task left pending
// with no workflow is started by the API), and there is no workflow without
// its task.
func TestServeKilledMidSubmit(t *testing.T) {
	t.Parallel()
	fake := llmtest.NewServer(t, func(_ int, _ llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "A short summary.", InputTokens: 10, OutputTokens: 5}
	})
	s := startDev(t, fake, nil)
	port, err := devserver.FreePort("127.0.0.1")
	require.NoError(t, err)
	serve := startServe(t, s, fmt.Sprintf("127.0.0.1:%d", port))

	// Eight clients submit tasks one after another, each with a key of its
	// own, until troupe serve dies under them: killed once ten tasks are
	// written, so that submits are in flight at every stage.
	const clients = 8
	var mu sync.Mutex
	var keys []string
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				key := uuid.NewString()
				mu.Lock()
				keys = append(keys, key)
				mu.Unlock()
				req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/v1/tasks", port),
					strings.NewReader(`{"type": "summarize", "input": {"text": "`+key+`"}}`))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // troupe serve is gone
				}
				resp.Body.Close()
			}
		})
	}
	db := s.db(t)
	require.Eventually(t, func() bool {
		var n int
		return db.QueryRow(t.Context(), `SELECT count(*) FROM tasks`).Scan(&n) == nil && n >= 10
	}, time.Minute, time.Millisecond)
	time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
	require.NoError(t, serve.Process.Signal(syscall.SIGKILL))
	_ = serve.Wait()
	wg.Wait()
	tc, err := client.Dial(client.Options{HostPort: s.temporal})
	require.NoError(t, err)
	defer tc.Close()
	rows, err := db.Query(t.Context(), `SELECT id FROM tasks`)
	require.NoError(t, err)
	written, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	stranded := 0
	for _, id := range written {
		if _, err := tc.DescribeWorkflowExecution(t.Context(), "task-"+id.String(), ""); err != nil {
			stranded++
		}
	}
	t.Logf("killed with %d tasks written of %d submits, %d of them with no workflow", len(written), len(keys), stranded)

	// The clients retry on the dev stack's API: one task per key.
	ids := map[string]bool{}
	for _, key := range keys {
		var task taskJSON
		status := s.call(t, http.MethodPost, "/v1/tasks",
			map[string]any{"type": "summarize", "input": map[string]any{"text": key}},
			map[string]string{"Idempotency-Key": key}, &task)
		require.Contains(t, []int{http.StatusCreated, http.StatusOK}, status)
		require.False(t, ids[task.ID], "one task per key")
		ids[task.ID] = true
	}
	for id := range ids {
		// A task stranded pending is started by a read once it has waited
		// for its submit's own attempt (30 s).
		task := s.pollFor(t, 90*time.Second, time.Second, id, "completed", "failed")
		require.Equal(t, "completed", task.Status, "task %s: %s", id, task.Error)
	}
	var count int
	require.NoError(t, db.QueryRow(t.Context(), `SELECT count(*) FROM tasks`).Scan(&count))
	require.Equal(t, len(keys), count, "no task besides the keys' own")

	workflows, err := tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: `WorkflowType = "TaskWorkflow"`})
	require.NoError(t, err)
	require.Len(t, workflows.Executions, len(keys), "one workflow a task")
	for _, w := range workflows.Executions {
		id, ok := bytes.CutPrefix([]byte(w.Execution.WorkflowId), []byte("task-"))
		require.True(t, ok)
		require.True(t, ids[string(id)], "workflow %s has its task", w.Execution.WorkflowId)
	}
}
