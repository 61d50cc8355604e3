package tool

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/troupe-dev/troupe/expr"
	"github.com/troupe-dev/troupe/llm"
)

// DefaultMaxResponseBytes caps what an HTTP tool's response may hold when
// its definition sets no max_response_bytes.
const DefaultMaxResponseBytes = 1 << 20

// errorBodyShown is how much of an error response's body the model or the
// error message sees.
const errorBodyShown = 1024

// callHTTP calls an HTTP tool: the URL and body are rendered over the
// arguments, ${VAR} references of headers and body resolved, and the
// response classified.
func (b *Toolbox) callHTTP(ctx context.Context, c Call, args map[string]any) (Result, error) {
	h := c.Tool.HTTP
	vars := expr.Vars{"args": args}
	target, problem, err := renderURL(h.URL, vars)
	if err != nil {
		return Result{}, err
	}
	if problem != "" {
		return toolError("%s", problem), nil
	}
	sec := &secrets{getenv: b.getenv}
	body, err := renderBody(h.Body, vars, sec)
	var te *Error
	switch {
	case errors.As(err, &te):
		return Result{}, te
	case err != nil:
		return toolError("the arguments do not fit the body: %v", err), nil
	}
	req, err := http.NewRequestWithContext(ctx, cmp.Or(h.Method, http.MethodGet), target, bytes.NewReader(body))
	if err != nil {
		return Result{}, permanent(fmt.Sprintf("request for tool %s: %v", c.Tool.Name, err))
	}
	for name, v := range h.Headers {
		v, err := sec.resolve(v, "header "+name)
		if err != nil {
			return Result{}, err
		}
		req.Header.Set(name, v)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Key != "" {
		req.Header.Set("Idempotency-Key", c.Key)
	}
	start := time.Now()
	resp, err := b.http.Do(req)
	if err != nil {
		return Result{}, transient(sec.redact(err.Error()), err)
	}
	defer resp.Body.Close()
	limit := cmp.Or(h.MaxResponseBytes, DefaultMaxResponseBytes)
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return Result{}, transient(fmt.Sprintf("%s %s: read response: %s", req.Method, target, sec.redact(err.Error())), err)
	}
	b.logger.DebugContext(ctx, "http tool answered", "tool", c.Tool.Name, "status", resp.StatusCode, "bytes", len(data), "duration", time.Since(start))
	return httpResult(resp, data, limit, sec)
}

// httpResult classifies an HTTP tool's response: 2xx is the answer, 429
// and 5xx are retried, anything else is a tool error for the model.
func httpResult(resp *http.Response, data []byte, limit int64, sec *secrets) (Result, error) {
	status := strings.TrimSpace(fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		if int64(len(data)) > limit {
			return toolError("the response is larger than %d bytes, the most this tool reads (max_response_bytes)", limit), nil
		}
		r := Result{Content: sec.redact(text(data))}
		if isJSON(resp.Header.Get("Content-Type")) && json.Valid(data) {
			r.JSON = sec.redactJSON(data)
		}
		return r, nil
	case code == http.StatusTooManyRequests || code >= 500:
		return Result{}, &Error{
			Message:    status + bodyStart(sec.redact(text(data))),
			Retryable:  true,
			RetryAfter: llm.RetryAfter(resp.Header, time.Now()),
			StatusCode: code,
		}
	case code >= 300 && code < 400:
		return toolError("%s: redirects are not followed; the tool's url should name the final address", status), nil
	}
	return toolError("%s%s", status, bodyStart(sec.redact(text(data)))), nil
}

// bodyStart is the start of an error response's body, after ": ", or "".
func bodyStart(body string) string {
	s := strings.TrimSpace(body)
	if s == "" {
		return ""
	}
	if len(s) > errorBodyShown {
		s = strings.ToValidUTF8(s[:errorBodyShown], "") + "…"
	}
	return ": " + s
}

// text is a response body as valid UTF-8 text.
func text(data []byte) string {
	if utf8.Valid(data) {
		return string(data)
	}
	return strings.ToValidUTF8(string(data), "\uFFFD")
}

// isJSON tells whether a Content-Type is JSON (application/json or a
// +json type).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// renderBody renders an HTTP tool's body, a JSON value whose strings are
// templates over the arguments; nil for no body. An *Error is a problem of
// the definition or the worker (a missing variable); other errors come
// from evaluating the templates over the arguments.
func renderBody(raw json.RawMessage, vars expr.Vars, sec *secrets) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, permanent(fmt.Sprintf("body of the definition is not JSON: %v", err))
	}
	v, err := renderValue(v, vars, sec)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// renderValue renders the strings of a body value.
func renderValue(v any, vars expr.Vars, sec *secrets) (any, error) {
	switch x := v.(type) {
	case string:
		return renderBodyString(x, vars, sec)
	case map[string]any:
		for k, item := range x {
			r, err := renderValue(item, vars, sec)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
	case []any:
		for i, item := range x {
			r, err := renderValue(item, vars, sec)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
	}
	return v, nil
}

// renderBodyString renders one body string. A single {{ expression }}
// gives its typed value. Otherwise ${VAR} references are resolved in the
// literal text only, never in what the arguments produce, so an argument
// cannot ask for a secret.
func renderBodyString(s string, vars expr.Vars, sec *secrets) (any, error) {
	segs, err := expr.ParseTemplate(s)
	if err != nil {
		return nil, permanent(fmt.Sprintf("body: %v", err))
	}
	if !slices.ContainsFunc(segs, func(seg expr.Segment) bool { return !seg.Expr && strings.Contains(seg.Text, "${") }) {
		return expr.RenderValue(s, vars)
	}
	var b strings.Builder
	for _, seg := range segs {
		if seg.Expr {
			v, err := renderExpr(seg.Text, vars)
			if err != nil {
				return nil, err
			}
			b.WriteString(v)
			continue
		}
		v, err := sec.resolve(seg.Text, "body")
		if err != nil {
			return nil, err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// renderExpr renders one expression of a template as text, the way a
// template would.
func renderExpr(e string, vars expr.Vars) (string, error) {
	return expr.Render("{{ "+e+" }}", vars)
}
