package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/troupe-dev/troupe/store"
)

// maxStatsWindow bounds the window of GET /v1/stats.
const maxStatsWindow = 90 * 24 * time.Hour

// StatsInput is the request of getStats.
type StatsInput struct {
	Window string `query:"window" default:"1h" doc:"How far back from now, as a Go duration: 15m, 1h, 24h, 168h (at most 2160h)."`
}

// StatsBody is how the tenant's work went in the window.
type StatsBody struct {
	Window    string    `json:"window"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Tasks     TaskStats `json:"tasks" doc:"Tasks created in the window."`
	Durations Durations `json:"durations_seconds" doc:"Start-to-finish durations of the tasks that finished in the window."`
	LLM       LLMStats  `json:"llm" doc:"LLM calls made in the window, whatever the age of their task."`
	CostUSD   float64   `json:"cost_usd" doc:"What the window's LLM calls cost."`
}

// TaskStats counts tasks.
type TaskStats struct {
	Total     int64            `json:"total"`
	PerMinute float64          `json:"per_minute"`
	ByStatus  map[string]int64 `json:"by_status"`
	ByType    []TypeCount      `json:"by_type"`
}

// TypeCount counts the tasks of one type.
type TypeCount struct {
	Type     string           `json:"type"`
	Total    int64            `json:"total"`
	ByStatus map[string]int64 `json:"by_status"`
}

// Durations are percentiles of task durations, in seconds.
type Durations struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
}

// LLMStats sums LLM calls.
type LLMStats struct {
	Calls        int64        `json:"calls"`
	Errors       int64        `json:"errors"`
	InputTokens  int64        `json:"input_tokens"`
	OutputTokens int64        `json:"output_tokens"`
	ByModel      []ModelCount `json:"by_model"`
}

// ModelCount sums the LLM calls of one model.
type ModelCount struct {
	Model        string  `json:"model"`
	Calls        int64   `json:"calls"`
	Errors       int64   `json:"errors"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}

func (s *Server) registerStats(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "getStats", Method: http.MethodGet, Path: "/v1/stats",
		Summary:     "How the tenant's work went lately",
		Description: "Counts by status and type, task durations (p50/p95/p99), tasks per minute, LLM calls and errors by model, and cost, over the last `window`. Admin keys only.",
		Tags:        []string{"reports"},
		Errors:      problems(http.StatusForbidden),
	}, func(ctx context.Context, in *StatsInput) (*struct{ Body StatsBody }, error) {
		body, err := s.Stats(ctx, in)
		if err != nil {
			return nil, err
		}
		return &struct{ Body StatsBody }{Body: body}, nil
	})
}

// Stats is how the work of ctx's tenant went over the window, as GET
// /v1/stats answers it. Admin callers only. Its errors are huma.StatusErrors.
func (s *Server) Stats(ctx context.Context, in *StatsInput) (StatsBody, error) {
	if err := adminOnly(ctx); err != nil {
		return StatsBody{}, err
	}
	window, err := time.ParseDuration(in.Window)
	if err != nil || window < time.Minute || window > maxStatsWindow {
		return StatsBody{}, huma.Error422UnprocessableEntity(fmt.Sprintf("window %q: want a duration from 1m to %s, e.g. 1h or 24h", in.Window, maxStatsWindow))
	}
	to := time.Now()
	st, err := s.Store.Stats(ctx, who(ctx).Tenant, to.Add(-window), to)
	if err != nil {
		return StatsBody{}, s.fail(ctx, "stats", err)
	}
	return statsBody(st, window), nil
}

// statsBody adds up the store's figures into the answer.
func statsBody(st store.Stats, window time.Duration) StatsBody {
	out := StatsBody{Window: window.String(), From: st.From, To: st.To, Durations: Durations(st.Durations),
		Tasks: TaskStats{ByStatus: map[string]int64{}, ByType: []TypeCount{}}, LLM: LLMStats{ByModel: []ModelCount{}}}
	for _, ts := range st.Types {
		tc := TypeCount{Type: ts.Type, ByStatus: map[string]int64{}}
		for status, n := range ts.ByStatus {
			tc.ByStatus[string(status)] = n
			tc.Total += n
			out.Tasks.ByStatus[string(status)] += n
		}
		out.Tasks.Total += tc.Total
		out.Tasks.ByType = append(out.Tasks.ByType, tc)
	}
	out.Tasks.PerMinute = float64(out.Tasks.Total) / window.Minutes()
	for _, m := range st.Models {
		out.LLM.ByModel = append(out.LLM.ByModel, ModelCount(m))
		out.LLM.Calls += m.Calls
		out.LLM.Errors += m.Errors
		out.LLM.InputTokens += m.InputTokens
		out.LLM.OutputTokens += m.OutputTokens
		out.CostUSD += m.CostUSD
	}
	return out
}
