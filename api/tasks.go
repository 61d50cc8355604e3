package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/workflows"
)

// Task is a task as the API shows it.
type Task struct {
	ID           string          `json:"id" format:"uuid"`
	Type         string          `json:"type"`
	Status       store.Status    `json:"status" enum:"pending,running,completed,failed,canceled,timed_out"`
	Input        json.RawMessage `json:"input"`
	Output       json.RawMessage `json:"output,omitempty" doc:"For an agent with no output schema: {\"text\": \"...\"}."`
	Error        string          `json:"error,omitempty"`
	Model        string          `json:"model"`
	InputTokens  int64           `json:"input_tokens"`
	OutputTokens int64           `json:"output_tokens"`
	CostUSD      float64         `json:"cost_usd"`
	Priority     int             `json:"priority"`
	Queue        string          `json:"queue" doc:"The Temporal task queue its workflow runs on."`
	Timeout      string          `json:"timeout,omitempty" doc:"How long the whole run may take, when it is bounded."`
	Metadata     json.RawMessage `json:"metadata,omitempty"`
	WorkflowID   string          `json:"workflow_id" doc:"Empty for a run reported from outside."`
	Source       store.Source    `json:"source" enum:"troupe,external" doc:"troupe: a task troupe runs; external: a run of a flow that runs elsewhere, reported over POST /v1/events."`
	TraceID      string          `json:"trace_id,omitempty" doc:"The OpenTelemetry trace id of the request that created the task (or the one its reporting flow named): the trace through Temporal to the LLM calls."`
	RunID        string          `json:"run_id,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	StartedAt    *time.Time      `json:"started_at,omitempty"`
	FinishedAt   *time.Time      `json:"finished_at,omitempty"`
	Links        TaskLinks       `json:"links"`
	Waiting      []Wait          `json:"waiting,omitempty" doc:"What the task waits for from a person, and how to answer (read of one task only)."`
	Runs         []Run           `json:"runs,omitempty" doc:"The runs of the task's workflow, oldest first, and how each ended: a retry or an operator's reset starts a new one (read of one task only)."`
}

// TaskLinks are links to where else a task can be seen.
type TaskLinks struct {
	TemporalUI string `json:"temporal_ui,omitempty" doc:"The task's workflow in the Temporal Web UI."`
}

// TaskOf is task t as the API shows it in a list: without what it waits
// for and its runs.
func (s *Server) TaskOf(t store.Task) Task {
	return s.task(t)
}

func (s *Server) task(t store.Task) Task {
	out := Task{
		ID: t.ID.String(), Type: t.Type, Status: t.Status, Input: t.Input, Output: t.Output, Error: t.Error,
		Model: t.Model, InputTokens: t.InputTokens, OutputTokens: t.OutputTokens, CostUSD: t.CostUSD,
		Priority: t.Priority, Metadata: t.Metadata, WorkflowID: t.WorkflowID, RunID: t.RunID,
		Source: t.Source, TraceID: t.TraceID,
		CreatedAt: t.CreatedAt, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt,
		Queue: s.queueOf(t),
	}
	if t.Timeout > 0 {
		out.Timeout = t.Timeout.String()
	}
	out.Links.TemporalUI = s.temporalUILink(t)
	return out
}

// temporalUILink is the Web UI page of a task's workflow: its run's history
// once the run is known, else the workflow list filtered to its id (the UI
// answers 400 to a workflow page without a run).
func (s *Server) temporalUILink(t store.Task) string {
	if s.TemporalUI == "" || t.Source == store.SourceExternal {
		return ""
	}
	ns := s.TemporalUI + "/namespaces/" + url.PathEscape(s.Namespace)
	if t.RunID != "" {
		return fmt.Sprintf("%s/workflows/%s/%s/history", ns, url.PathEscape(t.WorkflowID), url.PathEscape(t.RunID))
	}
	return ns + "/workflows?query=" + url.QueryEscape(fmt.Sprintf("WorkflowId=%q", t.WorkflowID))
}

// CreateTaskInput is the request of createTask.
type CreateTaskInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Retrying a request with the same key returns the same task (200) instead of starting a second one; the same key with a different body is a 422. A key is the tenant's for as long as its task is kept."`
	Body           struct {
		Type       string            `json:"type" minLength:"1" maxLength:"200" doc:"An agent name (e.g. summarize, chat) or workflow:<name>. With a definition, workflow:<the definition's name>." example:"summarize"`
		Definition string            `json:"definition,omitempty" maxLength:"524288" doc:"A workflow YAML to run as written instead of a loaded one (what troupe run FILE.yaml sends); checked like POST /v1/workflows/validate."`
		Input      json.RawMessage   `json:"input" doc:"The task's input, checked against the agent's or workflow's input schema." example:"{\"text\": \"Temporal is a durable execution platform...\"}"`
		Model      string            `json:"model,omitempty" maxLength:"200" doc:"Model to use instead of the agent's or the default."`
		UserEmail  string            `json:"user_email,omitempty" format:"email" maxLength:"320" doc:"Stored only as a hash keyed per tenant, of the bare lower-case address (Alice <A@x.org> and a@x.org are the same user)."`
		Priority   int               `json:"priority,omitempty" minimum:"0" maximum:"5" doc:"1 (highest) to 5; 0 = default (3). Orders the work within each task queue."`
		Queue      string            `json:"queue,omitempty" maxLength:"200" pattern:"^[A-Za-z0-9_.-]+$" doc:"The Temporal task queue to run on, polled by workers started with troupe worker --queue NAME; default: the agent's queue, else the server's (troupe)."`
		Timeout    string            `json:"timeout,omitempty" maxLength:"20" doc:"Bound on the whole run, a duration from 1s to 720h (e.g. 30m); past it the task ends timed_out." example:"30m"`
		Metadata   map[string]string `json:"metadata,omitempty" maxProperties:"50"`
	}
}

