package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/devserver"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/stream"
)

// Two API processes (troupe dev, which also runs the worker, and troupe
// serve) against one Postgres: on each, SSE and WebSocket clients get every
// event of the tasks once, in order, across a forced reconnect; a client
// subscribed to all of the tenant's tasks gets them too; and clients that
// read nothing until the end do not delay the others, then get everything.
func TestStreamsAcrossTwoAPIs(t *testing.T) {
	t.Parallel()
	fake := llmtest.NewServer(t, func(_ int, _ llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "A reading.", InputTokens: 10, OutputTokens: 3, Delay: 300 * time.Millisecond}
	})
	s := startDev(t, fake, nil)
	port, err := devserver.FreePort("127.0.0.1")
	require.NoError(t, err)
	startServe(t, s, fmt.Sprintf("127.0.0.1:%d", port))
	apis := []string{s.api, fmt.Sprintf("http://127.0.0.1:%d", port)}

	// Before any task: a subscription to all of the tenant's tasks on each API.
	all := make([]*websocket.Conn, len(apis))
	for i, api := range apis {
		all[i] = dialEvents(t, api)
		require.NoError(t, wsjson.Write(t.Context(), all[i], stream.ClientMessage{Type: "subscribe", All: true}))
		require.Equal(t, "subscribed", readMessage(t, all[i]).Type)
	}

	const tasks = 3
	ids := make([]string, tasks)
	for i := range ids {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks",
			map[string]any{"type": "workflow:parallel_summary", "input": map[string]any{"text": fmt.Sprint("text ", i)}}, nil, &task))
		ids[i] = task.ID
	}

	// Clients that read nothing until the others are done: an SSE stream
	// and a WebSocket subscription to the first task, on each API.
	type stalled struct {
		sse *http.Response
		ws  *websocket.Conn
	}
	stalls := make([]stalled, len(apis))
	for i, api := range apis {
		stalls[i].sse = openEventStream(t, t.Context(), api, ids[0], "")
		stalls[i].ws = dialEvents(t, api)
		require.NoError(t, wsjson.Write(t.Context(), stalls[i].ws, stream.ClientMessage{Type: "subscribe", TaskID: ids[0]}))
	}

	// On each API: an SSE client per task and one WebSocket client for all
	// three, each dropping its connection after a few events and resuming.
	var clients sync.WaitGroup
	got := map[string][]int64{} // by client and task
	var mu sync.Mutex
	record := func(client string, events map[string][]int64) {
		mu.Lock()
		defer mu.Unlock()
		for id, evs := range events {
			got[client+" "+id] = evs
		}
	}
	for a, api := range apis {
		for _, id := range ids {
			clients.Go(func() { record(fmt.Sprint("sse@", a), map[string][]int64{id: followSSE(t, api, id, 2)}) })
		}
		clients.Go(func() { record(fmt.Sprint("ws@", a), followWebSocket(t, api, ids, 5)) })
		clients.Go(func() { record(fmt.Sprint("all@", a), readAll(t, all[a], ids)) })
	}
	clients.Wait()

	want := map[string][]int64{}
	for _, id := range ids {
		task := s.waitFor(t, id, "completed", "failed")
		require.Equal(t, "completed", task.Status, task.Error)
		var list struct {
			Items []struct {
				ID int64 `json:"id"`
			} `json:"items"`
		}
		require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+id+"/events?limit=1000", nil, nil, &list))
		for _, e := range list.Items {
			want[id] = append(want[id], e.ID)
		}
		require.Greater(t, len(want[id]), 10, "created, started, four steps and their calls, completed")
	}
	for a := range apis {
		for _, client := range []string{"sse", "ws", "all"} {
			for _, id := range ids {
				require.Equal(t, want[id], got[fmt.Sprint(client, "@", a, " ", id)], "%s client on API %d, task %s", client, a, id)
			}
		}
	}

	// The stalled clients read now, and get everything once.
	for a, st := range stalls {
		body, err := io.ReadAll(st.sse.Body)
		require.NoError(t, err)
		require.Equal(t, want[ids[0]], sseIDs(string(body)), "stalled SSE client on API %d", a)
		var events []int64
		for {
			m := readMessage(t, st.ws)
			if m.Type == "end" {
				break
			}
			if m.Type == "event" {
				events = append(events, m.ID)
			}
		}
		require.Equal(t, want[ids[0]], events, "stalled WebSocket client on API %d", a)
	}
}

