package tool_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/tool"
	"github.com/troupe-dev/troupe/tool/tooltest"
)

func TestMain(m *testing.M) {
	tooltest.MaybeServeStdio()
	os.Exit(m.Run())
}

// newToolbox returns a Toolbox closed when the test ends.
func newToolbox(t *testing.T, cfg tool.Config) *tool.Toolbox {
	t.Helper()
	b := tool.New(cfg)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// env is a Getenv over a map.
func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// toolError asserts that err is a *tool.Error and returns it.
func toolError(t *testing.T, err error) *tool.Error {
	t.Helper()
	var te *tool.Error
	require.ErrorAs(t, err, &te)
	return te
}
