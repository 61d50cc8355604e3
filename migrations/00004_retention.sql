-- +goose Up
-- The retention cleaner (store.Cleaner) finds finished tasks and old blobs by time.
CREATE INDEX tasks_finished_idx ON tasks (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX blobs_created_idx ON blobs (created_at);

-- +goose Down
DROP INDEX blobs_created_idx;
DROP INDEX tasks_finished_idx;
