package definitions

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
)

// Vars are the variables visible to expressions: input, steps (step id →
// {"output": ...}), iteration inside loops, and a map's item variable.
// Values are plain JSON-like Go data; json.RawMessage and other types are
// converted through encoding/json.
type Vars map[string]any

// costLimit bounds the work of one evaluation (about one unit per
// operation), so a definition cannot make a worker spin.
const costLimit = 1_000_000

// Eval compiles and evaluates a CEL expression. The result is plain Go data:
// map[string]any, []any, string, int64, float64, bool or nil. Evaluation is
// deterministic (map keys are iterated in sorted order, there is no clock),
// so it may run inside workflow code.
func Eval(expr string, vars Vars) (any, error) {
	vars, err := plainVars(vars)
	if err != nil {
		return nil, err
	}
	env, err := newEnv(slices.Sorted(maps.Keys(vars)))
	if err != nil {
		return nil, err
	}
	return eval(env, expr, vars)
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

// newEnv returns a CEL environment declaring the given variables as dyn.
func newEnv(names []string) (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.CrossTypeNumericComparisons(true),
		cel.CustomTypeAdapter(sortedAdapter{types.DefaultTypeAdapter}),
		cel.ParserExpressionSizeLimit(10_000),
		ext.Strings(),
	}
	for _, name := range names {
		opts = append(opts, cel.Variable(name, cel.DynType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("expression environment: %w", err)
	}
	return env, nil
}

// eval compiles and runs expr in env.
func eval(env *cel.Env, expr string, vars Vars) (any, error) {
	ast, iss := env.Compile(expr)
	if err := iss.Err(); err != nil {
		return nil, fmt.Errorf("%s: %s", expr, celMessage(iss.Errors()[0]))
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", expr, err)
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

// celMessage is the message of a CEL error without its location prefix.
func celMessage(e *cel.Error) string {
	return strings.TrimSpace(e.Message)
}

// plainVars converts the variables to plain JSON-like data.
func plainVars(vars Vars) (Vars, error) {
	out := make(Vars, len(vars))
	for k, v := range vars {
		p, err := plainValue(v)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", k, err)
		}
		out[k] = p
	}
	return out, nil
}

func plainValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, float64, int64, int:
		return x, nil
	case json.RawMessage:
		if len(x) == 0 {
			return nil, nil
		}
		var out any
		if err := json.Unmarshal(x, &out); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			p, err := plainValue(item)
			if err != nil {
				return nil, err
			}
			out[k] = p
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			p, err := plainValue(item)
			if err != nil {
				return nil, err
			}
			out[i] = p
		}
		return out, nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not JSON-like: %w", err)
	}
	return plainValue(json.RawMessage(data))
}

// sortedAdapter presents Go maps to CEL with their keys in sorted order, so
// that comprehensions over maps are deterministic.
type sortedAdapter struct{ types.Adapter }

// NativeToValue converts maps and lists itself so that nested maps are
// sorted too.
func (a sortedAdapter) NativeToValue(v any) ref.Val {
	switch x := v.(type) {
	case map[string]any:
		return sortedMap{Mapper: types.NewStringInterfaceMap(a, x), keys: slices.Sorted(maps.Keys(x)), adapter: a}
	case []any:
		return types.NewDynamicList(a, x)
	}
	return a.Adapter.NativeToValue(v)
}

// sortedMap is a CEL map iterated in key order.
type sortedMap struct {
	traits.Mapper
	keys    []string
	adapter types.Adapter
}

// Iterator iterates the keys in sorted order.
func (m sortedMap) Iterator() traits.Iterator {
	return types.NewStringList(m.adapter, m.keys).Iterator()
}

// toGo converts a CEL value to plain Go data.
func toGo(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		if x > math.MaxInt64 {
			return float64(x), nil
		}
		return int64(x), nil
	case types.Double:
		return float64(x), nil
	case types.String:
		return string(x), nil
	case types.Bytes:
		return string(x), nil
	case types.Duration:
		return x.Duration.String(), nil
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339Nano), nil
	case *types.Err:
		return nil, x
	case traits.Mapper:
		out := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			item, err := toGo(x.Get(k))
			if err != nil {
				return nil, err
			}
			key, err := toGo(k)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(key)] = item
		}
		return out, nil
	case traits.Lister:
		out := []any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			item, err := toGo(it.Next())
			if err != nil {
				return nil, err
			}
			out = append(out, item)
		}
		return out, nil
	case ref.Type:
		return x.TypeName(), nil
	}
	return nil, errors.New("gives a value of type " + v.Type().TypeName() + ", which has no JSON form")
}

// typeName names the type of a plain value for messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case int64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%T", v)
}
