-- +goose Up
CREATE TABLE tasks (
    id              uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    user_id_hash    text,
    type            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'canceled', 'timed_out')),
    input           jsonb,
    output          jsonb,
    error           text,
    model           text,
    input_tokens    bigint NOT NULL DEFAULT 0,
    output_tokens   bigint NOT NULL DEFAULT 0,
    cost_usd        numeric(20, 10) NOT NULL DEFAULT 0,
    workflow_id     text,
    run_id          text,
    parent_id       uuid REFERENCES tasks (id) ON DELETE SET NULL,
    priority        int NOT NULL DEFAULT 0,
    idempotency_key text,
    metadata        jsonb,
    definition_hash text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz
);

CREATE UNIQUE INDEX tasks_tenant_idempotency_key_idx ON tasks (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Task lists: by tenant, newest first, optionally filtered by status, type or user.
CREATE INDEX tasks_tenant_created_idx ON tasks (tenant_id, created_at DESC, id DESC);
CREATE INDEX tasks_tenant_status_created_idx ON tasks (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX tasks_tenant_type_created_idx ON tasks (tenant_id, type, created_at DESC, id DESC);
CREATE INDEX tasks_tenant_user_created_idx ON tasks (tenant_id, user_id_hash, created_at DESC, id DESC)
    WHERE user_id_hash IS NOT NULL;
-- Cost reports across tenants over a period (per tenant, tasks_tenant_created_idx serves).
CREATE INDEX tasks_created_idx ON tasks (created_at);
CREATE INDEX tasks_parent_idx ON tasks (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE subtasks (
    id            uuid PRIMARY KEY,
    task_id       uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    key           text NOT NULL,
    seq           bigserial NOT NULL,
    step_id       text,
    agent         text,
    iteration     int NOT NULL DEFAULT 0,
    status        text NOT NULL
                  CHECK (status IN ('pending', 'running', 'completed', 'failed', 'canceled', 'timed_out')),
    model         text,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cost_usd      numeric(20, 10) NOT NULL DEFAULT 0,
    input         jsonb,
    output        jsonb,
    error         text,
    workflow_id   text,
    created_at    timestamptz NOT NULL,
    started_at    timestamptz,
    finished_at   timestamptz,
    UNIQUE (task_id, key)
);

CREATE INDEX subtasks_task_seq_idx ON subtasks (task_id, seq);

CREATE TABLE llm_calls (
    id            bigserial PRIMARY KEY,
    task_id       uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    subtask_id    uuid REFERENCES subtasks (id) ON DELETE CASCADE,
    call_key      text NOT NULL,
    attempt       int NOT NULL,
    provider      text NOT NULL,
    model         text NOT NULL,
    request       jsonb,
    response      jsonb,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cost_usd      numeric(20, 10) NOT NULL DEFAULT 0,
    latency_ms    int NOT NULL DEFAULT 0,
    status_code   int,
    error         text,
    created_at    timestamptz NOT NULL,
    UNIQUE (task_id, call_key, attempt)
);

CREATE INDEX llm_calls_subtask_idx ON llm_calls (subtask_id) WHERE subtask_id IS NOT NULL;

CREATE TABLE task_events (
    id         bigserial PRIMARY KEY,
    task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    payload    jsonb,
    dedupe_key text NOT NULL,
    at         timestamptz NOT NULL,
    UNIQUE (task_id, dedupe_key)
);

CREATE INDEX task_events_task_idx ON task_events (task_id, id);

CREATE TABLE audit_logs (
    id            bigserial PRIMARY KEY,
    event_type    text NOT NULL,
    resource_type text,
    resource_id   text,
    tenant_id     text,
    user_id_hash  text,
    actor         text,
    at            timestamptz NOT NULL,
    metadata      jsonb,
    dedupe_key    text UNIQUE
);

CREATE INDEX audit_logs_tenant_at_idx ON audit_logs (tenant_id, at DESC, id DESC);
CREATE INDEX audit_logs_at_idx ON audit_logs (at DESC, id DESC);
CREATE INDEX audit_logs_resource_idx ON audit_logs (resource_id);

-- +goose StatementBegin
CREATE FUNCTION audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_logs_no_change BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_append_only();
CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_append_only();

CREATE TABLE api_keys (
    id         uuid PRIMARY KEY,
    key_hash   text NOT NULL UNIQUE,
    tenant_id  text NOT NULL,
    role       text NOT NULL CHECK (role IN ('admin', 'member')),
    name       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

-- Blobs are content-addressed (ref = sha256 hex of the JSON), so task_id records the first
-- task that stored the value and is deliberately not a foreign key.
CREATE TABLE blobs (
    ref        text PRIMARY KEY,
    task_id    uuid,
    data       jsonb NOT NULL,
    created_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE blobs;
DROP TABLE api_keys;
DROP TABLE audit_logs;
DROP FUNCTION audit_logs_append_only();
DROP TABLE task_events;
DROP TABLE llm_calls;
DROP TABLE subtasks;
DROP TABLE tasks;