// openEventStream opens the SSE stream of a task, resumed after lastID.
func openEventStream(t *testing.T, ctx context.Context, api, id, lastID string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/v1/tasks/"+id+"/events/stream", nil)
	require.NoError(t, err)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// sseIDs returns the ids of the events of an SSE stream's text.
func sseIDs(text string) []int64 {
	var ids []int64
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			id, _ := strconv.ParseInt(v, 10, 64)
			ids = append(ids, id)
		}
	}
	return ids
}

// followSSE reads a task's SSE stream until it ends with the task, dropping
// the connection after drop events and resuming with Last-Event-ID, and
// returns the ids of the events read.
func followSSE(t *testing.T, api, id string, drop int) []int64 {
	ctx, cancel := context.WithCancel(t.Context())
	resp := openEventStream(t, ctx, api, id, "")
	var ids []int64
	lines := bufio.NewScanner(resp.Body)
	for len(ids) < drop && lines.Scan() {
		ids = append(ids, sseIDs(lines.Text())...)
	}
	cancel()
	resp = openEventStream(t, t.Context(), api, id, strconv.FormatInt(ids[len(ids)-1], 10))
	rest, err := io.ReadAll(resp.Body) // until the task ends
	require.NoError(t, err)
	return append(ids, sseIDs(string(rest))...)
}

// dialEvents opens a WebSocket on the API's /v1/ws.
func dialEvents(t *testing.T, api string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(api, "http")+"/v1/ws", nil)
	require.NoError(t, err)
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn
}

// readMessage reads the next message of a WebSocket.
func readMessage(t *testing.T, conn *websocket.Conn) stream.ServerMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var m stream.ServerMessage
	require.NoError(t, wsjson.Read(ctx, conn, &m))
	require.NotEqual(t, "error", m.Type, m.Message)
	return m
}

// followWebSocket subscribes to the tasks over one WebSocket, drops it after
// drop events, resumes each task after its last event on a new one, and
// returns the ids of the events read, by task, once each task has ended.
func followWebSocket(t *testing.T, api string, ids []string, drop int) map[string][]int64 {
	got := map[string][]int64{}
	ended := map[string]bool{}
	conn := dialEvents(t, api)
	for first := true; len(ended) < len(ids); first = false {
		for _, id := range ids {
			var after int64
			if evs := got[id]; len(evs) > 0 {
				after = evs[len(evs)-1]
			}
			if !ended[id] {
				require.NoError(t, wsjson.Write(t.Context(), conn, stream.ClientMessage{Type: "subscribe", TaskID: id, After: after}))
			}
		}
		read := 0
		for len(ended) < len(ids) && (!first || read < drop) {
			switch m := readMessage(t, conn); m.Type {
			case "event":
				got[m.TaskID] = append(got[m.TaskID], m.ID)
				read++
			case "end":
				ended[m.TaskID] = true
			}
		}
		if first {
			_ = conn.Close(websocket.StatusNormalClosure, "")
			conn = dialEvents(t, api)
		}
	}
	return got
}

// readAll reads a subscription to all tasks until each of ids has ended,
// and returns the ids of their events, by task.
func readAll(t *testing.T, conn *websocket.Conn, ids []string) map[string][]int64 {
	got := map[string][]int64{}
	ended := 0
	for ended < len(ids) {
		m := readMessage(t, conn)
		require.Equal(t, "event", m.Type)
		got[m.TaskID] = append(got[m.TaskID], m.ID)
		if store.Status(m.Kind).Terminal() {
			ended++
		}
	}
	return got
}
