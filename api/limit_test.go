package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"regexp"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// operations lists every operation of the API's OpenAPI document that Huma
// serves: all but the probes /healthz and /readyz, which the document
// describes and Handler serves outside Huma.
func operations(t *testing.T, b *bundle) []*huma.Operation {
	t.Helper()
	var ops []*huma.Operation
	for _, item := range b.api.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Options, item.Head, item.Patch, item.Trace} {
			if op != nil && strings.HasPrefix(op.Path, "/v1/") {
				ops = append(ops, op)
			}
		}
	}
	require.Greater(t, len(ops), 10)
	return ops
}

func TestEveryOperationHasABodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := serveReal(t, b)
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, op := range operations(t, b) {
		if op.RequestBody != nil {
			require.Positive(t, op.MaxBodyBytes, "%s reads a body: it needs MaxBodyBytes", op.OperationID)
		}
		limit := bodyLimit(op)
		url := srv.URL + param.ReplaceAllString(op.Path, uuid.NewString())
		req, err := http.NewRequestWithContext(t.Context(), op.Method, url, bytes.NewReader(bytes.Repeat([]byte("x"), int(limit))))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err, op.OperationID)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s with a body of %d bytes: %s", op.OperationID, limit, body)
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), op.OperationID)
		var problem huma.ErrorModel
		require.NoError(t, json.Unmarshal(body, &problem), op.OperationID)
		require.Equal(t, http.StatusRequestEntityTooLarge, problem.Status, op.OperationID)
	}
}

func TestValidateTakesAYAMLUpToTheDefinitionLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Not serveReal: its 300 ms write deadline is shorter than parsing a
	// 1 MiB YAML on a loaded machine.
	srv := httptest.NewServer(b.server.Handler())
	t.Cleanup(srv.Close)
	post := func(body io.Reader) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/workflows/validate", body)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/yaml")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	yaml := "name: big\nsystem: x\n# "
	exact := yaml + strings.Repeat("x", maxDefinitionBytes-len(yaml))
	require.Equal(t, http.StatusOK, post(strings.NewReader(exact)).StatusCode, "1 MiB is within the limit")
	// Without a Content-Length (chunked), Huma stops reading at the limit and
	// the server hangs up on the rest. Written over a raw connection, so that
	// the answer is read even when the server closes while the client still
	// writes (which an http.Client may report as EOF instead).
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	go func() {
		w := bufio.NewWriter(conn)
		_, _ = fmt.Fprintf(w, "POST /v1/workflows/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/yaml\r\nTransfer-Encoding: chunked\r\n\r\n")
		cw := httputil.NewChunkedWriter(w)
		_, _ = io.Copy(cw, io.MultiReader(strings.NewReader(exact), strings.NewReader("x")))
		_ = cw.Close()
		_, _ = w.WriteString("\r\n")
		_ = w.Flush()
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
}
