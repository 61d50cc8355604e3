package console

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/troupe-dev/troupe/api"
)

// costsData is what the costs page shows: charts of cost and tokens by
// day, model, type and user over the chosen range.
type costsData struct {
	From, To string
	Charts   []chart
}

// costDimensions are the groupings the costs page charts, with their titles.
var costDimensions = []struct{ name, title string }{
	{"day", "By day"}, {"model", "By model"}, {"type", "By task type"}, {"user", "By user (hash)"},
}

func (c *Console) costsPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	now := time.Now().UTC()
	data := costsData{From: cmp.Or(q.Get("from"), now.AddDate(0, 0, -30).Format(timeInput)), To: q.Get("to")}
	from, err := parseTime(data.From)
	if err != nil {
		return err
	}
	to, err := parseTime(data.To)
	if err != nil {
		return err
	}
	for _, d := range costDimensions {
		rows, err := c.api.Costs(r.Context(), &api.CostsInput{GroupBy: d.name, From: from, To: to})
		if err != nil {
			return err
		}
		data.Charts = append(data.Charts, costChart(d.title, d.name, rows))
	}
	return c.page(w, r, "costs", "Costs", data)
}

// costChart charts the cost and tokens of rows grouped by dimension.
func costChart(title, dimension string, rows []api.CostRow) chart {
	if dimension != "day" {
		slices.SortFunc(rows, func(a, b api.CostRow) int {
			return cmp.Or(cmp.Compare(b.CostUSD, a.CostUSD), cmp.Compare(b.InputTokens+b.OutputTokens, a.InputTokens+a.OutputTokens))
		})
	}
	ch := chart{Title: title}
	for _, row := range rows {
		label := row.Group[dimension]
		if label == "" {
			label = "(none)"
		} else if dimension == "user" && len(label) > 12 {
			label = label[:12] + "…"
		}
		ch.add(label, row.CostUSD, row.InputTokens+row.OutputTokens, row.Tasks)
	}
	return ch.layout()
}

// statsWindows are the windows the stats page offers.
var statsWindows = []string{"15m", "1h", "24h", "168h", "720h"}

type statsData struct {
	Window  string
	Windows []string
	Stats   api.StatsBody
	Queues  []api.TaskQueue
	// QueuesError says why the workers could not be listed (Temporal down).
	QueuesError string
}

func (c *Console) statsPage(w http.ResponseWriter, r *http.Request) error {
	data := statsData{Window: cmp.Or(r.URL.Query().Get("window"), "1h"), Windows: statsWindows}
	var err error
	if data.Stats, err = c.api.Stats(r.Context(), &api.StatsInput{Window: data.Window}); err != nil {
		return err
	}
	if data.Queues, err = c.api.Workers(r.Context()); err != nil {
		data.QueuesError = err.Error()
	}
	return c.page(w, r, "stats", "Stats", data)
}

type auditData struct {
	EventType, ResourceID, From, To string
	Rows                            []api.AuditRow
	Next                            string
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	data := auditData{EventType: q.Get("event_type"), ResourceID: q.Get("resource_id"), From: q.Get("from"), To: q.Get("to")}
	in := &api.AuditInput{EventType: data.EventType, ResourceID: data.ResourceID, Limit: 100, Cursor: q.Get("cursor")}
	var err error
	if in.After, err = parseTime(data.From); err != nil {
		return err
	}
	if in.Before, err = parseTime(data.To); err != nil {
		return err
	}
	rows, next, err := c.api.Audit(r.Context(), in)
	if err != nil {
		return err
	}
	data.Rows = rows
	if next != "" {
		q.Set("cursor", next)
		data.Next = Prefix + "/audit?" + q.Encode()
	}
	return c.page(w, r, "audit", "Audit log", data)
}

type usersData struct {
	Email string
	Hash  string
	Tasks []api.Task
	Costs api.CostRow
	Found bool
}

// usersPage finds a user by email, hashed on the server as the API does:
// their latest tasks and what their tasks cost.
func (c *Console) usersPage(w http.ResponseWriter, r *http.Request) error {
	data := usersData{Email: strings.TrimSpace(r.URL.Query().Get("email"))}
	if data.Email != "" {
		who, _ := api.CallerOf(r.Context())
		data.Hash = c.api.UserHash(who.Tenant, data.Email)
		list, err := c.api.ListTasks(r.Context(), &api.ListTasksInput{UserEmail: data.Email, Limit: 50})
		if err != nil {
			return err
		}
		data.Tasks = list.Body.Items
		rows, err := c.api.Costs(r.Context(), &api.CostsInput{GroupBy: "user"})
		if err != nil {
			return err
		}
		for _, row := range rows {
			if row.Group["user"] == data.Hash {
				data.Costs, data.Found = row, true
			}
		}
	}
	return c.page(w, r, "users", "Users", data)
}
