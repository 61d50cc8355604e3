package definitions

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem at a position of a definition file. Line and Col are
// 1-based; they are 0 when the problem concerns the whole file.
type Error struct {
	File    string
	Line    int
	Col     int
	Message string
}

// Error formats the problem as "file:line:col: message".
func (e Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Message)
}

// Errors are the problems found in a set of files, sorted by file, line and
// column. Load and Validate return them as their error.
type Errors []Error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// err returns the sorted problems as an error, or nil when there are none.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	slices.SortStableFunc(es, func(a, b Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return es
}
