package definitions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
)

// segment is a piece of a template: literal text, or the CEL expression
// of a {{ }} part.
type segment struct {
	text   string
	expr   bool
	offset int // byte offset of text in the template
}

// templateError is a template that cannot be split into segments.
type templateError struct {
	offset int
	msg    string
}

func (e *templateError) Error() string { return e.msg }

// parseTemplate splits a template into text and {{ expression }} segments.
// The end of an expression is the first "}}" outside string literals and
// braces, so expressions may hold map literals and strings with braces.
func parseTemplate(t string) ([]segment, error) {
	var segs []segment
	rest, base := t, 0
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			if rest != "" {
				segs = append(segs, segment{text: rest, offset: base})
			}
			return segs, nil
		}
		if open > 0 {
			segs = append(segs, segment{text: rest[:open], offset: base})
		}
		start := open + 2
		end, ok := exprEnd(rest[start:])
		if !ok {
			return nil, &templateError{offset: base + open, msg: "{{ is never closed by }}"}
		}
		expr := rest[start : start+end]
		lead := len(expr) - len(strings.TrimLeft(expr, " \t\r\n"))
		if strings.TrimSpace(expr) == "" {
			return nil, &templateError{offset: base + open, msg: "{{ }} holds no expression"}
		}
		segs = append(segs, segment{text: strings.TrimSpace(expr), expr: true, offset: base + start + lead})
		rest, base = rest[start+end+2:], base+start+end+2
	}
}

// exprEnd returns the offset of the "}}" that closes an expression.
func exprEnd(s string) (int, bool) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'':
			quote := string(c)
			if strings.HasPrefix(s[i:], strings.Repeat(quote, 3)) {
				quote = strings.Repeat(quote, 3)
			}
			end := stringEnd(s[i+len(quote):], quote)
			if end < 0 {
				return 0, false
			}
			i += len(quote) + end + len(quote) - 1
		case '{':
			depth++
		case '}':
			if depth > 0 {
				depth--
			} else if strings.HasPrefix(s[i:], "}}") {
				return i, true
			}
		}
	}
	return 0, false
}

// stringEnd returns the offset of the closing quote of a CEL string
// literal, skipping backslash escapes, or -1.
func stringEnd(s, quote string) int {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case strings.HasPrefix(s[i:], quote):
			return i
		}
	}
	return -1
}

// Render renders a template: each {{ expression }} is replaced by its value,
// strings as they are and other values as compact JSON.
func Render(template string, vars Vars) (string, error) {
	segs, env, vars, err := prepare(template, vars)
	if err != nil {
		return "", err
	}
	return render(segs, env, vars)
}

// render evaluates the segments of a template.
func render(segs []segment, env *cel.Env, vars Vars) (string, error) {
	var b strings.Builder
	for _, seg := range segs {
		if !seg.expr {
			b.WriteString(seg.text)
			continue
		}
		v, err := eval(env, seg.text, vars)
		if err != nil {
			return "", err
		}
		s, err := stringify(v)
		if err != nil {
			return "", fmt.Errorf("%s: %w", seg.text, err)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// RenderValue renders a template that is a single {{ expression }}
// (whitespace aside) to the expression's raw value; any other template to
// the string Render gives.
func RenderValue(template string, vars Vars) (any, error) {
	segs, env, vars, err := prepare(template, vars)
	if err != nil {
		return nil, err
	}
	if expr, ok := single(segs); ok {
		return eval(env, expr, vars)
	}
	return render(segs, env, vars)
}

// single returns the expression of a template made of one expression.
func single(segs []segment) (string, bool) {
	expr, n := "", 0
	for _, seg := range segs {
		switch {
		case seg.expr:
			expr, n = seg.text, n+1
		case strings.TrimSpace(seg.text) != "":
			return "", false
		}
	}
	return expr, n == 1
}

// prepare parses a template and builds the environment its expressions
// are evaluated in.
func prepare(template string, vars Vars) ([]segment, *cel.Env, Vars, error) {
	segs, err := parseTemplate(template)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("template: %w", err)
	}
	vars, err = plainVars(vars)
	if err != nil {
		return nil, nil, nil, err
	}
	env, err := newEnv(slices.Sorted(maps.Keys(vars)))
	if err != nil {
		return nil, nil, nil, err
	}
	return segs, env, vars, nil
}

// stringify writes a value into rendered text: a string as it is, anything
// else as compact JSON.
func stringify(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("value has no JSON form: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
