package llm_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
)

func TestDefaultPrices(t *testing.T) {
	t.Parallel()
	p := llm.DefaultPrices()
	for _, model := range []string{"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini", "gpt-5", "gpt-5-mini"} {
		require.Positive(t, p[model].InputPerMTok, model)
		require.Positive(t, p[model].OutputPerMTok, model)
	}
	require.Contains(t, p, "mock")
	require.Zero(t, p.Cost("mock", 1_000_000, 1_000_000))

	// gpt-4o-mini: $0.15 in, $0.60 out per million tokens
	require.InDelta(t, 0.15+0.30, p.Cost("gpt-4o-mini", 1_000_000, 500_000), 1e-9)
	require.InDelta(t, 0.15+0.30, p.Cost("openai/gpt-4o-mini", 1_000_000, 500_000), 1e-9, "OpenRouter name")
	require.InDelta(t, 0.15+0.30, p.Cost("gpt-4o-mini-2024-07-18", 1_000_000, 500_000), 1e-9, "dated snapshot")
	require.InDelta(t, 2.50, p.Cost("gpt-4o", 1_000_000, 0), 1e-9, "gpt-4o is not priced as gpt-4o-mini")
	require.Zero(t, p.Cost("llama3.2", 1000, 1000), "unknown model")
}

func TestLoadPrices(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "prices.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
gpt-4o: {input: 1.00, output: 2.00}
meta-llama/llama-3.3-70b-instruct: {input: 0.10, output: 0.25}
openai/gpt-4.1: {input: 9, output: 9}
`), 0o600))
	p, err := llm.LoadPrices(path)
	require.NoError(t, err)

	require.InDelta(t, 3.00, p.Cost("gpt-4o", 1_000_000, 1_000_000), 1e-9, "overridden")
	require.InDelta(t, 0.35, p.Cost("meta-llama/llama-3.3-70b-instruct", 1_000_000, 1_000_000), 1e-9, "added")
	require.InDelta(t, 18.0, p.Cost("openai/gpt-4.1", 1_000_000, 1_000_000), 1e-9, "a full name wins over the stripped one")
	require.Equal(t, llm.DefaultPrices()["gpt-4o-mini"], p["gpt-4o-mini"], "defaults kept")
}

func TestLoadPricesErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"typo.yaml":     "gpt-4o: {input: 1, outptu: 2}\n",
		"negative.yaml": "gpt-4o: {input: -1, output: 2}\n",
		"syntax.yaml":   "gpt-4o: {input: 1\n",
		"shape.yaml":    "- gpt-4o\n",
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		_, err := llm.LoadPrices(path)
		require.ErrorContains(t, err, path, name)
	}
	_, err := llm.LoadPrices(filepath.Join(dir, "missing.yaml"))
	require.ErrorContains(t, err, "missing.yaml")
}

func TestCostOf(t *testing.T) {
	t.Parallel()
	p := llm.DefaultPrices()
	reported := 0.0123
	resp := llm.Response{Model: "openai/gpt-4o", InputTokens: 1_000_000, OutputTokens: 0}
	require.InDelta(t, 2.50, p.CostOf(resp), 1e-9, "from the table")
	resp.ReportedCost = &reported
	require.InDelta(t, reported, p.CostOf(resp), 1e-12, "the provider's figure wins")
}

func TestEstimate(t *testing.T) {
	p := llm.Prices{"m": {InputPerMTok: 1, OutputPerMTok: 2}}
	req := llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: strings.Repeat("x", 4000)}}}
	require.InDelta(t, (1001*1+1024*2)/1e6, p.Estimate(req), 1e-12, "1,000 tokens in, 1,024 out")
	req.MaxTokens = 10
	require.InDelta(t, (1001*1+10*2)/1e6, p.Estimate(req), 1e-12)
	require.Zero(t, p.Estimate(llm.Request{Model: "unpriced"}))
}
