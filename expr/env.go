package expr

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
)

// Env returns the CEL environment of expressions that see the given
// variables, all declared as dyn: the one Eval and Render use, so that a
// definition checked with it evaluates the same way at run time. It is
// built once per set of names (their order does not matter).
func Env(names []string) (*cel.Env, error) {
	return programs.env(slices.Sorted(slices.Values(names)))
}

// newEnv builds the environment of a sorted set of variable names.
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
		return nil, fmt.Errorf("expression environment (%s): %w", strings.Join(names, ", "), err)
	}
	return env, nil
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
