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

	cat, err := definitions.Load(examples.FS)
	require.NoError(t, err)
	require.Len(t, cat.Agents, len(agents), "one agent per file")
	require.Len(t, cat.Workflows, len(workflows), "one workflow per file")
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
