package llm

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"
)

// maxSchemaDepth bounds the nesting of generated values, so a schema whose
// required properties recurse forever fails instead of looping.
const maxSchemaDepth = 32

// schemaValue builds a minimal JSON value valid against schema: objects get
// their required properties (and more, in name order, up to minProperties),
// arrays minItems elements, booleans true, numbers 0 or the nearest allowed
// bound, enums and consts their first value, strings text (or a fixed sample
// for the date-time, date, time, email, uri, uuid, hostname and ip formats),
// cut or padded with "x" to fit minLength/maxLength. anyOf/oneOf use their
// first branch, allOf merges its branches, local $refs are followed; pattern
// and uniqueItems are not honoured.
func schemaValue(schema any, text string) (any, error) {
	g := valueGen{root: schema, text: text}
	return g.value(schema, 0)
}

// valueGen holds what every step of schemaValue needs.
type valueGen struct {
	root any    // the whole schema, for $ref
	text string // string values
}

func (g valueGen) value(schema any, depth int) (any, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("schema nests deeper than %d levels", maxSchemaDepth)
	}
	m, err := g.object(schema)
	if err != nil {
		return nil, err
	}
	if m == nil { // schema true: anything goes
		return g.text, nil
	}
	if ref, ok := m["$ref"].(string); ok {
		return g.merged(m, "$ref", []any{map[string]any{"$ref": ref}}, depth)
	}
	if c, ok := m["const"]; ok {
		return c, nil
	}
	if enum := asSlice(m["enum"]); len(enum) > 0 {
		return enum[0], nil
	}
	if all := asSlice(m["allOf"]); len(all) > 0 {
		return g.merged(m, "allOf", all, depth)
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if alts := asSlice(m[k]); len(alts) > 0 {
			return g.merged(m, k, alts[:1], depth)
		}
	}
	switch schemaType(m) {
	case "object":
		return g.objectValue(m, depth)
	case "array":
		return g.arrayValue(m, depth)
	case "integer":
		return numberValue(m, true), nil
	case "number":
		return numberValue(m, false), nil
	case "boolean":
		return true, nil
	case "null":
		return nil, nil
	default:
		return stringValue(m, g.text), nil
	}
}

// object returns schema as a map; nil means the schema accepts anything.
func (g valueGen) object(schema any) (map[string]any, error) {
	switch s := schema.(type) {
	case nil:
		return nil, nil
	case bool:
		if !s {
			return nil, errors.New("schema false accepts no value")
		}
		return nil, nil
	case map[string]any:
		return s, nil
	default:
		return nil, fmt.Errorf("schema must be an object or a boolean, not %T", schema)
	}
}

