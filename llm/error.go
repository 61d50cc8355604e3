package llm

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is a classified provider error.
type Error struct {
	StatusCode int    // HTTP status, 0 for transport errors and errors raised before any request
	Code       string // provider error code, e.g. "context_length_exceeded", "rate_limit_exceeded"
	Message    string
	// Retryable is true for 408, 409, 429, 5xx and transport errors; false for
	// other 4xx statuses, context-length errors and exhausted quotas.
	Retryable bool
	// RetryAfter comes from the Retry-After header (seconds or HTTP date) or
	// retry-after-ms; 0 if absent.
	RetryAfter time.Duration

	err error // underlying transport error, if any
}

// Error kinds returned by Error.Kind.
const (
	kindRateLimited   = "rate_limited"
	kindServerError   = "server_error"
	kindBadRequest    = "bad_request"
	kindUnauthorized  = "unauthorized"
	kindForbidden     = "forbidden"
	kindNotFound      = "not_found"
	kindUnprocessable = "unprocessable"
	kindContextLength = "context_length"
	kindTransport     = "transport"
	kindTimeout       = "timeout"
	kindConflict      = "conflict"
	kindQuotaExceeded = "quota_exceeded"
	kindClientError   = "client_error"
	kindBadResponse   = "invalid_response"
	kindNotConfigured = "not_configured"
)

// Error codes troupe sets itself, for requests refused before reaching a provider.
const (
	codeInvalidRequest = "invalid_request"
	codeNotConfigured  = "provider_not_configured"
)

// newError classifies a provider failure; cause is the underlying error for
// transport failures (StatusCode 0), nil otherwise.
func newError(status int, code, message string, retryAfter time.Duration, cause error) *Error {
	_, retryable := classify(status, code, message)
	return &Error{
		StatusCode: status,
		Code:       code,
		Message:    message,
		Retryable:  retryable,
		RetryAfter: retryAfter,
		err:        cause,
	}
}

// invalidRequest is a non-retryable error for a request rejected before
// reaching any provider.
func invalidRequest(format string, args ...any) *Error {
	return newError(0, codeInvalidRequest, fmt.Sprintf(format, args...), 0, nil)
}

// Error describes the failure with its kind, status and provider message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("llm: ")
	b.WriteString(e.Kind())
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " [%s]", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the underlying transport error, if any.
func (e *Error) Unwrap() error { return e.err }

// Kind returns a short stable type name for the error ("rate_limited",
// "server_error", "bad_request", "unauthorized", "forbidden", "not_found",
// "unprocessable", "context_length", "transport", "timeout", "conflict",
// "quota_exceeded", "client_error", "invalid_response", "not_configured"),
// used as the Temporal application error type.
func (e *Error) Kind() string {
	kind, _ := classify(e.StatusCode, e.Code, e.Message)
	return kind
}

// classify maps a status, provider code and message to a kind and whether a
// retry can help.
func classify(status int, code, message string) (kind string, retryable bool) {
	switch {
	case isContextLength(code, message):
		return kindContextLength, false
	case code == "insufficient_quota":
		return kindQuotaExceeded, false
	case code == codeNotConfigured:
		return kindNotConfigured, false
	case code == codeInvalidRequest:
		return kindBadRequest, false
	}
	switch status {
	case 0:
		return kindTransport, true
	case http.StatusBadRequest:
		return kindBadRequest, false
	case http.StatusUnauthorized:
		return kindUnauthorized, false
	case http.StatusForbidden:
		return kindForbidden, false
	case http.StatusNotFound:
		return kindNotFound, false
	case http.StatusUnprocessableEntity:
		return kindUnprocessable, false
	case http.StatusRequestTimeout:
		return kindTimeout, true
	case http.StatusConflict:
		return kindConflict, true
	case http.StatusTooManyRequests:
		return kindRateLimited, true
	}
	switch {
	case status >= 500:
		return kindServerError, true
	case status >= 400:
		return kindClientError, false
	default: // a success status carrying no usable answer
		return kindBadResponse, true
	}
}

// isContextLength reports whether a provider error says the prompt does not
// fit the model's context window. Providers word it differently: OpenAI and
// vLLM say "maximum context length", others "context window".
func isContextLength(code, message string) bool {
	if code == "context_length_exceeded" {
		return true
	}
	m := strings.ToLower(message)
	for _, s := range []string{"context length", "maximum context", "context window", "context_length"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// RetryAfter reads how long a server (a provider, a tool) asks us to wait:
// retry-after-ms (OpenAI), else Retry-After as seconds or an HTTP date. 0 if
// absent or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		return max(0, time.Duration(s*float64(time.Second)))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now))
	}
	return 0
}
