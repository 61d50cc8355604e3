package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stats is how a tenant's work went in a window of time.
type Stats struct {
	From, To time.Time
	// Types counts the tasks created in the window by type and status.
	Types []TypeStats
	// Durations are those of the tasks that finished in the window, from
	// start to finish.
	Durations Durations
	// Models sums the LLM calls made in the window by model.
	Models []ModelStats
}

// TypeStats counts the tasks of one type by status.
type TypeStats struct {
	Type     string
	ByStatus map[Status]int64
}

// Durations are percentiles of task durations, in seconds.
type Durations struct {
	Count         int64
	P50, P95, P99 float64
}

// ModelStats sums the LLM calls of one model.
type ModelStats struct {
	Model                     string
	Calls, Errors             int64
	InputTokens, OutputTokens int64
	CostUSD                   float64
}

const statsTypes = `
SELECT type, status, count(*) FROM tasks
WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3
GROUP BY type, status ORDER BY type, status`

const statsDurations = `
SELECT count(*), coalesce(percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP
	(ORDER BY extract(epoch FROM finished_at - started_at)), ARRAY[0, 0, 0]::float8[])
FROM tasks
WHERE finished_at >= $2 AND finished_at < $3 AND tenant_id = $1 AND started_at IS NOT NULL`

const statsModels = `
SELECT model, count(*), count(*) FILTER (WHERE error IS NOT NULL),
	sum(input_tokens), sum(output_tokens), sum(cost_usd)::float8
FROM llm_calls
WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3
GROUP BY model ORDER BY model`

// Stats reads the tenant's figures for [from, to): each query goes through
// an index on its time column (tasks by tenant and creation, tasks by
// finish, LLM calls by tenant and creation), so its cost follows the window,
// not the table.
func (s *Store) Stats(ctx context.Context, tenantID string, from, to time.Time) (Stats, error) {
	if tenantID == "" || !from.Before(to) {
		return Stats{}, fmt.Errorf("%w: stats need a tenant and a window that ends after it starts", ErrInvalid)
	}
	st := Stats{From: from, To: to, Types: []TypeStats{}, Models: []ModelStats{}}
	rows, err := s.pool.Query(ctx, statsTypes, tenantID, from, to)
	if err != nil {
		return Stats{}, fmt.Errorf("stats by type: %w", err)
	}
	for rows.Next() {
		var typ string
		var status Status
		var n int64
		if err := rows.Scan(&typ, &status, &n); err != nil {
			rows.Close()
			return Stats{}, fmt.Errorf("stats by type: %w", err)
		}
		if len(st.Types) == 0 || st.Types[len(st.Types)-1].Type != typ {
			st.Types = append(st.Types, TypeStats{Type: typ, ByStatus: map[Status]int64{}})
		}
		st.Types[len(st.Types)-1].ByStatus[status] = n
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("stats by type: %w", err)
	}
	var p []float64
	if err := s.pool.QueryRow(ctx, statsDurations, tenantID, from, to).Scan(&st.Durations.Count, &p); err != nil {
		return Stats{}, fmt.Errorf("stats of durations: %w", err)
	}
	st.Durations.P50, st.Durations.P95, st.Durations.P99 = p[0], p[1], p[2]
	rows, err = s.pool.Query(ctx, statsModels, tenantID, from, to)
	if err != nil {
		return Stats{}, fmt.Errorf("stats by model: %w", err)
	}
	st.Models, err = collect(rows, func(r pgx.Row) (ModelStats, error) {
		var m ModelStats
		err := r.Scan(&m.Model, &m.Calls, &m.Errors, &m.InputTokens, &m.OutputTokens, &m.CostUSD)
		return m, err
	})
	if err != nil {
		return Stats{}, fmt.Errorf("stats by model: %w", err)
	}
	return st, nil
}