// TaskOutput is a response holding one task.
type TaskOutput struct {
	Status   int
	Location string `header:"Location"`
	Body     Task
}

// TaskIDInput names one task.
type TaskIDInput struct {
	ID string `path:"id" format:"uuid" doc:"Task id."`
}

// ListTasksInput is the request of listTasks.
type ListTasksInput struct {
	Status        string    `query:"status" enum:"pending,running,completed,failed,canceled,timed_out"`
	Type          string    `query:"type"`
	ScheduleID    string    `query:"schedule_id" doc:"Only the tasks this schedule started."`
	Source        string    `query:"source" enum:"troupe,external" doc:"Only the tasks troupe runs, or only the runs reported from outside."`
	UserEmail     string    `query:"user_email" format:"email"`
	CreatedAfter  time.Time `query:"created_after"`
	CreatedBefore time.Time `query:"created_before"`
	Limit         int       `query:"limit" minimum:"1" maximum:"200" default:"50"`
	Cursor        string    `query:"cursor" doc:"next_cursor of the previous page."`
}

// TaskList is a page of tasks.
type TaskList struct {
	Body struct {
		Items      []Task `json:"items"`
		NextCursor string `json:"next_cursor,omitempty"`
	}
}

func (s *Server) registerTasks(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID:   "createTask",
		Method:        http.MethodPost,
		Path:          "/v1/tasks",
		Summary:       "Submit a task",
		Description:   "Validates the task and starts its Temporal workflow `task-<id>`. Answers 201 with the new task, or 200 with the existing one when the Idempotency-Key was seen before. When Temporal does not confirm the start, the task is kept `pending` and its workflow is started within a minute or two.",
		DefaultStatus: http.StatusCreated,
		Tags:          []string{"tasks"},
		Errors:        problems(http.StatusBadRequest, http.StatusRequestEntityTooLarge),
	}, s.CreateTask)
	// A replay answers as the first request did, with 200: the same task and headers.
	create := api.OpenAPI().Paths["/v1/tasks"].Post
	replay := *create.Responses["201"]
	replay.Description = "A replay: the task this Idempotency-Key was first used for, with the same request; nothing new is started."
	create.Responses["200"] = &replay
	create.Responses["201"].Description = "The new task; its workflow is started (or, unconfirmed by Temporal, left pending and started shortly)."
	huma.Register(api, huma.Operation{
		OperationID: "getTask", Method: http.MethodGet, Path: "/v1/tasks/{id}",
		Summary: "Get a task", Description: "A task that has not ended is checked against its workflow, so one terminated in Temporal shows as failed.", Tags: []string{"tasks"},
		Errors: problems(http.StatusNotFound),
	}, s.GetTask)
	huma.Register(api, huma.Operation{
		OperationID: "listTasks", Method: http.MethodGet, Path: "/v1/tasks",
		Summary: "List tasks", Description: "Newest first, with filters and cursor pagination.", Tags: []string{"tasks"},
		Errors: problems(),
	}, s.ListTasks)
	huma.Register(api, huma.Operation{
		OperationID: "cancelTask", Method: http.MethodPost, Path: "/v1/tasks/{id}/cancel",
		Summary: "Cancel a task", Description: "Requests cancellation of the task's workflow; the LLM call in flight is aborted. Answers 202: the task shows `canceled` once the workflow has stopped, or at once for a task whose workflow never started.",
		DefaultStatus: http.StatusAccepted, Tags: []string{"tasks"}, Errors: problems(http.StatusNotFound, http.StatusConflict),
	}, s.CancelTask)
}

