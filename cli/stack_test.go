package cli

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
)

// startHTTP serves h with short limits on a local port and returns its address.
func startHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	limits := httpLimits{ReadHeader: 200 * time.Millisecond, Read: 500 * time.Millisecond, Write: time.Second, Idle: 300 * time.Millisecond, Shutdown: time.Second}
	go func() { done <- serveListener(ctx, ln, h, limits) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return ln.Addr().String()
}

// requireClosedWithin requires the server to close conn within d.
func requireClosedWithin(t *testing.T, conn net.Conn, d time.Duration) {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(d)))
	_, err := io.Copy(io.Discard, conn)
	require.NoError(t, err, "the server closed the connection (not the test's deadline)")
}

func TestHTTPServerBoundsSlowAndIdleConnections(t *testing.T) {
	t.Parallel()
	addr := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, "slow body", http.StatusRequestTimeout)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}

	t.Run("headers that never end", func(t *testing.T) {
		conn := dial()
		_, err := conn.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\n"))
		require.NoError(t, err)
		requireClosedWithin(t, conn, 3*time.Second)
	})
	t.Run("a body that never ends", func(t *testing.T) {
		conn := dial()
		_, err := conn.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nsome"))
		require.NoError(t, err)
		requireClosedWithin(t, conn, 3*time.Second)
	})
	t.Run("an idle kept-alive connection", func(t *testing.T) {
		conn := dial()
		_, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, resp.Body.Close())
		requireClosedWithin(t, conn, 3*time.Second)
	})
}

func TestActivitiesLabelOnlyPricedAndDefaultModels(t *testing.T) {
	t.Parallel()
	reg, metrics := newRegistry()
	acts, err := newActivities(config{DefaultModel: "my-local-model"}, nil, noop.NewTracerProvider(), metrics, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	for _, model := range []string{"my-local-model", "gpt-4o-mini", "mock", "chosen-by-a-client"} {
		acts.Metrics.ObserveLLMCall(model, "openai", nil, time.Second, 1, 1, 0)
	}
	families, err := reg.Gather()
	require.NoError(t, err)
	var models []string
	for _, f := range families {
		if f.GetName() != "troupe_llm_calls_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model" {
					models = append(models, l.GetValue())
				}
			}
		}
	}
	slices.Sort(models)
	require.Equal(t, []string{"gpt-4o-mini", "mock", "my-local-model", "other"}, models)
}
