package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReplayCommand(t *testing.T) {
	t.Parallel()
	good, err := filepath.Glob("../workflows/testdata/histories/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, good)
	var out bytes.Buffer
	require.NoError(t, Run(context.Background(), append([]string{"replay"}, good...), func(string) string { return "" }, &out, &out))
	require.Contains(t, out.String(), "ok   ")

	out.Reset()
	bad := "../workflows/testdata/incompatible/task_workflow_renamed_activity.json"
	err = Run(context.Background(), []string{"replay", good[0], bad}, func(string) string { return "" }, &out, &out)
	require.ErrorContains(t, err, "1 of 2 histories do not replay")
	require.Contains(t, out.String(), "FAIL "+bad)
}
