package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// queueSide is one kind of task of a queue, as GET /v1/workers answers it.
type queueSide struct {
	Workers []struct {
		Identity string    `json:"identity"`
		LastPoll time.Time `json:"last_poll"`
	} `json:"workers"`
	Backlog           int64   `json:"backlog"`
	BacklogAgeSeconds float64 `json:"backlog_age_seconds"`
}

// runWorkers prints the workers polling each task queue and its backlog:
// `troupe workers [--json]`.
func runWorkers(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	var out struct {
		Items []struct {
			Name     string    `json:"name"`
			Workflow queueSide `json:"workflow"`
			Activity queueSide `json:"activity"`
		} `json:"items"`
	}
	if err := newAPIClient(cfg, 30*time.Second).do(ctx, "GET", "/v1/workers", nil, &out); err != nil {
		return err
	}
	if slices.Contains(args, "--json") {
		return json.NewEncoder(stdout).Encode(out)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "QUEUE\tTASKS\tWORKERS\tBACKLOG\tOLDEST WAITING\tIDENTITIES")
	for _, q := range out.Items {
		for _, side := range []struct {
			kind string
			queueSide
		}{{"workflow", q.Workflow}, {"activity", q.Activity}} {
			ids := make([]string, len(side.Workers))
			for i, p := range side.Workers {
				ids[i] = fmt.Sprintf("%s (%s ago)", p.Identity, time.Since(p.LastPoll).Round(time.Second))
			}
			if len(ids) == 0 {
				ids = []string{"none: nothing runs this queue's " + side.kind + " tasks"}
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\n", q.Name, side.kind, len(side.Workers), side.Backlog,
				(time.Duration(side.BacklogAgeSeconds * float64(time.Second))).Round(time.Second), strings.Join(ids, ", "))
		}
	}
	return w.Flush()
}
