package activities

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
)

// DeltaKind is the kind of the task events that carry an LLM answer as it
// is written.
const DeltaKind = "llm.delta"

// Coalescing of deltas: at most one llm.delta event is written per
// deltaInterval, unless deltaChars bytes are waiting; the first piece of
// an answer (and one after a pause) is written at once, so that the time
// to first token is the provider's plus a write. The rest is written when
// the call ends.
const (
	deltaInterval = 100 * time.Millisecond
	deltaChars    = 200
)

// Bounds on the writes of deltas, which are for watchers only (the answer
// itself is recorded by RecordLLMCall): a write gives up after
// deltaWriteTimeout, and closing a writer waits at most deltaCloseWait for
// the write in progress and the last one, so that a slow or unreachable
// store can never hold back the answer of a call.
const (
	deltaWriteTimeout = 5 * time.Second
	deltaCloseWait    = time.Second
)

// Delta is the payload of an llm.delta event: a piece of the answer of
// one attempt of one LLM call. The pieces of an attempt, in Seq order
// (0, 1, 2...), joined, are the text the model wrote. When an attempt
// greater than the one being shown arrives for the same CallKey, the call
// was retried and its text starts over.
type Delta struct {
	// CallKey names the call (as llm_calls.call_key does), Attempt its
	// attempt (from 1).
	CallKey string `json:"call_key"`
	Attempt int    `json:"attempt"`
	// SubtaskID is the agent step of a workflow task that makes the call;
	// absent for a single-agent task's own calls.
	SubtaskID *uuid.UUID `json:"subtask_id,omitempty"`
	Seq       int        `json:"seq"`
	Text      string     `json:"text"`
}

// eventAppender writes a task event once per dedupe key, one that a crash
// of Postgres' host may lose (see store.Store.AppendTransientEvent).
type eventAppender interface {
	AppendTransientEvent(ctx context.Context, taskID uuid.UUID, kind, dedupeKey string, payload any) error
}

// warner logs a warning (slog's: not an activity's logger, whose lines
// are written to the store the writer failed to reach).
type warner interface {
	Warn(msg string, keyvals ...any)
}

// deltaWriter coalesces the deltas of one call attempt into llm.delta
// events, written by a goroutine of its own so that the read loop only
// appends to a buffer: while a write is slow, the next pieces gather into
// the next event. A write that fails is logged and its text kept for the
// next one; only the first failure of a writer is logged.
type deltaWriter struct {
	store  eventAppender
	taskID uuid.UUID
	base   Delta
	log    warner
	every  time.Duration // deltaInterval, but in tests

	ctx    context.Context // of the writes, canceled once closing has waited enough
	cancel context.CancelFunc

	mu      sync.Mutex
	pending []byte
	last    time.Time // when the last write ended
	failed  bool      // whether it failed
	warned  bool      // whether a failure was logged
	seq     int

	signal chan struct{} // pending changed
	stop   chan bool     // close, writing the rest (true) or not
	done   chan struct{}
}

// newDeltaWriter starts writing the deltas of base's call attempt for
// task, at most one event per every (deltaInterval) unless deltaChars are
// waiting.
func newDeltaWriter(st eventAppender, taskID uuid.UUID, base Delta, log warner, every time.Duration) *deltaWriter {
	w := &deltaWriter{
		store: st, taskID: taskID, base: base, log: log, every: every,
		signal: make(chan struct{}, 1), stop: make(chan bool, 1), done: make(chan struct{}),
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.run()
	return w
}

// add appends text to the event being gathered. It never blocks on the
// store.
func (w *deltaWriter) add(text string) {
	if text == "" {
		return
	}
	w.mu.Lock()
	w.pending = append(w.pending, text...)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// close stops the writer once it has written what it holds, if flush and
// the store answered the last write; it returns when the writer is done,
// within deltaCloseWait: a write still running then is canceled.
func (w *deltaWriter) close(flush bool) {
	if !flush {
		w.cancel()
	}
	giveUp := time.AfterFunc(deltaCloseWait, w.cancel)
	defer giveUp.Stop()
	w.stop <- flush
	<-w.done
	w.cancel()
}

// run writes an event whenever text is pending and every has
// passed since the last write, or deltaChars bytes are pending (after a
// failed write, only the former), until close.
func (w *deltaWriter) run() {
	defer close(w.done)
	for {
		w.mu.Lock()
		n, last, failed := len(w.pending), w.last, w.failed
		w.mu.Unlock()
		var timer *time.Timer
		var timeout <-chan time.Time
		if n > 0 && w.ctx.Err() == nil { // (canceled: closing gave up)
			wait := time.Until(last.Add(w.every))
			if n >= deltaChars && !failed || wait <= 0 {
				w.write()
				continue
			}
			timer = time.NewTimer(wait)
			timeout = timer.C
		}
		select {
		case <-w.signal:
		case <-timeout:
		case flush := <-w.stop:
			if flush && !failed {
				w.write()
			}
			return
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// write writes the pending text as the next event. On failure the text
// goes back in front of what came since, to be written with it.
func (w *deltaWriter) write() {
	w.mu.Lock()
	text := w.pending
	w.pending = nil
	seq := w.seq
	w.mu.Unlock()
	if len(text) == 0 {
		return
	}
	d := w.base
	d.Seq, d.Text = seq, string(text)
	ctx, cancel := context.WithTimeout(w.ctx, deltaWriteTimeout)
	defer cancel()
	err := w.store.AppendTransientEvent(ctx, w.taskID, DeltaKind, fmt.Sprintf("%s:%s:%d:%d", DeltaKind, d.CallKey, d.Attempt, seq), d)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last, w.failed = time.Now(), err != nil
	if err != nil {
		if !w.warned {
			w.warned = true
			w.log.Warn("write llm.delta event (later failures of this call are not logged)", "task_id", w.taskID, "call_key", d.CallKey, "attempt", d.Attempt, "seq", seq, "error", err)
		}
		w.pending = append(text, w.pending...)
		return
	}
	w.seq++
}
