package workflows_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/worker"
)

// TestReplayCommittedHistories replays every history recorded from real runs
// (see recordHistory in package cli) against the current workflow code.
func TestReplayCommittedHistories(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/histories/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			require.NoError(t, worker.ReplayFile(f))
		})
	}
}

// TestReplayDetectsIncompatibleHistories checks that replay fails on
// histories the current code could not have produced.
func TestReplayDetectsIncompatibleHistories(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/incompatible/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			require.Error(t, worker.ReplayFile(f))
		})
	}
}
