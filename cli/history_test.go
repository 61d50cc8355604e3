package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// recordHistory writes the history of a finished workflow to
// workflows/testdata/histories/<name>.json, in the format of
// `temporal workflow show --output json`, when TROUPE_RECORD_HISTORIES=1.
// The replay tests in package workflows replay every committed history, so
// regenerate them deliberately, when a workflow change is meant to break
// compatibility (and version the workflow instead where runs are live).
func recordHistory(t *testing.T, temporalAddr, workflowID, name string) {
	t.Helper()
	if os.Getenv("TROUPE_RECORD_HISTORIES") != "1" {
		return
	}
	c, err := client.Dial(client.Options{HostPort: temporalAddr})
	require.NoError(t, err)
	defer c.Close()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, 0)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		events = append(events, e)
	}
	data, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&historypb.History{Events: events})
	require.NoError(t, err)
	dir := filepath.Join("..", "workflows", "testdata", "histories")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".json"), data, 0o644))
	if name == "task_workflow" {
		// A deliberately incompatible copy: the history says the workflow
		// scheduled an activity the current code does not schedule.
		bad := regexp.MustCompile(`"name":\s*"CallLLM"`).ReplaceAllString(string(data), `"name": "CallLLMv0"`)
		require.NotEqual(t, string(data), bad)
		dir := filepath.Join("..", "workflows", "testdata", "incompatible")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "task_workflow_renamed_activity.json"), []byte(bad), 0o644))
	}
}
