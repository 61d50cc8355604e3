package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Limits of a run's history, well under Temporal's own (51,200 events or
// 50 MiB, where it terminates the workflow with no word to the task): a
// run that passes either fails with a history_limit error before its next
// step or agent turn.
const (
	historyEventsLimit = 40_000
	historyBytesLimit  = 40 << 20
)

// checkHistory fails with a non-retryable history_limit error once the
// workflow's history is past its limits; before names what was about to
// start.
func checkHistory(ctx workflow.Context, before string) error {
	info := workflow.GetInfo(ctx)
	events, size := info.GetCurrentHistoryLength(), info.GetCurrentHistorySize()
	if events < historyEventsLimit && size < historyBytesLimit {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"history_limit: the workflow's history holds %d events (%d bytes), past the limit of %d events or %d MiB; it stopped before %s",
		events, size, historyEventsLimit, historyBytesLimit>>20, before), "history_limit", nil)
}
