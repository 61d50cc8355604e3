package stream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/store"
)

// statusError is an error with an HTTP status, as the API's are.
type statusError struct {
	status int
	msg    string
}

func (e statusError) Error() string  { return e.msg }
func (e statusError) GetStatus() int { return e.status }

// keyAuth authenticates "Bearer <tenant>": the key names its tenant.
func keyAuth(_ context.Context, authorization, _ string) (string, error) {
	tenant, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok {
		return "", statusError{http.StatusUnauthorized, "Send an API key."}
	}
	return tenant, nil
}

// serveWebSocket serves the bundle's hub over WebSocket on a real HTTP server.
func serveWebSocket(t *testing.T, b *testBundle) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(&WebSocket{Hub: b.hub, Authenticate: keyAuth, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(srv.Close)
	return srv
}

// dial connects to srv with header as Authorization (none when empty) and query.
func dial(t *testing.T, srv *httptest.Server, header, query string) *websocket.Conn {
	t.Helper()
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	if header != "" {
		opts.HTTPHeader.Set("Authorization", header)
	}
	conn, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/ws"+query, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn
}

// next reads the next message of conn.
func next(t *testing.T, conn *websocket.Conn) ServerMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var m ServerMessage
	require.NoError(t, wsjson.Read(ctx, conn, &m))
	return m
}

func write(t *testing.T, conn *websocket.Conn, m ClientMessage) {
	t.Helper()
	require.NoError(t, wsjson.Write(t.Context(), conn, m))
}

func TestWebSocketSubscribesToTasksAndToAllOfATenant(t *testing.T) {
	t.Parallel()
	b := setup(t, defaultBuffer)
	srv := serveWebSocket(t, b)
	first, second, foreign := b.task(t, "acme"), b.task(t, "acme"), b.task(t, "globex")
	b.notes(t, first, 0, 2)
	b.settle(t)
	conn := dial(t, srv, "Bearer acme", "")

	// One task, resumed after its creation.
	events, err := b.store.ListEvents(t.Context(), "acme", first, 0, 0)
	require.NoError(t, err)
	write(t, conn, ClientMessage{Type: "subscribe", TaskID: first.String(), After: events[0].ID})
	require.Equal(t, ServerMessage{Type: "subscribed", TaskID: first.String()}, next(t, conn))
	for i, want := range events[1:] {
		m := next(t, conn)
		require.Equal(t, "event", m.Type, i)
		require.Equal(t, first.String(), m.TaskID)
		require.Equal(t, want.ID, m.ID)
		require.Equal(t, "note", m.Kind)
		require.JSONEq(t, string(want.Payload), string(m.Payload))
	}

	// All of the tenant's tasks, from now on; another tenant's task is not found.
	write(t, conn, ClientMessage{Type: "subscribe", All: true})
	require.Equal(t, ServerMessage{Type: "subscribed", All: true}, next(t, conn))
	write(t, conn, ClientMessage{Type: "subscribe", TaskID: foreign.String()})
	m := next(t, conn)
	require.Equal(t, "error", m.Type)
	require.Equal(t, http.StatusNotFound, m.Status)
	require.Equal(t, foreign.String(), m.TaskID)

	b.notes(t, foreign, 0, 1)
	b.notes(t, second, 0, 1)
	m = next(t, conn)
	require.Equal(t, second.String(), m.TaskID, "only the tenant's tasks")
	require.JSONEq(t, `{"i":0}`, string(m.Payload))
	resumeAfter := m.ID

	// The first task's events come twice, once per subscription; its end ends one.
	require.NoError(t, b.store.FinishTask(t.Context(), first, "", store.StatusFailed, nil, "boom"))
	kinds := map[string]int{}
	for range 3 {
		m := next(t, conn)
		require.Equal(t, first.String(), m.TaskID)
		kinds[m.Type+" "+m.Kind]++
	}
	require.Equal(t, map[string]int{"event failed": 2, "end ": 1}, kinds)

	write(t, conn, ClientMessage{Type: "unsubscribe", All: true})
	require.Equal(t, ServerMessage{Type: "unsubscribed", All: true}, next(t, conn))
	b.notes(t, second, 1, 1)
	write(t, conn, ClientMessage{Type: "unsubscribe", All: true})
	m = next(t, conn)
	require.Equal(t, http.StatusNotFound, m.Status, "nothing came after unsubscribing: %+v", m)

	// All again, resumed after the second task's first note: what came since, once.
	write(t, conn, ClientMessage{Type: "subscribe", All: true, After: resumeAfter})
	require.Equal(t, ServerMessage{Type: "subscribed", All: true}, next(t, conn))
	got := map[string]string{}
	for range 2 {
		m := next(t, conn)
		require.Equal(t, "event", m.Type)
		got[m.TaskID] += m.Kind
	}
	require.Equal(t, map[string]string{first.String(): "failed", second.String(): "note"}, got)
}

