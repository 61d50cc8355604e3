-- +goose Up
-- Monthly USD budgets of tenants, enforced before every LLM call: a call
-- reserves its estimated cost (budget_reservations, until its record settles
-- it or it expires), and is refused when the month's spend, the reservations
-- of the calls in flight and its own estimate pass the budget. tenant_spend
-- keeps each tenant's spend per month (UTC), added to by every recorded call,
-- and which of the 80% and 100% marks have been announced.
CREATE TABLE tenant_budgets (
    tenant_id   text PRIMARY KEY,
    monthly_usd numeric(20, 10) NOT NULL CHECK (monthly_usd >= 0),
    updated_at  timestamptz NOT NULL
);

CREATE TABLE tenant_spend (
    tenant_id text NOT NULL,
    month     date NOT NULL,
    spent_usd numeric(20, 10) NOT NULL DEFAULT 0,
    announced int NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, month)
);

CREATE TABLE budget_reservations (
    call_key   text PRIMARY KEY,
    tenant_id  text NOT NULL,
    amount_usd numeric(20, 10) NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX budget_reservations_tenant_idx ON budget_reservations (tenant_id, expires_at);

-- The spend of the current month so far.
INSERT INTO tenant_spend (tenant_id, month, spent_usd)
SELECT t.tenant_id, date_trunc('month', c.created_at AT TIME ZONE 'UTC')::date, sum(c.cost_usd)
FROM llm_calls c JOIN tasks t ON t.id = c.task_id
WHERE c.created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
GROUP BY 1, 2;

-- +goose Down
DROP TABLE budget_reservations;
DROP TABLE tenant_spend;
DROP TABLE tenant_budgets;
