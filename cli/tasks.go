package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/troupe-dev/troupe/api"
)

// The commands that look around a running API: tasks, show, cancel, retry,
// signal and follow. They print tables and trees for people, and JSON with --json.

// runTasks lists tasks: `troupe tasks [--status S] [--type T] [--schedule ID] [--since 24h]
// [--limit N] [--json]`.
func runTasks(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tasks", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	status := fs.String("status", "", "only tasks with this status")
	taskType := fs.String("type", "", "only tasks of this type")
	schedule := fs.String("schedule", "", "only tasks this schedule started")
	since := fs.Duration("since", 0, "only tasks created this long ago or less (e.g. 24h)")
	limit := fs.Int("limit", 50, "at most this many tasks (up to 200)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\nusage: troupe tasks [--status S] [--type T] [--schedule ID] [--since 24h] [--limit N] [--json]", err)
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *status != "" {
		q.Set("status", *status)
	}
	if *taskType != "" {
		q.Set("type", *taskType)
	}
	if *schedule != "" {
		q.Set("schedule_id", *schedule)
	}
	if *since > 0 {
		q.Set("created_after", time.Now().Add(-*since).UTC().Format(time.RFC3339))
	}
	var page api.TaskList
	if err := newAPIClient(cfg, 30*time.Second).do(ctx, http.MethodGet, "/v1/tasks?"+q.Encode(), nil, &page.Body); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, page.Body)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTYPE\tSTATUS\tMODEL\tTOKENS\tCOST\tCREATED\tDURATION")
	for _, t := range page.Body.Items {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t$%.6f\t%s\t%s\n", t.ID, t.Type, t.Status, t.Model,
			t.InputTokens+t.OutputTokens, t.CostUSD, t.CreatedAt.Local().Format("2006-01-02 15:04:05"), duration(t.StartedAt, t.FinishedAt))
	}
	return w.Flush()
}

// taskTree is a task with what it did, as `troupe show` prints it.
type taskTree struct {
	Task      api.Task       `json:"task"`
	Subtasks  []api.Subtask  `json:"subtasks"`
	LLMCalls  []api.LLMCall  `json:"llm_calls"`
	ToolCalls []api.ToolCall `json:"tool_calls"`
}

// runShow prints a task as a tree: `troupe show ID [--json]`.
func runShow(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	id, asJSON, err := idArg("show", args)
	if err != nil {
		return err
	}
	c := newAPIClient(cfg, 30*time.Second)
	var tree taskTree
	var lists struct {
		subtasks struct{ Items []api.Subtask }
		llm      struct{ Items []api.LLMCall }
		tools    struct{ Items []api.ToolCall }
	}
	for path, out := range map[string]any{
		"": &tree.Task, "/subtasks": &lists.subtasks, "/llm-calls": &lists.llm, "/tool-calls": &lists.tools,
	} {
		if err := c.do(ctx, http.MethodGet, "/v1/tasks/"+id+path, nil, out); err != nil {
			return err
		}
	}
	tree.Subtasks, tree.LLMCalls, tree.ToolCalls = lists.subtasks.Items, lists.llm.Items, lists.tools.Items
	if asJSON {
		return printJSON(stdout, tree)
	}
	printTree(stdout, tree)
	return nil
}

// printTree writes the task, then its calls grouped under the steps that
// made them, then its output.
func printTree(w io.Writer, t taskTree) {
	task := t.Task
	fmt.Fprintf(w, "%s %s  %s  model %s  %d+%d tokens  $%.6f  %s\n", task.Type, task.ID, task.Status, task.Model,
		task.InputTokens, task.OutputTokens, task.CostUSD, duration(task.StartedAt, task.FinishedAt))
	calls := func(indent, subtaskID string) {
		for _, c := range t.LLMCalls {
			if c.SubtaskID != subtaskID {
				continue
			}
			line := fmt.Sprintf("%sllm %s #%d  %d+%d tokens  $%.6f  %dms", indent, c.Model, c.Attempt, c.InputTokens, c.OutputTokens, c.CostUSD, c.LatencyMS)
			if c.Error != "" {
				line += "  error: " + c.Error
			}
			fmt.Fprintln(w, line)
		}
		for _, c := range t.ToolCalls {
			if c.SubtaskID != subtaskID {
				continue
			}
			line := fmt.Sprintf("%stool %s  %s  %d attempt(s)  %dms", indent, c.Tool, c.Status, c.Attempts, c.LatencyMS)
			if c.Error != "" {
				line += "  error: " + c.Error
			}
			fmt.Fprintln(w, line)
		}
	}
	calls("├─ ", "")
	for _, s := range t.Subtasks {
		fmt.Fprintf(w, "├─ step %s (%s, iteration %d)  %s  %d+%d tokens  $%.6f  %s\n", s.StepID, s.Agent, s.Iteration, s.Status,
			s.InputTokens, s.OutputTokens, s.CostUSD, duration(s.StartedAt, s.FinishedAt))
		calls("│  ├─ ", s.ID)
	}
	switch {
	case task.Error != "":
		fmt.Fprintf(w, "└─ error: %s\n", task.Error)
	case len(task.Output) > 0:
		fmt.Fprintf(w, "└─ output: %s\n", task.Output)
	default:
		fmt.Fprintln(w, "└─ no output yet")
	}
	if task.Links.TemporalUI != "" {
		fmt.Fprintf(w, "Temporal: %s\n", task.Links.TemporalUI)
	}
}

