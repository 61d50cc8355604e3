// Package expr evaluates the CEL expressions and {{ }} templates of troupe
// definitions at run time. Evaluation is deterministic (map keys are
// iterated in sorted order, there is no clock) and bounded in cost, so it
// may run inside Temporal workflow code.
//
// Compiled programs are cached, by expression and variable names, in a
// bounded cache shared by the process: evaluating an expression again
// compiles nothing. The cache only memoises pure compilation, so it never
// changes a result.
package expr

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
)

// Vars are the variables visible to expressions: input, steps (step id →
// {"output": ...}), iteration inside loops, and a map's item variable.
// Values are plain JSON-like Go data; json.RawMessage and other types are
// converted through encoding/json.
type Vars map[string]any

// Eval compiles and evaluates a CEL expression. The result is plain Go data:
// map[string]any, []any, string, int64, float64, bool or nil.
func Eval(expr string, vars Vars) (any, error) {
	vars, err := plainVars(vars)
	if err != nil {
		return nil, err
	}
	return eval(expr, vars)
}

// EvalBool evaluates a CEL expression that must give a boolean.
func EvalBool(expr string, vars Vars) (bool, error) {
	v, err := Eval(expr, vars)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%s: gives %s, not true or false", expr, typeName(v))
	}
	return b, nil
}

// eval runs expr, compiled once for the names of vars, on plain vars.
func eval(expr string, vars Vars) (any, error) {
	prg, err := programs.program(expr, slices.Sorted(maps.Keys(vars)))
	if err != nil {
		return nil, err
	}
	out, _, err := prg.Eval(map[string]any(vars))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", expr, err)
	}
	v, err := toGo(out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", expr, err)
	}
	return v, nil
}

// Message is the message of a CEL error without its location prefix.
func Message(e *cel.Error) string {
	return strings.TrimSpace(e.Message)
}
