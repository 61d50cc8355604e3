package telemetry_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/telemetry"
)

// modelSeries returns, per series of the metric name in reg, its model label
// and value (counters) or sample count (histograms).
func modelSeries(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var model string
			for _, l := range m.GetLabel() {
				if l.GetName() == "model" {
					model = l.GetValue()
				}
			}
			if m.GetCounter() != nil {
				out[model] = m.GetCounter().GetValue()
			} else {
				out[model] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestModelLabelsAreBounded(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	metrics := telemetry.NewMetrics(reg)
	known := metrics.WithModels("gpt-4o-mini", "my-local-model")
	for _, model := range []string{"gpt-4o-mini", "openai/gpt-4o-mini", "gpt-4o-mini-2024-07-18", "my-local-model"} {
		known.ObserveLLMCall(model, "openai", nil, time.Second, 1, 1, 0.01)
	}
	for i := range 50 {
		known.ObserveLLMCall(fmt.Sprintf("client-chosen-%d", i), "openai", nil, time.Second, 1, 1, 0)
	}
	// Metrics that know no model label every call "other".
	metrics.ObserveLLMCall("gpt-4o-mini", "openai", nil, time.Second, 1, 1, 0)

	want := map[string]float64{"gpt-4o-mini": 3, "my-local-model": 1, telemetry.OtherModel: 51}
	require.Equal(t, want, modelSeries(t, reg, "troupe_llm_calls_total"))
	require.Equal(t, want, modelSeries(t, reg, "troupe_llm_call_duration_seconds"))
	require.Len(t, modelSeries(t, reg, "troupe_llm_cost_usd_total"), 3)
}
