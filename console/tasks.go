package console

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/store"
)

// maxLogs is how many log lines the task page shows: the first ones.
const maxLogs = 200

// timeInput is the layout of the browser's datetime-local inputs, read as UTC.
const timeInput = "2006-01-02T15:04"

// taskFilter is the filter of the task list, as its form sends it.
type taskFilter struct {
	Source string
	Status string
	Type   string
	User   string
	From   string
	To     string
	Cursor string
}

// filterOf reads the task list's filter from a request's query.
func filterOf(q url.Values) taskFilter {
	return taskFilter{Source: q.Get("source"), Status: q.Get("status"), Type: q.Get("type"), User: q.Get("user"),
		From: q.Get("from"), To: q.Get("to"), Cursor: q.Get("cursor")}
}

// query is the filter as a query string, without the cursor.
func (f taskFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"source": f.Source, "status": f.Status, "type": f.Type, "user": f.User, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// input turns the filter into the API's request.
func (f taskFilter) input() (*api.ListTasksInput, error) {
	in := &api.ListTasksInput{Type: f.Type, UserEmail: f.User, Limit: 50, Cursor: f.Cursor}
	switch store.Source(f.Source) {
	case "", store.SourceTroupe, store.SourceExternal:
		in.Source = f.Source
	default:
		return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("unknown source %q: troupe or external", f.Source))
	}
	if f.Status != "" {
		if !store.Status(f.Status).Valid() {
			return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("unknown status %q", f.Status))
		}
		in.Status = f.Status
	}
	var err error
	if in.CreatedAfter, err = parseTime(f.From); err != nil {
		return nil, err
	}
	if in.CreatedBefore, err = parseTime(f.To); err != nil {
		return nil, err
	}
	return in, nil
}

// parseTime reads a datetime-local value (UTC); "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeInput, s)
	if err != nil {
		return time.Time{}, huma.Error422UnprocessableEntity(fmt.Sprintf("time %q: want YYYY-MM-DDTHH:MM (UTC)", s))
	}
	return t, nil
}

type tasksData struct {
	Filter   taskFilter
	Statuses []store.Status
	Types    []string
	Tasks    []api.Task
	Next     string
	Live     string
}

var statuses = []store.Status{store.StatusPending, store.StatusRunning, store.StatusCompleted,
	store.StatusFailed, store.StatusCanceled, store.StatusTimedOut}

func (c *Console) tasksPage(w http.ResponseWriter, r *http.Request) error {
	f := filterOf(r.URL.Query())
	in, err := f.input()
	if err != nil {
		return err
	}
	list, err := c.api.ListTasks(r.Context(), in)
	if err != nil {
		return err
	}
	data := tasksData{Filter: f, Statuses: statuses, Types: c.taskTypes(), Tasks: list.Body.Items}
	if list.Body.NextCursor != "" {
		q := f.query()
		q.Set("cursor", list.Body.NextCursor)
		data.Next = Prefix + "/?" + q.Encode()
	}
	if c.events != nil {
		data.Live = Prefix + "/live?" + f.query().Encode()
	}
	return c.page(w, r, "tasks", "Tasks", data)
}

// taskTypes lists the agents and workflows one can submit, for the filter.
func (c *Console) taskTypes() []string {
	var types []string
	for name := range c.api.Catalog.Agents {
		types = append(types, name)
	}
	for name := range c.api.Catalog.Workflows {
		types = append(types, "workflow:"+name)
	}
	return sorted(types)
}

// taskData is what the task page shows.
type taskData struct {
	Task      api.Task
	Subtasks  []api.Subtask
	Calls     []conversation
	ToolCalls []api.ToolCall
	Logs      []api.Log
	Timeline  timeline
	Live      string
}

// conversation is one LLM call as the page shows it.
type conversation struct {
	api.LLMCall
	Messages []llm.Message
	Answer   llm.Response
	Step     string
}

// taskView reads everything the task page shows, for the caller's tenant.
func (c *Console) taskView(r *http.Request) (taskData, error) {
	ctx := r.Context()
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return taskData{}, huma.Error404NotFound("task not found")
	}
	t, err := c.api.GetTask(ctx, &api.TaskIDInput{ID: id.String()})
	if err != nil {
		return taskData{}, err
	}
	data := taskData{Task: t.Body}
	if data.Subtasks, err = c.api.Subtasks(ctx, id); err != nil {
		return taskData{}, err
	}
	calls, err := c.api.LLMCalls(ctx, id)
	if err != nil {
		return taskData{}, err
	}
	if data.ToolCalls, err = c.api.ToolCalls(ctx, id); err != nil {
		return taskData{}, err
	}
	if data.Logs, err = c.api.Logs(ctx, &api.ListLogsInput{TaskIDInput: api.TaskIDInput{ID: id.String()}, Limit: maxLogs}); err != nil {
		return taskData{}, err
	}
	steps := map[string]string{}
	for _, st := range data.Subtasks {
		steps[st.ID] = st.StepID
	}
	for _, call := range calls {
		conv := conversation{LLMCall: call, Step: steps[call.SubtaskID]}
		var req llm.Request
		if json.Unmarshal(call.Request, &req) == nil {
			conv.Messages = req.Messages
		}
		_ = json.Unmarshal(call.Response, &conv.Answer)
		data.Calls = append(data.Calls, conv)
	}
	data.Timeline = timelineOf(data, time.Now())
	if c.events != nil && !t.Body.Status.Terminal() {
		data.Live = Prefix + "/tasks/" + id.String() + "/live"
	}
	return data, nil
}

