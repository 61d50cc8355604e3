package llm

import (
	_ "embed"
	"fmt"
	"maps"
	"os"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
)

// Price is the USD price per million tokens.
type Price struct {
	InputPerMTok  float64 `yaml:"input"`
	OutputPerMTok float64 `yaml:"output"`
}

// Prices maps model names to prices.
type Prices map[string]Price

//go:embed prices.yaml
var defaultPricesYAML []byte

// DefaultPrices returns the price table shipped with troupe (prices.yaml in
// this package): current OpenAI models, and mock at 0.
func DefaultPrices() Prices {
	p, err := parsePrices(defaultPricesYAML)
	if err != nil {
		panic(fmt.Sprintf("embedded prices.yaml: %v", err)) // caught by the package tests
	}
	return p
}

// LoadPrices returns the default prices overridden and extended by the YAML
// file at path, written in the format of the embedded prices.yaml:
//
//	gpt-4o: {input: 2.50, output: 10.00}
func LoadPrices(path string) (Prices, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load prices: %w", err)
	}
	file, err := parsePrices(data)
	if err != nil {
		return nil, fmt.Errorf("load prices %s: %w", path, err)
	}
	p := DefaultPrices()
	maps.Copy(p, file)
	return p, nil
}

// parsePrices decodes a price table, refusing unknown keys and negative prices.
func parsePrices(data []byte) (Prices, error) {
	var p Prices
	if err := yaml.UnmarshalWithOptions(data, &p, yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("%s", yaml.FormatError(err, false, true))
	}
	for model, price := range p {
		if price.InputPerMTok < 0 || price.OutputPerMTok < 0 {
			return nil, fmt.Errorf("model %s: negative price", model)
		}
	}
	return p, nil
}

// snapshotSuffix is the date OpenAI appends to the model it reports
// ("gpt-4o-mini-2024-07-18").
var snapshotSuffix = regexp.MustCompile(`-\d{4}-\d{2}-\d{2}$`)

// lookup finds model's price: by its full name, else without an OpenRouter
// "vendor/" prefix, else without a snapshot date. Zero if none matches.
func (p Prices) lookup(model string) Price {
	bare := model[strings.LastIndex(model, "/")+1:]
	for _, name := range []string{model, bare, snapshotSuffix.ReplaceAllString(bare, "")} {
		if price, ok := p[name]; ok {
			return price
		}
	}
	return Price{}
}

// Cost returns the USD cost of a call to model; 0 for a model not in the
// table. "openai/gpt-4o" and "gpt-4o-2024-08-06" are priced as "gpt-4o" when
// the table does not name them.
func (p Prices) Cost(model string, inputTokens, outputTokens int64) float64 {
	price := p.lookup(model)
	return (float64(inputTokens)*price.InputPerMTok + float64(outputTokens)*price.OutputPerMTok) / 1e6
}

// CostOf returns the response's cost: ReportedCost when present, else the price table.
func (p Prices) CostOf(resp Response) float64 {
	if resp.ReportedCost != nil {
		return *resp.ReportedCost
	}
	return p.Cost(resp.Model, resp.InputTokens, resp.OutputTokens)
}

// estimatedOutputTokens is the answer length Estimate assumes of a request
// that sets no max_tokens.
const estimatedOutputTokens = 1024

// Estimate returns what req may cost before it is sent, for budgets: its
// text at 4 bytes a token, and an answer of max_tokens (or 1024 tokens),
// at the table's price of its model (0 for a model not in the table).
func (p Prices) Estimate(req Request) float64 {
	var size int
	for _, m := range req.Messages {
		size += len(m.Content)
		for _, c := range m.ToolCalls {
			size += len(c.Name) + len(c.Arguments)
		}
	}
	for _, t := range req.Tools {
		size += len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	size += len(req.OutputSchema)
	out := int64(req.MaxTokens)
	if out <= 0 {
		out = estimatedOutputTokens
	}
	return p.Cost(req.Model, int64(size/4+1), out)
}
