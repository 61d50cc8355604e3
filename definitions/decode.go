package definitions

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// namePattern is what agent and workflow names look like.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// decoder turns the nodes of one file into definitions, collecting problems.
type decoder struct {
	file string
	errs Errors
	// grantNodes are where the grants of each agent decoded from the file
	// are, in the order of Agent.Tools.
	grantNodes map[*Agent][]*node
}

func (d *decoder) errorf(p pos, format string, args ...any) {
	d.errs = append(d.errs, Error{File: d.file, Line: p.line, Col: p.col, Message: fmt.Sprintf(format, args...)})
}

// fields calls the setter of each key of a mapping and reports keys that
// have none. It reports false when n is not a mapping.
func (d *decoder) fields(n *node, what string, setters map[string]func(*node)) bool {
	if !d.mapping(n, what) {
		return false
	}
	for _, e := range n.entries {
		if set, ok := setters[e.key]; ok {
			set(e.value)
			continue
		}
		known := slices.Sorted(maps.Keys(setters))
		if s := closest(e.key, known); s != "" {
			d.errorf(e.pos, "unknown field %q in %s; did you mean %q?", e.key, what, s)
		} else {
			d.errorf(e.pos, "unknown field %q in %s; known fields: %s", e.key, what, strings.Join(known, ", "))
		}
	}
	return true
}

// mapping checks that n is a mapping.
func (d *decoder) mapping(n *node, what string) bool {
	if n.kind != mapKind {
		d.errorf(n.pos, "%s must be a mapping, got %s", what, n.describe())
		return false
	}
	return true
}

// list checks that n is a non-empty list.
func (d *decoder) list(n *node, field string) bool {
	switch {
	case n.kind != listKind:
		d.errorf(n.pos, "%s must be a list of steps, got %s", field, n.describe())
		return false
	case len(n.items) == 0:
		d.errorf(n.pos, "%s must hold at least one step", field)
		return false
	}
	return true
}

// require reports a missing field of a block.
func (d *decoder) require(n *node, what, field, hint string) {
	if v := n.get(field); v == nil || v.kind == nullKind {
		d.errorf(n.pos, "%s has no %s; add %s", what, field, hint)
	}
}

// str decodes a string; null decodes as "".
func (d *decoder) str(n *node, field string) string {
	switch n.kind {
	case stringKind:
		return n.str
	case nullKind:
		return ""
	}
	d.errorf(n.pos, "%s must be a string, got %s (quote it to make it a string)", field, n.describe())
	return ""
}

// text decodes a string, or a number written as text (as in version: 1).
func (d *decoder) text(n *node, field string) string {
	if n.kind == intKind || n.kind == floatKind {
		return n.str
	}
	return d.str(n, field)
}

// name decodes the name of an agent or a workflow.
func (d *decoder) name(n *node, field string) string {
	s := d.str(n, field)
	if s != "" && !namePattern.MatchString(s) {
		d.errorf(n.pos, "%s %q must start with a lowercase letter and hold only a-z, 0-9, _ and -", field, s)
	}
	return s
}

// integer decodes a whole number of at least least.
func (d *decoder) integer(n *node, field string, least int) int {
	if n.kind == nullKind {
		return 0
	}
	var v int64
	switch x := n.val.(type) {
	case int64:
		v = x
	case uint64:
		v = int64(min(x, math.MaxInt32+1))
	default:
		d.errorf(n.pos, "%s must be a whole number, got %s", field, n.describe())
		return 0
	}
	if v > math.MaxInt32 {
		d.errorf(n.pos, "%s is too large", field)
		return 0
	}
	if v < int64(least) {
		d.errorf(n.pos, "%s must be at least %d, got %d", field, least, v)
	}
	return int(v)
}

// bounded decodes a whole number within [least, most].
func (d *decoder) bounded(n *node, field string, least, most int) int {
	v := d.integer(n, field, least)
	if v > most {
		d.errorf(n.pos, "%s must be at most %d, got %d", field, most, v)
	}
	return v
}

// number decodes a number within [low, high].
func (d *decoder) number(n *node, field string, low, high float64) float64 {
	var v float64
	switch x := n.val.(type) {
	case int64:
		v = float64(x)
	case uint64:
		v = float64(x)
	case float64:
		v = x
	default:
		d.errorf(n.pos, "%s must be a number, got %s", field, n.describe())
		return 0
	}
	if !(v >= low && v <= high) {
		d.errorf(n.pos, "%s must be between %s and %s, got %s", field, strconv.FormatFloat(low, 'f', -1, 64), strconv.FormatFloat(high, 'f', -1, 64), n.str)
	}
	return v
}

// duration decodes a positive duration written as "90s", "2m" or "1h30m".
func (d *decoder) duration(n *node, field string) Duration {
	if n.kind == nullKind {
		return 0
	}
	if n.kind != stringKind {
		d.errorf(n.pos, "%s must be a duration such as \"30s\", \"2m\" or \"1h\", got %s", field, n.describe())
		return 0
	}
	v, err := time.ParseDuration(n.str)
	if err != nil {
		d.errorf(n.pos, "%s: %q is not a duration; write it as \"30s\", \"2m\" or \"1h30m\"", field, n.str)
		return 0
	}
	if v <= 0 {
		d.errorf(n.pos, "%s must be positive, got %s", field, n.str)
	}
	return Duration(v)
}

// oneOf decodes a string that must be one of allowed; "" gives allowed[0].
func (d *decoder) oneOf(n *node, field string, allowed ...string) string {
	s := d.str(n, field)
	if s == "" {
		return allowed[0]
	}
	if !slices.Contains(allowed, s) {
		d.errorf(n.pos, "%s must be one of %s, got %q", field, strings.Join(allowed, ", "), s)
	}
	return s
}

// stringList decodes a list of strings.
func (d *decoder) stringList(n *node, field string) []string {
	if n.kind == nullKind {
		return nil
	}
	if n.kind != listKind {
		d.errorf(n.pos, "%s must be a list of strings, got %s", field, n.describe())
		return nil
	}
	out := make([]string, 0, len(n.items))
	for _, item := range n.items {
		out = append(out, d.str(item, field+" item"))
	}
	return out
}

// shown is a value as messages show it: a string quoted, else its kind.
func shown(n *node) string {
	if n.kind == stringKind {
		return strconv.Quote(n.str)
	}
	return n.describe()
}

// closest returns the candidate nearest to s in edit distance, when it is
// near enough to be a likely typo, else "".
func closest(s string, candidates []string) string {
	best, bestDist := "", len(s)/3+2
	for _, c := range candidates {
		if dist := editDistance(s, c); dist < bestDist && dist < len(s) && dist < len(c) {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