// merged generates a value for m with key removed and the subschemas
// folded in: properties and required are united, other keywords of m win.
func (g valueGen) merged(m map[string]any, key string, subs []any, depth int) (any, error) {
	out := maps.Clone(m)
	delete(out, key)
	for _, sub := range subs {
		s, err := g.object(sub)
		if err != nil {
			return nil, err
		}
		if ref, ok := s["$ref"].(string); ok && len(s) == 1 {
			target, err := g.resolve(ref)
			if err != nil {
				return nil, err
			}
			if s, err = g.object(target); err != nil {
				return nil, err
			}
		}
		for k, v := range s {
			switch k {
			case "properties":
				props, _ := out[k].(map[string]any)
				props = maps.Clone(props)
				if props == nil {
					props = map[string]any{}
				}
				sp, _ := v.(map[string]any)
				for name, ps := range sp {
					if _, ok := props[name]; !ok {
						props[name] = ps
					}
				}
				out[k] = props
			case "required":
				out[k] = append(slices.Clip(asSlice(out[k])), asSlice(v)...)
			default:
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	return g.value(out, depth+1)
}

// resolve follows a local $ref ("#", "#/$defs/name", ...) within the root schema.
func (g valueGen) resolve(ref string) (any, error) {
	pointer, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only local references (#/...) are supported", ref)
	}
	pointer, err := url.PathUnescape(pointer)
	if err != nil {
		return nil, fmt.Errorf("$ref %q: %w", ref, err)
	}
	cur := g.root
	for tok := range strings.SplitSeq(strings.TrimPrefix(pointer, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: %q is not inside an object", ref, tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("$ref %q: %q not found", ref, tok)
		}
	}
	return cur, nil
}

func (g valueGen) objectValue(m map[string]any, depth int) (any, error) {
	props, _ := m["properties"].(map[string]any)
	out := map[string]any{}
	add := func(name string) error {
		if _, done := out[name]; done {
			return nil
		}
		sub, ok := props[name]
		if !ok {
			sub = m["additionalProperties"]
		}
		v, err := g.value(sub, depth+1)
		if err != nil {
			return fmt.Errorf("property %s: %w", name, err)
		}
		out[name] = v
		return nil
	}
	for _, r := range asSlice(m["required"]) {
		if name, ok := r.(string); ok {
			if err := add(name); err != nil {
				return nil, err
			}
		}
	}
	minProps, _ := num(m["minProperties"])
	for _, name := range slices.Sorted(maps.Keys(props)) {
		if float64(len(out)) >= minProps {
			break
		}
		if err := add(name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (g valueGen) arrayValue(m map[string]any, depth int) (any, error) {
	minItems, _ := num(m["minItems"])
	prefix := asSlice(m["prefixItems"])
	out := make([]any, 0, int(minItems))
	for i := range int(minItems) {
		sub := m["items"]
		if i < len(prefix) {
			sub = prefix[i]
		}
		v, err := g.value(sub, depth+1)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// numberValue is 0, moved inside the schema's bounds and onto its multipleOf.
func numberValue(m map[string]any, integer bool) float64 {
	v := 0.0
	if lo, ok := num(m["minimum"]); ok {
		v = lo
	}
	if lo, ok := num(m["exclusiveMinimum"]); ok && v <= lo {
		v = lo + 1
	}
	if hi, ok := num(m["maximum"]); ok && v > hi {
		v = hi
	}
	if hi, ok := num(m["exclusiveMaximum"]); ok && v >= hi {
		v = hi - 1
	}
	if integer {
		v = math.Ceil(v)
	}
	if step, ok := num(m["multipleOf"]); ok && step > 0 {
		v = math.Ceil(v/step) * step
	}
	return v
}

// formatSamples are valid values for the string formats a schema may assert.
var formatSamples = map[string]string{
	"date-time":     "2000-01-01T00:00:00Z",
	"date":          "2000-01-01",
	"time":          "00:00:00Z",
	"email":         "mock@example.com",
	"uri":           "https://example.com/mock",
	"uri-reference": "https://example.com/mock",
	"iri":           "https://example.com/mock",
	"uuid":          "00000000-0000-4000-8000-000000000000",
	"hostname":      "example.com",
	"ipv4":          "192.0.2.1",
	"ipv6":          "2001:db8::1",
}

// stringValue is text (or the sample of the schema's format) fitted to
// minLength and maxLength.
func stringValue(m map[string]any, text string) string {
	format, _ := m["format"].(string)
	s := []rune(text)
	if sample, ok := formatSamples[format]; ok {
		s = []rune(sample)
	}
	if hi, ok := num(m["maxLength"]); ok && float64(len(s)) > hi {
		s = s[:int(hi)]
	}
	if lo, ok := num(m["minLength"]); ok && float64(len(s)) < lo {
		s = append(s, []rune(strings.Repeat("x", int(lo)-len(s)))...)
	}
	return string(s)
}

// schemaType is the type a value for m should have: the first non-null
// entry of "type", else guessed from the keywords present, else "" (any).
func schemaType(m map[string]any) string {
	switch t := m["type"].(type) {
	case string:
		return t
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && s != "null" {
				return s
			}
		}
		if len(t) > 0 {
			return "null"
		}
	}
	has := func(keys ...string) bool {
		return slices.ContainsFunc(keys, func(k string) bool { _, ok := m[k]; return ok })
	}
	switch {
	case has("properties", "required", "additionalProperties", "minProperties"):
		return "object"
	case has("items", "prefixItems", "minItems"):
		return "array"
	case has("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
		return "number"
	}
	return ""
}

// hasType reports whether m's "type" names t (alone or in a list).
func hasType(m map[string]any, t string) bool {
	switch v := m["type"].(type) {
	case string:
		return v == t
	case []any:
		return slices.Contains(v, any(t))
	}
	return false
}

// asSlice returns v as a JSON array, nil if it is not one.
func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// num returns v as a JSON number.
func num(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}
