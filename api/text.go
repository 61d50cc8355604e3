package api

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
)

// unstorable says why text cannot be stored: Postgres refuses NUL bytes and invalid UTF-8
// in text and jsonb.
const unstorable = "must be valid UTF-8 without NUL bytes"

// refuseUnstorableText is a Huma middleware answering 422 to a request whose parameters
// (path, query, header) or body hold a NUL byte (in JSON, also as \u0000) or invalid UTF-8:
// text that could not be stored is refused before anything is written or sent, so that an
// action never reaches a workflow without its audit row. JSON decoding would silently turn
// invalid UTF-8 into U+FFFD, so the body is checked as it was sent.
func refuseUnstorableText(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		op := ctx.Operation()
		u := ctx.URL()
		query := u.Query()
		for _, p := range op.Parameters {
			var values []string
			switch p.In {
			case "path":
				values = []string{ctx.Param(p.Name)}
			case "query":
				values = query[p.Name]
			case "header":
				values = []string{ctx.Header(p.Name)}
			}
			for _, v := range values {
				if !storable(v) {
					_ = huma.WriteErr(api, ctx, http.StatusUnprocessableEntity, p.In+" parameter "+p.Name+" "+unstorable,
						&huma.ErrorDetail{Location: p.In + "." + p.Name, Message: unstorable})
					return
				}
			}
		}
		if op.RequestBody == nil {
			next(ctx)
			return
		}
		body, complete := readBody(ctx, op)
		isJSON := ctx.Header("Content-Type") == "" || strings.Contains(ctx.Header("Content-Type"), "json")
		if complete && (!storable(string(body)) || (isJSON && !StorableJSON(body))) {
			_ = huma.WriteErr(api, ctx, http.StatusUnprocessableEntity, "the request body "+unstorable,
				&huma.ErrorDetail{Location: "body", Message: unstorable})
			return
		}
		rest := ctx.BodyReader()
		if rest == nil {
			rest = bytes.NewReader(nil)
		}
		next(bufferedBody{humaContext: ctx, body: io.MultiReader(bytes.NewReader(body), rest)})
	}
}

// readBody reads the request body up to the operation's limit, within its read timeout, as
// Huma would. complete is false when the body is over the limit or could not be read: Huma
// then answers that from the rest of the reader.
func readBody(ctx huma.Context, op *huma.Operation) (body []byte, complete bool) {
	if op.BodyReadTimeout > 0 {
		_ = ctx.SetReadDeadline(time.Now().Add(op.BodyReadTimeout))
	}
	r := ctx.BodyReader()
	if r == nil {
		return nil, true
	}
	if op.MaxBodyBytes > 0 {
		r = io.LimitReader(r, op.MaxBodyBytes)
	}
	body, err := io.ReadAll(r)
	return body, err == nil && (op.MaxBodyBytes <= 0 || int64(len(body)) < op.MaxBodyBytes)
}

// humaContext names huma.Context for embedding: a field named Context would hide its
// Context method.
type humaContext = huma.Context

// bufferedBody is a Huma context whose body was read ahead.
type bufferedBody struct {
	humaContext
	body io.Reader
}

// BodyReader returns the body read ahead, then what remains unread.
func (c bufferedBody) BodyReader() io.Reader {
	return c.body
}

// StorableJSON reports whether Postgres can store the JSON text body: valid
// UTF-8 without NUL bytes, also not as \u0000, as refuseUnstorableText asks
// of every request body.
func StorableJSON(body []byte) bool {
	return storable(string(body)) && !hasNULEscape(body)
}

// storable reports whether Postgres can store s as text.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// hasNULEscape reports whether JSON text holds the escape \u0000 (a NUL once decoded).
func hasNULEscape(raw []byte) bool {
	for i := 0; i+1 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] == 'u' && bytes.HasPrefix(raw[i+2:], []byte("0000")) {
			return true
		}
		i++ // skip the escaped byte: in \\u0000 the u is text, not an escape
	}
	return false
}