// CreateTask creates a task and starts its workflow, as POST /v1/tasks does
// (Idempotency-Key included), for the principal Authenticate put in ctx.
// Its errors are huma.StatusErrors.
func (s *Server) CreateTask(ctx context.Context, in *CreateTaskInput) (*TaskOutput, error) {
	if err := s.allowStart(who(ctx)); err != nil {
		return nil, err
	}
	body := in.Body
	if len(body.Input) == 0 || string(body.Input) == "null" {
		body.Input = json.RawMessage("{}")
	}
	start, err := s.prepare(body.Type, body.Definition, body.Input, body.Model)
	if err != nil {
		return nil, err
	}
	timeout, err := taskTimeout(body.Timeout)
	if err != nil {
		return nil, err
	}
	var hash string
	if in.IdempotencyKey != "" {
		if hash, err = requestHash(body); err != nil {
			return nil, s.fail(ctx, "task", err)
		}
	}
	p := who(ctx)
	var metadata json.RawMessage
	if len(body.Metadata) > 0 {
		metadata, _ = json.Marshal(body.Metadata)
	}
	t, created, err := s.Store.CreateTask(ctx, store.NewTask{
		TenantID: p.Tenant, UserIDHash: s.UserHash(p.Tenant, body.UserEmail), Type: body.Type,
		Input: body.Input, Model: start.model, Priority: body.Priority,
		Queue: cmp.Or(body.Queue, start.queue), Timeout: timeout,
		IdempotencyKey: in.IdempotencyKey, RequestHash: hash, Metadata: metadata, DefinitionHash: start.hash, Actor: p.Actor,
		TraceID: traceID(ctx),
	})
	if err != nil {
		return nil, s.fail(ctx, "task", err)
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	// A replayed request whose first attempt died before starting the
	// workflow starts it now; starting is idempotent by workflow id.
	if t.Status == store.StatusPending {
		if err := s.startWorkflow(ctx, t, start); err != nil {
			if !definiteRefusal(err) {
				// The workflow may exist: the task stays pending, and a
				// read or the sweep starts its workflow if it does not.
				s.Logger.WarnContext(ctx, "start of workflow not confirmed; left to the reconciler", "task_id", t.ID, "error", err)
				return &TaskOutput{Status: status, Location: "/v1/tasks/" + t.ID.String(), Body: s.task(t)}, nil
			}
			if created {
				if derr := s.Store.DeleteTask(context.WithoutCancel(ctx), t.ID); derr != nil {
					s.Logger.ErrorContext(ctx, "delete unstarted task", "task_id", t.ID, "error", derr)
				}
			}
			s.Logger.ErrorContext(ctx, "start workflow", "task_id", t.ID, "error", err)
			return nil, huma.Error503ServiceUnavailable("the task could not be started: Temporal refused its workflow; retry with the same Idempotency-Key")
		}
	}
	if created {
		s.Metrics.ObserveSubmit(t.Type)
	}
	return &TaskOutput{Status: status, Location: "/v1/tasks/" + t.ID.String(), Body: s.task(t)}, nil
}

// maxTaskTimeout is the longest timeout a task may set.
const maxTaskTimeout = 720 * time.Hour

// taskTimeout reads a task's timeout: "" for none, else a duration from 1s
// to maxTaskTimeout.
func taskTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > maxTaskTimeout {
		return 0, huma.Error422UnprocessableEntity(fmt.Sprintf("timeout %q: want a duration from 1s to %s, e.g. 30m", s, maxTaskTimeout),
			&huma.ErrorDetail{Location: "body.timeout", Value: s})
	}
	return d, nil
}

