// Package telemetry builds troupe's Prometheus metrics and OpenTelemetry
// tracing. Providers are built by the commands and injected; task ids go on
// spans, never on metric labels.
package telemetry

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/troupe-dev/troupe/llm"
)

// Metrics are troupe's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	tasksSubmitted *prometheus.CounterVec
	tasksFinished  *prometheus.CounterVec
	llmCalls       *prometheus.CounterVec
	llmTokens      *prometheus.CounterVec
	llmCost        *prometheus.CounterVec
	llmLatency     *prometheus.HistogramVec
	httpRequests   *prometheus.HistogramVec
	toolCalls      *prometheus.CounterVec
	toolLatency    *prometheus.HistogramVec
	// models are the model names used as labels; any other model is
	// labelled OtherModel.
	models map[string]bool
}

// OtherModel labels the LLM calls of models the metrics do not know: a
// client chooses the model of a task, and every label value is a series.
const OtherModel = "other"

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		tasksSubmitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_tasks_submitted_total", Help: "Tasks accepted by the API.",
		}, []string{"type"}),
		tasksFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_tasks_finished_total", Help: "Tasks that reached a terminal status.",
		}, []string{"type", "status"}),
		llmCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_llm_calls_total", Help: "LLM call attempts by outcome (ok or the error kind).",
		}, []string{"model", "provider", "outcome"}),
		llmTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_llm_tokens_total", Help: "Tokens used by LLM calls.",
		}, []string{"model", "direction"}),
		llmCost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_llm_cost_usd_total", Help: "Cost of LLM calls in USD.",
		}, []string{"model"}),
		llmLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "troupe_llm_call_duration_seconds", Help: "Latency of LLM call attempts.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}, []string{"model"}),
		httpRequests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "troupe_http_request_duration_seconds", Help: "API requests by route and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "status"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "troupe_tool_calls_total", Help: "Tool call attempts by outcome (ok, tool_error, error, canceled).",
		}, []string{"tool", "outcome"}),
		toolLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "troupe_tool_call_duration_seconds", Help: "Latency of tool call attempts.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"tool"}),
	}
	reg.MustRegister(m.tasksSubmitted, m.tasksFinished, m.llmCalls, m.llmTokens, m.llmCost, m.llmLatency, m.httpRequests,
		m.toolCalls, m.toolLatency)
	return m
}

// WithModels returns metrics that label LLM calls with their model only
// for the models named in known (the price table's and the default model),
// and with OtherModel for any other. They share m's collectors. Metrics
// not made by WithModels label every model OtherModel.
func (m *Metrics) WithModels(known ...string) *Metrics {
	if m == nil {
		return nil
	}
	out := *m
	out.models = make(map[string]bool, len(known))
	for _, name := range known {
		out.models[name] = true
	}
	return &out
}

// modelLabel returns the label of model: model itself, or the known model
// it is a provider-prefixed ("openai/gpt-4o") or dated snapshot
// ("gpt-4o-2024-08-06") name of, else OtherModel.
func (m *Metrics) modelLabel(model string) string {
	bare := model[strings.LastIndex(model, "/")+1:]
	for _, name := range []string{model, bare, snapshotDate.ReplaceAllString(bare, "")} {
		if m.models[name] {
			return name
		}
	}
	return OtherModel
}

// snapshotDate is the date a provider appends to the model it reports.
var snapshotDate = regexp.MustCompile(`-\d{4}-\d{2}-\d{2}$`)

// ObserveSubmit counts a task accepted by the API.
func (m *Metrics) ObserveSubmit(taskType string) {
	if m == nil {
		return
	}
	m.tasksSubmitted.WithLabelValues(taskType).Inc()
}

// ObserveTask counts a task that reached a terminal status.
func (m *Metrics) ObserveTask(taskType, status string) {
	if m == nil {
		return
	}
	m.tasksFinished.WithLabelValues(taskType, status).Inc()
}

// ObserveLLMCall records one LLM call attempt.
func (m *Metrics) ObserveLLMCall(model, provider string, err error, latency time.Duration, in, out int64, cost float64) {
	if m == nil {
		return
	}
	outcome := "ok"
	var perr *llm.Error
	switch {
	case errors.As(err, &perr):
		outcome = perr.Kind()
	case err != nil:
		outcome = "error"
	}
	model = m.modelLabel(model)
	m.llmCalls.WithLabelValues(model, provider, outcome).Inc()
	m.llmLatency.WithLabelValues(model).Observe(latency.Seconds())
	m.llmTokens.WithLabelValues(model, "input").Add(float64(in))
	m.llmTokens.WithLabelValues(model, "output").Add(float64(out))
	m.llmCost.WithLabelValues(model).Add(cost)
}

// ObserveToolCall records one tool call attempt; tool is the tool as
// granted (a defined name, never one a client chooses).
func (m *Metrics) ObserveToolCall(tool, outcome string, latency time.Duration) {
	if m == nil {
		return
	}
	m.toolCalls.WithLabelValues(tool, outcome).Inc()
	m.toolLatency.WithLabelValues(tool).Observe(latency.Seconds())
}

// ObserveHTTP records one API request; route is the route pattern, not the path.
func (m *Metrics) ObserveHTTP(method, route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Observe(d.Seconds())
}
