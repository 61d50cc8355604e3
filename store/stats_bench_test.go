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

// seedTasks inserts, straight in SQL, 1,000 finished tasks of tenant acme
// in the hour before now and old more in the 30 days before that, with an
// LLM call each.
func seedTasks(b *testing.B, old int, now time.Time) *store.Store {
	b.Helper()
	pool, err := store.Connect(context.Background(), storetest.NewDB(b))
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	for _, span := range []struct {
		n        int
		from, to time.Time
	}{{1000, now.Add(-time.Hour), now}, {old, now.Add(-31 * 24 * time.Hour), now.Add(-time.Hour)}} {
		_, err = pool.Exec(context.Background(), `
INSERT INTO tasks (id, tenant_id, type, status, model, created_at, updated_at, started_at, finished_at)
SELECT gen_random_uuid(), 'acme', 'type' || (i % 20), (ARRAY['completed','failed','canceled'])[1 + i % 3], 'gpt-4o',
	at, at, at, at + (i % 300) * interval '1 millisecond'
FROM generate_series(1, $1) AS i,
	LATERAL (SELECT $2::timestamptz + (i::float8 / ($1 + 1)) * ($3::timestamptz - $2::timestamptz) AS at) t`,
			span.n, span.from, span.to)
		require.NoError(b, err)
	}
	_, err = pool.Exec(context.Background(), `
INSERT INTO llm_calls (task_id, tenant_id, call_key, attempt, provider, model, input_tokens, output_tokens, cost_usd, created_at)
SELECT id, tenant_id, 'k', 1, 'openai', 'gpt-4o', 100, 10, 0.001, created_at FROM tasks`)
	require.NoError(b, err)
	_, err = pool.Exec(context.Background(), `ANALYZE`)
	require.NoError(b, err)
	return store.New(pool)
}

// BenchmarkStats reads the figures of the last hour, which holds 1,000
// tasks, in a table that holds nothing more (the baseline) and in one that
// also holds TROUPE_BENCH_TASKS older tasks (default a million). The indexes
// keep the cost with the window: compare the two ns/op.
//
//	TEST_DATABASE_URL=... go test -run '^$' -bench BenchmarkStats ./store/
func BenchmarkStats(b *testing.B) {
	now := time.Now()
	big := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("TROUPE_BENCH_TASKS")); err == nil && v > 0 {
		big = v
	}
	for _, old := range []int{0, big} {
		b.Run(strconv.Itoa(old)+"_older_tasks", func(b *testing.B) {
			s := seedTasks(b, old, now)
			b.ResetTimer()
			for b.Loop() {
				st, err := s.Stats(context.Background(), "acme", now.Add(-time.Hour), now)
				require.NoError(b, err)
				require.Len(b, st.Types, 20)
			}
		})
	}
}