// queueOf is the task queue of task t's workflow.
func (s *Server) queueOf(t store.Task) string {
	if t.Source == store.SourceExternal {
		return ""
	}
	return cmp.Or(t.Queue, s.TaskQueue)
}

// startWorkflow starts the task's workflow, tolerating one already started.
// The start runs with a context the client cannot cancel, for at most
// startTimeout: a client hanging up must not abandon a start Temporal may
// already have carried out.
func (s *Server) startWorkflow(ctx context.Context, t store.Task, start workflowStart) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	defer cancel()
	opts := client.StartWorkflowOptions{
		ID:                       t.WorkflowID,
		TaskQueue:                s.queueOf(t),
		WorkflowRunTimeout:       workflows.RunTimeout(t.Timeout),
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// In `troupe dev` a worker shares the client: its first workflow
		// task then comes back with the start response, saving a dispatch.
		EnableEagerStart: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.TenantKey.ValueSet(t.TenantID),
			workflows.TaskTypeKey.ValueSet(t.Type),
			workflows.UserHashKey.ValueSet(t.UserIDHash),
		),
	}
	if t.Priority > 0 {
		opts.Priority = temporal.Priority{PriorityKey: t.Priority}
	}
	_, err := s.Temporal.ExecuteWorkflow(ctx, opts, start.workflow, start.args(t)...)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	return err
}

// ReadTask reads a task of ctx's tenant, as GET /v1/tasks/{id} does,
// reconciled with its workflow when it has not ended (a run reported from
// outside has none). Its errors are huma.StatusErrors.
func (s *Server) ReadTask(ctx context.Context, id uuid.UUID) (store.Task, error) {
	t, err := s.Store.GetTask(ctx, who(ctx).Tenant, id)
	if err != nil {
		return store.Task{}, s.fail(ctx, "task "+id.String(), err)
	}
	if !t.Status.Terminal() && t.Source == store.SourceTroupe {
		t = s.reconcile(ctx, t)
	}
	return t, nil
}

// GetTask reads a task of ctx's tenant as GET /v1/tasks/{id} answers it:
// reconciled, with what it waits for and its runs. Its errors are
// huma.StatusErrors.
func (s *Server) GetTask(ctx context.Context, in *TaskIDInput) (*TaskOutput, error) {
	t, err := s.ReadTask(ctx, uuid.MustParse(in.ID))
	if err != nil {
		return nil, err
	}
	out := s.task(t)
	if !t.Status.Terminal() && t.Source == store.SourceTroupe {
		if out.Waiting, err = s.waits(ctx, t); err != nil {
			return nil, s.fail(ctx, "task "+in.ID, err)
		}
	}
	if out.Runs, err = s.runs(ctx, t); err != nil {
		return nil, s.fail(ctx, "task "+in.ID, err)
	}
	return &TaskOutput{Status: http.StatusOK, Body: out}, nil
}

// ListTasks lists a page of the tasks of ctx's tenant, as GET /v1/tasks
// does (UserEmail hashed). Its errors are huma.StatusErrors.
func (s *Server) ListTasks(ctx context.Context, in *ListTasksInput) (*TaskList, error) {
	tasks, next, err := s.Store.ListTasks(ctx, store.TaskFilter{
		TenantID: who(ctx).Tenant, Status: store.Status(in.Status), Type: in.Type, ScheduleID: in.ScheduleID,
		Source:     store.Source(in.Source),
		UserIDHash: s.UserHash(who(ctx).Tenant, in.UserEmail), CreatedAfter: in.CreatedAfter, CreatedBefore: in.CreatedBefore,
		Limit: in.Limit, Cursor: in.Cursor,
	})
	if err != nil {
		return nil, s.fail(ctx, "tasks", err)
	}
	out := &TaskList{}
	out.Body.Items = make([]Task, 0, len(tasks))
	for _, t := range tasks {
		out.Body.Items = append(out.Body.Items, s.task(t))
	}
	out.Body.NextCursor = next
	return out, nil
}

