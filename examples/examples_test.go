package examples_test

import (
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/examples"
)

func TestExamplesLoad(t *testing.T) {
	t.Parallel()
	agents, err := fs.Glob(examples.FS, "agents/*.yaml")
	require.NoError(t, err)
	workflows, err := fs.Glob(examples.FS, "workflows/*.yaml")
	require.NoError(t, err)
	tools, err := fs.Glob(examples.FS, "tools/*.yaml")
	require.NoError(t, err)

	cat, err := definitions.Load(examples.FS)
	require.NoError(t, err)
	require.Len(t, cat.Agents, len(agents), "one agent per file")
	require.Len(t, cat.Workflows, len(workflows), "one workflow per file")
	require.Len(t, cat.Tools, len(tools), "one tool per file")
	for name, tool := range cat.Tools {
		require.Equal(t, "builtin", tool.Kind(), "%s: shipped tools work offline", name)
		require.Empty(t, tool.Queue, "%s: shipped tools run on the task's worker", name)
	}
	for _, name := range []string{"summarize", "chat", "research", "assessment"} {
		require.Contains(t, cat.Agents, name)
		require.NotEmpty(t, cat.Agents[name].System, name)
		require.Empty(t, cat.Agents[name].Model, "%s: shipped agents use the platform's default model", name)
	}
	for _, name := range []string{"research_assessment", "research_loop", "parallel_summary", "approval_publish"} {
		require.Contains(t, cat.Workflows, name)
		require.Empty(t, cat.Workflows[name].Defaults.Model, "%s: shipped workflows use the platform's default model", name)
	}
}
