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
	replayAll(t, "testdata/histories/*.json", false)
}

// TestReplayDetectsIncompatibleHistories checks that replay fails on
// histories the current code could not have produced.
func TestReplayDetectsIncompatibleHistories(t *testing.T) {
	t.Parallel()
	replayAll(t, "testdata/incompatible/*.json", true)
}

// replayAll replays the histories matching glob, each expected to fail or not.
func replayAll(t *testing.T, glob string, wantErr bool) {
	files, err := filepath.Glob(glob)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if err := worker.ReplayFile(f); wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
		})
	}
}
