package llm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// mockEchoRunes is how much of the last user message the mock echoes.
const mockEchoRunes = 80

// Mock is the offline `mock` model. It answers at once, deterministically
// (same request, same response), without network, sleep or randomness:
//
//   - Content is "mock answer [DIGEST]: ECHO", where DIGEST is the first 8 hex
//     digits of the SHA-256 of all messages (roles and contents) and ECHO is
//     the last user message with its whitespace collapsed, cut to 80
//     characters ("…" marks a cut).
//   - With Request.OutputSchema, Content is instead a minimal JSON value valid
//     against the schema (required properties only, booleans true, numbers 0
//     or their lower bound, enums their first value, arrays minItems long),
//     whose strings are "mock DIGEST: ECHO" fitted to the schema's lengths.
//   - InputTokens counts one token per 4 bytes of all message contents,
//     OutputTokens one per 4 bytes of Content, both rounded up and at least 1.
//   - Provider is "mock", Model the requested one, FinishReason "stop", and
//     the cost is 0: no ReportedCost, and the price table lists mock at 0.
type Mock struct{}

// NewMock returns the mock model.
func NewMock() *Mock { return &Mock{} }

// Chat answers req as documented on Mock. It fails only on a canceled ctx
// and on an OutputSchema it cannot satisfy (a non-retryable *Error).
func (m *Mock) Chat(ctx context.Context, req Request) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, fmt.Errorf("chat %s: %w", req.Model, err)
	}
	digest, echo := mockDigest(req.Messages), mockEcho(req.Messages)
	content := fmt.Sprintf("mock answer [%s]: %s", digest, echo)
	if len(req.OutputSchema) > 0 {
		var err error
		if content, err = mockStructured(req.OutputSchema, fmt.Sprintf("mock %s: %s", digest, echo)); err != nil {
			return Response{}, err
		}
	}
	var input int
	for _, msg := range req.Messages {
		input += len(msg.Content)
	}
	return Response{
		Content:      content,
		Model:        req.Model,
		Provider:     providerMock,
		InputTokens:  mockTokens(input),
		OutputTokens: mockTokens(len(content)),
		FinishReason: "stop",
	}, nil
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
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}

// mockEcho is the last user message, whitespace collapsed, cut to mockEchoRunes.
func mockEcho(msgs []Message) string {
	var last string
	for _, m := range msgs {
		if m.Role == "user" {
			last = m.Content
		}
	}
	echo := strings.Join(strings.Fields(last), " ")
	if utf8.RuneCountInString(echo) <= mockEchoRunes {
		return echo
	}
	return string([]rune(echo)[:mockEchoRunes-1]) + "…"
}

// mockTokens counts one token per 4 bytes, rounded up, at least 1.
func mockTokens(bytes int) int64 {
	return int64(max(1, (bytes+3)/4))
}
