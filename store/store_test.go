package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

// bundle is what most store tests need.
type bundle struct {
	ctx   context.Context
	store *store.Store
	// pool reaches the database directly, for checks the store's API does not offer.
	pool  *pgxpool.Pool
	clock *clock
}

// setup returns a Store on a database of the test's own, with a clock the test controls.
func setup(t *testing.T) bundle {
	t.Helper()
	t.Parallel()
	return connect(t, storetest.NewDB(t))
}

// connect returns a bundle on the database at dbURL.
func connect(t *testing.T, dbURL string) bundle {
	t.Helper()
	pool, err := store.Connect(t.Context(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	c := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := store.New(pool)
	s.Now = c.Now
	return bundle{ctx: t.Context(), store: s, pool: pool, clock: c}
}

// clock is a time source that only moves when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// createTask creates a task of tenant with defaults for what the test does not care about.
func (b bundle) createTask(t *testing.T, nt store.NewTask) store.Task {
	t.Helper()
	if nt.TenantID == "" {
		nt.TenantID = "acme"
	}
	if nt.Type == "" {
		nt.Type = "summarize"
	}
	if nt.Input == nil {
		nt.Input = []byte(`{"text":"hello"}`)
	}
	task, created, err := b.store.CreateTask(b.ctx, nt)
	require.NoError(t, err)
	require.True(t, created)
	return task
}

// count returns the number of rows of table matching where (a condition on $1).
func (b bundle) count(t *testing.T, table, where string, arg any) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, "SELECT count(*) FROM "+table+" WHERE "+where, arg).Scan(&n))
	return n
}

func TestConnectAndPing(t *testing.T) {
	b := setup(t)
	require.NoError(t, b.store.Ping(b.ctx))

	_, err := store.Connect(b.ctx, "postgres://postgres@127.0.0.1:1/nope?sslmode=disable&connect_timeout=2")
	require.Error(t, err)
}

func TestStatusTerminal(t *testing.T) {
	for _, s := range []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusCanceled, store.StatusTimedOut} {
		require.True(t, s.Terminal(), s)
		require.True(t, s.Valid(), s)
	}
	for _, s := range []store.Status{store.StatusPending, store.StatusRunning} {
		require.False(t, s.Terminal(), s)
		require.True(t, s.Valid(), s)
	}
	require.False(t, store.Status("done").Valid())
}

func TestWorkflowID(t *testing.T) {
	id := uuid.MustParse("0195a0e4-0000-7000-8000-000000000001")
	require.Equal(t, "task-0195a0e4-0000-7000-8000-000000000001", store.WorkflowID(id))
}
