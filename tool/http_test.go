package tool_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/tool"
)

// request is what the test endpoint received.
type request struct {
	Method, RawPath, RawQuery, Host string
	Header                          http.Header
	Body                            string
}

// endpoint is a test HTTP server that records its requests and answers
// with respond.
type endpoint struct {
	URL      string
	mu       sync.Mutex
	requests []request
}

func newEndpoint(t *testing.T, respond http.HandlerFunc) *endpoint {
	e := &endpoint{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		e.mu.Lock()
		e.requests = append(e.requests, request{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Host, r.Header.Clone(), string(body)})
		e.mu.Unlock()
		respond(w, r)
	}))
	t.Cleanup(ts.Close)
	e.URL = ts.URL
	return e
}

func (e *endpoint) last(t *testing.T) request {
	e.mu.Lock()
	defer e.mu.Unlock()
	require.NotEmpty(t, e.requests)
	return e.requests[len(e.requests)-1]
}

func (e *endpoint) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.requests)
}

// answer is a handler that answers a status, headers and a body.
func answer(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func httpTool(h *definitions.HTTPTool) *definitions.Tool {
	return &definitions.Tool{Name: "lookup_order", HTTP: h}
}

func TestHTTPRequest(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, answer(200, `{"status":"shipped"}`, "Content-Type", "application/json; charset=utf-8"))
	b := newToolbox(t, tool.Config{Getenv: env(map[string]string{"ORDERS_TOKEN": "tok-1234567890"})})
	def := httpTool(&definitions.HTTPTool{
		Method:  "POST",
		URL:     e.URL + "/orders/{{ args.order_id }}/lookup?verbose={{ args.verbose }}&tag=fixed",
		Headers: map[string]string{"Authorization": "Bearer ${ORDERS_TOKEN}", "X-Client": "troupe"},
		Body:    json.RawMessage(`{"order_id": "{{ args.order_id }}", "qty": "{{ args.qty }}", "note": "order {{ args.order_id }} x{{ args.qty }}", "big": 12345678901234567890, "nested": ["{{ args.verbose }}"]}`),
	})
	r, err := b.Call(t.Context(), tool.Call{Tool: def, Args: json.RawMessage(`{"order_id": "A-17", "qty": 3, "verbose": true}`), Key: "task-1/call-1"})
	require.NoError(t, err)
	require.Equal(t, tool.Result{Content: `{"status":"shipped"}`, JSON: json.RawMessage(`{"status":"shipped"}`)}, r)

	got := e.last(t)
	require.Equal(t, "POST", got.Method)
	require.Equal(t, "/orders/A-17/lookup", got.RawPath)
	require.Equal(t, "verbose=true&tag=fixed", got.RawQuery)
	require.Equal(t, "Bearer tok-1234567890", got.Header.Get("Authorization"))
	require.Equal(t, "troupe", got.Header.Get("X-Client"))
	require.Equal(t, "task-1/call-1", got.Header.Get("Idempotency-Key"))
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))
	require.JSONEq(t, `{"order_id": "A-17", "qty": 3, "note": "order A-17 x3", "big": 12345678901234567890, "nested": [true]}`, got.Body)
	require.Contains(t, got.Body, "12345678901234567890", "numbers of the definition are kept exactly")
}

func TestHTTPGetTextAnswer(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, answer(200, "plain text", "Content-Type", "text/plain"))
	b := newToolbox(t, tool.Config{})
	r, err := b.Call(t.Context(), tool.Call{Tool: httpTool(&definitions.HTTPTool{URL: e.URL + "/status"})})
	require.NoError(t, err)
	require.Equal(t, tool.Result{Content: "plain text"}, r, "a text answer has no JSON")
	got := e.last(t)
	require.Equal(t, "GET", got.Method)
	require.Empty(t, got.Body)
	require.Empty(t, got.Header.Get("Content-Type"))
	require.Empty(t, got.Header.Get("Idempotency-Key"), "no key, no header")

	e = newEndpoint(t, answer(200, "{not json", "Content-Type", "application/json"))
	r, err = b.Call(t.Context(), tool.Call{Tool: httpTool(&definitions.HTTPTool{URL: e.URL})})
	require.NoError(t, err)
	require.Equal(t, tool.Result{Content: "{not json"}, r, "invalid JSON is text")
}

