package console

// chart is a bar chart drawn as SVG on the server: per row, a bar of its
// cost and a bar of its tokens, each scaled to the largest of its column.
type chart struct {
	Title  string
	Rows   []chartRow
	Height int
}

// chartRow is one group of a chart; the widths are in SVG units.
type chartRow struct {
	Label       string
	CostUSD     float64
	Tokens      int64
	Tasks       int64
	Y           int
	CostWidth   float64
	TokensWidth float64
}

// Geometry of the charts, in SVG units (the SVG scales to its box).
const (
	chartRowH   = 26
	chartTop    = 22
	chartLabelW = 170
	chartBarW   = 190
	// ChartWidth is the width of the chart's viewBox.
	chartWidth = chartLabelW + 2*chartBarW + 60
)

func (c *chart) add(label string, cost float64, tokens, tasks int64) {
	c.Rows = append(c.Rows, chartRow{Label: label, CostUSD: cost, Tokens: tokens, Tasks: tasks})
}

// layout computes the rows' places and bar widths.
func (c chart) layout() chart {
	var maxCost float64
	var maxTokens int64
	for _, r := range c.Rows {
		maxCost, maxTokens = max(maxCost, r.CostUSD), max(maxTokens, r.Tokens)
	}
	for i := range c.Rows {
		r := &c.Rows[i]
		r.Y = chartTop + i*chartRowH
		if maxCost > 0 {
			r.CostWidth = max(1, chartBarW*r.CostUSD/maxCost)
		}
		if maxTokens > 0 {
			r.TokensWidth = max(1, chartBarW*float64(r.Tokens)/float64(maxTokens))
		}
	}
	c.Height = chartTop + len(c.Rows)*chartRowH + 6
	return c
}
