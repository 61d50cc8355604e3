package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte("name: good_one\nsteps:\n  - id: s\n    agent: summarize\n    prompt: \"{{ input.text }}\"\n"), 0o644))
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("name: bad_one\nsteps:\n  - id: s\n    agent: summarize\n    prompt: \"{{ steps.nope.output }}\"\n"), 0o644))
	env := func(string) string { return "" }

	var out bytes.Buffer
	require.NoError(t, runValidate(loadConfig(env), []string{good}, &out))
	require.Contains(t, out.String(), "ok: 0 agent(s), 1 workflow(s), 0 tool(s)")

	out.Reset()
	err := runValidate(loadConfig(env), []string{good, bad}, &out)
	require.ErrorContains(t, err, "problem(s)")
	require.Contains(t, out.String(), bad+":5:")
	require.Contains(t, out.String(), "nope")
}
