package tool

import (
	"fmt"
	"strings"
	"time"
)

// Error is a tool call that failed without an answer for the model: a
// transport failure, a server error, a rate limit or a misconfiguration.
// Its message never holds a secret.
type Error struct {
	Message string
	// Retryable is true for failures a later attempt may fix: network
	// errors, HTTP 429 and 5xx, a lost MCP session, a stopping worker.
	Retryable bool
	// RetryAfter is how long the tool asked to wait (Retry-After), 0 if it
	// did not say.
	RetryAfter time.Duration
	// StatusCode is the HTTP status of an HTTP tool's answer, 0 otherwise.
	StatusCode int

	err error // the underlying failure, if any
}

// Error returns the message, with the status and the delay asked for.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("tool: ")
	b.WriteString(e.Message)
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the underlying failure, if any.
func (e *Error) Unwrap() error { return e.err }

// permanent is an error no retry can fix.
func permanent(msg string) *Error {
	return &Error{Message: msg}
}

// transient is an error a later attempt may not meet.
func transient(msg string, err error) *Error {
	return &Error{Message: msg, Retryable: true, err: err}
}
