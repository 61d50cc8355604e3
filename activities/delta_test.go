package activities

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
)

// deltas reads the llm.delta events of task, in order.
func deltas(t *testing.T, st *store.Store, task uuid.UUID) []Delta {
	t.Helper()
	events, err := st.ListEvents(context.Background(), "t", task, 0, 1000)
	require.NoError(t, err)
	var out []Delta
	for _, e := range events {
		if e.Kind != DeltaKind {
			continue
		}
		var d Delta
		require.NoError(t, json.Unmarshal(e.Payload, &d))
		out = append(out, d)
	}
	return out
}

// joined is the text of ds, checking that they are one attempt's pieces in order.
func joined(t *testing.T, ds []Delta) string {
	t.Helper()
	var b strings.Builder
	for i, d := range ds {
		require.Equal(t, i, d.Seq, "pieces in order, none missing")
		require.Equal(t, ds[0].CallKey, d.CallKey)
		require.Equal(t, ds[0].Attempt, d.Attempt)
		b.WriteString(d.Text)
	}
	return b.String()
}

func TestCallLLMWritesCoalescedDeltas(t *testing.T) {
	t.Parallel()
	answer := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 20) // 900 bytes
	b := setup(t, func(int, llm.Request) llmtest.Reply {
		// 90 chunks of 10 bytes, 5 ms apart: about 450 ms of streaming.
		return llmtest.Reply{Content: answer, InputTokens: 321, OutputTokens: 123, ChunkRunes: 10, ChunkDelay: 5 * time.Millisecond}
	})
	res, rec, err := b.call("")
	require.NoError(t, err)
	require.JSONEq(t, `{"text":`+string(must(json.Marshal(answer)))+`}`, string(rec.Output.Inline))

	ds := deltas(t, b.acts.Store, b.task.ID)
	require.Equal(t, answer, joined(t, ds), "the pieces joined are the answer")
	require.Greater(t, len(ds), 1, "written while the answer streams, not only at its end")
	require.Less(t, len(ds), 30, "coalesced: far fewer events than the provider's 90 chunks")
	for _, d := range ds {
		require.LessOrEqual(t, len(d.Text), deltaChars+10, "an event holds at most 200 bytes and the chunk that passed them")
		require.Equal(t, res.CallKey, d.CallKey)
		require.Equal(t, 1, d.Attempt)
		require.Nil(t, d.SubtaskID)
	}

	calls, err := b.acts.Store.ListLLMCalls(context.Background(), "t", b.task.ID)
	require.NoError(t, err)
	require.Len(t, calls, 1)
	require.EqualValues(t, 321, calls[0].InputTokens, "the provider's usage, exactly")
	require.EqualValues(t, 123, calls[0].OutputTokens)
	require.InDelta(t, llm.DefaultPrices().Cost("gpt-4o-mini", 321, 123), calls[0].CostUSD, 1e-12)
	var recorded response
	require.NoError(t, json.Unmarshal(calls[0].Response, &recorded))
	require.Equal(t, response{Content: answer, FinishReason: "stop"}, recorded, "llm_calls keeps the whole answer")
}

// slowStore writes events through the real store, slowly.
type slowStore struct {
	*store.Store
	delay time.Duration
}

func (s slowStore) AppendTransientEvent(ctx context.Context, taskID uuid.UUID, kind, dedupeKey string, payload any) error {
	time.Sleep(s.delay)
	return s.Store.AppendTransientEvent(ctx, taskID, kind, dedupeKey, payload)
}

func TestDeltaWriterDoesNotWaitForASlowStore(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	w := newDeltaWriter(slowStore{b.acts.Store, 150 * time.Millisecond}, b.task.ID, Delta{CallKey: "k", Attempt: 1}, discard{}, deltaInterval)
	var want strings.Builder
	start := time.Now()
	for i := range 400 {
		piece := strings.Repeat(string(rune('a'+i%26)), 3)
		want.WriteString(piece)
		w.add(piece)
		time.Sleep(time.Millisecond)
	}
	require.Less(t, time.Since(start), time.Second, "adding never waits for a write")
	w.close(true)
	ds := deltas(t, b.acts.Store, b.task.ID)
	require.Equal(t, want.String(), joined(t, ds), "nothing lost")
	require.Less(t, len(ds), 12, "a slow store gets fewer, larger events")
}

func TestDeltasOfAnotherAttemptAreKeptApart(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, attempt := range []int{1, 2} {
		w := newDeltaWriter(b.acts.Store, b.task.ID, Delta{CallKey: "k", Attempt: attempt}, discard{}, deltaInterval)
		w.add("attempt " + string(rune('0'+attempt)))
		w.close(true)
	}
	ds := deltas(t, b.acts.Store, b.task.ID)
	require.Len(t, ds, 2)
	require.Equal(t, Delta{CallKey: "k", Attempt: 1, Text: "attempt 1"}, ds[0])
	require.Equal(t, Delta{CallKey: "k", Attempt: 2, Text: "attempt 2"}, ds[1], "the retry's seq 0 is not taken for the first attempt's")

	w := newDeltaWriter(b.acts.Store, b.task.ID, Delta{CallKey: "k", Attempt: 2}, discard{}, deltaInterval)
	w.add("attempt 2")
	w.close(true)
	require.Len(t, deltas(t, b.acts.Store, b.task.ID), 2, "the same attempt written again (a retried write) is kept once")

	w = newDeltaWriter(b.acts.Store, b.task.ID, Delta{CallKey: "k", Attempt: 3}, discard{}, time.Minute)
	w.add("written at once")
	require.Eventually(t, func() bool { return len(deltas(t, b.acts.Store, b.task.ID)) == 3 }, 5*time.Second, 10*time.Millisecond,
		"the first piece is written at once")
	w.add(", the rest a minute later")
	w.close(false)
	ds = deltas(t, b.acts.Store, b.task.ID)
	require.Len(t, ds, 3, "a canceled call's rest is not written")
	require.Equal(t, "written at once", ds[2].Text)
}

// downStore answers no write until the write gives up, as a store that
// cannot be reached; it counts the writes.
type downStore struct{ writes *atomic.Int64 }

func (s downStore) AppendTransientEvent(ctx context.Context, _ uuid.UUID, _, _ string, _ any) error {
	s.writes.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// warnings counts warnings.
type warnings struct{ n *atomic.Int64 }

func (w warnings) Warn(string, ...any) { w.n.Add(1) }

// The answer of a call must not wait for the watchers' deltas: with the
// store down, closing the writer returns within deltaCloseWait, and its
// failures are logged once.
func TestDeltaWriterCloseDoesNotWaitForAStoreThatIsDown(t *testing.T) {
	t.Parallel()
	var writes, warned atomic.Int64
	w := newDeltaWriter(downStore{&writes}, uuid.New(), Delta{CallKey: "k", Attempt: 1}, warnings{&warned}, time.Millisecond)
	w.add("the first piece, whose write hangs")
	require.Eventually(t, func() bool { return writes.Load() == 1 }, 5*time.Second, time.Millisecond)
	w.add(" and the rest")
	start := time.Now()
	w.close(true)
	require.Less(t, time.Since(start), deltaCloseWait+time.Second, "close gives up on the store")
	require.EqualValues(t, 1, writes.Load(), "no last write after a failed one")
	require.EqualValues(t, 1, warned.Load())
}

// discard is a logger that drops everything.
type discard struct{}

func (discard) Warn(string, ...any) {}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
