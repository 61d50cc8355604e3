package expr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		template string
		want     string
	}{
		{"no expressions", "no expressions"},
		{"Research {{ input.topic }}.", "Research otters."},                                     // strings as they are
		{"{{input.topic}}{{ iteration }}", "otters2"},                                           // numbers as JSON
		{"tags={{ input.tags }} meta={{ input.meta }}", `tags=["a","b"] meta={"a":2,"z":1}`},    // compact JSON, sorted keys
		{"{{ steps.assess.output }}", `{"approved":false,"feedback":"Cite <sources> & dates"}`}, // no HTML escaping
		{"{{ has(steps.assess) ? 'Fix: ' + steps.assess.output.feedback : '' }}", "Fix: Cite <sources> & dates"},
		{"{{ has(steps.nothing) ? steps.nothing.output : 'first' }} time", "first time"},
		{"{{ {'a': {'b': '}}'}}.a.b }}", "}}"}, // braces and strings inside expressions
		{`{{ "{{" }} literal`, "{{ literal"},
		{"{{ '''multi\nline''' }}", "multi\nline"},
		{"{{ null }}", "null"},
	}
	for _, tt := range tests {
		got, err := Render(tt.template, vars())
		require.NoError(t, err, tt.template)
		require.Equal(t, tt.want, got, tt.template)
	}
	_, err := Render("Hi {{ input.topic", vars())
	require.EqualError(t, err, "template: {{ is never closed by }}")
	_, err = Render("Hi {{ }}", vars())
	require.EqualError(t, err, "template: {{ }} holds no expression")
	_, err = Render("Hi {{ input.nope }}", vars())
	require.EqualError(t, err, "input.nope: no such key: nope")
}

func TestRenderValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		template string
		want     any
	}{
		{"{{ steps.assess.output.approved }}", false}, // a single expression gives its raw value
		{"  {{ input.count }}\n", float64(3)},
		{"{{ input.tags }}", []any{"a", "b"}},
		{"{{ input.meta }}", map[string]any{"a": float64(2), "z": float64(1)}},
		{"count: {{ input.count }}", "count: 3"}, // anything else renders to a string
		{"{{ input.topic }}{{ input.topic }}", "ottersotters"},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		got, err := RenderValue(tt.template, vars())
		require.NoError(t, err, tt.template)
		require.Equal(t, tt.want, got, tt.template)
	}
}

func TestParseTemplate(t *testing.T) {
	t.Parallel()
	segs, err := ParseTemplate("Hi {{ input.name }}, {{ {'a': '}}'}.a }}!")
	require.NoError(t, err)
	require.Equal(t, []Segment{
		{Text: "Hi ", Offset: 0},
		{Text: "input.name", Expr: true, Offset: 6},
		{Text: ", ", Offset: 19},
		{Text: "{'a': '}}'}.a", Expr: true, Offset: 24},
		{Text: "!", Offset: 40},
	}, segs)
	_, err = ParseTemplate("ok {{ 'never closed }}")
	var te *TemplateError
	require.ErrorAs(t, err, &te)
	require.Equal(t, TemplateError{Offset: 3, Msg: "{{ is never closed by }}"}, *te)
}
