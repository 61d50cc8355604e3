-- +goose Up
-- GET /v1/stats reads the LLM calls of a time window.
CREATE INDEX llm_calls_created_idx ON llm_calls (created_at);

-- +goose Down
DROP INDEX llm_calls_created_idx;
