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

// BenchmarkStats reads, for tenant acme, the figures of the last hour (1,000
// tasks), the first two pages of its task list (unfiltered, and by status
// and type) and its costs of the last hour, in a table that also holds
// 10,000 older tasks (the baseline) and in one that holds TROUPE_BENCH_TASKS
// (default a million): the indexes keep each cost flat, so compare the ns/op
// of the two sizes.
//
//	TEST_DATABASE_URL=... go test -run '^$' -bench BenchmarkStats ./store/
func BenchmarkStats(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	big := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("TROUPE_BENCH_TASKS")); err == nil && v > 0 {
		big = v
	}
	for _, old := range []int{10_000, big} {
		s := seedTasks(b, old, now)
		bench := func(name string, read func()) {
			b.Run(strconv.Itoa(old)+"_older_tasks/"+name, func(b *testing.B) {
				for b.Loop() {
					read()
				}
			})
		}
		bench("stats_1h", func() {
			st, err := s.Stats(ctx, "acme", now.Add(-time.Hour), now)
			require.NoError(b, err)
			require.Len(b, st.Types, 20)
		})
		for _, f := range []store.TaskFilter{{TenantID: "acme", Limit: 50}, {TenantID: "acme", Status: store.StatusFailed, Type: "type7", Limit: 50}} {
			name := "tasks_two_pages"
			if f.Status != "" {
				name += "_by_status_and_type"
			}
			bench(name, func() {
				first, next, err := s.ListTasks(ctx, f)
				require.NoError(b, err)
				require.Len(b, first, 50)
				f := f
				f.Cursor = next
				second, _, err := s.ListTasks(ctx, f)
				require.NoError(b, err)
				require.Len(b, second, 50)
			})
		}
		bench("costs_1h_by_model", func() {
			rows, err := s.Costs(ctx, "acme", []string{"model"}, now.Add(-time.Hour), now)
			require.NoError(b, err)
			require.NotEmpty(b, rows)
		})
	}
}
