-- +goose Up
-- GET /v1/stats reads a tenant's LLM calls of a time window: the tenant is
-- kept on each call (the task's, copied when the call is recorded) so that
-- one index range holds them, whatever the size of the tables.
ALTER TABLE llm_calls ADD COLUMN tenant_id text;
UPDATE llm_calls l SET tenant_id = t.tenant_id FROM tasks t WHERE t.id = l.task_id;
CREATE INDEX llm_calls_tenant_created_idx ON llm_calls (tenant_id, created_at);

-- +goose Down
DROP INDEX llm_calls_tenant_created_idx;
ALTER TABLE llm_calls DROP COLUMN tenant_id;
