package store_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

// seedTasks inserts n finished tasks of tenant acme spread over the 30 days
// before now, with an LLM call each, straight in SQL.
func seedTasks(b *testing.B, n int, now time.Time) *store.Store {
	b.Helper()
	pool, err := store.Connect(context.Background(), storetest.NewDB(b))
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	_, err = pool.Exec(context.Background(), `
INSERT INTO tasks (id, tenant_id, type, status, model, created_at, updated_at, started_at, finished_at)
SELECT gen_random_uuid(), 'acme', 'type' || (i % 20), (ARRAY['completed','failed','canceled'])[1 + i % 3], 'gpt-4o',
	at, at, at, at + (i % 300) * interval '1 second'
FROM generate_series(1, $1) AS i, LATERAL (SELECT $2::timestamptz - (i::float8 / $1) * interval '30 days' AS at) t`, n, now)
	require.NoError(b, err)
	_, err = pool.Exec(context.Background(), `
INSERT INTO llm_calls (task_id, call_key, attempt, provider, model, input_tokens, output_tokens, cost_usd, created_at)
SELECT id, 'k', 1, 'openai', 'gpt-4o', 100, 10, 0.001, created_at FROM tasks`)
	require.NoError(b, err)
	_, err = pool.Exec(context.Background(), `ANALYZE`)
	require.NoError(b, err)
	return store.New(pool)
}

// BenchmarkStats reads an hour's figures out of 30 days of tasks: 10,000
// (the baseline) and TROUPE_BENCH_TASKS (default a million). The indexes keep
// the cost with the window: compare the two ns/op.
//
//	TEST_DATABASE_URL=... go test -run '^$' -bench BenchmarkStats ./store/
func BenchmarkStats(b *testing.B) {
	now := time.Now()
	big := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("TROUPE_BENCH_TASKS")); err == nil && v > 0 {
		big = v
	}
	for _, n := range []int{10_000, big} {
		b.Run(strconv.Itoa(n)+"_tasks", func(b *testing.B) {
			s := seedTasks(b, n, now)
			b.ResetTimer()
			for b.Loop() {
				st, err := s.Stats(context.Background(), "acme", now.Add(-time.Hour), now)
				require.NoError(b, err)
				require.NotEmpty(b, st.Types)
			}
		})
	}
}
