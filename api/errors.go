package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"go.temporal.io/api/serviceerror"

	"github.com/troupe-dev/troupe/store"
)

// fail maps an error from the store or Temporal to an RFC 9457 problem: the
// one place where error kinds become HTTP statuses. Internal errors are
// logged and never sent to the client.
func (s *Server) fail(ctx context.Context, what string, err error) error {
	var se huma.StatusError
	switch {
	case errors.As(err, &se):
		return err
	case errors.Is(err, store.ErrNotFound):
		return huma.Error404NotFound(what + " not found")
	case errors.Is(err, store.ErrInvalid):
		return huma.Error422UnprocessableEntity(err.Error())
	case errors.Is(err, store.ErrConflict):
		return huma.Error409Conflict(err.Error())
	case errors.Is(err, context.Canceled):
		return huma.NewError(499, "request canceled")
	case store.Unavailable(err) || temporalUnavailable(err):
		s.Logger.WarnContext(ctx, "request failed: a dependency is unavailable", slog.String("what", what), slog.Any("error", err))
		return unavailable("troupe cannot reach its database or Temporal right now; try again shortly.")
	default:
		s.Logger.ErrorContext(ctx, "request failed", slog.String("what", what), slog.Any("error", err))
		return huma.Error500InternalServerError("internal error; the server logs have the details")
	}
}

// retryAfter is what a 503 asks clients to wait, in seconds.
const retryAfter = "5"

// unavailable is the 503 of a request that may succeed later, with a
// Retry-After header.
func unavailable(msg string) error {
	return huma.ErrorWithHeaders(huma.Error503ServiceUnavailable(msg), http.Header{"Retry-After": {retryAfter}})
}

// temporalUnavailable reports whether err says the Temporal frontend could
// not be reached.
func temporalUnavailable(err error) bool {
	var u *serviceerror.Unavailable
	return errors.As(err, &u)
}

// writeProblem writes err, a problem made by fail, from a middleware, with
// the headers it carries.
func writeProblem(api huma.API, ctx huma.Context, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	var se huma.StatusError
	if errors.As(err, &se) {
		status, msg = se.GetStatus(), se.Error()
	}
	var he huma.HeadersError
	if errors.As(err, &he) {
		for k, values := range he.GetHeaders() {
			for _, v := range values {
				ctx.AppendHeader(k, v)
			}
		}
	}
	_ = huma.WriteErr(api, ctx, status, msg)
}

// problems lists the problem statuses of an operation for its OpenAPI
// description: those given, and those of every /v1 operation, 401 (an API
// key unknown or revoked, or none where keys are required) and 503 (Postgres
// or Temporal unreachable, or the key could not be checked; with
// Retry-After) and 429 (past a rate limit, see allowRequest). Huma adds 422
// (invalid parameters or body) and 500.
func problems(statuses ...int) []int {
	return append([]int{http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable}, statuses...)
}
