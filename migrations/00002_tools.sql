-- +goose Up
CREATE TABLE tool_calls (
    id          bigserial PRIMARY KEY,
    task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    subtask_id  uuid REFERENCES subtasks (id) ON DELETE CASCADE,
    call_id     text NOT NULL,
    tool        text NOT NULL,
    arguments   jsonb,
    result      jsonb,
    error       text,
    status      text NOT NULL
                CHECK (status IN ('pending_approval', 'running', 'succeeded', 'failed', 'rejected')),
    attempts    int NOT NULL DEFAULT 0,
    latency_ms  int NOT NULL DEFAULT 0,
    workflow_id text,
    decided_by  text,
    comment     text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    finished_at timestamptz,
    UNIQUE (task_id, call_id)
);

-- A task's calls in the order they were first recorded.
CREATE INDEX tool_calls_task_idx ON tool_calls (task_id, id);
CREATE INDEX tool_calls_subtask_idx ON tool_calls (subtask_id) WHERE subtask_id IS NOT NULL;

-- The conversations of agents with tools, kept here so that workflow history carries a
-- reference (task, conversation, length) instead of every message on every turn.
CREATE TABLE messages (
    task_id      uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    conversation text NOT NULL,
    seq          int NOT NULL CHECK (seq >= 0),
    message      jsonb NOT NULL,
    PRIMARY KEY (task_id, conversation, seq)
);

-- +goose Down
DROP TABLE messages;
DROP TABLE tool_calls;
