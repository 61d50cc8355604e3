package stream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/store"
)

// WebSocket serves the events of the hub over WebSocket (GET /v1/ws): a client subscribes to
// several tasks, each resumed after an event id, or to all the tasks of its tenant (resumed
// likewise), and gets
// the same events as the SSE stream, each with its task id. See the README for the protocol.
type WebSocket struct {
	Hub *Hub
	// Authenticate resolves the credentials of a request, as the API does (an Authorization
	// header value, "Bearer <key>" or empty), for operation: the caller's tenant, or an error
	// answered with its status when it has one (GetStatus() int). It runs for the upgrade and
	// again for each subscription, so that a key's rate limits and revocation hold.
	Authenticate func(ctx context.Context, authorization, operation string) (tenant string, err error)
	// Stopping returns a channel closed when the server starts shutting down, if any:
	// connections then close (hijacked connections are not waited for).
	Stopping func(context.Context) <-chan struct{}
	Logger   *slog.Logger
}

// Limits of a WebSocket connection.
const (
	// maxSubscriptions is how many subscriptions one connection may hold.
	maxSubscriptions = 100
	// wsWriteTimeout bounds the writing of one message: a client that reads nothing for
	// that long is disconnected (it resumes with after on reconnecting).
	wsWriteTimeout = 10 * time.Second
	// wsPing is how often an idle connection is pinged.
	wsPing = 30 * time.Second
)

// ClientMessage is a message of a WebSocket client.
type ClientMessage struct {
	// Type is "subscribe" or "unsubscribe".
	Type string `json:"type"`
	// TaskID names one task; All (true) all the tasks of the tenant.
	TaskID string `json:"task_id,omitempty"`
	All    bool   `json:"all,omitempty"`
	// After resumes after this event id (0: a task from its first event, all tasks from now).
	After int64 `json:"after,omitempty"`
}

