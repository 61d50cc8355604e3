package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/workflows"
)

// ScheduleSettings is what a schedule was created with: the task it starts
// and its timetable. The task's type is resolved, and its definition
// pinned, at creation: editing the YAML later does not change a schedule.
type ScheduleSettings struct {
	ID       string          `json:"id" minLength:"1" maxLength:"200" pattern:"^[A-Za-z0-9_.-]+$" doc:"The schedule's name within the tenant." example:"nightly-digest"`
	Type     string          `json:"type" minLength:"1" maxLength:"200" doc:"An agent name or workflow:<name>, as for POST /v1/tasks." example:"summarize"`
	Input    json.RawMessage `json:"input" doc:"The input of every task the schedule starts, checked against the input schema at creation."`
	Model    string          `json:"model,omitempty" maxLength:"200" doc:"Model to use instead of the agent's or the default."`
	Queue    string          `json:"queue,omitempty" maxLength:"200" pattern:"^[A-Za-z0-9_.-]+$" doc:"The task queue of its tasks, as for POST /v1/tasks."`
	Timeout  string          `json:"timeout,omitempty" maxLength:"20" doc:"Bound on each task's run, as for POST /v1/tasks." example:"30m"`
	Priority int             `json:"priority,omitempty" minimum:"0" maximum:"5" doc:"1 (highest) to 5; 0 = default (3)."`
	Cron     []string        `json:"cron,omitempty" maxItems:"20" doc:"Cron expressions (minute hour day-of-month month day-of-week, or @daily...); give cron or every." example:"[\"0 6 * * 1-5\"]"`
	Every    string          `json:"every,omitempty" maxLength:"20" doc:"An interval of 1s or more (e.g. 15m); give cron or every."`
	Offset   string          `json:"offset,omitempty" maxLength:"20" doc:"With every: shifts the runs from the epoch's multiples of every (e.g. every 24h, offset 6h: 06:00 UTC)."`
	TimeZone string          `json:"time_zone,omitempty" maxLength:"100" doc:"IANA time zone the cron expressions are read in (default UTC)." example:"Europe/Paris"`
	Overlap  string          `json:"overlap,omitempty" enum:"skip,buffer_one,buffer_all,cancel_other,terminate_other,allow_all" doc:"What a run due while the previous task is still running does (default skip): cancel_other and terminate_other cancel that task."`
	Jitter   string          `json:"jitter,omitempty" maxLength:"20" doc:"Each run starts up to this much later, at random (e.g. 30s)."`
}

// CreateScheduleInput is the request of createSchedule.
type CreateScheduleInput struct {
	Body struct {
		ScheduleSettings
		Paused bool   `json:"paused,omitempty" doc:"Create it paused (resume or trigger it later)."`
		Note   string `json:"note,omitempty" maxLength:"1000" doc:"A note about its state, e.g. why it is paused."`
	}
}

// Schedule is a schedule as the API shows it.
type Schedule struct {
	ScheduleSettings
	Paused     bool          `json:"paused"`
	Note       string        `json:"note,omitempty"`
	Actions    int           `json:"actions,omitempty" doc:"How many tasks it started (read of one schedule only)."`
	NextRuns   []time.Time   `json:"next_runs,omitempty" doc:"When it runs next."`
	RecentRuns []ScheduleRun `json:"recent_runs,omitempty" doc:"Its latest runs and their tasks, oldest first."`
	CreatedAt  *time.Time    `json:"created_at,omitempty"`
}

// ScheduleRun is one run of a schedule: the task it started.
type ScheduleRun struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	TaskID      string    `json:"task_id" format:"uuid"`
	WorkflowID  string    `json:"workflow_id" doc:"The run's ScheduledTaskWorkflow in Temporal, parent of the task's workflow."`
}

// ScheduleOutput is a response holding one schedule.
type ScheduleOutput struct {
	Location string `header:"Location"`
	Body     Schedule
}

// ScheduleIDInput names one schedule.
type ScheduleIDInput struct {
	ID string `path:"id" maxLength:"200" pattern:"^[A-Za-z0-9_.-]+$" doc:"Schedule id."`
}

// ScheduleList is the tenant's schedules.
type ScheduleList struct {
	Body struct {
		Items []Schedule `json:"items"`
	}
}

