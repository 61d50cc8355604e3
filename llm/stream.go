package llm

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// DeltaFunc receives the text of an answer as the provider writes it, piece
// by piece, in order: the pieces joined are Response.Content. It is called
// on the goroutine reading the stream, so it must return at once.
type DeltaFunc func(text string)

// ChatStream sends req over the provider's streaming API and returns the
// first choice: onDelta gets its content as it arrives, and the Response
// has its tool calls and their arguments put together from their pieces.
// Failures are *Error, except a canceled or expired ctx, which aborts the
// request in flight and returns an error wrapping ctx.Err(). The request
// asks for stream_options.include_usage, so tokens (and OpenRouter's cost)
// are the provider's own; a provider that sends no usage in a stream gets
// the tokens estimated as the mock counts them (one per 4 bytes of what was
// sent and written). An error event in the stream ({"error": {...}}) is
// classified like an HTTP error with the status its type or code implies.
func (c *OpenAI) ChatStream(ctx context.Context, req Request, onDelta DeltaFunc) (Response, error) {
	params, err := c.params(req)
	if err != nil {
		return Response{}, err
	}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	var httpResp *http.Response
	stream := c.client.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&httpResp))
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	var cost *float64
	usage := false
	for stream.Next() {
		chunk := stream.Current()
		if !acc.AddChunk(chunk) {
			return Response{}, newError(http.StatusOK, "", "the provider streamed a chunk that does not follow the previous ones", 0, nil)
		}
		if chunk.JSON.Usage.Valid() {
			usage = true
			cost = cmp.Or(reportedCost(chunk.Usage), cost)
		}
		for _, ch := range chunk.Choices {
			if ch.Index == 0 && ch.Delta.Content != "" {
				onDelta(ch.Delta.Content)
			}
		}
	}
	if ctx.Err() != nil {
		return Response{}, fmt.Errorf("chat %s: %w", req.Model, ctx.Err())
	}
	if err := stream.Err(); err != nil {
		var se *ssestream.StreamError
		if errors.As(err, &se) {
			return Response{}, streamError(se.Event.Data)
		}
		return Response{}, providerError(err, httpResp)
	}
	resp, err := toResponse(&acc.ChatCompletion)
	if err != nil {
		return Response{}, err
	}
	resp.ReportedCost = cost
	if !usage || resp.InputTokens+resp.OutputTokens == 0 {
		resp.InputTokens = mockTokens(mockInputBytes(req))
		resp.OutputTokens = mockTokens(len(resp.Content) + toolCallBytes(resp.ToolCalls))
	}
	return resp, nil
}

// streamError classifies an error event of a stream, {"error": {"message",
// "type", "code"}}: a numeric code (OpenRouter) is the status; else the
// type or code names one (rate limit 429, invalid request 400,
// authentication 401, permission 403, not found 404), and anything else is
// a server error (500), which a retry may fix. Context-length and quota
// codes are classified as on an HTTP error.
func streamError(data []byte) *Error {
	var body struct {
		Error struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return newError(http.StatusBadGateway, "", "the provider streamed an error that does not decode: "+string(data), 0, nil)
	}
	e := body.Error
	var code string
	var status int
	if json.Unmarshal(e.Code, &status) != nil {
		status = 0
		_ = json.Unmarshal(e.Code, &code)
	}
	if status < 400 {
		status = http.StatusInternalServerError
		kind := e.Type + " " + code
		switch {
		case strings.Contains(kind, "rate_limit"):
			status = http.StatusTooManyRequests
		case strings.Contains(kind, "invalid_request"):
			status = http.StatusBadRequest
		case strings.Contains(kind, "authentication"), strings.Contains(kind, "invalid_api_key"):
			status = http.StatusUnauthorized
		case strings.Contains(kind, "permission"):
			status = http.StatusForbidden
		case strings.Contains(kind, "not_found"):
			status = http.StatusNotFound
		}
	}
	return newError(status, code, "in the stream: "+e.Message, 0, nil)
}

// ChatStream answers req as Chat does, and passes the content to onDelta
// in word-sized pieces (each word with the whitespace after it) before it
// returns, at once: the mock does not pace its stream. An answer with tool
// calls has no content, so no pieces.
func (m *Mock) ChatStream(ctx context.Context, req Request, onDelta DeltaFunc) (Response, error) {
	resp, err := m.Chat(ctx, req)
	if err != nil {
		return resp, err
	}
	for _, piece := range words(resp.Content) {
		onDelta(piece)
	}
	return resp, nil
}

// words cuts s into pieces that join back into s: each word with the
// whitespace after it (whitespace before the first word is a piece of its
// own).
func words(s string) []string {
	var out []string
	start, inSpace := 0, false
	for i, r := range s {
		space := r == ' ' || r == '\n' || r == '\t'
		if !space && inSpace && i > start {
			out = append(out, s[start:i])
			start = i
		}
		inSpace = space
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
