package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/devserver"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
)

// outage is how long Postgres stays down in TestPostgresOutage: longer than
// the one minute the store writes used to wait for it.
const outage = 70 * time.Second

// Postgres stopped for longer than a minute while 15 three-step workflow
// tasks run: the API answers 503 with Retry-After (and /readyz says what is
// down without connection details), every task completes once Postgres is
// back, every answer the provider gave is recorded exactly once, and the
// event streams end with the tasks.
func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	if _, err := devserver.FindPostgresBin(); err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	dir := t.TempDir()
	// The server runs as another user when the test runs as root.
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	require.NoError(t, os.Chmod(dir, 0o755))
	pgDir := filepath.Join(dir, "postgres")
	pg, err := devserver.StartPostgres(t.Context(), devserver.PostgresConfig{Dir: pgDir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop() })
	u, err := url.Parse(pg.URL())
	require.NoError(t, err)
	port, err := strconv.Atoi(u.Port())
	require.NoError(t, err)

	defs := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(defs, "relay.yaml"), []byte(`
name: relay
agents:
  hand:
    system: Pass the baton on.
steps:
  - id: one
    agent: hand
    prompt: "one {{ input.topic }}"
  - id: two
    agent: hand
    prompt: "two {{ steps.one.output.text }}"
  - id: three
    agent: hand
    prompt: "three {{ steps.two.output.text }}"
output:
  text: "{{ steps.three.output.text }}"
`), 0o644))
	fake := llmtest.NewServer(t, func(n int, _ llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: fmt.Sprintf("baton %d", n), InputTokens: 10, OutputTokens: 5, Delay: 1500 * time.Millisecond}
	})
	s := startDev(t, fake, map[string]string{"DATABASE_URL": pg.URL(), "TROUPE_DEFINITIONS": defs})

	const tasks = 15
	ids := make([]string, tasks)
	for i := range ids {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks",
			map[string]any{"type": "workflow:relay", "input": map[string]any{"topic": fmt.Sprint(i)}}, nil, &task))
		ids[i] = task.ID
	}
	// Follow the first tasks' events as a browser's EventSource would:
	// reconnecting with Last-Event-ID whenever the stream ends early.
	var streams sync.WaitGroup
	lastKinds := make([]string, 3)
	for i := range lastKinds {
		streams.Go(func() { lastKinds[i] = followEvents(t, s.api, ids[i], 3*outage) })
	}

	time.Sleep(2 * time.Second) // the first calls are in flight
	require.NoError(t, pg.Stop())
	down := time.Now()

	t.Run("the API answers 503 with Retry-After", func(t *testing.T) {
		for _, req := range []struct{ method, path string }{
			{http.MethodGet, "/v1/tasks/" + ids[0]},
			{http.MethodGet, "/v1/tasks"},
			{http.MethodPost, "/v1/tasks"},
		} {
			var body io.Reader
			if req.method == http.MethodPost {
				body = strings.NewReader(`{"type": "workflow:relay", "input": {"topic": "during"}}`)
			}
			r, err := http.NewRequest(req.method, s.api+req.path, body)
			require.NoError(t, err)
			r.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(r)
			require.NoError(t, err)
			text, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s %s: %s", req.method, req.path, text)
			require.NotEmpty(t, resp.Header.Get("Retry-After"), "%s %s", req.method, req.path)
			require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		}
	})
	t.Run("readyz says Postgres is down, without connection details", func(t *testing.T) {
		resp, err := http.Get(s.api + "/readyz")
		require.NoError(t, err)
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		require.Contains(t, string(text), "postgres")
		for _, detail := range []string{"127.0.0.1", strconv.Itoa(port), "dial", "connect", "troupe"} {
			require.NotContains(t, string(text), detail)
		}
	})

	time.Sleep(time.Until(down.Add(outage)))
	pg, err = devserver.StartPostgres(t.Context(), devserver.PostgresConfig{Dir: pgDir, Port: port})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop() })

	for _, id := range ids {
		task := s.poll(t, 500*time.Millisecond, id, "completed", "failed", "canceled", "timed_out")
		require.Equal(t, "completed", task.Status, "task %s: %s", id, task.Error)
		require.Contains(t, string(task.Output), "baton")
	}
	db := s.db(t)
	var count, tasksCount int
	var calls, tasksCost float64
	require.NoError(t, db.QueryRow(t.Context(),
		`SELECT count(*), coalesce(sum(cost_usd), 0) FROM llm_calls WHERE error IS NULL`).Scan(&count, &calls))
	require.NoError(t, db.QueryRow(t.Context(),
		`SELECT count(*), coalesce(sum(cost_usd), 0) FROM tasks`).Scan(&tasksCount, &tasksCost))
	require.Equal(t, fake.Count(), count, "every answer the provider gave is recorded, once")
	require.Equal(t, 3*tasks, count, "three calls a task, none repeated")
	require.Equal(t, tasks, tasksCount, "the submit refused during the outage left nothing")
	require.InDelta(t, calls, tasksCost, 1e-9)

	streams.Wait()
	for i, kind := range lastKinds {
		require.Equal(t, "completed", kind, "the event stream of task %s ends with it", ids[i])
	}
}

// followEvents reads the task's event stream until it ends with the task,
// reconnecting with Last-Event-ID when it ends before, for up to limit, and
// returns the kind of the last event.
func followEvents(t *testing.T, api, id string, limit time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	lastID, lastKind := "", ""
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/v1/tasks/"+id+"/events", nil)
		if err != nil {
			return err.Error()
		}
		req.Header.Set("Accept", "text/event-stream")
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			lines := bufio.NewScanner(resp.Body)
			lines.Buffer(nil, 1<<20)
			for resp.StatusCode == http.StatusOK && lines.Scan() {
				if v, ok := strings.CutPrefix(lines.Text(), "id: "); ok {
					lastID = v
				}
				if v, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
					if i := strings.Index(v, `"kind":"`); i >= 0 {
						lastKind, _, _ = strings.Cut(v[i+len(`"kind":"`):], `"`)
					}
				}
			}
			resp.Body.Close()
			switch lastKind {
			case "completed", "failed", "canceled", "timed_out":
				return lastKind
			}
		}
		select { // EventSource's default retry
		case <-ctx.Done():
		case <-time.After(3 * time.Second):
		}
	}
	t.Logf("event stream of task %s: still open after %s", id, limit)
	return lastKind
}
