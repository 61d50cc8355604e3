-- +goose Up
-- The SHA-256 (hex) of the canonical request that first used the task's
-- idempotency key: a replay with another request is refused. NULL for tasks
-- submitted without a key, or before this column existed (not checked).
ALTER TABLE tasks ADD COLUMN idempotency_hash text;

-- +goose Down
ALTER TABLE tasks DROP COLUMN idempotency_hash;