// ServerMessage is a message to a WebSocket client: an "event" (the fields of the SSE event,
// with the task id), "subscribed", "unsubscribed", "end" (a task's subscription ended with the
// task) or "error" (Status and Message, with the TaskID or All of the message in error).
type ServerMessage struct {
	Type    string          `json:"type"`
	TaskID  string          `json:"task_id,omitempty"`
	All     bool            `json:"all,omitempty"`
	ID      int64           `json:"id,omitempty"`
	Kind    string          `json:"kind,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	At      *time.Time      `json:"at,omitempty"`
	Status  int             `json:"status,omitempty"`
	Message string          `json:"message,omitempty"`
}

// wsConn is one client connection: its subscriptions and a writer shared by them.
type wsConn struct {
	ws     *WebSocket
	conn   *websocket.Conn
	tenant string
	auth   string
	ctx    context.Context

	writeMu sync.Mutex
	mu      sync.Mutex
	subs    map[string]context.CancelFunc // by task id, "*" for all
}

// ServeHTTP upgrades an authenticated request and serves the connection until either side ends
// it. The key comes from the Authorization header or, for browsers, which cannot set headers
// on a WebSocket, from the access_token query parameter.
func (ws *WebSocket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if token := r.URL.Query().Get("access_token"); token != "" && auth == "" {
		auth = "Bearer " + token
	}
	tenant, err := ws.Authenticate(r.Context(), auth, "websocket.connect")
	if err != nil {
		var withHeaders interface{ GetHeaders() http.Header }
		if errors.As(err, &withHeaders) {
			for k, v := range withHeaders.GetHeaders() {
				w.Header()[k] = v
			}
		}
		status, msg := errorStatus(err)
		http.Error(w, msg, status)
		return
	}
	// The connection outlives the server's read and write deadlines, which a hijacked
	// connection keeps.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	var stopping <-chan struct{}
	if ws.Stopping != nil {
		stopping = ws.Stopping(r.Context())
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept answered
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	if stopping != nil {
		go func() {
			select {
			case <-stopping:
				_ = conn.Close(websocket.StatusGoingAway, "the server is shutting down")
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	c := &wsConn{ws: ws, conn: conn, tenant: tenant, auth: auth, ctx: ctx, subs: map[string]context.CancelFunc{}}
	go c.ping(ctx)
	err = c.read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		ws.Logger.DebugContext(ctx, "websocket ended", "error", err)
	}
	cancel()
	_ = conn.Close(websocket.StatusNormalClosure, "")
}

// read handles the client's messages until the connection ends.
func (c *wsConn) read(ctx context.Context) error {
	for {
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			return err
		}
		var m ClientMessage
		if err := json.Unmarshal(data, &m); err != nil {
			c.send(ServerMessage{Type: "error", Status: http.StatusBadRequest, Message: "A message is a JSON object: " + err.Error()})
			continue
		}
		switch m.Type {
		case "subscribe":
			c.subscribe(ctx, m)
		case "unsubscribe":
			c.unsubscribe(m)
		default:
			c.send(ServerMessage{Type: "error", TaskID: m.TaskID, All: m.All, Status: http.StatusBadRequest,
				Message: `The type of a message is "subscribe" or "unsubscribe".`})
		}
	}
}

// target names the subscription of m: its task id, or "*" for all; or
// what is wrong with m, for the client.
func target(m ClientMessage) (key string, task uuid.UUID, problem string) {
	if m.All {
		if m.TaskID != "" {
			return "", uuid.Nil, `Name a task_id or "all": true, not both.`
		}
		return "*", uuid.Nil, ""
	}
	id, err := uuid.Parse(m.TaskID)
	if err != nil || id == uuid.Nil {
		return "", uuid.Nil, `Name a task by its id (task_id), or "all": true.`
	}
	return id.String(), id, ""
}

// subscribe starts the subscription of m and forwards its events.
func (c *wsConn) subscribe(ctx context.Context, m ClientMessage) {
	fail := func(status int, msg string) {
		c.send(ServerMessage{Type: "error", TaskID: m.TaskID, All: m.All, Status: status, Message: msg})
	}
	key, task, problem := target(m)
	if problem != "" {
		fail(http.StatusBadRequest, problem)
		return
	}
	if m.After < 0 {
		fail(http.StatusBadRequest, "after is an event id, 0 or more.")
		return
	}
	if _, err := c.ws.Authenticate(ctx, c.auth, "websocket.subscribe"); err != nil {
		fail(errorStatus(err))
		return
	}
	c.mu.Lock()
	_, dup := c.subs[key]
	full := len(c.subs) >= maxSubscriptions
	c.mu.Unlock()
	switch {
	case dup:
		fail(http.StatusConflict, "Already subscribed; unsubscribe first to resume from elsewhere.")
		return
	case full:
		fail(http.StatusTooManyRequests, "A connection holds at most 100 subscriptions.")
		return
	}
	subCtx, cancel := context.WithCancel(ctx)
	events, err := c.ws.Hub.Subscribe(subCtx, c.tenant, task, m.After)
	if err != nil {
		cancel()
		if errors.Is(err, store.ErrNotFound) {
			fail(http.StatusNotFound, "Task "+m.TaskID+" not found.")
			return
		}
		c.ws.Logger.ErrorContext(ctx, "websocket subscribe", "task_id", m.TaskID, "error", err)
		fail(http.StatusServiceUnavailable, "The subscription failed; try again shortly.")
		return
	}
	c.mu.Lock()
	c.subs[key] = cancel
	c.mu.Unlock()
	c.send(ServerMessage{Type: "subscribed", TaskID: m.TaskID, All: m.All})
	go c.forward(subCtx, key, m, events)
}

// forward writes the events of one subscription until it ends; a subscription to one task
// that ends with the task says so with an "end" message.
func (c *wsConn) forward(ctx context.Context, key string, m ClientMessage, events <-chan store.Event) {
	for e := range events {
		at := e.At
		if !c.send(ServerMessage{Type: "event", TaskID: e.TaskID.String(), ID: e.ID, Kind: e.Kind, Payload: e.Payload, At: &at}) {
			return
		}
	}
	if ctx.Err() != nil {
		return // unsubscribed, or the connection ended
	}
	c.mu.Lock()
	cancel := c.subs[key]
	delete(c.subs, key)
	c.mu.Unlock()
	cancel()
	if !m.All {
		c.send(ServerMessage{Type: "end", TaskID: m.TaskID})
	}
}

// unsubscribe ends the subscription of m.
func (c *wsConn) unsubscribe(m ClientMessage) {
	key, _, problem := target(m)
	if problem != "" {
		c.send(ServerMessage{Type: "error", TaskID: m.TaskID, All: m.All, Status: http.StatusBadRequest, Message: problem})
		return
	}
	c.mu.Lock()
	cancel, ok := c.subs[key]
	delete(c.subs, key)
	c.mu.Unlock()
	if !ok {
		c.send(ServerMessage{Type: "error", TaskID: m.TaskID, All: m.All, Status: http.StatusNotFound, Message: "Not subscribed."})
		return
	}
	cancel()
	c.send(ServerMessage{Type: "unsubscribed", TaskID: m.TaskID, All: m.All})
}

// send writes m, and reports whether it could: a client that reads nothing for
// wsWriteTimeout is disconnected.
func (c *wsConn) send(m ServerMessage) bool {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, wsWriteTimeout)
	defer cancel()
	if err := wsjson.Write(ctx, c.conn, m); err != nil {
		_ = c.conn.CloseNow()
		return false
	}
	return true
}

// ping pings the client every wsPing, so that a connection lost without a word ends.
func (c *wsConn) ping(ctx context.Context) {
	t := time.NewTicker(wsPing)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pingCtx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
		err := c.conn.Ping(pingCtx)
		cancel()
		if err != nil {
			_ = c.conn.CloseNow()
			return
		}
	}
}

// errorStatus returns the status and message of an error of Authenticate.
func errorStatus(err error) (int, string) {
	var se interface{ GetStatus() int }
	if errors.As(err, &se) {
		return se.GetStatus(), strings.TrimSpace(err.Error())
	}
	return http.StatusInternalServerError, "internal error; the server logs have the details"
}