func TestHTTPArgumentsCannotMoveTheRequest(t *testing.T) {
	t.Parallel()
	e := newEndpoint(t, answer(200, "ok"))
	host := strings.TrimPrefix(e.URL, "http://")
	b := newToolbox(t, tool.Config{})
	def := httpTool(&definitions.HTTPTool{URL: e.URL + "/files/{{ args.name }}?q={{ args.q }}"})
	for _, tc := range []struct{ name, q, path, query string }{
		{"../admin", "x", "/files/..%2Fadmin", "q=x"},
		{"@evil.example", "a&admin=1", "/files/@evil.example", "q=a%26admin%3D1"},
		{"http://evil.example/x", "#frag", "/files/http:%2F%2Fevil.example%2Fx", "q=%23frag"},
		{"%2F..%2F", "http://evil.example", "/files/%252F..%252F", "q=http%3A%2F%2Fevil.example"},
		{"a/b?c=d#e", "", "/files/a%2Fb%3Fc=d%23e", "q="},
	} {
		args, err := json.Marshal(map[string]string{"name": tc.name, "q": tc.q})
		require.NoError(t, err)
		r, err := b.Call(t.Context(), tool.Call{Tool: def, Args: args})
		require.NoError(t, err, tc.name)
		require.Equal(t, "ok", r.Content, tc.name)
		got := e.last(t)
		require.Equal(t, host, got.Host, tc.name)
		require.Equal(t, tc.path, got.RawPath, tc.name)
		require.Equal(t, tc.query, got.RawQuery, tc.name)
	}

	// A whole dot segment would climb the path: refused, for the model.
	n := e.count()
	for _, name := range []string{"..", "."} {
		r, err := b.Call(t.Context(), tool.Call{Tool: def, Args: json.RawMessage(`{"name": "` + name + `", "q": ""}`)})
		require.NoError(t, err)
		require.True(t, r.IsError)
		require.Contains(t, r.Content, `segment`)
	}
	require.Equal(t, n, e.count(), "nothing was sent")

	// A definition whose host is a template (which validation refuses) is
	// refused here too.
	for _, url := range []string{"http://{{ args.host }}/x", "http://127.0.0.1:{{ args.port }}/x", "{{ args.url }}", e.URL + "/x#{{ args.f }}"} {
		_, err := b.Call(t.Context(), tool.Call{Tool: httpTool(&definitions.HTTPTool{URL: url}), Args: json.RawMessage(`{"host": "evil.example", "port": 1, "url": "http://evil.example", "f": "x"}`)})
		te := toolError(t, err)
		require.False(t, te.Retryable, url)
	}
	require.Equal(t, n, e.count(), "nothing was sent")

	// Arguments that a template cannot use are the model's to fix.
	r, err := b.Call(t.Context(), tool.Call{Tool: def, Args: json.RawMessage(`{"q": "x"}`)})
	require.NoError(t, err)
	require.True(t, r.IsError)
	require.Contains(t, r.Content, "name")
	r, err = b.Call(t.Context(), tool.Call{Tool: def, Args: json.RawMessage(`[1]`)})
	require.NoError(t, err)
	require.Equal(t, tool.Result{Content: "the arguments are not a JSON object", IsError: true}, r)
}

