package stream

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

// testBundle is a hub running on a store of its own.
type testBundle struct {
	hub   *Hub
	store *store.Store
	// pool is a connection pool to the store's database, for SQL of the tests.
	pool *pgxpool.Pool
}

// setup starts a hub on a new database, with subscriber channels of buffer events, and waits
// until it listens. It stops when the test ends.
func setup(t testing.TB, buffer int) *testBundle {
	t.Helper()
	dbURL := storetest.NewDB(t)
	pool, err := store.Connect(t.Context(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	b := &testBundle{store: store.New(pool), pool: pool}
	b.hub = NewHub(b.store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.hub.buffer = buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.hub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	b.waitListening(t, 1)
	return b
}

// waitListening waits until the hub has started listening n times.
func (b *testBundle) waitListening(t testing.TB, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return b.hub.listens.Load() >= n }, 10*time.Second, 10*time.Millisecond)
}

// attached waits until every subscriber to task has read what is stored and
// follows the live events.
func (b *testBundle) attached(t *testing.T, task uuid.UUID) {
	t.Helper()
	require.Eventually(t, func() bool {
		b.hub.mu.Lock()
		defer b.hub.mu.Unlock()
		for sub := range b.hub.tasks[task].subs {
			if sub.detached {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)
}

// settle waits until the hub has heard of every event stored, so that a subscription to all
// of a tenant's tasks starts after them.
func (b *testBundle) settle(t *testing.T) {
	t.Helper()
	var last int64
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT COALESCE(max(id), 0) FROM task_events`).Scan(&last))
	require.Eventually(t, func() bool {
		b.hub.mu.Lock()
		defer b.hub.mu.Unlock()
		return b.hub.highest >= last
	}, 10*time.Second, 10*time.Millisecond)
}

// task creates a task of tenant; its "created" event is its first.
func (b *testBundle) task(t testing.TB, tenant string) uuid.UUID {
	t.Helper()
	task, _, err := b.store.CreateTask(t.Context(), store.NewTask{TenantID: tenant, Type: "summarize", Input: []byte(`{}`), Model: "mock", Actor: "test"})
	require.NoError(t, err)
	return task.ID
}

// notes appends n "note" events to the task, named from first on.
func (b *testBundle) notes(t *testing.T, task uuid.UUID, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		require.NoError(t, b.store.AppendEvent(t.Context(), task, "note", fmt.Sprintf("note-%d", i), map[string]int{"i": i}))
	}
}

// subscribe subscribes to the tenant's task (uuid.Nil: all its tasks) for the test.
func (b *testBundle) subscribe(t *testing.T, tenant string, task uuid.UUID, after int64) <-chan store.Event {
	t.Helper()
	ch, err := b.hub.Subscribe(t.Context(), tenant, task, after)
	require.NoError(t, err)
	return ch
}

// receive reads n events from ch, failing after a timeout.
func receive(t *testing.T, ch <-chan store.Event, n int) []store.Event {
	t.Helper()
	var got []store.Event
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case e, ok := <-ch:
			require.True(t, ok, "the channel closed after %d of %d events", len(got), n)
			got = append(got, e)
		case <-timeout:
			require.FailNow(t, "timed out", "received %d of %d events", len(got), n)
		}
	}
	return got
}

// requireClosed checks that ch is closed with no event left.
func requireClosed(t *testing.T, ch <-chan store.Event) {
	t.Helper()
	select {
	case e, ok := <-ch:
		require.False(t, ok, "an event after the end: %+v", e)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the channel is still open")
	}
}

// requireQuiet checks that nothing arrives on the channels for a while.
func requireQuiet(t *testing.T, chans ...<-chan store.Event) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	for _, ch := range chans {
		select {
		case e, ok := <-ch:
			require.FailNow(t, "unexpected", "event %+v (open %v)", e, ok)
		default:
		}
	}
}

// requireInOrder checks that events are the notes first..first+len-1 of task, in id order.
func requireInOrder(t *testing.T, events []store.Event, task uuid.UUID, first int) {
	t.Helper()
	for i, e := range events {
		require.Equal(t, task, e.TaskID)
		require.Equal(t, "note", e.Kind)
		require.JSONEq(t, fmt.Sprintf(`{"i": %d}`, first+i), string(e.Payload))
		if i > 0 {
			require.Greater(t, e.ID, events[i-1].ID)
		}
	}
}

func TestSubscribeReadsStoredEventsThenLiveOnesAndEndsWithTheTask(t *testing.T) {
	t.Parallel()
	b := setup(t, defaultBuffer)
	task := b.task(t, "acme")
	b.notes(t, task, 0, 3)
	ch := b.subscribe(t, "acme", task, 0)
	got := receive(t, ch, 4)
	require.Equal(t, "created", got[0].Kind)
	requireInOrder(t, got[1:], task, 0)

	// Resuming after the second event gives the ones after it.
	resumed := b.subscribe(t, "acme", task, got[1].ID)
	requireInOrder(t, receive(t, resumed, 2), task, 1)

	b.notes(t, task, 3, 2)
	requireInOrder(t, receive(t, ch, 2), task, 3)
	requireInOrder(t, receive(t, resumed, 2), task, 3)

	require.NoError(t, b.store.FinishTask(t.Context(), task, "", store.StatusCompleted, []byte(`{"text":"done"}`), ""))
	for _, c := range []<-chan store.Event{ch, resumed} {
		require.Equal(t, "completed", receive(t, c, 1)[0].Kind)
		requireClosed(t, c)
	}

	// A subscriber to an ended task gets what it missed, then the end; one already past the
	// end gets only the end of its channel.
	all := receive(t, b.subscribe(t, "acme", task, 0), 7)
	requireClosed(t, b.subscribe(t, "acme", task, all[len(all)-1].ID))
}

func TestOneReadPerNoticeWhateverTheNumberOfSubscribers(t *testing.T) {
	t.Parallel()
	b := setup(t, defaultBuffer)
	task := b.task(t, "acme")
	b.settle(t)
	const subscribers = 200
	chans := make([]<-chan store.Event, subscribers)
	for i := range chans {
		if i%10 == 0 {
			chans[i] = b.subscribe(t, "acme", uuid.Nil, 0)
			continue
		}
		chans[i] = b.subscribe(t, "acme", task, 0)
		require.Equal(t, "created", receive(t, chans[i], 1)[0].Kind)
	}
	b.attached(t, task)

	before := b.hub.reads.Load()
	const events = 40
	b.notes(t, task, 0, events)
	var wg sync.WaitGroup
	for _, ch := range chans {
		wg.Go(func() { requireInOrder(t, receive(t, ch, events), task, 0) })
	}
	wg.Wait()
	reads := b.hub.reads.Load() - before
	t.Logf("%d events to %d subscribers: %d reads", events, subscribers, reads)
	require.Positive(t, reads)
	require.LessOrEqual(t, reads, int64(events), "at most one read per notice, not one per subscriber")
	requireQuiet(t, chans...)
}

func TestAStalledSubscriberDelaysNoOneAndStillGetsEverything(t *testing.T) {
	t.Parallel()
	b := setup(t, 4)
	task := b.task(t, "acme")
	b.settle(t)
	stalled := b.subscribe(t, "acme", task, 0)
	stalledAll := b.subscribe(t, "acme", uuid.Nil, 0)
	reader := b.subscribe(t, "acme", task, 0)
	require.Equal(t, "created", receive(t, reader, 1)[0].Kind)

	// The stalled subscribers read nothing while 30 events pass: the reader gets each
	// as it comes (never more than the buffer behind the writer).
	for i := range 30 {
		b.notes(t, task, i, 1)
		requireInOrder(t, receive(t, reader, 1), task, i)
	}
	// Reading again, they get every event once, in order, then the live ones.
	require.Equal(t, "created", receive(t, stalled, 1)[0].Kind)
	requireInOrder(t, receive(t, stalled, 30), task, 0)
	requireInOrder(t, receive(t, stalledAll, 30), task, 0)
	b.notes(t, task, 30, 2)
	requireInOrder(t, receive(t, stalled, 2), task, 30)
	requireInOrder(t, receive(t, stalledAll, 2), task, 30)
	requireInOrder(t, receive(t, reader, 2), task, 30)
	requireQuiet(t, stalled, stalledAll)
}

func TestSubscribersCatchUpAfterTheListenerIsKilled(t *testing.T) {
	t.Parallel()
	b := setup(t, defaultBuffer)
	task := b.task(t, "acme")
	b.settle(t)
	one := b.subscribe(t, "acme", task, 0)
	all := b.subscribe(t, "acme", uuid.Nil, 0)
	require.Equal(t, "created", receive(t, one, 1)[0].Kind)
	b.notes(t, task, 0, 1)
	requireInOrder(t, receive(t, one, 1), task, 0)
	requireInOrder(t, receive(t, all, 1), task, 0)

	// Kill the LISTEN connection, and write while the hub reconnects: those notices are lost.
	var killed bool
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+store.EventChannel+`'`).Scan(&killed))
	require.True(t, killed)
	b.notes(t, task, 1, 3)
	other := b.task(t, "acme")
	b.notes(t, other, 0, 1)

	b.waitListening(t, 2)
	requireInOrder(t, receive(t, one, 3), task, 1)
	got := receive(t, all, 5)
	requireInOrder(t, got[:3], task, 1)
	require.Equal(t, "created", got[3].Kind)
	require.Equal(t, other, got[3].TaskID)
	requireInOrder(t, got[4:], other, 0)

	// And live events flow again.
	b.notes(t, task, 4, 1)
	requireInOrder(t, receive(t, one, 1), task, 4)
	requireInOrder(t, receive(t, all, 1), task, 4)
}

func TestSubscriptionsStayInTheirTenant(t *testing.T) {
	t.Parallel()
	b := setup(t, defaultBuffer)
	mine, theirs := b.task(t, "acme"), b.task(t, "globex")
	for _, id := range []uuid.UUID{theirs, uuid.New()} {
		_, err := b.hub.Subscribe(t.Context(), "acme", id, 0)
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	b.settle(t)
	all := b.subscribe(t, "acme", uuid.Nil, 0)
	b.notes(t, theirs, 0, 2)
	b.notes(t, mine, 0, 2)
	requireInOrder(t, receive(t, all, 2), mine, 0)
	requireQuiet(t, all)
}

func TestSubscriptionsEndWithTheirContextOrTheHub(t *testing.T) {
	t.Parallel()
	b := setup(t, defaultBuffer)
	task := b.task(t, "acme")
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := b.hub.Subscribe(ctx, "acme", task, 0)
	require.NoError(t, err)
	require.Equal(t, "created", receive(t, ch, 1)[0].Kind)
	cancel()
	requireClosed(t, ch)

	one, all := b.subscribe(t, "acme", task, 0), b.subscribe(t, "acme", uuid.Nil, 0)
	receive(t, one, 1)
	b.hub.stop()
	requireClosed(t, one)
	requireClosed(t, all)
	requireClosed(t, b.subscribe(t, "acme", task, 0))
}

func TestHubMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, 1)
	task := b.task(t, "acme")
	b.settle(t)
	metrics := b.hub.Collectors()
	subscribers, reads, cutLoose, listens := metrics[0], metrics[1], metrics[2], metrics[3]

	ctx, cancel := context.WithCancel(t.Context())
	_, err := b.hub.Subscribe(ctx, "acme", task, 0) // never read
	require.NoError(t, err)
	reader := b.subscribe(t, "acme", task, 0)
	require.Equal(t, 2.0, testutil.ToFloat64(subscribers))
	require.Equal(t, "created", receive(t, reader, 1)[0].Kind)
	b.attached(t, task) // the one that reads nothing has "created" waiting in its channel
	b.notes(t, task, 0, 3)
	requireInOrder(t, receive(t, reader, 3), task, 0)
	require.GreaterOrEqual(t, testutil.ToFloat64(cutLoose), 1.0, "the subscriber that reads nothing fell behind")
	require.GreaterOrEqual(t, testutil.ToFloat64(reads), 1.0)
	require.GreaterOrEqual(t, testutil.ToFloat64(listens), 1.0)

	cancel()
	require.Eventually(t, func() bool { return testutil.ToFloat64(subscribers) == 1 }, 10*time.Second, 10*time.Millisecond)
}

// A subscriber to all of a tenant's tasks that resumes after an event id
// gets every event of the tenant's tasks stored after it, in order per task,
// then the live ones: none before it, none of another tenant.
func TestASubscriberToAllTasksResumesAfterAnEventID(t *testing.T) {
	t.Parallel()
	b := setup(t, defaultBuffer)
	one := b.task(t, "acme")
	b.notes(t, one, 0, 2)
	b.settle(t)
	watching := b.subscribe(t, "acme", uuid.Nil, 0) // keeps the hub following acme's tasks
	var last int64
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT max(id) FROM task_events`).Scan(&last))

	two := b.task(t, "acme")
	b.notes(t, two, 0, 2)
	b.notes(t, one, 2, 1)
	b.notes(t, b.task(t, "globex"), 0, 1)
	require.Len(t, receive(t, watching, 4), 4)

	resumed := b.subscribe(t, "acme", uuid.Nil, last)
	got := map[uuid.UUID][]store.Event{}
	for _, e := range receive(t, resumed, 4) {
		require.Greater(t, e.ID, last, "nothing from before the resume point")
		got[e.TaskID] = append(got[e.TaskID], e)
	}
	require.Len(t, got, 2, "acme's tasks only")
	require.Equal(t, "created", got[two][0].Kind)
	requireInOrder(t, got[two][1:], two, 0)
	requireInOrder(t, got[one], one, 2)

	b.notes(t, one, 3, 1)
	requireInOrder(t, receive(t, resumed, 1), one, 3)
	requireQuiet(t, resumed)
}
