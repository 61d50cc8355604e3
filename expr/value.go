package expr

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

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
