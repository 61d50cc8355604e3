// Package stream delivers task events live. Each event row is announced with Postgres NOTIFY
// in the transaction that writes it (see store.EventChannel); each process runs one Hub, which
// holds one LISTEN connection and fans the events out to its subscribers: the SSE endpoint,
// WebSocket clients (see WebSocket) and the console. A subscriber that falls behind is cut
// loose and catches up from the table by its own last event id, so it never delays the others
// or the writers.
package stream

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/store"
)

// pageSize is how many events of a task one read returns, live or catching up.
const pageSize = 500

// defaultBuffer is how many events a subscriber may leave unread before it is cut loose.
const defaultBuffer = 64

// Hub fans the events announced on one LISTEN connection out to the process's subscribers.
// On a notice for a task that someone follows (the task, or all its tenant's tasks), it reads
// the task's new events once, whatever the number of subscribers, and offers them to each:
// database work grows with events, not with subscribers. Its methods are safe for concurrent use.
type Hub struct {
	store  *store.Store
	logger *slog.Logger
	// buffer is the capacity of each subscriber's channel.
	buffer int
	// reads counts the reads of new events made for notices (not catch-ups).
	reads atomic.Int64
	// listens counts the times the LISTEN connection started listening.
	listens atomic.Int64
	// subscribers counts the subscriptions open; cutLoose the times one was cut loose.
	subscribers, cutLoose atomic.Int64
	// wake is signalled when pending has tasks.
	wake chan struct{}

	mu sync.Mutex
	// tasks are the tasks followed, by a subscriber of their own or of their tenant.
	tasks map[uuid.UUID]*taskState
	// tenants holds the subscribers to all the tasks of a tenant.
	tenants map[string]map[*subscriber]struct{}
	// pending are the tasks with notices not read yet.
	pending map[uuid.UUID]struct{}
	// highest is the highest event id noticed, where a reconnection looks for missed tasks.
	highest int64
	stopped bool
}

// taskState is what the hub knows of a followed task.
type taskState struct {
	tenant string
	// cursor is the id of the last event read and offered; -1 while unknown (no notice yet
	// since the task is followed).
	cursor int64
	// start is the cursor the task was first known at: subscribers to all the tasks of the
	// tenant that had not seen the task catch up from there.
	start int64
	// ended says whether the last event offered was a final status.
	ended bool
	// subs are the subscribers to this task alone.
	subs map[*subscriber]struct{}
}

// subscriber is one Subscribe call. While attached, the hub offers it events under the lock,
// without blocking; once detached (cut loose, or new), its own goroutine catches it up from the
// table, then attaches it again.
type subscriber struct {
	ctx    context.Context
	cancel context.CancelFunc
	tenant string
	task   uuid.UUID // uuid.Nil: all the tenant's tasks
	// after is, for a subscriber to all the tenant's tasks, the event id it resumes after.
	after int64
	out   chan store.Event
	// seen is the id of the last event delivered, per task.
	seen     map[uuid.UUID]int64
	detached bool
	gone     bool // removed from the hub
	closed   bool // out is closed
}

// NewHub returns a hub reading st; Run must run for it to deliver live events.
func NewHub(st *store.Store, logger *slog.Logger) *Hub {
	return &Hub{
		store: st, logger: logger, buffer: defaultBuffer, wake: make(chan struct{}, 1),
		tasks: map[uuid.UUID]*taskState{}, tenants: map[string]map[*subscriber]struct{}{}, pending: map[uuid.UUID]struct{}{},
	}
}

