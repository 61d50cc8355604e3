package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BudgetReading is a tenant's budget and its use this month.
type BudgetReading struct {
	Tenant                            string
	MonthlyUSD, SpentUSD, ReservedUSD float64
}

// budgetReadTimeout bounds the read of budgets at a scrape.
const budgetReadTimeout = 5 * time.Second

// NewBudgetCollector returns a collector of the budgets read, at each scrape,
// by read: troupe_tenant_budget_usd, troupe_tenant_spent_usd and
// troupe_tenant_reserved_usd, labelled by tenant (tenants with a budget
// only, a set admins choose, so the labels stay bounded).
func NewBudgetCollector(read func(context.Context) ([]BudgetReading, error)) prometheus.Collector {
	return &budgetCollector{read: read,
		budget:   prometheus.NewDesc("troupe_tenant_budget_usd", "The tenant's monthly LLM budget in USD.", []string{"tenant"}, nil),
		spent:    prometheus.NewDesc("troupe_tenant_spent_usd", "What the tenant's LLM calls cost this month (UTC), in USD.", []string{"tenant"}, nil),
		reserved: prometheus.NewDesc("troupe_tenant_reserved_usd", "The estimated cost of the tenant's LLM calls in flight, in USD.", []string{"tenant"}, nil),
	}
}

type budgetCollector struct {
	read                    func(context.Context) ([]BudgetReading, error)
	budget, spent, reserved *prometheus.Desc
}

func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.budget
	ch <- c.spent
	ch <- c.reserved
}

func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), budgetReadTimeout)
	defer cancel()
	readings, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.budget, err)
		return
	}
	for _, r := range readings {
		ch <- prometheus.MustNewConstMetric(c.budget, prometheus.GaugeValue, r.MonthlyUSD, r.Tenant)
		ch <- prometheus.MustNewConstMetric(c.spent, prometheus.GaugeValue, r.SpentUSD, r.Tenant)
		ch <- prometheus.MustNewConstMetric(c.reserved, prometheus.GaugeValue, r.ReservedUSD, r.Tenant)
	}
}
