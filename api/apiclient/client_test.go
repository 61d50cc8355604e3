package apiclient_test

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/api"
)

// The generated files follow the API: openapi.json is the document the API
// describes itself with, and client.gen.go what oapi-codegen makes of it.
// When this fails, run `go generate ./api/apiclient` and commit the result.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	t.Parallel()
	doc, err := api.Document("http://127.0.0.1:8080", true) // the server of the go:generate line
	require.NoError(t, err)
	committed, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	require.True(t, bytes.Equal(doc, committed), "openapi.json is stale: run go generate ./api/apiclient")

	generated, err := exec.CommandContext(t.Context(), "go", "tool", "oapi-codegen", "-config", "oapi-codegen.yaml", "openapi.json").Output()
	require.NoError(t, err)
	client, err := os.ReadFile("client.gen.go")
	require.NoError(t, err)
	require.True(t, bytes.Equal(generated, client), "client.gen.go is stale: run go generate ./api/apiclient")
}