func (s *Server) registerSchedules(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "createSchedule", Method: http.MethodPost, Path: "/v1/schedules",
		Summary:       "Create a schedule",
		Description:   "Creates a Temporal Schedule that starts a task of the given type and input on a timetable (cron expressions or an interval). Every run is an ordinary task whose metadata holds {\"schedule_id\": ...}. 409 when the id is taken.",
		DefaultStatus: http.StatusCreated, Tags: []string{"schedules"},
		Errors: problems(http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge),
	}, s.createSchedule)
	huma.Register(api, huma.Operation{
		OperationID: "listSchedules", Method: http.MethodGet, Path: "/v1/schedules",
		Summary: "List schedules", Description: "The tenant's schedules, by id. The list is eventually consistent: a schedule just created may take a moment to show.", Tags: []string{"schedules"},
		Errors: problems(),
	}, s.listSchedules)
	huma.Register(api, huma.Operation{
		OperationID: "getSchedule", Method: http.MethodGet, Path: "/v1/schedules/{id}",
		Summary: "Get a schedule", Description: "Its settings, state, next run times and recent runs with their task ids.", Tags: []string{"schedules"},
		Errors: problems(http.StatusNotFound),
	}, s.getSchedule)
	for _, op := range []struct{ verb, summary string }{
		{"pause", "Pause a schedule: it starts no task until resumed"},
		{"resume", "Resume a paused schedule"},
		{"trigger", "Start a task of the schedule now (with its overlap policy)"},
	} {
		huma.Register(api, huma.Operation{
			OperationID: op.verb + "Schedule", Method: http.MethodPost, Path: "/v1/schedules/{id}/" + op.verb,
			Summary: op.summary, Tags: []string{"schedules"}, Errors: problems(http.StatusNotFound),
		}, func(ctx context.Context, in *ScheduleIDInput) (*ScheduleOutput, error) {
			return s.actOnSchedule(ctx, in.ID, op.verb)
		})
	}
	huma.Register(api, huma.Operation{
		OperationID: "deleteSchedule", Method: http.MethodDelete, Path: "/v1/schedules/{id}",
		Summary: "Delete a schedule", Description: "It starts no more tasks; tasks it started go on.",
		DefaultStatus: http.StatusNoContent, Tags: []string{"schedules"}, Errors: problems(http.StatusNotFound),
	}, func(ctx context.Context, in *ScheduleIDInput) (*struct{}, error) {
		_, err := s.actOnSchedule(ctx, in.ID, "delete")
		return nil, err
	})
}

// scheduleID is the Temporal Schedule ID of the tenant's schedule id.
func scheduleID(tenant, id string) string {
	return "troupe/" + tenant + "/" + id
}

// scheduleMemo is the memo field holding a schedule's ScheduleSettings.
const scheduleMemo = "troupe"

// overlapPolicies maps the API's overlap policies to Temporal's.
var overlapPolicies = map[string]enums.ScheduleOverlapPolicy{
	"skip":            enums.SCHEDULE_OVERLAP_POLICY_SKIP,
	"buffer_one":      enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
	"buffer_all":      enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
	"cancel_other":    enums.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER,
	"terminate_other": enums.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER,
	"allow_all":       enums.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
}

func (s *Server) createSchedule(ctx context.Context, in *CreateScheduleInput) (*ScheduleOutput, error) {
	set := in.Body.ScheduleSettings
	if len(set.Input) == 0 || string(set.Input) == "null" {
		set.Input = json.RawMessage("{}")
	}
	set.Overlap = cmp.Or(set.Overlap, "skip")
	spec, err := timetable(set)
	if err != nil {
		return nil, err
	}
	start, err := s.prepare(set.Type, "", set.Input, set.Model)
	if err != nil {
		return nil, err
	}
	timeout, err := taskTimeout(set.Timeout)
	if err != nil {
		return nil, err
	}
	set.Model, set.Queue = start.model, cmp.Or(set.Queue, start.queue)
	p := who(ctx)
	action := workflows.ScheduledTaskInput{Task: activities.ScheduledTask{
		TenantID: p.Tenant, ScheduleID: set.ID, Type: set.Type, Input: set.Input, Model: set.Model,
		Queue: set.Queue, Timeout: timeout, Priority: set.Priority, DefinitionHash: start.hash,
	}}
	// The pinned start arguments, less the task id each run sets.
	switch args := start.args(store.Task{Type: set.Type, Model: set.Model, Input: set.Input, Timeout: timeout})[0].(type) {
	case workflows.TaskInput:
		action.Agent = &args
	case workflows.DSLInput:
		action.Workflow = &args
	}
	id := scheduleID(p.Tenant, set.ID)
	tenant := temporal.NewSearchAttributes(workflows.TenantKey.ValueSet(p.Tenant))
	h, err := s.Temporal.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   id,
		Spec: spec,
		Action: &client.ScheduleWorkflowAction{
			ID: id, Workflow: workflows.ScheduledTaskWorkflow, Args: []any{action}, TaskQueue: s.TaskQueue,
			TypedSearchAttributes: temporal.NewSearchAttributes(workflows.TenantKey.ValueSet(p.Tenant), workflows.TaskTypeKey.ValueSet(set.Type)),
		},
		Overlap:               overlapPolicies[set.Overlap],
		Paused:                in.Body.Paused,
		Note:                  in.Body.Note,
		Memo:                  map[string]any{scheduleMemo: set},
		TypedSearchAttributes: tenant,
	})
	var invalid *serviceerror.InvalidArgument
	switch {
	case errors.Is(err, temporal.ErrScheduleAlreadyRunning):
		return nil, huma.Error409Conflict(fmt.Sprintf("schedule %s already exists; delete it first or choose another id", set.ID))
	case errors.As(err, &invalid):
		// Temporal checks the cron expressions and the interval.
		return nil, huma.Error422UnprocessableEntity("the timetable is not valid: " + invalid.Message)
	case err != nil:
		return nil, s.fail(ctx, "schedule "+set.ID, err)
	}
	if err := s.auditSchedule(ctx, set.ID, "schedule_created", map[string]string{"type": set.Type}); err != nil {
		// No schedule without its audit row.
		if derr := h.Delete(context.WithoutCancel(ctx)); derr != nil {
			s.Logger.ErrorContext(ctx, "delete unaudited schedule", "schedule_id", id, "error", derr)
		}
		return nil, s.fail(ctx, "schedule "+set.ID, err)
	}
	out, err := s.describeSchedule(ctx, set.ID)
	if err != nil {
		return nil, err
	}
	out.Location = "/v1/schedules/" + set.ID
	return out, nil
}