// Run holds the process's one LISTEN connection until ctx ends, reconnecting (and letting every
// subscriber catch up from the table) after a loss. When it returns, every subscription is
// closed and Subscribe answers closed channels.
func (h *Hub) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { h.deliver(ctx) })
	defer wg.Wait()
	defer h.stop()
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := h.store.ListenEvents(ctx, h.listening, h.notice)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		h.logger.WarnContext(ctx, "event listener lost; reconnecting", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Subscribe returns the events of the tenant's task with ids above after — first those stored,
// then live ones — or, when task is uuid.Nil, the events of all the tenant's tasks: from now on
// when after is 0, else first those stored above after (in id order per task). ErrNotFound (store.ErrNotFound) for an unknown task or another
// tenant's. The channel is closed when ctx ends, when the hub stops, or, for one task, after
// the task's final status event (completed, failed, canceled, timed_out) when no event
// follows it. A reader that leaves its channel full is cut loose and catches up from the table
// once it reads again: it still gets every event once, in id order per task.
func (h *Hub) Subscribe(ctx context.Context, tenant string, task uuid.UUID, after int64) (<-chan store.Event, error) {
	if task != uuid.Nil {
		if err := h.store.CheckTask(ctx, tenant, task); err != nil {
			return nil, err
		}
	}
	sub := &subscriber{tenant: tenant, task: task, out: make(chan store.Event, h.buffer), seen: map[uuid.UUID]int64{}}
	sub.ctx, sub.cancel = context.WithCancel(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		sub.cancel()
		close(sub.out)
		return sub.out, nil
	}
	if task == uuid.Nil {
		if h.tenants[tenant] == nil {
			h.tenants[tenant] = map[*subscriber]struct{}{}
		}
		h.tenants[tenant][sub] = struct{}{}
		if after > 0 {
			// A resumed subscriber first reads what it missed.
			sub.after, sub.detached = after, true
			go h.resume(sub)
		} else {
			for id, st := range h.tasks {
				if st.tenant == tenant && st.cursor >= 0 {
					sub.seen[id] = st.cursor
				}
			}
		}
	} else {
		st := h.tasks[task]
		if st == nil {
			st = &taskState{tenant: tenant, cursor: -1, start: -1, subs: map[*subscriber]struct{}{}}
			h.tasks[task] = st
		}
		st.subs[sub] = struct{}{}
		sub.seen[task] = max(after, 0)
		// A new subscriber to one task first reads what is stored.
		sub.detached = true
		go h.catchUp(sub, map[uuid.UUID]int64{task: sub.seen[task]})
	}
	h.subscribers.Add(1)
	context.AfterFunc(sub.ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.removeLocked(sub)
		if !sub.detached {
			closeLocked(sub)
		}
	})
	return sub.out, nil
}

// listening runs each time the LISTEN connection is (again) listening: notices may have been
// lost meanwhile, so every followed task is read again, and the tasks of tenants followed as a
// whole that have events past the highest id noticed start being followed.
func (h *Hub) listening() {
	h.listens.Add(1)
	h.mu.Lock()
	tenants := make([]string, 0, len(h.tenants))
	for tenant := range h.tenants {
		tenants = append(tenants, tenant)
	}
	highest := h.highest
	for id, st := range h.tasks {
		if st.cursor < 0 {
			// Known only to subscribers of the task: read from the least they have.
			for sub := range st.subs {
				if st.cursor < 0 || sub.seen[id] < st.cursor {
					st.cursor = sub.seen[id]
				}
			}
			if st.cursor < 0 {
				continue
			}
			st.start = st.cursor
		}
		h.pending[id] = struct{}{}
	}
	h.mu.Unlock()
	h.signal()
	if len(tenants) == 0 || highest == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	missed, err := h.store.TasksWithEventsAfter(ctx, tenants, highest)
	if err != nil {
		h.logger.Warn("look for tasks with events missed while the event listener was down", "error", err)
		return
	}
	for _, n := range missed {
		h.notice(n)
	}
}

// notice marks the task of n as pending, if someone follows it.
func (h *Hub) notice(n store.EventNotice) {
	h.mu.Lock()
	h.highest = max(h.highest, n.ID)
	st := h.tasks[n.TaskID]
	if st == nil {
		if len(h.tenants[n.TenantID]) == 0 {
			h.mu.Unlock()
			return
		}
		st = &taskState{tenant: n.TenantID, cursor: -1, start: -1, subs: map[*subscriber]struct{}{}}
		h.tasks[n.TaskID] = st
	}
	if st.cursor < 0 {
		// A task's notices come in id order: the first one heard starts it.
		st.cursor, st.start = n.ID-1, n.ID-1
	}
	h.pending[n.TaskID] = struct{}{}
	h.mu.Unlock()
	h.signal()
}

