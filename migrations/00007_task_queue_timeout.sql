-- +goose Up
-- A task may name the Temporal task queue its workflow runs on (workers
-- started with `troupe worker --queue NAME`) and a timeout of its whole run;
-- kept on the task so that a stranded pending task starts as submitted.
ALTER TABLE tasks ADD COLUMN queue text;
ALTER TABLE tasks ADD COLUMN timeout_ms bigint;

-- +goose Down
ALTER TABLE tasks DROP COLUMN timeout_ms;
ALTER TABLE tasks DROP COLUMN queue;