func (c *Console) taskPage(w http.ResponseWriter, r *http.Request) error {
	data, err := c.taskView(r)
	if err != nil {
		return err
	}
	return c.page(w, r, "task", "Task "+data.Task.ID, data)
}

// backToTask answers an action on a task with the task's page.
func backToTask(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, Prefix+"/tasks/"+chi.URLParam(r, "id"), http.StatusSeeOther)
	return nil
}

// taskID reads the task id of an action's path: a malformed one is an
// unknown task.
func taskID(r *http.Request) (string, error) {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return "", huma.Error404NotFound("task not found")
	}
	return id.String(), nil
}

// cancel cancels a task through the API's own operation.
func (c *Console) cancel(w http.ResponseWriter, r *http.Request) error {
	id, err := taskID(r)
	if err != nil {
		return err
	}
	if _, err := c.api.CancelTask(r.Context(), &api.TaskIDInput{ID: id}); err != nil {
		return err
	}
	return backToTask(w, r)
}

// signal answers an approval step through the API's own operation: the
// button's approved, and the form's comment.
func (c *Console) signal(w http.ResponseWriter, r *http.Request) error {
	id, err := taskID(r)
	if err != nil {
		return err
	}
	in := &api.SignalInput{TaskIDInput: api.TaskIDInput{ID: id}, Name: chi.URLParam(r, "name"),
		Body: map[string]any{"approved": r.PostFormValue("approved") == "true", "comment": r.PostFormValue("comment")}}
	if _, err := c.api.SignalTask(r.Context(), in); err != nil {
		return err
	}
	return backToTask(w, r)
}

// decideToolCall approves or rejects a tool call through the API's own operation.
func (c *Console) decideToolCall(w http.ResponseWriter, r *http.Request) error {
	id, err := taskID(r)
	if err != nil {
		return err
	}
	decision := chi.URLParam(r, "decision")
	if decision != "approve" && decision != "reject" {
		return huma.Error404NotFound("no such decision: approve or reject")
	}
	in := &api.ToolDecisionInput{TaskIDInput: api.TaskIDInput{ID: id}, CallID: chi.URLParam(r, "call_id"),
		Body: &api.ToolDecisionBody{Comment: r.PostFormValue("comment")}}
	if _, err := c.api.DecideToolCall(decision == "approve")(r.Context(), in); err != nil {
		return err
	}
	return backToTask(w, r)
}

// timeline is the task's steps, subtasks, LLM and tool calls as bars on one
// time axis, from the task's creation to its end (or now).
type timeline struct {
	Span time.Duration
	Bars []bar
}

// bar is one entry of the timeline: Left and Width are percentages of the span.
type bar struct {
	Label    string
	Kind     string // subtask, llm, tool
	Status   string
	Left     float64
	Width    float64
	Duration time.Duration
}

func timelineOf(d taskData, now time.Time) timeline {
	start := d.Task.CreatedAt
	end := now
	if d.Task.FinishedAt != nil {
		end = *d.Task.FinishedAt
	}
	span := max(end.Sub(start), time.Millisecond)
	tl := timeline{Span: span}
	add := func(label, kind, status string, from time.Time, to *time.Time) {
		until := cmp.Or(to, &end)
		if until.Before(from) {
			until = &from
		}
		left := 100 * float64(from.Sub(start)) / float64(span)
		width := 100 * float64(until.Sub(from)) / float64(span)
		left = min(max(left, 0), 99.5)
		tl.Bars = append(tl.Bars, bar{Label: label, Kind: kind, Status: status, Left: left,
			Width: min(max(width, 0.5), 100-left), Duration: until.Sub(from)})
	}
	for _, st := range d.Subtasks {
		label := st.StepID
		if st.Iteration > 0 {
			label = fmt.Sprintf("%s #%d", st.StepID, st.Iteration)
		}
		add(label+" ("+st.Agent+")", "subtask", string(st.Status), *cmp.Or(st.StartedAt, &st.CreatedAt), st.FinishedAt)
	}
	for _, call := range d.Calls {
		finished := call.CreatedAt
		status := "completed"
		if call.Error != "" {
			status = "failed"
		}
		label := "LLM " + call.Model
		if call.Step != "" {
			label += " · " + call.Step
		}
		add(label, "llm", status, finished.Add(-time.Duration(call.LatencyMS)*time.Millisecond), &finished)
	}
	for _, tc := range d.ToolCalls {
		add("tool "+tc.Tool, "tool", string(tc.Status), tc.CreatedAt, tc.FinishedAt)
	}
	return tl
}
