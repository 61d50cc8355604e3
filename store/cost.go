package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// CostRow is the token and cost total of the tasks of one group. Group maps each requested
// dimension to its value (a day is "YYYY-MM-DD", UTC).
type CostRow struct {
	Group        map[string]string
	InputTokens  int64
	OutputTokens int64
	CostUSD      float64
	Tasks        int64
}

// costDimension returns the SQL expression grouping tasks by the dimension name.
func costDimension(name string) (string, error) {
	switch name {
	case "tenant":
		return "tenant_id", nil
	case "user":
		return "COALESCE(user_id_hash, '')", nil
	case "model":
		return "COALESCE(model, '')", nil
	case "type":
		return "type", nil
	case "day":
		return "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')", nil
	}
	return "", fmt.Errorf("%w: unknown cost dimension %q (want tenant, user, model, type or day)", ErrInvalid, name)
}

// Costs sums the tokens and cost of the tasks created in [from, to) by the dimensions of
// groupBy, any of "tenant", "user", "model", "type" and "day"; with no dimension it returns
// one row for all. An empty tenantID covers every tenant; a zero from or to leaves that end of
// the period open. Rows come ordered by their group values.
func (s *Store) Costs(ctx context.Context, tenantID string, groupBy []string, from, to time.Time) ([]CostRow, error) {
	columns := make([]string, 0, len(groupBy)+4)
	positions := make([]string, len(groupBy))
	for i, name := range groupBy {
		if slices.Contains(groupBy[:i], name) {
			return nil, fmt.Errorf("%w: cost dimension %q given twice", ErrInvalid, name)
		}
		expr, err := costDimension(name)
		if err != nil {
			return nil, err
		}
		columns = append(columns, expr)
		positions[i] = strconv.Itoa(i + 1)
	}
	columns = append(columns, "COALESCE(sum(input_tokens), 0)::bigint",
		"COALESCE(sum(output_tokens), 0)::bigint", "COALESCE(sum(cost_usd), 0)", "count(*)")
	var c conditions
	if tenantID != "" {
		c.add("tenant_id = $%d", tenantID)
	}
	if !from.IsZero() {
		c.add("created_at >= $%d", from)
	}
	if !to.IsZero() {
		c.add("created_at < $%d", to)
	}
	query := fmt.Sprintf("SELECT %s FROM tasks %s", strings.Join(columns, ", "), c.where())
	if len(groupBy) > 0 {
		list := strings.Join(positions, ", ")
		query += " GROUP BY " + list + " ORDER BY " + list
	}
	rows, err := s.pool.Query(ctx, query, c.args...)
	if err != nil {
		return nil, fmt.Errorf("sum costs: %w", err)
	}
	costs, err := collect(rows, func(row pgx.Row) (CostRow, error) {
		values := make([]string, len(groupBy))
		var r CostRow
		dest := make([]any, 0, len(columns))
		for i := range values {
			dest = append(dest, &values[i])
		}
		if err := row.Scan(append(dest, &r.InputTokens, &r.OutputTokens, &r.CostUSD, &r.Tasks)...); err != nil {
			return CostRow{}, err
		}
		r.Group = make(map[string]string, len(groupBy))
		for i, name := range groupBy {
			r.Group[name] = values[i]
		}
		return r, nil
	})
	if err != nil {
		return nil, fmt.Errorf("sum costs: %w", err)
	}
	return costs, nil
}