// signal wakes deliver.
func (h *Hub) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// deliver reads the new events of the pending tasks, all in one query, and offers them, until
// ctx ends. Notices heard while it reads wait for the next round: bursts coalesce.
func (h *Hub) deliver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		}
		h.mu.Lock()
		after := make(map[uuid.UUID]int64, len(h.pending))
		for id := range h.pending {
			if st := h.tasks[id]; st != nil && st.cursor >= 0 {
				after[id] = st.cursor
			}
		}
		clear(h.pending)
		h.mu.Unlock()
		if len(after) == 0 {
			continue
		}
		h.reads.Add(1)
		events, err := h.store.EventsAfter(ctx, after, pageSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			h.logger.WarnContext(ctx, "read new events", "error", err)
			h.mu.Lock()
			for id := range after {
				h.pending[id] = struct{}{}
			}
			h.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			h.signal()
			continue
		}
		h.fanOut(events)
	}
}

// fanOut offers events (in id order) to the subscribers of their tasks and tenants.
func (h *Hub) fanOut(events []store.Event) {
	byTask := map[uuid.UUID][]store.Event{}
	for _, e := range events {
		byTask[e.TaskID] = append(byTask[e.TaskID], e)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, evs := range byTask {
		st := h.tasks[id]
		if st == nil {
			continue // no longer followed
		}
		for _, e := range evs {
			if e.ID <= st.cursor {
				continue
			}
			for sub := range st.subs {
				h.offerLocked(sub, e)
			}
			for sub := range h.tenants[st.tenant] {
				h.offerLocked(sub, e)
			}
			st.cursor = e.ID
		}
		if len(evs) == pageSize {
			h.pending[id] = struct{}{}
			h.signal()
			continue
		}
		st.ended = store.Status(evs[len(evs)-1].Kind).Terminal()
		if st.ended {
			for sub := range st.subs {
				if !sub.detached && sub.seen[id] == st.cursor {
					h.removeLocked(sub)
					closeLocked(sub)
					sub.cancel()
				}
			}
		}
	}
	h.pruneLocked()
}

// offerLocked gives e to sub without blocking, unless sub has it already; a subscriber with a
// full channel is cut loose to catch up on its own.
func (h *Hub) offerLocked(sub *subscriber, e store.Event) {
	if sub.detached || sub.gone {
		return
	}
	if seen, ok := sub.seen[e.TaskID]; ok && e.ID <= seen || e.ID <= sub.after {
		return
	}
	select {
	case sub.out <- e:
		sub.seen[e.TaskID] = e.ID
	default:
		sub.detached = true
		h.cutLoose.Add(1)
		go h.catchUp(sub, nil)
	}
}

// catchUp delivers to a detached subscriber, blocking, the events it lacks, read from the table
// (first those of lag, when not nil), until it has what the hub has offered the others; then it
// attaches it again.
func (h *Hub) catchUp(sub *subscriber, lag map[uuid.UUID]int64) {
	for {
		h.mu.Lock()
		if sub.gone {
			closeLocked(sub)
			h.mu.Unlock()
			return
		}
		if lag == nil {
			lag = h.lagLocked(sub)
		}
		if len(lag) == 0 {
			sub.detached = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		for id, after := range lag {
			if !h.catchUpTask(sub, id, after) {
				h.mu.Lock()
				h.removeLocked(sub)
				closeLocked(sub)
				h.mu.Unlock()
				sub.cancel()
				return
			}
		}
		lag = nil
	}
}

// resume catches a subscriber to all its tenant's tasks up on the events stored after sub.after,
// then attaches it.
func (h *Hub) resume(sub *subscriber) {
	for {
		missed, err := h.store.TasksWithEventsAfter(sub.ctx, []string{sub.tenant}, sub.after)
		if err == nil {
			var lag map[uuid.UUID]int64 // nil: only what the hub offered the others meanwhile
			for _, n := range missed {
				if lag == nil {
					lag = map[uuid.UUID]int64{}
				}
				lag[n.TaskID] = sub.after
			}
			h.catchUp(sub, lag)
			return
		}
		if sub.ctx.Err() == nil {
			h.logger.WarnContext(sub.ctx, "resume a subscription to all of a tenant's tasks", "tenant", sub.tenant, "error", err)
		}
		select {
		case <-sub.ctx.Done():
			h.catchUp(sub, nil) // closes it
			return
		case <-time.After(time.Second):
		}
	}
}

// lagLocked returns, for each task sub follows, where it must read from to have what the hub
// has offered: nothing when it is up to date.
func (h *Hub) lagLocked(sub *subscriber) map[uuid.UUID]int64 {
	lag := map[uuid.UUID]int64{}
	if sub.task != uuid.Nil {
		if seen := sub.seen[sub.task]; h.tasks[sub.task].cursor > seen {
			lag[sub.task] = seen
		}
		return lag
	}
	for id, st := range h.tasks {
		if st.tenant != sub.tenant {
			continue
		}
		base, ok := sub.seen[id]
		if !ok {
			base = max(st.start, sub.after)
		}
		if base >= 0 && st.cursor > base {
			lag[id] = base
		}
	}
	return lag
}

// catchUpTask sends sub the stored events of task id above after, blocking, and reports
// whether the subscription goes on: not when its context has ended, nor, for a subscriber to
// the task alone, once the task has ended (its final status event read, with nothing after it).
func (h *Hub) catchUpTask(sub *subscriber, id uuid.UUID, after int64) bool {
	delivered := false
	for {
		events, err := h.store.EventsAfter(sub.ctx, map[uuid.UUID]int64{id: after}, pageSize)
		if err != nil {
			if sub.ctx.Err() != nil {
				return false
			}
			h.logger.WarnContext(sub.ctx, "catch up on events", "task_id", id, "error", err)
			select {
			case <-sub.ctx.Done():
				return false
			case <-time.After(time.Second):
				continue
			}
		}
		for _, e := range events {
			select {
			case sub.out <- e:
			case <-sub.ctx.Done():
				return false
			}
			after, delivered = e.ID, true
			h.mu.Lock()
			sub.seen[id] = e.ID
			h.mu.Unlock()
		}
		if len(events) == pageSize {
			continue
		}
		if sub.task != id {
			return true
		}
		if len(events) > 0 {
			return !store.Status(events[len(events)-1].Kind).Terminal()
		}
		if delivered {
			return true
		}
		// Nothing new: the task may have ended before after (a resumed stream).
		t, err := h.store.GetTask(sub.ctx, sub.tenant, id)
		return err != nil || !t.Status.Terminal()
	}
}

// removeLocked takes sub out of the hub: it is offered nothing more.
func (h *Hub) removeLocked(sub *subscriber) {
	if sub.gone {
		return
	}
	sub.gone = true
	h.subscribers.Add(-1)
	if sub.task == uuid.Nil {
		delete(h.tenants[sub.tenant], sub)
		if len(h.tenants[sub.tenant]) == 0 {
			delete(h.tenants, sub.tenant)
		}
	} else if st := h.tasks[sub.task]; st != nil {
		delete(st.subs, sub)
	}
	h.pruneLocked()
}

// closeLocked closes sub's channel, once.
func closeLocked(sub *subscriber) {
	if !sub.closed {
		sub.closed = true
		close(sub.out)
	}
}

// pruneLocked forgets the tasks no one follows any more: those with no subscriber of their own
// whose tenant has none either, or that have ended while every subscriber of their tenant is
// up to date.
func (h *Hub) pruneLocked() {
	for id, st := range h.tasks {
		if len(st.subs) > 0 {
			continue
		}
		all := h.tenants[st.tenant]
		if len(all) > 0 && !st.ended {
			continue
		}
		lagging := false
		for sub := range all {
			lagging = lagging || sub.detached
		}
		if lagging {
			continue
		}
		delete(h.tasks, id)
		delete(h.pending, id)
		for sub := range all {
			delete(sub.seen, id)
		}
	}
}

// stop closes every subscription and refuses new ones.
func (h *Hub) stop() {
	h.mu.Lock()
	h.stopped = true
	var subs []*subscriber
	for _, st := range h.tasks {
		for sub := range st.subs {
			subs = append(subs, sub)
		}
	}
	for _, all := range h.tenants {
		for sub := range all {
			subs = append(subs, sub)
		}
	}
	h.mu.Unlock()
	for _, sub := range subs {
		sub.cancel()
	}
}