func TestHTTPSecrets(t *testing.T) {
	t.Parallel()
	const secret = "sk-live-0123456789abcdef"
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"auth": r.Header.Get("Authorization"), "body": string(body)})
		}
	}
	def := func(url string) *definitions.Tool {
		return httpTool(&definitions.HTTPTool{
			Method:  "POST",
			URL:     url,
			Headers: map[string]string{"Authorization": "Bearer ${API_SECRET}"},
			Body:    json.RawMessage(`{"text": "{{ args.text }}", "sig": "${API_SECRET}-{{ args.text }}"}`),
		})
	}
	b := newToolbox(t, tool.Config{Getenv: env(map[string]string{"API_SECRET": secret})})

	// The endpoint gets the secret, in headers and in the body's literal
	// text, never from an argument naming a variable.
	e := newEndpoint(t, echo(200))
	r, err := b.Call(t.Context(), tool.Call{Tool: def(e.URL), Args: json.RawMessage(`{"text": "${API_SECRET}"}`)})
	require.NoError(t, err)
	got := e.last(t)
	require.Equal(t, "Bearer "+secret, got.Header.Get("Authorization"))
	require.JSONEq(t, `{"text": "${API_SECRET}", "sig": "`+secret+`-${API_SECRET}"}`, got.Body)
	// An endpoint that echoes the secret does not get it into the result.
	require.NotContains(t, r.Content, secret)
	require.NotContains(t, string(r.JSON), secret)
	require.Contains(t, r.Content, "[redacted]")
	require.NotNil(t, r.JSON)

	// Nor into an error.
	e = newEndpoint(t, echo(500))
	_, err = b.Call(t.Context(), tool.Call{Tool: def(e.URL), Args: json.RawMessage(`{"text": "x"}`)})
	require.NotContains(t, toolError(t, err).Error(), secret)
	e = newEndpoint(t, echo(400))
	r, err = b.Call(t.Context(), tool.Call{Tool: def(e.URL), Args: json.RawMessage(`{"text": "x"}`)})
	require.NoError(t, err)
	require.True(t, r.IsError)
	require.NotContains(t, r.Content, secret)

	// A missing variable fails the call, naming it, and sends nothing.
	missing := newToolbox(t, tool.Config{Getenv: env(nil)})
	n := e.count()
	_, err = missing.Call(t.Context(), tool.Call{Tool: def(e.URL), Args: json.RawMessage(`{"text": "x"}`)})
	te := toolError(t, err)
	require.False(t, te.Retryable)
	require.Contains(t, te.Message, "API_SECRET")
	require.Equal(t, n, e.count())
}

func TestHTTPStatuses(t *testing.T) {
	t.Parallel()
	b := newToolbox(t, tool.Config{})
	call := func(h http.HandlerFunc) (tool.Result, error) {
		e := newEndpoint(t, h)
		return b.Call(t.Context(), tool.Call{Tool: httpTool(&definitions.HTTPTool{URL: e.URL, MaxResponseBytes: 64})})
	}

	_, err := call(answer(429, "slow down", "Retry-After", "7"))
	te := toolError(t, err)
	require.True(t, te.Retryable)
	require.Equal(t, 7*time.Second, te.RetryAfter)
	require.Equal(t, 429, te.StatusCode)
	require.Equal(t, "tool: HTTP 429 Too Many Requests: slow down (retry after 7s)", te.Error())

	_, err = call(answer(503, "", "Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)))
	te = toolError(t, err)
	require.True(t, te.Retryable)
	require.Equal(t, 503, te.StatusCode)
	require.InDelta(t, time.Hour.Seconds(), te.RetryAfter.Seconds(), 5)

	_, err = call(answer(500, "boom"))
	te = toolError(t, err)
	require.True(t, te.Retryable)
	require.Zero(t, te.RetryAfter)

	r, err := call(answer(404, "no such order\n"))
	require.NoError(t, err)
	require.Equal(t, tool.Result{Content: "HTTP 404 Not Found: no such order", IsError: true}, r)

	r, err = call(answer(302, "", "Location", "http://evil.example/"))
	require.NoError(t, err)
	require.True(t, r.IsError, "redirects are not followed: the host stays the definition's")
	require.Contains(t, r.Content, "HTTP 302 Found")

	r, err = call(answer(200, strings.Repeat("x", 64)))
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("x", 64), r.Content, "exactly the cap")
	r, err = call(answer(200, strings.Repeat("x", 65)))
	require.NoError(t, err)
	require.Equal(t, tool.Result{Content: "the response is larger than 64 bytes, the most this tool reads (max_response_bytes)", IsError: true}, r)

	// A network error is retried.
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	_, err = b.Call(t.Context(), tool.Call{Tool: httpTool(&definitions.HTTPTool{URL: url})})
	require.True(t, toolError(t, err).Retryable)
}
