package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/store"
)

// coalesce is how long a live stream gathers events before it renders: a
// burst (a page catching up, a fast model) becomes one update.
const coalesce = 50 * time.Millisecond

// sseWriter writes server-sent events of HTML fragments for htmx's SSE
// extension.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE answers a request with an event stream: its deadlines lifted, as
// the API's own event streams do.
func startSSE(w http.ResponseWriter) *sseWriter {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	return &sseWriter{w: w, rc: rc}
}

// send writes one event named name whose data is html (one data line per line).
func (s *sseWriter) send(name, html string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "event: %s\n", name)
	for line := range strings.SplitSeq(html, "\n") {
		fmt.Fprintf(&b, "data: %s\n", strings.TrimRight(line, "\r"))
	}
	b.WriteString("\n")
	_ = s.rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.w.Write([]byte(b.String())); err != nil {
		return err
	}
	return s.rc.Flush()
}

// untilShutdown returns a context that also ends when the HTTP server starts
// shutting down (see api.WithShutdown), as the API's event streams do:
// a graceful shutdown does not wait for live pages.
func untilShutdown(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-api.ShuttingDown(ctx):
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// batches reads events from in and hands them on in batches: what arrived
// within coalesce of the first. The returned channel closes when in does.
func batches(ctx context.Context, in <-chan store.Event) <-chan []store.Event {
	out := make(chan []store.Event)
	go func() {
		defer close(out)
		for {
			var batch []store.Event
			select {
			case e, ok := <-in:
				if !ok {
					return
				}
				batch = append(batch, e)
			case <-ctx.Done():
				return
			}
			timer := time.NewTimer(coalesce)
			open := true
		gather:
			for open {
				select {
				case e, ok := <-in:
					if !ok {
						open = false
						break gather
					}
					batch = append(batch, e)
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
			select {
			case out <- batch:
			case <-ctx.Done():
				return
			}
			if !open {
				return
			}
		}
	}()
	return out
}

// tasksLive streams the changes of the task list: a row replaced when its
// task changes status (event "task-<id>"), and a new row for a task created
// that the page's filter shows (event "task-new", on a first page only).
func (c *Console) tasksLive(w http.ResponseWriter, r *http.Request) error {
	if c.events == nil {
		return huma.Error404NotFound("this console has no live updates")
	}
	ctx, cancel := untilShutdown(r.Context())
	defer cancel()
	f := filterOf(r.URL.Query())
	in, err := f.input()
	if err != nil {
		return err
	}
	who, _ := api.CallerOf(ctx)
	events, err := c.events.Subscribe(ctx, who.Tenant, uuid.Nil, 0)
	if err != nil {
		return fmt.Errorf("subscribe to the tenant's events: %w", err)
	}
	sse := startSSE(w)
	for batch := range batches(ctx, events) {
		changed := map[uuid.UUID]bool{} // task → created in this batch
		var order []uuid.UUID
		for _, e := range batch {
			if !statusKinds[e.Kind] {
				continue
			}
			if _, seen := changed[e.TaskID]; !seen {
				order = append(order, e.TaskID)
			}
			changed[e.TaskID] = changed[e.TaskID] || e.Kind == "created"
		}
		for _, id := range order {
			t, err := c.api.Store.GetTask(ctx, who.Tenant, id)
			if err != nil {
				continue // gone, or not the tenant's
			}
			row, err := c.fragment("tasks", "task-row", c.api.TaskOf(t))
			if err != nil {
				return err
			}
			name := "task-" + id.String()
			if changed[id] {
				if f.Cursor != "" || !matches(t, in, c.api.UserHash(who.Tenant, in.UserEmail)) {
					continue
				}
				name = "task-new"
			}
			if err := sse.send(name, row); err != nil {
				return nil
			}
		}
	}
	return nil
}

// statusKinds are the kinds of the events that change a task's status.
var statusKinds = map[string]bool{"created": true, "started": true, "completed": true, "failed": true, "canceled": true, "timed_out": true}

// matches says whether the list's filter shows task t.
func matches(t store.Task, in *api.ListTasksInput, userHash string) bool {
	return (in.Source == "" || string(t.Source) == in.Source) &&
		(in.Status == "" || string(t.Status) == in.Status) &&
		(in.Type == "" || t.Type == in.Type) &&
		(userHash == "" || t.UserIDHash == userHash) &&
		(in.CreatedAfter.IsZero() || t.CreatedAt.After(in.CreatedAfter)) &&
		(in.CreatedBefore.IsZero() || t.CreatedAt.Before(in.CreatedBefore))
}

// stream is the answer of one LLM call as it is being written.
type stream struct {
	Key     string
	Attempt int
	Text    string
}

// taskLive streams a task page's changes: its head and body again after
// each batch of events (events "task-head" and "task-body"), the answers
// being written (event "stream"),
// and "done" once the task has ended, which closes the page's stream.
func (c *Console) taskLive(w http.ResponseWriter, r *http.Request) error {
	if c.events == nil {
		return huma.Error404NotFound("this console has no live updates")
	}
	ctx, cancel := untilShutdown(r.Context())
	defer cancel()
	id, err := taskID(r)
	if err != nil {
		return err
	}
	if _, err := c.taskView(r); err != nil {
		return err // unknown, or another tenant's: a 404 before the stream
	}
	who, _ := api.CallerOf(ctx)
	events, err := c.events.Subscribe(ctx, who.Tenant, uuid.MustParse(id), 0)
	if err != nil {
		return fmt.Errorf("subscribe to task %s: %w", id, err)
	}
	sse := startSSE(w)
	var streams []*stream // in the order they started
	for batch := range batches(ctx, events) {
		refresh, changedText := false, false
		for _, e := range batch {
			switch e.Kind {
			case activities.DeltaKind:
				var d activities.Delta
				if json.Unmarshal(e.Payload, &d) == nil {
					streams, changedText = addDelta(streams, d), true
				}
			case "llm_call":
				var done struct {
					CallKey string `json:"call_key"`
				}
				_ = json.Unmarshal(e.Payload, &done)
				streams, changedText, refresh = dropStream(streams, done.CallKey), true, true
			default:
				refresh = true
			}
		}
		if refresh {
			data, err := c.taskView(r)
			if err != nil {
				return nil // the stream has started: end it
			}
			for _, part := range []string{"task-head", "task-body"} {
				html, err := c.fragment("task", part, viewOf(r, "task", "", data))
				if err != nil {
					return err
				}
				if err := sse.send(part, html); err != nil {
					return nil
				}
			}
		}
		if changedText {
			html, err := c.fragment("task", "streams", streams)
			if err != nil {
				return err
			}
			if err := sse.send("stream", html); err != nil {
				return nil
			}
		}
	}
	_ = sse.send("done", "")
	return nil
}

// addDelta appends a piece of an answer to its stream; a later attempt of
// the call starts the text over, an earlier one is late and dropped.
func addDelta(streams []*stream, d activities.Delta) []*stream {
	for _, s := range streams {
		if s.Key != d.CallKey {
			continue
		}
		switch {
		case d.Attempt > s.Attempt:
			s.Attempt, s.Text = d.Attempt, d.Text
		case d.Attempt == s.Attempt:
			s.Text += d.Text
		}
		return streams
	}
	return append(streams, &stream{Key: d.CallKey, Attempt: d.Attempt, Text: d.Text})
}

// dropStream removes the stream of a call whose answer is recorded.
func dropStream(streams []*stream, key string) []*stream {
	out := streams[:0]
	for _, s := range streams {
		if s.Key != key {
			out = append(out, s)
		}
	}
	return out
}
