package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/troupe-dev/troupe/api"
)

// schedulesUsage says how to call `troupe schedules`.
const schedulesUsage = `usage:
  troupe schedules list [--json]
  troupe schedules show ID [--json]
  troupe schedules create --id ID --type T [--input JSON] (--cron EXPR | --every DUR [--offset DUR])
                          [--time-zone TZ] [--overlap POLICY] [--jitter DUR] [--model M] [--queue Q]
                          [--timeout DUR] [--priority N] [--paused] [--note TEXT] [--json]
  troupe schedules pause|resume|trigger|delete ID [--json]`

// runSchedules manages schedules: `troupe schedules list|show|create|pause|resume|trigger|delete`.
func runSchedules(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(schedulesUsage)
	}
	c := newAPIClient(cfg, 30*time.Second)
	verb, rest := args[0], args[1:]
	switch verb {
	case "list":
		return listSchedules(ctx, c, rest, stdout)
	case "create":
		return createSchedule(ctx, c, rest, stdout)
	case "show", "pause", "resume", "trigger", "delete":
		id, asJSON, err := idArg("schedules "+verb, rest)
		if err != nil {
			return err
		}
		var sched api.Schedule
		switch verb {
		case "show":
			err = c.do(ctx, http.MethodGet, "/v1/schedules/"+id, nil, &sched)
		case "delete":
			var resp *http.Response
			if resp, err = c.send(ctx, http.MethodDelete, "/v1/schedules/"+id, nil); err == nil {
				resp.Body.Close()
				fmt.Fprintf(stdout, "schedule %s deleted; the tasks it started go on\n", id)
				return nil
			}
		default:
			err = c.do(ctx, http.MethodPost, "/v1/schedules/"+id+"/"+verb, nil, &sched)
		}
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(stdout, sched)
		}
		printSchedule(stdout, sched)
		return nil
	default:
		return fmt.Errorf("unknown schedules command %q\n%s", verb, schedulesUsage)
	}
}

func listSchedules(ctx context.Context, c *apiClient, args []string, stdout io.Writer) error {
	asJSON := len(args) == 1 && args[0] == "--json"
	if len(args) > 0 && !asJSON {
		return errors.New(schedulesUsage)
	}
	var list api.ScheduleList
	if err := c.do(ctx, http.MethodGet, "/v1/schedules", nil, &list.Body); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, list.Body)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTYPE\tTIMETABLE\tSTATE\tNEXT RUN\tLAST TASK")
	for _, s := range list.Body.Items {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Type, when(s), state(s), nextRun(s), lastTask(s))
	}
	return w.Flush()
}

func createSchedule(ctx context.Context, c *apiClient, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("schedules create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var body struct {
		api.ScheduleSettings
		Paused bool   `json:"paused,omitempty"`
		Note   string `json:"note,omitempty"`
	}
	var cron multiFlag
	fs.StringVar(&body.ID, "id", "", "the schedule's name")
	fs.StringVar(&body.Type, "type", "", "the task type: an agent or workflow:<name>")
	input := fs.String("input", "{}", "the tasks' input, a JSON object")
	fs.Var(&cron, "cron", "a cron expression (repeat for more)")
	fs.StringVar(&body.Every, "every", "", "an interval, e.g. 15m")
	fs.StringVar(&body.Offset, "offset", "", "with --every, an offset")
	fs.StringVar(&body.TimeZone, "time-zone", "", "IANA time zone of the cron expressions")
	fs.StringVar(&body.Overlap, "overlap", "", "skip|buffer_one|buffer_all|cancel_other|terminate_other|allow_all")
	fs.StringVar(&body.Jitter, "jitter", "", "start each run up to this much later")
	fs.StringVar(&body.Model, "model", "", "model instead of the agent's")
	fs.StringVar(&body.Queue, "queue", "", "task queue of its tasks")
	fs.StringVar(&body.Timeout, "timeout", "", "bound on each task's run")
	fs.IntVar(&body.Priority, "priority", 0, "1 (highest) to 5")
	fs.BoolVar(&body.Paused, "paused", false, "create it paused")
	fs.StringVar(&body.Note, "note", "", "a note")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, schedulesUsage)
	}
	if body.ID == "" || body.Type == "" {
		return fmt.Errorf("--id and --type are required\n%s", schedulesUsage)
	}
	if !json.Valid([]byte(*input)) {
		return errors.New("--input is not JSON")
	}
	body.Input, body.Cron = json.RawMessage(*input), cron
	var sched api.Schedule
	if err := c.do(ctx, http.MethodPost, "/v1/schedules", body, &sched); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, sched)
	}
	printSchedule(stdout, sched)
	return nil
}

// multiFlag is a string flag that may be repeated.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ", ") }

func (m *multiFlag) Set(v string) error {
	*m = append(*m, v)
	return nil
}

// printSchedule writes a schedule for people.
func printSchedule(w io.Writer, s api.Schedule) {
	fmt.Fprintf(w, "schedule %s  %s  %s  overlap %s\n", s.ID, s.Type, state(s), s.Overlap)
	fmt.Fprintf(w, "timetable: %s\n", when(s))
	fmt.Fprintf(w, "model %s  input %s\n", s.Model, s.Input)
	if s.Note != "" {
		fmt.Fprintf(w, "note: %s\n", s.Note)
	}
	fmt.Fprintf(w, "next run: %s\n", nextRun(s))
	for _, r := range s.RecentRuns {
		fmt.Fprintf(w, "ran %s  task %s\n", r.StartedAt.Local().Format("2006-01-02 15:04:05"), r.TaskID)
	}
}

// when says a schedule's timetable in one line.
func when(s api.Schedule) string {
	var out string
	if len(s.Cron) > 0 {
		out = "cron " + strings.Join(s.Cron, " | ")
	} else {
		out = "every " + s.Every
		if s.Offset != "" {
			out += " offset " + s.Offset
		}
	}
	if s.TimeZone != "" {
		out += " (" + s.TimeZone + ")"
	}
	if s.Jitter != "" {
		out += " jitter " + s.Jitter
	}
	return out
}

func state(s api.Schedule) string {
	if s.Paused {
		return "paused"
	}
	return "active"
}

func nextRun(s api.Schedule) string {
	if s.Paused || len(s.NextRuns) == 0 {
		return "-"
	}
	return s.NextRuns[0].Local().Format("2006-01-02 15:04:05")
}

func lastTask(s api.Schedule) string {
	if len(s.RecentRuns) == 0 {
		return "-"
	}
	return s.RecentRuns[len(s.RecentRuns)-1].TaskID
}