func TestWebSocketAnswersErrorsAsMessages(t *testing.T) {
	t.Parallel()
	b := setup(t, defaultBuffer)
	srv := serveWebSocket(t, b)
	task := b.task(t, "acme")
	conn := dial(t, srv, "", "?access_token=acme")
	for _, c := range []struct {
		msg    ClientMessage
		status int
	}{
		{ClientMessage{Type: "watch"}, http.StatusBadRequest},
		{ClientMessage{Type: "subscribe", TaskID: "nope"}, http.StatusBadRequest},
		{ClientMessage{Type: "subscribe", TaskID: task.String(), All: true}, http.StatusBadRequest},
		{ClientMessage{Type: "subscribe", TaskID: uuid.NewString()}, http.StatusNotFound},
		{ClientMessage{Type: "unsubscribe", TaskID: task.String()}, http.StatusNotFound},
	} {
		write(t, conn, c.msg)
		m := next(t, conn)
		require.Equal(t, "error", m.Type, "%+v", c.msg)
		require.Equal(t, c.status, m.Status, "%+v: %s", c.msg, m.Message)
		require.NotEmpty(t, m.Message)
	}
	write(t, conn, ClientMessage{Type: "subscribe", TaskID: task.String()})
	require.Equal(t, "subscribed", next(t, conn).Type)
	write(t, conn, ClientMessage{Type: "subscribe", TaskID: task.String()})
	got := map[string]int{}
	for range 2 { // the task's creation, and the refusal of a second subscription, in any order
		m := next(t, conn)
		got[m.Type] = m.Status
	}
	require.Equal(t, map[string]int{"event": 0, "error": http.StatusConflict}, got)
	require.NoError(t, conn.Write(t.Context(), websocket.MessageText, []byte("{")))
	require.Equal(t, http.StatusBadRequest, next(t, conn).Status)

	// Without a key, the upgrade is refused with the API's status.
	_, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/ws", nil)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestWebSocketClosesWhenTheServerStops(t *testing.T) {
	t.Parallel()
	b := setup(t, defaultBuffer)
	stopping := make(chan struct{})
	srv := httptest.NewServer(&WebSocket{Hub: b.hub, Authenticate: keyAuth, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Stopping: func(context.Context) <-chan struct{} { return stopping }})
	t.Cleanup(srv.Close)
	conn := dial(t, srv, "Bearer acme", "")
	close(stopping)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, _, err := conn.Read(ctx)
	var ce websocket.CloseError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, websocket.StatusGoingAway, ce.Code)
}

func TestWebSocketTakesTheAPIsKeys(t *testing.T) {
	t.Parallel()
	b := setup(t, defaultBuffer)
	srv := &api.Server{Store: b.store, RequireAuth: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	web := httptest.NewServer(&WebSocket{Hub: b.hub, Authenticate: srv.AuthenticateReader, Logger: srv.Logger})
	t.Cleanup(web.Close)
	url := "ws" + strings.TrimPrefix(web.URL, "http") + "/v1/ws"
	key, k, err := b.store.CreateAPIKey(t.Context(), store.NewAPIKey{TenantID: "acme", Role: store.RoleReader, Name: "watcher"})
	require.NoError(t, err)
	mine, theirs := b.task(t, "acme"), b.task(t, "globex")

	for _, bad := range []string{"", "?access_token=nope"} {
		_, resp, err := websocket.Dial(t.Context(), url+bad, nil)
		require.Error(t, err)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, bad)
	}

	// A reader key may watch its tenant's tasks, and only those.
	conn := dial(t, web, "", "?access_token="+key)
	write(t, conn, ClientMessage{Type: "subscribe", TaskID: theirs.String()})
	require.Equal(t, http.StatusNotFound, next(t, conn).Status)
	write(t, conn, ClientMessage{Type: "subscribe", TaskID: mine.String()})
	require.Equal(t, "subscribed", next(t, conn).Type)
	require.Equal(t, "created", next(t, conn).Kind)

	// Once the key is revoked, it subscribes to nothing more.
	require.NoError(t, b.store.RevokeAPIKey(t.Context(), "acme", k.ID))
	write(t, conn, ClientMessage{Type: "subscribe", All: true})
	m := next(t, conn)
	require.Equal(t, http.StatusUnauthorized, m.Status, m.Message)
}
