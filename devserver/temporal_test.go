package devserver

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
)

func TestTemporalInMemoryWithUI(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	uiPort, err := FreePort("127.0.0.1")
	require.NoError(t, err)

	srv, err := StartTemporal(ctx, TemporalConfig{UIPort: uiPort, Logger: testLogger(t), SearchAttributes: testSearchAttributes()})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	require.Equal(t, "default", srv.Namespace())
	require.Equal(t, fmt.Sprintf("http://127.0.0.1:%d", uiPort), srv.UIURL())

	c := dialTest(t, srv)
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	require.NoError(t, err)
	require.Equal(t, "default", ns.GetNamespaceInfo().GetName())

	attrs, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	for name, typ := range testSearchAttributes() {
		require.Equal(t, typ, attrs.GetCustomAttributes()[name], "search attribute %s", name)
	}

	// The attributes are usable: a workflow started with them is found by them.
	startTestWorkflow(t, c, "find-me")
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Namespace: "default",
			Query:     "TroupeTenant" + " = 'acme' AND " + "TroupeTaskType" + " = 'echo'",
		})
		require.NoError(collect, err)
		require.EqualValues(collect, 1, resp.GetCount())
	}, 10*time.Second, 100*time.Millisecond)

	resp, err := http.Get(srv.UIURL())
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)

	c.Close()
	srv.Stop()
	_, portText, err := net.SplitHostPort(srv.Address())
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)
	require.NoError(t, checkPortFree("127.0.0.1", port), "frontend port after Stop")
	require.NoError(t, checkPortFree("127.0.0.1", uiPort), "UI port after Stop")
}

func TestTemporalRestartKeepsHistory(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	file := filepath.Join(t.TempDir(), "temporal.db")
	port, err := FreePort("127.0.0.1")
	require.NoError(t, err)
	cfg := TemporalConfig{Port: port, DatabaseFile: file, Logger: testLogger(t), SearchAttributes: testSearchAttributes()}

	first, err := StartTemporal(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(first.Stop)
	require.Equal(t, fmt.Sprintf("127.0.0.1:%d", port), first.Address())
	require.Empty(t, first.UIURL())
	c := dialTest(t, first)
	run := startTestWorkflow(t, c, "kept")
	c.Close()
	first.Stop()
	require.FileExists(t, file)

	second, err := StartTemporal(ctx, cfg)
	require.NoError(t, err, "restart on the same file and port")
	t.Cleanup(second.Stop)
	c = dialTest(t, second)
	desc, err := c.DescribeWorkflowExecution(ctx, "kept", "")
	require.NoError(t, err)
	require.Equal(t, run.GetRunID(), desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
}

func TestTemporalConfigValidate(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]TemporalConfig{
		"host name":     {IP: "localhost"},
		"negative port": {Port: -1},
		"same ports":    {Port: 7300, UIPort: 7300},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := StartTemporal(t.Context(), cfg)
			require.Error(t, err)
		})
	}
}

func dialTest(t *testing.T, srv *Temporal) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  srv.Address(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(withMinLevel(testLogger(t), slog.LevelWarn)),
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// startTestWorkflow starts a workflow no worker runs, tagged with the
// custom search attributes.
func startTestWorkflow(t *testing.T, c client.Client, id string) client.WorkflowRun {
	t.Helper()
	run, err := c.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: "devserver-test",
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword("TroupeTenant").ValueSet("acme"),
			temporal.NewSearchAttributeKeyKeyword("TroupeTaskType").ValueSet("echo"),
			temporal.NewSearchAttributeKeyKeyword("TroupeUserHash").ValueSet("ab12"),
		),
	}, "NoSuchWorkflow")
	require.NoError(t, err)
	return run
}

func testSearchAttributes() map[string]enums.IndexedValueType {
	return map[string]enums.IndexedValueType{
		"TroupeTenant":   enums.INDEXED_VALUE_TYPE_KEYWORD,
		"TroupeTaskType": enums.INDEXED_VALUE_TYPE_KEYWORD,
		"TroupeUserHash": enums.INDEXED_VALUE_TYPE_KEYWORD,
	}
}
