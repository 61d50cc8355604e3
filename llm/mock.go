package llm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// mockEchoRunes is how much of the last user message the mock echoes, and
// mockResultRunes how much of each tool result its final answer quotes.
const (
	mockEchoRunes   = 80
	mockResultRunes = 200
)

// Mock is the offline `mock` model. It answers at once, deterministically
// (same request, same response), without network, sleep or randomness:
//
//   - Content is "mock answer [DIGEST]: ECHO", where DIGEST is the first 8 hex
//     digits of the SHA-256 of all messages (roles, contents, tool calls and
//     tool call ids) and ECHO is the last user message with its whitespace
//     collapsed, cut to 80 characters ("…" marks a cut).
//   - With Request.OutputSchema, Content is instead a minimal JSON value valid
//     against the schema (required properties only, booleans true, numbers 0
//     or their lower bound, enums their first value, arrays minItems long),
//     whose strings are "mock DIGEST: ECHO" fitted to the schema's lengths.
//   - InputTokens counts one token per 4 bytes of all message contents, tool
//     calls (names and arguments) and offered tools (names, descriptions and
//     parameters); OutputTokens one per 4 bytes of Content and of the tool
//     calls it makes; both rounded up and at least 1.
//   - Provider is "mock", Model the requested one, FinishReason "stop", and
//     the cost is 0: no ReportedCost, and the price table lists mock at 0.
//
// Tools. When the request offers tools and no "tool" message follows the
// last user message, the mock calls tools instead of answering: Content is
// empty, FinishReason "tool_calls", and ToolCalls holds one call per
// "@NAME" in the last user message that names an offered tool exactly (an @
// that does not follow a letter, digit or underscore, NAME running as long
// as letters, digits, _ and - do), all of them in order, so several
// mentions make parallel calls. "@NAME {json object}" on the same line gives
// the call's arguments as written (compacted, not checked against the
// tool's schema; mentions inside it are not calls); otherwise the arguments
// are the minimal object valid against the tool's parameters, as for
// OutputSchema but with strings "mock" ("{}" for a tool without
// parameters). With no mention at all, the mock calls the first offered
// tool with minimal arguments. Call ids are "call_DIGEST_N", N counting
// from 1 within the answer.
//
// Once "tool" messages follow the last user message, the mock gives its
// final answer, as above with " (tools: NAME → RESULT; ...)" appended to
// ECHO: one entry per tool message in order, NAME taken from the assistant
// tool call it answers (its id if none) and RESULT its content, whitespace
// collapsed and cut to 200 characters. With an OutputSchema the answer is
// still a JSON value valid against the schema, whose strings carry the same
// text.
type Mock struct{}

// NewMock returns the mock model.
func NewMock() *Mock { return &Mock{} }

// Chat answers req as documented on Mock. It fails only on a canceled ctx,
// on invalid tools (names, parameters) and on an OutputSchema or tool
// parameters it cannot satisfy (a non-retryable *Error).
func (m *Mock) Chat(ctx context.Context, req Request) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, fmt.Errorf("chat %s: %w", req.Model, err)
	}
	params, err := toolParameters(req.Tools)
	if err != nil {
		return Response{}, err
	}
	resp := Response{
		Model:        req.Model,
		Provider:     providerMock,
		InputTokens:  mockTokens(mockInputBytes(req)),
		FinishReason: "stop",
	}
	digest, turn := mockDigest(req.Messages), mockTurn(req.Messages)
	results := mockResults(turn)
	if len(req.Tools) > 0 && results == "" {
		if resp.ToolCalls, err = mockToolCalls(req.Tools, params, turn, digest); err != nil {
			return Response{}, err
		}
		resp.FinishReason = "tool_calls"
		resp.OutputTokens = mockTokens(toolCallBytes(resp.ToolCalls))
		return resp, nil
	}
	echo := mockClip(mockLastUser(turn), mockEchoRunes) + results
	resp.Content = fmt.Sprintf("mock answer [%s]: %s", digest, echo)
	if len(req.OutputSchema) > 0 {
		if resp.Content, err = mockStructured(req.OutputSchema, fmt.Sprintf("mock %s: %s", digest, echo)); err != nil {
			return Response{}, err
		}
	}
	resp.OutputTokens = mockTokens(len(resp.Content))
	return resp, nil
}

// mockStructured returns a minimal JSON document valid against schema.
func mockStructured(schema json.RawMessage, text string) (string, error) {
	var s any
	if err := json.Unmarshal(schema, &s); err != nil {
		return "", invalidRequest("output schema is not JSON: %v", err)
	}
	v, err := schemaValue(s, text)
	if err != nil {
		return "", invalidRequest("mock cannot satisfy the output schema: %v", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return "", invalidRequest("mock output: %v", err)
	}
	return string(out), nil
}

// mockDigest is the first 8 hex digits of the SHA-256 of all messages.
func mockDigest(msgs []Message) string {
	h := sha256.New()
	for _, m := range msgs {
		fmt.Fprintf(h, "%s\x00%s\x00", m.Role, m.Content)
		for _, tc := range m.ToolCalls {
			fmt.Fprintf(h, "call\x00%s\x00%s\x00%s\x00", tc.ID, tc.Name, tc.Arguments)
		}
		if m.ToolCallID != "" {
			fmt.Fprintf(h, "answers\x00%s\x00", m.ToolCallID)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}

// mockTurn is the messages from the last user message on (all of them if
// there is none).
func mockTurn(msgs []Message) []Message {
	for i, m := range slices.Backward(msgs) {
		if m.Role == "user" {
			return msgs[i:]
		}
	}
	return msgs
}

// mockLastUser is the content of the user message that starts turn, "" if none.
func mockLastUser(turn []Message) string {
	if len(turn) > 0 && turn[0].Role == "user" {
		return turn[0].Content
	}
	return ""
}

// mockClip collapses the whitespace of s and cuts it to n runes, "…" marking a cut.
func mockClip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// mockInputBytes is the size of what the request sends: message contents,
// tool calls and offered tools.
func mockInputBytes(req Request) int {
	var n int
	for _, m := range req.Messages {
		n += len(m.Content) + toolCallBytes(m.ToolCalls)
	}
	for _, t := range req.Tools {
		n += len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	return n
}

// toolCallBytes is the size of the names and arguments of calls.
func toolCallBytes(calls []ToolCall) int {
	var n int
	for _, c := range calls {
		n += len(c.Name) + len(c.Arguments)
	}
	return n
}

// mockTokens counts one token per 4 bytes, rounded up, at least 1.
func mockTokens(bytes int) int64 {
	return int64(max(1, (bytes+3)/4))
}
