package expr

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// vars are the variables of a step in the middle of a run.
func vars() Vars {
	return Vars{
		"input": json.RawMessage(`{"topic": "otters", "count": 3, "tags": ["a", "b"], "meta": {"z": 1, "a": 2}}`),
		"steps": map[string]any{
			"research": map[string]any{"output": map[string]any{"text": "Otters hold hands."}},
			"assess":   map[string]any{"output": map[string]any{"approved": false, "feedback": "Cite <sources> & dates"}},
		},
		"iteration": int64(2),
		"doc":       map[string]string{"title": "T"}, // any JSON-like value is accepted
	}
}

func TestEval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want any
	}{
		{"input.topic", "otters"},
		{"input.count", float64(3)},
		{"input.count == 3 && input.count > 2", true},
		{"iteration + 1", int64(3)},
		{"input.tags", []any{"a", "b"}},
		{"input.meta", map[string]any{"a": float64(2), "z": float64(1)}},
		{"input.meta.map(k, k)", []any{"a", "z"}}, // map keys iterate in sorted order
		{"steps.assess.output.approved", false},
		{"has(steps.assess)", true},
		{"has(steps.missing)", false},
		{"'research' in steps", true},
		{"doc.title", "T"},
		{"null", nil},
		{"input.tags.join('+')", "a+b"},
		{"{'n': size(input.tags)}", map[string]any{"n": int64(2)}},
	}
	for _, tt := range tests {
		got, err := Eval(tt.expr, vars())
		require.NoError(t, err, tt.expr)
		require.Equal(t, tt.want, got, tt.expr)
	}
}

func TestEvalErrors(t *testing.T) {
	t.Parallel()
	_, err := Eval("input.nope", vars())
	require.EqualError(t, err, "input.nope: no such key: nope")
	_, err = Eval("input.", vars())
	require.ErrorContains(t, err, "input.: Syntax error")
	_, err = Eval("nobody", vars())
	require.ErrorContains(t, err, "undeclared reference to 'nobody'")
	_, err = Eval("[1, 2, 3].map(x, [1, 2, 3].map(y, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(z, 'abc' + string(x+y+z))))", vars())
	require.NoError(t, err, "reasonable work is allowed")
	_, err = Eval("[1,2,3,4,5,6,7,8,9,10].map(a, [1,2,3,4,5,6,7,8,9,10].map(b, [1,2,3,4,5,6,7,8,9,10].map(c, [1,2,3,4,5,6,7,8,9,10].map(d, [1,2,3,4,5,6,7,8,9,10].map(e, [1,2,3,4,5,6,7,8,9,10].map(f, a+b+c+d+e+f))))))", vars())
	require.ErrorContains(t, err, "cost limit exceeded", "runaway expressions are stopped")
	_, err = Eval("input", Vars{"input": make(chan int)})
	require.ErrorContains(t, err, "variable input: not JSON-like")
}

func TestEvalIteratesMapsInKeyOrder(t *testing.T) {
	t.Parallel()
	m := map[string]any{}
	var keys []any
	for c := 'a'; c <= 'z'; c++ {
		m[string(c)] = map[string]any{string(c): true}
		keys = append(keys, string(c))
	}
	for range 20 {
		got, err := Eval("[input.map(k, k), input.a.map(k, k)]", Vars{"input": m})
		require.NoError(t, err)
		require.Equal(t, []any{keys, []any{"a"}}, got)
		got, err = Eval("input.filter(k, k > 'w')", Vars{"input": []any{m}[0]})
		require.NoError(t, err)
		require.Equal(t, []any{"x", "y", "z"}, got)
	}
}

func TestEvalBool(t *testing.T) {
	t.Parallel()
	ok, err := EvalBool("has(steps.assess) && !steps.assess.output.approved", vars())
	require.NoError(t, err)
	require.True(t, ok)
	_, err = EvalBool("input.topic", vars())
	require.EqualError(t, err, "input.topic: gives a string, not true or false")
}