// timetable checks a schedule's timetable and returns it as Temporal's spec.
func timetable(set ScheduleSettings) (client.ScheduleSpec, error) {
	var spec client.ScheduleSpec
	problem := func(field, value, msg string) error {
		return huma.Error422UnprocessableEntity(fmt.Sprintf("%s %q: %s", field, value, msg),
			&huma.ErrorDetail{Location: "body." + field, Value: value})
	}
	duration := func(field, value string, least time.Duration) (time.Duration, error) {
		if value == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(value)
		if err != nil || d < least {
			return 0, problem(field, value, fmt.Sprintf("want a duration of %s or more, e.g. 15m", least))
		}
		return d, nil
	}
	switch {
	case len(set.Cron) > 0 && set.Every != "":
		return spec, huma.Error422UnprocessableEntity("give either cron or every, not both", &huma.ErrorDetail{Location: "body.every"})
	case len(set.Cron) == 0 && set.Every == "":
		return spec, huma.Error422UnprocessableEntity("a schedule needs a timetable: cron expressions or every", &huma.ErrorDetail{Location: "body.cron"})
	case set.Offset != "" && set.Every == "":
		return spec, problem("offset", set.Offset, "an offset goes with every")
	}
	for _, c := range set.Cron {
		if strings.TrimSpace(c) == "" {
			return spec, problem("cron", c, "an empty cron expression")
		}
	}
	spec.CronExpressions = set.Cron
	if set.Every != "" {
		every, err := duration("every", set.Every, time.Second)
		if err != nil {
			return spec, err
		}
		offset, err := duration("offset", set.Offset, 0)
		if err != nil {
			return spec, err
		}
		if offset >= every {
			return spec, problem("offset", set.Offset, "want less than every")
		}
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: every, Offset: offset}}
	}
	jitter, err := duration("jitter", set.Jitter, 0)
	if err != nil {
		return spec, err
	}
	spec.Jitter = jitter
	if set.TimeZone != "" {
		if _, err := time.LoadLocation(set.TimeZone); err != nil || set.TimeZone == "Local" {
			return spec, problem("time_zone", set.TimeZone, "not an IANA time zone name, e.g. Europe/Paris or UTC")
		}
	}
	spec.TimeZoneName = set.TimeZone
	return spec, nil
}

func (s *Server) getSchedule(ctx context.Context, in *ScheduleIDInput) (*ScheduleOutput, error) {
	return s.describeSchedule(ctx, in.ID)
}

// describeSchedule reads the caller's schedule id from Temporal.
func (s *Server) describeSchedule(ctx context.Context, id string) (*ScheduleOutput, error) {
	d, err := s.Temporal.ScheduleClient().GetHandle(ctx, scheduleID(who(ctx).Tenant, id)).Describe(ctx)
	if err != nil {
		return nil, s.failSchedule(ctx, id, err)
	}
	out := &ScheduleOutput{Body: Schedule{Actions: d.Info.NumActions, NextRuns: d.Info.NextActionTimes}}
	if out.Body.ScheduleSettings, err = settings(d.Memo.GetFields()); err != nil {
		return nil, s.fail(ctx, "schedule "+id, err)
	}
	if st := d.Schedule.State; st != nil {
		out.Body.Paused, out.Body.Note = st.Paused, st.Note
	}
	if !d.Info.CreatedAt.IsZero() {
		out.Body.CreatedAt = &d.Info.CreatedAt
	}
	out.Body.RecentRuns = scheduleRuns(d.Info.RecentActions)
	return out, nil
}

