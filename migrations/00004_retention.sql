-- +goose Up
-- The retention cleaner (store.Cleaner) finds the tasks that finished in a
-- window, and, for an old blob, the tasks whose run overlapped the time the
-- blob was stored (the only ones that can refer to it).
CREATE INDEX tasks_finished_idx ON tasks (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX tasks_run_idx ON tasks USING gist (tstzrange(created_at, finished_at, '[]'))
    WHERE finished_at IS NOT NULL;
CREATE INDEX blobs_created_idx ON blobs (created_at);

-- +goose Down
DROP INDEX blobs_created_idx;
DROP INDEX tasks_run_idx;
DROP INDEX tasks_finished_idx;