// runCancel cancels a task: `troupe cancel ID`.
func runCancel(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	id, asJSON, err := idArg("cancel", args)
	if err != nil {
		return err
	}
	var task api.Task
	if err := newAPIClient(cfg, 30*time.Second).do(ctx, http.MethodPost, "/v1/tasks/"+id+"/cancel", nil, &task); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, task)
	}
	fmt.Fprintf(stdout, "task %s: cancel requested (%s)\n", task.ID, task.Status)
	return nil
}

// runRetry restarts a failed, canceled or timed-out task from the step that
// failed: `troupe retry ID`.
func runRetry(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	const usage = "usage: troupe retry ID [--model MODEL] [--json]"
	var model string
	var rest []string
	for i := 0; i < len(args); i++ {
		if args[i] == "--model" && i+1 < len(args) {
			model, i = args[i+1], i+1
			continue
		}
		rest = append(rest, args[i])
	}
	id, asJSON, err := idArg("retry", rest)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, usage)
	}
	path := "/v1/tasks/" + id + "/retry"
	if model != "" {
		path += "?model=" + url.QueryEscape(model)
	}
	var task api.Task
	if err := newAPIClient(cfg, 30*time.Second).do(ctx, http.MethodPost, path, nil, &task); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, task)
	}
	fmt.Fprintf(stdout, "task %s: retried from the step that failed (%s, run %s); follow it with: troupe follow %s\n", task.ID, task.Status, task.RunID, task.ID)
	return nil
}

// runSignal sends a signal to a task: `troupe signal ID NAME [--data JSON]`.
func runSignal(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	const usage = "usage: troupe signal ID NAME [--data JSON]"
	if len(args) < 2 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("signal", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	data := fs.String("data", "{}", "the signal's payload, a JSON object")
	if err := fs.Parse(args[2:]); err != nil {
		return fmt.Errorf("%w\n%s", err, usage)
	}
	var payload map[string]any
	if err := json.Unmarshal([]byte(*data), &payload); err != nil {
		return fmt.Errorf("--data is not a JSON object: %w", err)
	}
	var task api.Task
	if err := newAPIClient(cfg, 30*time.Second).do(ctx, http.MethodPost, "/v1/tasks/"+args[0]+"/signals/"+url.PathEscape(args[1]), payload, &task); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "task %s: signal %s sent (%s)\n", task.ID, args[1], task.Status)
	return nil
}

// runFollow prints a task's events until it ends: `troupe follow ID`.
func runFollow(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	id, _, err := idArg("follow", args)
	if err != nil {
		return err
	}
	return follow(ctx, newAPIClient(cfg, 30*time.Second), id, stdout)
}

// follow prints the task's events as they come, and how to answer those
// that wait for a person, until the task ends. Interrupted (Ctrl-C), it
// says that the task goes on and how to attach again.
func follow(ctx context.Context, c *apiClient, id string, stdout io.Writer) error {
	var after int64
	for {
		var events struct{ Items []api.Event }
		err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/tasks/%s/events?after=%d", id, after), nil, &events)
		var task api.Task
		if err == nil {
			for _, e := range events.Items {
				fmt.Fprintf(stdout, "%s  %-16s %s\n", e.At.Format("15:04:05.000"), e.Kind, e.Payload)
				after = e.ID
				if how := howToAnswer(c.base, id, e.Kind, e.Payload); how != "" {
					fmt.Fprintln(stdout, how)
				}
			}
			err = c.do(ctx, http.MethodGet, "/v1/tasks/"+id, nil, &task)
		}
		if ctx.Err() != nil {
			fmt.Fprintf(stdout, "\nstopped following; task %s goes on. Attach again with: troupe follow %s\n", id, id)
			return nil
		}
		if err != nil {
			return err
		}
		switch task.Status {
		case "completed":
			fmt.Fprintf(stdout, "completed (cost $%.6f):\n%s\n", task.CostUSD, task.Output)
			return nil
		case "failed", "canceled", "timed_out":
			return fmt.Errorf("task %s %s: %s", task.ID, task.Status, task.Error)
		}
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// idArg reads `ID [--json]`.
func idArg(cmd string, args []string) (id string, asJSON bool, err error) {
	for _, a := range args {
		switch {
		case a == "--json":
			asJSON = true
		case id == "" && a != "" && a[0] != '-':
			id = a
		default:
			return "", false, fmt.Errorf("unexpected %q\nusage: troupe %s ID [--json]", a, cmd)
		}
	}
	if id == "" {
		return "", false, fmt.Errorf("usage: troupe %s ID [--json]", cmd)
	}
	return id, asJSON, nil
}

// duration says how long something that started and maybe finished took.
func duration(started, finished *time.Time) string {
	switch {
	case started == nil:
		return "not started"
	case finished == nil:
		return "running for " + time.Since(*started).Round(time.Second).String()
	default:
		return finished.Sub(*started).Round(time.Millisecond).String()
	}
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
