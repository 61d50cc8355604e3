package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"
	enums "go.temporal.io/api/enums/v1"
	taskqueue "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
)

// TaskQueue is what Temporal knows of one task queue: the workers polling
// it and the work waiting for them, for workflow tasks and activity tasks.
type TaskQueue struct {
	Name     string    `json:"name"`
	Workflow QueueSide `json:"workflow" doc:"Workflow tasks: the orchestration."`
	Activity QueueSide `json:"activity" doc:"Activity tasks: LLM calls, tool calls, store writes."`
}

// QueueSide is one kind of task of a queue.
type QueueSide struct {
	Workers []Poller `json:"workers"`
	// Backlog is Temporal's approximate count of tasks waiting for a worker.
	Backlog           int64   `json:"backlog"`
	BacklogAgeSeconds float64 `json:"backlog_age_seconds" doc:"How long the oldest waiting task has waited."`
}

// Poller is a worker that polled a queue recently (Temporal forgets a
// poller a few minutes after its last poll).
type Poller struct {
	Identity      string    `json:"identity" doc:"The worker's identity: pid@host unless set."`
	LastPoll      time.Time `json:"last_poll"`
	RatePerSecond float64   `json:"rate_per_second"`
}

type workersOutput struct {
	Body struct {
		Items []TaskQueue `json:"items"`
	}
}

func (s *Server) registerWorkers(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "listWorkers", Method: http.MethodGet, Path: "/v1/workers",
		Summary: "Workers and their queues",
		Description: "For each task queue troupe uses (the default queue, the queues that tools, agents and steps name, and those of the tenant's unfinished tasks), " +
			"the workers polling it and its backlog, from Temporal's description of the queue: a queue with a backlog and no worker " +
			"is work nobody will run. Admin keys only.",
		Tags:   []string{"operations"},
		Errors: problems(http.StatusForbidden),
	}, func(ctx context.Context, _ *struct{}) (*workersOutput, error) {
		queues, err := s.Workers(ctx)
		if err != nil {
			return nil, err
		}
		out := &workersOutput{}
		out.Body.Items = queues
		return out, nil
	})
}

// Workers lists the task queues troupe uses with their workers and backlog,
// as GET /v1/workers answers it. Admin callers only. Its errors are
// huma.StatusErrors.
func (s *Server) Workers(ctx context.Context) ([]TaskQueue, error) {
	if err := adminOnly(ctx); err != nil {
		return nil, err
	}
	queues, err := s.queues(ctx)
	if err != nil {
		return nil, s.fail(ctx, "task queues", err)
	}
	var out []TaskQueue
	for _, name := range queues {
		q := TaskQueue{Name: name}
		var err error
		if q.Workflow, err = s.describeQueue(ctx, name, enums.TASK_QUEUE_TYPE_WORKFLOW); err != nil {
			return nil, s.fail(ctx, "task queue "+name, err)
		}
		if q.Activity, err = s.describeQueue(ctx, name, enums.TASK_QUEUE_TYPE_ACTIVITY); err != nil {
			return nil, s.fail(ctx, "task queue "+name, err)
		}
		out = append(out, q)
	}
	return out, nil
}

// queues lists the task queues troupe uses: the default one first, then
// those the definitions name (tools, agents, steps) and those of the
// tenant's unfinished tasks, sorted.
func (s *Server) queues(ctx context.Context) ([]string, error) {
	named, err := s.Store.UnfinishedQueues(ctx, who(ctx).Tenant)
	if err != nil {
		return nil, err
	}
	named = append(named, s.Catalog.Queues()...)
	slices.Sort(named)
	named = slices.Compact(named)
	return append([]string{s.TaskQueue}, slices.DeleteFunc(named, func(q string) bool { return q == s.TaskQueue })...), nil
}

// describeQueue asks Temporal for the pollers and backlog of one kind of
// task of a queue.
func (s *Server) describeQueue(ctx context.Context, name string, kind enums.TaskQueueType) (QueueSide, error) {
	resp, err := s.Temporal.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace: s.Namespace, TaskQueue: &taskqueue.TaskQueue{Name: name, Kind: enums.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: kind, ReportStats: true,
	})
	if err != nil {
		return QueueSide{}, err
	}
	side := QueueSide{Workers: make([]Poller, 0, len(resp.GetPollers()))}
	for _, p := range resp.GetPollers() {
		side.Workers = append(side.Workers, Poller{Identity: p.GetIdentity(), LastPoll: p.GetLastAccessTime().AsTime(), RatePerSecond: p.GetRatePerSecond()})
	}
	if st := resp.GetStats(); st != nil {
		side.Backlog = st.GetApproximateBacklogCount()
		side.BacklogAgeSeconds = st.GetApproximateBacklogAge().AsDuration().Seconds()
	}
	return side, nil
}
