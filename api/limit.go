package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// maxDefinitionBytes is the largest YAML POST /v1/workflows/validate takes:
// the definitions' own limit on a file (1 MiB).
const maxDefinitionBytes = 1 << 20

// definitionReadTimeout bounds the upload of a YAML to validate.
const definitionReadTimeout = 10 * time.Second

// bodyLimit is the body limit of op: Huma's MaxBodyBytes (a body of that
// many bytes or more is refused), or 1 (no body at all) for an operation
// that reads none.
func bodyLimit(op *huma.Operation) int64 {
	if op.RequestBody == nil || op.MaxBodyBytes <= 0 {
		return 1
	}
	return op.MaxBodyBytes
}

// limitBody is a Huma middleware answering 413 before anything is read when
// the request's Content-Length reaches the operation's body limit; Huma
// stops reading a body without one at the same limit.
func limitBody(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		limit := bodyLimit(ctx.Operation())
		if n, err := strconv.ParseInt(ctx.Header("Content-Length"), 10, 64); err == nil && n >= limit {
			_ = huma.WriteErr(api, ctx, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body is too large: %d bytes; the limit is %d", n, limit-1))
			return
		}
		next(ctx)
	}
}