// scheduleRuns are a schedule's recent actions, with the tasks they started.
func scheduleRuns(actions []client.ScheduleActionResult) []ScheduleRun {
	var runs []ScheduleRun
	for _, a := range actions {
		if a.StartWorkflowResult == nil {
			continue
		}
		runs = append(runs, ScheduleRun{
			ScheduledAt: a.ScheduleTime, StartedAt: a.ActualTime, WorkflowID: a.StartWorkflowResult.WorkflowID,
			TaskID: workflows.ScheduledTaskID(a.StartWorkflowResult.FirstExecutionRunID).String(),
		})
	}
	return runs
}

// settings decodes a schedule's settings from its memo.
func settings(memo map[string]*commonpb.Payload) (ScheduleSettings, error) {
	var set ScheduleSettings
	p, ok := memo[scheduleMemo]
	if !ok {
		return set, errors.New("schedule has no troupe memo")
	}
	if err := converter.GetDefaultDataConverter().FromPayload(p, &set); err != nil {
		return set, fmt.Errorf("decode schedule memo: %w", err)
	}
	return set, nil
}

func (s *Server) listSchedules(ctx context.Context, _ *struct{}) (*ScheduleList, error) {
	tenant := who(ctx).Tenant
	prefix := scheduleID(tenant, "")
	it, err := s.Temporal.ScheduleClient().List(ctx, client.ScheduleListOptions{
		PageSize: 100,
		Query:    fmt.Sprintf("%s = '%s'", workflows.TenantKey.GetName(), strings.ReplaceAll(tenant, "'", `\'`)),
	})
	if err != nil {
		return nil, s.fail(ctx, "schedules", err)
	}
	out := &ScheduleList{}
	out.Body.Items = []Schedule{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, s.fail(ctx, "schedules", err)
		}
		if !strings.HasPrefix(e.ID, prefix) {
			continue // the search attribute is the filter; the id prefix makes sure
		}
		set, err := settings(e.Memo.GetFields())
		if err != nil {
			s.Logger.WarnContext(ctx, "schedule without troupe settings", "schedule_id", e.ID, "error", err)
			continue
		}
		out.Body.Items = append(out.Body.Items, Schedule{
			ScheduleSettings: set, Paused: e.Paused, Note: e.Note, NextRuns: e.NextActionTimes, RecentRuns: scheduleRuns(e.RecentActions),
		})
	}
	return out, nil
}

// actOnSchedule pauses, resumes, triggers or deletes the caller's schedule
// id, once the audit row schedule_<verb> is written, and answers the
// schedule as it then stands (nothing once deleted).
func (s *Server) actOnSchedule(ctx context.Context, id, verb string) (*ScheduleOutput, error) {
	h := s.Temporal.ScheduleClient().GetHandle(ctx, scheduleID(who(ctx).Tenant, id))
	if _, err := h.Describe(ctx); err != nil {
		return nil, s.failSchedule(ctx, id, err)
	}
	if err := s.auditSchedule(ctx, id, "schedule_"+verb, nil); err != nil {
		return nil, s.fail(ctx, "schedule "+id, err)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), actTimeout)
	defer cancel()
	var err error
	switch verb {
	case "pause":
		err = h.Pause(actx, client.SchedulePauseOptions{Note: "paused by " + who(ctx).Actor})
	case "resume":
		err = h.Unpause(actx, client.ScheduleUnpauseOptions{Note: "resumed by " + who(ctx).Actor})
	case "trigger":
		err = h.Trigger(actx, client.ScheduleTriggerOptions{})
	case "delete":
		if err = h.Delete(actx); err == nil {
			return nil, nil
		}
	}
	if err != nil {
		return nil, s.failSchedule(ctx, id, err)
	}
	return s.describeSchedule(ctx, id)
}

// failSchedule is fail for the schedule id, a missing schedule being a 404.
func (s *Server) failSchedule(ctx context.Context, id string, err error) error {
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return huma.Error404NotFound("schedule " + id + " not found")
	}
	return s.fail(ctx, "schedule "+id, err)
}

// auditSchedule appends the audit row eventType about the caller's schedule id.
func (s *Server) auditSchedule(ctx context.Context, id, eventType string, meta any) error {
	p := who(ctx)
	return s.appendAudit(ctx, store.Audit{EventType: eventType, ResourceType: "schedule", ResourceID: id, TenantID: p.Tenant, Actor: p.Actor}, meta)
}
