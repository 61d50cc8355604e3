package llm_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
)

func TestMockDeterministic(t *testing.T) {
	t.Parallel()
	mock := llm.NewMock()
	req := userRequest("mock", "  Summarise   the\nquarterly report ")

	first, err := mock.Chat(t.Context(), req)
	require.NoError(t, err)
	second, err := mock.Chat(t.Context(), req)
	require.NoError(t, err)
	require.Equal(t, first, second, "same input, same output")

	require.Regexp(t, `^mock answer \[[0-9a-f]{8}\]: Summarise the quarterly report$`, first.Content)
	require.Equal(t, "mock", first.Provider)
	require.Equal(t, "mock", first.Model)
	require.Equal(t, "stop", first.FinishReason)
	require.Nil(t, first.ReportedCost)
	// one token per 4 bytes of the message contents, rounded up
	require.Equal(t, int64((len("You are terse.")+len(req.Messages[1].Content)+3)/4), first.InputTokens)
	require.Equal(t, int64((len(first.Content)+3)/4), first.OutputTokens)
	require.Zero(t, llm.DefaultPrices().CostOf(first))

	other, err := mock.Chat(t.Context(), userRequest("mock", "Summarise the quarterly report!"))
	require.NoError(t, err)
	require.NotEqual(t, first.Content, other.Content, "different input, different answer")
}

func TestMockLongAndEmptyInput(t *testing.T) {
	t.Parallel()
	mock := llm.NewMock()
	resp, err := mock.Chat(t.Context(), userRequest("mock", strings.Repeat("é ", 200)))
	require.NoError(t, err)
	_, echo, _ := strings.Cut(resp.Content, "]: ")
	require.Equal(t, 80, len([]rune(echo)))
	require.True(t, strings.HasSuffix(echo, "…"))

	resp, err = mock.Chat(t.Context(), llm.Request{Model: "mock"})
	require.NoError(t, err)
	require.Positive(t, resp.InputTokens)
	require.Positive(t, resp.OutputTokens)
}

func TestMockCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := llm.NewMock().Chat(ctx, userRequest("mock", "hi"))
	require.ErrorIs(t, err, context.Canceled)
}

func TestMockOutputSchema(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"flat object": `{
			"type": "object",
			"properties": {
				"summary": {"type": "string"},
				"approved": {"type": "boolean"},
				"score": {"type": "number"},
				"optional": {"type": "string"}
			},
			"required": ["summary", "approved", "score"],
			"additionalProperties": false
		}`,
		"constraints": `{
			"type": "object",
			"properties": {
				"code": {"type": "string", "minLength": 100},
				"tag": {"type": "string", "maxLength": 3},
				"when": {"type": "string", "format": "date-time"},
				"contact": {"type": "string", "format": "email"},
				"id": {"type": "string", "format": "uuid"},
				"count": {"type": "integer", "minimum": 3, "maximum": 9},
				"ratio": {"type": "number", "exclusiveMinimum": 0.5, "maximum": 1},
				"negative": {"type": "integer", "exclusiveMaximum": -4},
				"step": {"type": "integer", "minimum": 1, "multipleOf": 5},
				"level": {"enum": ["high", "low"]},
				"kind": {"const": "review"},
				"maybe": {"type": ["null", "string"]},
				"nothing": {"type": "null"},
				"items": {"type": "array", "items": {"type": "integer"}, "minItems": 2},
				"pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}], "minItems": 2}
			},
			"required": ["code", "tag", "when", "contact", "id", "count", "ratio", "negative", "step", "level", "kind", "maybe", "nothing", "items", "pair"],
			"minProperties": 15
		}`,
		"nested with refs": `{
			"$defs": {
				"person": {
					"type": "object",
					"properties": {"name": {"type": "string"}, "boss": {"$ref": "#/$defs/person"}},
					"required": ["name"]
				}
			},
			"type": "object",
			"properties": {
				"owner": {"$ref": "#/$defs/person"},
				"reviewers": {"type": "array", "items": {"$ref": "#/$defs/person"}, "minItems": 1}
			},
			"required": ["owner", "reviewers"]
		}`,
		"composition": `{
			"allOf": [
				{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
				{"properties": {"b": {"anyOf": [{"type": "integer", "minimum": 10}, {"type": "string"}]}}, "required": ["b"]}
			],
			"oneOf": [
				{"properties": {"c": {"type": "boolean"}}, "required": ["c"]}
			]
		}`,
		"min properties without required": `{"type": "object", "properties": {"y": {"type": "string"}, "x": {"type": "number"}}, "minProperties": 1}`,
		"top-level array":                 `{"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]}, "minItems": 3}`,
		"top-level string":                `{"type": "string", "minLength": 2}`,
		"anything":                        `{}`,
	}
	for name, schema := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := userRequest("mock", "Review pull request 42")
			req.OutputSchema = json.RawMessage(schema)
			resp, err := llm.NewMock().Chat(t.Context(), req)
			require.NoError(t, err)
			requireValid(t, schema, resp.Content)

			again, err := llm.NewMock().Chat(t.Context(), req)
			require.NoError(t, err)
			require.Equal(t, resp.Content, again.Content)
		})
	}
}

func TestMockOutputSchemaStringsComeFromInput(t *testing.T) {
	t.Parallel()
	req := userRequest("mock", "Review pull request 42")
	req.OutputSchema = json.RawMessage(`{"type":"object","properties":{"summary":{"type":"string"}},"required":["summary"]}`)
	resp, err := llm.NewMock().Chat(t.Context(), req)
	require.NoError(t, err)
	var out struct{ Summary string }
	require.NoError(t, json.Unmarshal([]byte(resp.Content), &out))
	require.Regexp(t, `^mock [0-9a-f]{8}: Review pull request 42$`, out.Summary)
}

func TestMockUnsatisfiableSchema(t *testing.T) {
	t.Parallel()
	for name, schema := range map[string]string{
		"not json":        `{"type":`,
		"false":           `false`,
		"remote ref":      `{"$ref": "https://example.com/schema.json"}`,
		"endless":         `{"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}, "required": ["next"]}}, "$ref": "#/$defs/n"}`,
		"forbidden field": `{"type": "object", "required": ["x"], "additionalProperties": false}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := userRequest("mock", "hi")
			req.OutputSchema = json.RawMessage(schema)
			_, err := llm.NewMock().Chat(t.Context(), req)
			var lerr *llm.Error
			require.ErrorAs(t, err, &lerr)
			require.Equal(t, "bad_request", lerr.Kind())
			require.False(t, lerr.Retryable)
		})
	}
}

// requireValid checks that doc is valid against schema, formats included.
func requireValid(t *testing.T, schema, doc string) {
	t.Helper()
	s, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource("schema.json", s))
	compiled, err := c.Compile("schema.json")
	require.NoError(t, err)
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	require.NoError(t, err, "output is JSON: %s", doc)
	require.NoError(t, compiled.Validate(v), "output: %s", doc)
}
