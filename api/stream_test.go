package api

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/troupe-dev/troupe/store"
)

// serveReal serves the bundle's API, traced, over a real HTTP server with
// short read and write timeouts and the shutdown context of WithShutdown, as
// serve does.
func serveReal(t *testing.T, b *bundle) *httptest.Server {
	t.Helper()
	b.server.Tracer = sdktrace.NewTracerProvider()
	srv := httptest.NewUnstartedServer(b.server.Handler())
	stopping := make(chan struct{})
	srv.Config.BaseContext = func(net.Listener) context.Context { return WithShutdown(context.Background(), stopping) }
	srv.Config.RegisterOnShutdown(func() { close(stopping) })
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// storedTask creates a task of tenant in the store, with no workflow.
func storedTask(t *testing.T, b *bundle, tenant string) store.Task {
	t.Helper()
	task, _, err := b.store.CreateTask(t.Context(), store.NewTask{
		TenantID: tenant, Type: "summarize", Input: []byte(`{}`), Model: "mock", Actor: "test",
	})
	require.NoError(t, err)
	return task
}

func getStream(t *testing.T, url, accept string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func TestEventStreamOfAnUnknownOrForeignTaskIsA404(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := serveReal(t, b)
	foreign := storedTask(t, b, "another-tenant")
	for name, id := range map[string]string{"unknown": uuid.NewString(), "another tenant's": foreign.ID.String()} {
		for _, path := range []string{"/events/stream", "/events"} {
			resp := getStream(t, srv.URL+"/v1/tasks/"+id+path, "text/event-stream")
			require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s task, %s", name, path)
			require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), "%s task, %s", name, path)
		}
	}
}

// readEvent reads lines of the stream until a data line, and returns it.
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			return data
		}
	}
}

func TestEventStreamOutlivesTheServerTimeoutsAndEndsOnShutdown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := serveReal(t, b)
	task := storedTask(t, b, DefaultTenant)
	resp := getStream(t, srv.URL+"/v1/tasks/"+task.ID.String()+"/events", "text/event-stream")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := bufio.NewReader(resp.Body)
	readEvent(t, events) // the task's creation

	// Past the server's read and write timeouts, the stream still runs:
	// each event sets its own write deadline (through the status recorder's
	// Unwrap) and the read deadline is lifted.
	time.Sleep(time.Second)
	require.NoError(t, b.store.AppendEvent(t.Context(), task.ID, "note", "late", map[string]string{"text": "late"}))
	require.Contains(t, readEvent(t, events), `"late"`)

	// Shutting down ends the stream instead of waiting for the task.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, srv.Config.Shutdown(ctx))
	require.Less(t, time.Since(start), 2*time.Second)
	rest, err := io.ReadAll(events)
	require.NoError(t, err, "the stream ended cleanly")
	require.Equal(t, "\n", string(rest), "the end of the last event")
}

func TestEventStreamResumesKeepsAliveAndEndsWithTheTask(t *testing.T) {
	t.Parallel()
	b := setup(t, func(s *Server) { s.KeepAlive = 100 * time.Millisecond })
	srv := serveReal(t, b)
	task := storedTask(t, b, DefaultTenant)
	require.NoError(t, b.store.AppendEvent(t.Context(), task.ID, "note", "first", map[string]string{"text": "first"}))
	events, err := b.store.ListEvents(t.Context(), DefaultTenant, task.ID, 0, 0)
	require.NoError(t, err)

	// Resumed after the creation, the stream starts with the note, then stays
	// open with comments until the next event.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/tasks/"+task.ID.String()+"/events/stream", nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", strconv.FormatInt(events[0].ID, 10))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	require.Contains(t, readEvent(t, r), `"first"`)
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		if line == ": keep-alive\n" {
			break
		}
	}
	require.NoError(t, b.store.FinishTask(t.Context(), task.ID, "", store.StatusCompleted, []byte(`{"text":"done"}`), ""))
	require.Contains(t, readEvent(t, r), `"kind":"completed"`)
	rest, err := io.ReadAll(r)
	require.NoError(t, err, "the stream ended with the task")
	require.NotContains(t, string(rest), "data:")
}
