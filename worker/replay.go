package worker

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// ReplayFile replays a workflow history exported as JSON (by
// `temporal workflow show --output json`) against the current workflow code;
// an error means the code is no longer compatible with that history.
func ReplayFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	history, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return fmt.Errorf("read history %s: %w", path, err)
	}
	// Replay under the original workflow id: the interpreter derives the ids
	// of its child workflows from it.
	var execution workflow.Execution
	if events := history.GetEvents(); len(events) > 0 {
		execution.ID = events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowId()
	}
	r := worker.NewWorkflowReplayer()
	RegisterWorkflows(r)
	quiet := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	return r.ReplayWorkflowHistoryWithOptions(quiet, history, worker.ReplayWorkflowHistoryOptions{OriginalExecution: execution})
}
