package tasklog

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/store"
)

func TestAttrs(t *testing.T) {
	require.Nil(t, attrs(nil))
	require.JSONEq(t, `{"call_key":"k","attempt":2,"error":"boom"}`, string(attrs([]any{"call_key", "k", "attempt", 2, "error", errors.New("boom")})))
	require.JSONEq(t, `{"a":1,"!BADKEY":"dangling"}`, string(attrs([]any{"a", 1, "dangling"})))

	// A value JSON cannot hold: every value is kept as its text.
	var text map[string]string
	require.NoError(t, json.Unmarshal(attrs([]any{"n", 1, "ch", make(chan int)}), &text))
	require.Equal(t, "1", text["n"])
	require.Regexp(t, `^0x[0-9a-f]+$`, text["ch"])
}

// downLogs is a store that is down: it refuses every line, and counts them.
type downLogs struct{ tries atomic.Int64 }

func (d *downLogs) AppendLog(context.Context, uuid.UUID, string, time.Time, store.LogLine) error {
	d.tries.Add(1)
	return errors.New("connect: connection refused")
}

// With the store down, each line is tried once and its failure goes to the
// worker's own log: reporting it must not make a line of its own to keep
// (which fails, is reported, and so on without end).
func TestALineThatCannotBeKeptIsTriedOnce(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	logs := &downLogs{}
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{NewInterceptor(logs)}})
	env.RegisterActivityWithOptions(func(ctx context.Context) error {
		activity.GetLogger(ctx).Info("one line")
		log.With(activity.GetLogger(ctx), "k", "v").Warn("another line")
		return nil
	}, activity.RegisterOptions{Name: "Work"})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		return workflow.ExecuteActivity(ctx, "Work").Get(ctx, nil)
	}, workflow.RegisterOptions{Name: "Task"})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "task-" + uuid.NewString()})
	env.ExecuteWorkflow("Task")
	require.NoError(t, env.GetWorkflowError())
	require.EqualValues(t, 2, logs.tries.Load())
}
