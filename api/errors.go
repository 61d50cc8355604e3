package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

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
	default:
		s.Logger.ErrorContext(ctx, "request failed", slog.String("what", what), slog.Any("error", err))
		return huma.Error500InternalServerError("internal error; the server logs have the details")
	}
}

// writeProblem writes err, a problem made by fail, from a middleware.
func writeProblem(api huma.API, ctx huma.Context, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	var se huma.StatusError
	if errors.As(err, &se) {
		status, msg = se.GetStatus(), se.Error()
	}
	_ = huma.WriteErr(api, ctx, status, msg)
}
