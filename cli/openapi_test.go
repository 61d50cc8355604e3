package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// troupe openapi prints the document with no server running: 3.1 by
// default, 3.0.3 with --3.0, its server TROUPE_PUBLIC_URL or else the
// listen address.
func TestOpenAPICommand(t *testing.T) {
	t.Parallel()
	printed := func(env map[string]string, args ...string) (doc struct {
		OpenAPI string                    `json:"openapi"`
		Servers []struct{ URL string }    `json:"servers"`
		Paths   map[string]map[string]any `json:"paths"`
	}) {
		t.Helper()
		var out bytes.Buffer
		require.NoError(t, Run(t.Context(), append([]string{"openapi"}, args...), func(k string) string { return env[k] }, &out, io.Discard))
		require.NoError(t, json.Unmarshal(out.Bytes(), &doc), out.String())
		return doc
	}
	doc := printed(map[string]string{"TROUPE_ADDR": "127.0.0.1:9090"})
	require.Equal(t, "3.1.0", doc.OpenAPI)
	require.Equal(t, "http://127.0.0.1:9090", doc.Servers[0].URL)
	require.Contains(t, doc.Paths["/v1/tasks"]["post"], "responses")

	doc = printed(map[string]string{"TROUPE_PUBLIC_URL": "https://troupe.example.com"}, "--3.0")
	require.Equal(t, "3.0.3", doc.OpenAPI)
	require.Equal(t, "https://troupe.example.com", doc.Servers[0].URL)

	require.ErrorContains(t, Run(t.Context(), []string{"openapi", "--3.1"}, func(string) string { return "" }, io.Discard, io.Discard), "usage: troupe openapi [--3.0]")
}
