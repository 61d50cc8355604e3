package expr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Segment is a piece of a template: literal text, or the CEL expression
// of a {{ }} part.
type Segment struct {
	Text   string
	Expr   bool
	Offset int // byte offset of Text in the template
}

// TemplateError is a template that cannot be split into segments.
type TemplateError struct {
	Offset int // byte offset of the problem in the template
	Msg    string
}

// Error returns the message.
func (e *TemplateError) Error() string { return e.Msg }

// ParseTemplate splits a template into text and {{ expression }} segments.
// The end of an expression is the first "}}" outside string literals and
// braces, so expressions may hold map literals and strings with braces.
func ParseTemplate(t string) ([]Segment, error) {
	var segs []Segment
	rest, base := t, 0
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			if rest != "" {
				segs = append(segs, Segment{Text: rest, Offset: base})
			}
			return segs, nil
		}
		if open > 0 {
			segs = append(segs, Segment{Text: rest[:open], Offset: base})
		}
		start := open + 2
		end, ok := exprEnd(rest[start:])
		if !ok {
			return nil, &TemplateError{Offset: base + open, Msg: "{{ is never closed by }}"}
		}
		expr := rest[start : start+end]
		lead := len(expr) - len(strings.TrimLeft(expr, " \t\r\n"))
		if strings.TrimSpace(expr) == "" {
			return nil, &TemplateError{Offset: base + open, Msg: "{{ }} holds no expression"}
		}
		segs = append(segs, Segment{Text: strings.TrimSpace(expr), Expr: true, Offset: base + start + lead})
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
	segs, vars, err := prepare(template, vars)
	if err != nil {
		return "", err
	}
	return render(segs, vars)
}

// render evaluates the segments of a template.
func render(segs []Segment, vars Vars) (string, error) {
	var b strings.Builder
	for _, seg := range segs {
		if !seg.Expr {
			b.WriteString(seg.Text)
			continue
		}
		v, err := eval(seg.Text, vars)
		if err != nil {
			return "", err
		}
		s, err := stringify(v)
		if err != nil {
			return "", fmt.Errorf("%s: %w", seg.Text, err)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// RenderValue renders a template that is a single {{ expression }}
// (whitespace aside) to the expression's raw value; any other template to
// the string Render gives.
func RenderValue(template string, vars Vars) (any, error) {
	segs, vars, err := prepare(template, vars)
	if err != nil {
		return nil, err
	}
	if expr, ok := single(segs); ok {
		return eval(expr, vars)
	}
	return render(segs, vars)
}

// single returns the expression of a template made of one expression.
func single(segs []Segment) (string, bool) {
	expr, n := "", 0
	for _, seg := range segs {
		switch {
		case seg.Expr:
			expr, n = seg.Text, n+1
		case strings.TrimSpace(seg.Text) != "":
			return "", false
		}
	}
	return expr, n == 1
}

// prepare parses a template and converts the variables its expressions
// see.
func prepare(template string, vars Vars) ([]Segment, Vars, error) {
	segs, err := ParseTemplate(template)
	if err != nil {
		return nil, nil, fmt.Errorf("template: %w", err)
	}
	vars, err = plainVars(vars)
	if err != nil {
		return nil, nil, err
	}
	return segs, vars, nil
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
