package llm

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// defaultOpenAIBaseURL is OpenAI's own API, used when OpenAIConfig.BaseURL is empty.
const defaultOpenAIBaseURL = "https://api.openai.com/v1"

// OpenAIConfig configures an OpenAI-compatible provider.
type OpenAIConfig struct {
	APIKey string
	// BaseURL is the API root including /v1 (OpenRouter, Ollama, vLLM...);
	// empty means OpenAI's own API.
	BaseURL string
	// HTTPClient makes the calls; nil means the SDK's default client.
	HTTPClient *http.Client
}

// OpenAI calls an OpenAI-compatible chat completions endpoint (OpenAI,
// OpenRouter, Ollama, vLLM) through github.com/openai/openai-go/v3, with the
// SDK's own retries off: Temporal retries.
type OpenAI struct {
	client openai.Client
	// maxCompletionTokens sends Request.MaxTokens as max_completion_tokens,
	// which OpenAI's reasoning models require, instead of the max_tokens that
	// other OpenAI-compatible servers (Ollama) understand.
	maxCompletionTokens bool
}

// NewOpenAI returns a client for the OpenAI-compatible endpoint of cfg.
func NewOpenAI(cfg OpenAIConfig) *OpenAI {
	baseURL := cmp.Or(cfg.BaseURL, defaultOpenAIBaseURL)
	opts := []option.RequestOption{
		option.WithAPIKey(cfg.APIKey),
		option.WithBaseURL(baseURL),
		option.WithMaxRetries(0),
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &OpenAI{
		client:              openai.NewClient(opts...),
		maxCompletionTokens: isOpenAIPlatform(baseURL),
	}
}

// isOpenAIPlatform reports whether baseURL points at OpenAI's own API.
func isOpenAIPlatform(baseURL string) bool {
	u, err := url.Parse(baseURL)
	return err == nil && u.Hostname() == "api.openai.com"
}

// params converts req into the SDK's request body.
func (c *OpenAI) params(req Request) (openai.ChatCompletionNewParams, error) {
	p := openai.ChatCompletionNewParams{
		Model:    req.Model,
		Messages: make([]openai.ChatCompletionMessageParamUnion, 0, len(req.Messages)),
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system":
			p.Messages = append(p.Messages, openai.SystemMessage(m.Content))
		case "user":
			p.Messages = append(p.Messages, openai.UserMessage(m.Content))
		case "assistant":
			p.Messages = append(p.Messages, assistantMessage(m))
		case "tool":
			if m.ToolCallID == "" {
				return p, invalidRequest("message %d: a tool message needs the id of the call it answers", i)
			}
			p.Messages = append(p.Messages, openai.ToolMessage(m.Content, m.ToolCallID))
		default:
			return p, invalidRequest("message %d: unknown role %q (want system, user, assistant or tool)", i, m.Role)
		}
	}
	params, err := toolParameters(req.Tools)
	if err != nil {
		return p, err
	}
	for i, t := range req.Tools {
		fn := shared.FunctionDefinitionParam{Name: t.Name, Parameters: params[i]}
		if t.Description != "" {
			fn.Description = openai.String(t.Description)
		}
		if params[i] != nil && strictCompatible(params[i]) {
			fn.Strict = openai.Bool(true)
		}
		p.Tools = append(p.Tools, openai.ChatCompletionFunctionTool(fn))
	}
	if req.Temperature != nil {
		p.Temperature = openai.Float(*req.Temperature)
	}
	if req.MaxTokens > 0 {
		if c.maxCompletionTokens {
			p.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
		} else {
			p.MaxTokens = openai.Int(int64(req.MaxTokens))
		}
	}
	if len(req.OutputSchema) > 0 {
		var schema map[string]any
		if err := json.Unmarshal(req.OutputSchema, &schema); err != nil {
			return p, invalidRequest("output schema is not a JSON object: %v", err)
		}
		p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
					Name:   schemaName(req.SchemaName),
					Schema: schema,
					Strict: openai.Bool(strictCompatible(schema)),
				},
			},
		}
	}
	return p, nil
}

// assistantMessage converts an assistant message, with its tool calls and
// without content when it has none.
func assistantMessage(m Message) openai.ChatCompletionMessageParamUnion {
	if len(m.ToolCalls) == 0 {
		return openai.AssistantMessage(m.Content)
	}
	a := openai.ChatCompletionAssistantMessageParam{
		ToolCalls: make([]openai.ChatCompletionMessageToolCallUnionParam, len(m.ToolCalls)),
	}
	if m.Content != "" {
		a.Content.OfString = openai.String(m.Content)
	}
	for i, tc := range m.ToolCalls {
		a.ToolCalls[i] = openai.ChatCompletionMessageToolCallUnionParam{
			OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
				ID:       tc.ID,
				Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.Name, Arguments: tc.Arguments},
			},
		}
	}
	return openai.ChatCompletionMessageParamUnion{OfAssistant: &a}
}

// invalidSchemaNameChars are the characters OpenAI refuses in a response
// format name (allowed: a-z, A-Z, 0-9, _ and -, at most 64).
var invalidSchemaNameChars = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// schemaName turns name into an acceptable response format name.
func schemaName(name string) string {
	name = invalidSchemaNameChars.ReplaceAllString(name, "_")
	return cmp.Or(name[:min(len(name), 64)], "output")
}