// CancelTask requests the cancellation of a task of ctx's tenant, as POST
// /v1/tasks/{id}/cancel does. Its errors are huma.StatusErrors.
func (s *Server) CancelTask(ctx context.Context, in *TaskIDInput) (*TaskOutput, error) {
	t, err := s.actOnTask(ctx, in.ID, "task_cancel_requested", nil, func(ctx context.Context, t store.Task) error {
		err := s.Temporal.CancelWorkflow(ctx, t.WorkflowID, "")
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) && t.Status == store.StatusPending {
			// The submit died before starting the workflow: there is
			// nothing to stop, the task ends here.
			return s.Store.FinishTask(ctx, t.ID, "", store.StatusCanceled, nil, "canceled before its workflow started")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	t = s.reread(ctx, t)
	return &TaskOutput{Status: http.StatusAccepted, Body: s.task(t)}, nil
}

// actTimeout bounds the delivery of an action to a workflow once it is audited.
const actTimeout = 10 * time.Second

// actOnTask acts on the workflow of a task of the caller's tenant that has not ended. It
// writes the audit row eventType with meta (actor from authentication) FIRST, then runs act:
// nothing reaches a workflow without its audit row. act runs with a context the client cannot
// cancel, so that an audited action is delivered; if it fails all the same, a second audit
// row, eventType+"_failed", says so.
func (s *Server) actOnTask(ctx context.Context, id, eventType string, meta any, act func(context.Context, store.Task) error) (store.Task, error) {
	p := who(ctx)
	t, err := s.Store.GetTask(ctx, p.Tenant, uuid.MustParse(id))
	if err != nil {
		return store.Task{}, s.fail(ctx, "task "+id, err)
	}
	if t.Status.Terminal() {
		return store.Task{}, huma.Error409Conflict(fmt.Sprintf("task %s already ended with status %s", t.ID, t.Status))
	}
	if err := runByTroupe(t); err != nil {
		return store.Task{}, err
	}
	return t, s.deliver(ctx, t, eventType, meta, act)
}

// runByTroupe refuses, with a 409, to act on a run reported from outside:
// its flow runs elsewhere, and only its reports change it.
func runByTroupe(t store.Task) error {
	if t.Source == store.SourceExternal {
		return huma.Error409Conflict(fmt.Sprintf("task %s is a run reported from outside (POST /v1/events): troupe cannot act on it", t.ID))
	}
	return nil
}

// deliver audits eventType about task t, by the caller, then acts on its workflow (see
// actOnTask).
func (s *Server) deliver(ctx context.Context, t store.Task, eventType string, meta any, act func(context.Context, store.Task) error) error {
	id := t.ID.String()
	if err := s.audit(ctx, t, eventType, meta); err != nil {
		return s.fail(ctx, "task "+id, err)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), actTimeout)
	defer cancel()
	if err := act(actx, t); err != nil {
		var nf *serviceerror.NotFound
		notRunning := errors.As(err, &nf)
		reason := "not delivered: " + err.Error()
		if notRunning {
			reason = "not delivered: the workflow is not running"
		}
		if aerr := s.audit(actx, t, eventType+"_failed", map[string]string{"error": reason}); aerr != nil {
			s.Logger.ErrorContext(ctx, "audit failed action", "task_id", t.ID, "event_type", eventType, "error", aerr)
		}
		if notRunning {
			return huma.Error409Conflict(fmt.Sprintf("task %s is not running", t.ID))
		}
		return s.fail(ctx, "task "+id, err)
	}
	return nil
}

// audit appends the audit row eventType about task t, by the caller, with meta.
func (s *Server) audit(ctx context.Context, t store.Task, eventType string, meta any) error {
	return s.appendAudit(ctx, store.Audit{
		EventType: eventType, ResourceType: "task", ResourceID: t.ID.String(),
		TenantID: t.TenantID, UserIDHash: t.UserIDHash, Actor: who(ctx).Actor,
	}, meta)
}

// appendAudit appends the audit row a with meta, if any, as its metadata.
func (s *Server) appendAudit(ctx context.Context, a store.Audit, meta any) error {
	if meta != nil {
		var err error
		if a.Metadata, err = json.Marshal(meta); err != nil {
			return fmt.Errorf("marshal audit metadata: %w", err)
		}
	}
	return s.Store.AppendAudit(ctx, a)
}

// knownTypes lists the task types a client may submit.
func (s *Server) knownTypes() string {
	var names []string
	for name := range s.Catalog.Agents {
		names = append(names, name)
	}
	for name := range s.Catalog.Workflows {
		names = append(names, "workflow:"+name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// traceID is the id of ctx's OpenTelemetry trace, "" if it has none.
func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}
