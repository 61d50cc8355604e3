package store

import (
	"fmt"
	"strings"
)

// conditions collects the WHERE clauses of a list query and their arguments.
type conditions struct {
	clauses []string
	args    []any
}

// add appends clause, whose "$%d" verbs are replaced by the positions of vals.
func (c *conditions) add(clause string, vals ...any) {
	positions := make([]any, len(vals))
	for i, v := range vals {
		c.args = append(c.args, v)
		positions[i] = len(c.args)
	}
	c.clauses = append(c.clauses, fmt.Sprintf(clause, positions...))
}

// where returns the WHERE clause, or "" when there is no condition.
func (c *conditions) where() string {
	if len(c.clauses) == 0 {
		return ""
	}
	return "WHERE " + strings.Join(c.clauses, " AND ")
}
