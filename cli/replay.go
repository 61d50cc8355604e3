package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/troupe-dev/troupe/worker"
)

// runReplay replays workflow histories exported with
// `temporal workflow show --output json` against the current workflow code.
func runReplay(files []string, stdout io.Writer) error {
	if len(files) == 0 {
		return errors.New("usage: troupe replay HISTORY.json [HISTORY.json ...]")
	}
	var failed []error
	for _, f := range files {
		if err := worker.ReplayFile(f); err != nil {
			fmt.Fprintf(stdout, "FAIL %s: %v\n", f, err)
			failed = append(failed, fmt.Errorf("%s: %w", f, err))
			continue
		}
		fmt.Fprintf(stdout, "ok   %s\n", f)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d histories do not replay: the workflow code is not compatible with them", len(failed), len(files))
	}
	return nil
}