// strictUnsupported are the keywords OpenAI's strict mode refuses (with a
// 400 for the whole request) rather than ignores.
var strictUnsupported = []string{
	"oneOf", "allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas",
	"minLength", "maxLength",
	"patternProperties", "propertyNames", "unevaluatedProperties", "minProperties", "maxProperties",
	"unevaluatedItems", "contains", "minContains", "maxContains", "uniqueItems",
}

// strictCompatible reports whether schema meets OpenAI's strict structured
// output rules (for output schemas and tool parameters alike): every object
// lists all its properties as required and sets additionalProperties to
// false, and no keyword of strictUnsupported is used. Strict mode is only
// asked for when it holds, so looser schemas still work.
func strictCompatible(schema map[string]any) bool {
	for _, k := range strictUnsupported {
		if _, ok := schema[k]; ok {
			return false
		}
	}
	props, _ := schema["properties"].(map[string]any)
	if props != nil || hasType(schema, "object") {
		if ap, ok := schema["additionalProperties"].(bool); !ok || ap {
			return false
		}
		required := map[string]bool{}
		for _, r := range asSlice(schema["required"]) {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
		for name := range props {
			if !required[name] {
				return false
			}
		}
	}
	var subs []any
	for _, v := range props {
		subs = append(subs, v)
	}
	for _, k := range []string{"$defs", "definitions"} {
		defs, _ := schema[k].(map[string]any)
		for _, v := range defs {
			subs = append(subs, v)
		}
	}
	subs = append(subs, schema["items"])
	subs = append(subs, asSlice(schema["anyOf"])...)
	subs = append(subs, asSlice(schema["prefixItems"])...)
	for _, sub := range subs {
		if m, ok := sub.(map[string]any); ok && !strictCompatible(m) {
			return false
		}
	}
	return true
}

// providerError classifies a failed call. httpResp is the provider's answer
// when one arrived, also when the SDK could not read an error out of it.
func providerError(err error, httpResp *http.Response) *Error {
	var apiErr *openai.Error
	switch {
	case errors.As(err, &apiErr):
		msg := apiErr.Message
		if msg == "" { // the body had no OpenAI error object
			msg = bodySnippet(apiErr.Response)
		}
		return newError(apiErr.StatusCode, apiErr.Code, msg, RetryAfter(apiErr.Response.Header, time.Now()), nil)
	case httpResp != nil && httpResp.StatusCode >= 400: // an error object the SDK could not decode
		return newError(httpResp.StatusCode, "", bodySnippet(httpResp), RetryAfter(httpResp.Header, time.Now()), err)
	default:
		return newError(0, "", err.Error(), 0, err)
	}
}

// bodySnippet returns the start of an error body that is not OpenAI's error
// shape (an HTML page from a proxy, another server's JSON). The SDK leaves
// the body readable for that.
func bodySnippet(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return cmp.Or(strings.TrimSpace(string(b)), http.StatusText(resp.StatusCode))
}

// toResponse converts the provider's completion into a Response. Tool calls
// are read leniently, as OpenAI-compatible servers differ: a call without a
// type is a function call, a call without an id gets "call_N" (N its
// position) so the tool message answering it has an id to echo, and an
// answer with tool calls gets FinishReason "tool_calls" even from servers
// that report "stop" (a "length" or "content_filter" is kept: the arguments
// may be cut).
func toResponse(c *openai.ChatCompletion) (Response, error) {
	if len(c.Choices) == 0 {
		return Response{}, newError(http.StatusOK, "", "the provider answered without any choice", 0, nil)
	}
	choice := c.Choices[0]
	var calls []ToolCall
	for i, tc := range choice.Message.ToolCalls {
		if tc.Type != "function" && tc.Type != "" {
			return Response{}, newError(http.StatusOK, "", fmt.Sprintf("the provider answered with a %q tool call; only function calls are offered", tc.Type), 0, nil)
		}
		id := cmp.Or(tc.ID, "call_"+strconv.Itoa(i+1))
		calls = append(calls, ToolCall{ID: id, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
	}
	if len(calls) > 0 && (choice.FinishReason == "stop" || choice.FinishReason == "") {
		choice.FinishReason = "tool_calls"
	}
	return Response{
		Content:      choice.Message.Content,
		Model:        c.Model,
		Provider:     providerOpenAI,
		InputTokens:  c.Usage.PromptTokens,
		OutputTokens: c.Usage.CompletionTokens,
		ReportedCost: reportedCost(c.Usage),
		FinishReason: choice.FinishReason,
		ToolCalls:    calls,
	}, nil
}

// reportedCost reads OpenRouter's usage.cost (USD), a field the SDK does not
// know and keeps among the usage's extra fields.
func reportedCost(u openai.CompletionUsage) *float64 {
	f, ok := u.JSON.ExtraFields["cost"]
	if !ok {
		return nil
	}
	cost, err := strconv.ParseFloat(f.Raw(), 64)
	if err != nil {
		return nil
	}
	return &cost
}
