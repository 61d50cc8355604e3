// Package worker builds a Temporal worker with every troupe workflow and
// activity registered.
package worker

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/tasklog"
	"github.com/troupe-dev/troupe/workflows"
)

// Options tune a worker.
type Options struct {
	// StopTimeout is how long a stopping worker lets the activities in
	// flight finish before it cancels them (default 30s): keep it within the
	// grace period of the pod or service manager.
	StopTimeout time.Duration
	// ActivityConcurrency bounds the activities a worker runs at once
	// (0: the SDK's default).
	ActivityConcurrency int
	// Logs keeps the log lines of activities with their tasks (see
	// package tasklog); nil keeps them in the worker's log only.
	Logs tasklog.Appender
}

// HeartbeatEvery is the most time between two heartbeats the worker sends
// for an activity that heartbeats (the SDK would otherwise send one per
// 80% of its heartbeat timeout): a cancel reaches a call within it.
const HeartbeatEvery = 2 * time.Second

func (o Options) sdk() worker.Options {
	opts := worker.Options{
		WorkerStopTimeout:                  cmp.Or(o.StopTimeout, 30*time.Second),
		MaxConcurrentActivityExecutionSize: o.ActivityConcurrency,
		MaxHeartbeatThrottleInterval:       HeartbeatEvery,
	}
	if o.Logs != nil {
		opts.Interceptors = []interceptor.WorkerInterceptor{tasklog.NewInterceptor(o.Logs)}
	}
	return opts
}

// New returns a worker polling taskQueue that runs troupe's workflows, the
// activities in acts and the tool calls of tools that name no queue.
func New(c client.Client, taskQueue string, opts Options, acts *activities.Activities, tools *activities.Tools) worker.Worker {
	w := worker.New(c, taskQueue, opts.sdk())
	RegisterWorkflows(w)
	w.RegisterActivity(acts)
	w.RegisterActivity(tools)
	return w
}

// NewToolWorker returns a worker polling a tool's own task queue (e.g. on
// the host whose files a tool works on): it runs tool calls only, and needs
// no database.
func NewToolWorker(c client.Client, taskQueue string, opts Options, tools *activities.Tools) worker.Worker {
	w := worker.New(c, taskQueue, opts.sdk())
	w.RegisterActivity(tools)
	return w
}

// RegisterWorkflows registers troupe's workflows with r; the replayer uses
// it too, so both see the same workflows under the same names.
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(workflows.TaskWorkflow)
	r.RegisterWorkflow(workflows.DSLWorkflow)
	r.RegisterWorkflow(workflows.AgentStepWorkflow)
	r.RegisterWorkflow(workflows.ScheduledTaskWorkflow)
}

// EnsureSearchAttributes registers troupe's custom search attributes in the
// namespace when they are missing, so tasks can be found by tenant, type and
// user in the Web UI and with `temporal workflow list --query`, and waits
// until the server accepts them.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	resp, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := workflows.SearchAttributes()
	for name := range resp.GetCustomAttributes() {
		delete(missing, name)
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		SearchAttributes: missing, Namespace: namespace,
	}); err != nil {
		return fmt.Errorf("register search attributes: %w", err)
	}
	// Workflows may use them once the namespace cache has refreshed, which
	// is when a query naming them is accepted.
	var terms []string
	for _, name := range slices.Sorted(maps.Keys(missing)) {
		terms = append(terms, name+" = ''")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: strings.Join(terms, " AND ")})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("search attributes not usable after registration: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
