-- +goose Up
-- The model a retry (POST /v1/tasks/{id}/retry?model=M) chose for the step
-- that failed: the LLM calls of the task's workflow workflow_id (the task's
-- own, or the failed step's child workflow) use it instead of the one their
-- request names, in the runs that follow the retry. A retry without a model
-- removes the task's overrides.
CREATE TABLE model_overrides (
    task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    workflow_id text NOT NULL,
    model       text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (task_id, workflow_id)
);

-- +goose Down
DROP TABLE model_overrides;
