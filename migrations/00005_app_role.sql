-- +goose Up
-- troupe_app is the NOLOGIN group role of the processes that serve and work
-- (troupe serve, troupe worker): they connect as a LOGIN role that is a
-- member of it, while migrations run as the role that owns the tables. It may
-- read and write every table, but only read and append to audit_logs, and it
-- cannot alter, truncate or drop anything (so not disable the append-only
-- triggers either).
--
-- Roles belong to the whole cluster: the role is created when missing, and a
-- migration of another database creating it at the same moment is not an
-- error. A migrator without CREATEROLE (some managed Postgres) cannot create
-- it: the migration then fails and asks an administrator to create the role;
-- it never leaves the schema at this version without the grants.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'troupe_app') THEN
        BEGIN
            CREATE ROLE troupe_app NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL; -- created meanwhile by the migration of another database
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'role troupe_app does not exist, and % may not create it: as an administrator, run CREATE ROLE troupe_app NOLOGIN, then troupe migrate up again',
                    current_user;
        END;
    END IF;
END
$$;
-- +goose StatementEnd

GRANT SELECT, INSERT, UPDATE, DELETE
    ON tasks, subtasks, llm_calls, task_events, api_keys, blobs, tool_calls, messages
    TO troupe_app;
GRANT SELECT, INSERT ON audit_logs TO troupe_app;
GRANT USAGE, SELECT
    ON SEQUENCE subtasks_seq_seq, llm_calls_id_seq, task_events_id_seq, audit_logs_id_seq, tool_calls_id_seq
    TO troupe_app;
-- troupe serve and worker read the schema version at start (store.CheckSchema).
GRANT SELECT ON goose_db_version TO troupe_app;

-- Tables and sequences that later migrations create (as the role running
-- this one) get the same grants as the tables above. A later append-only
-- table must REVOKE UPDATE, DELETE from troupe_app itself.
ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO troupe_app;
ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO troupe_app;

-- +goose Down
-- The role stays: other databases of the cluster may use it.
ALTER DEFAULT PRIVILEGES REVOKE USAGE, SELECT ON SEQUENCES FROM troupe_app;
ALTER DEFAULT PRIVILEGES REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM troupe_app;
REVOKE ALL ON goose_db_version FROM troupe_app;
REVOKE ALL
    ON SEQUENCE subtasks_seq_seq, llm_calls_id_seq, task_events_id_seq, audit_logs_id_seq, tool_calls_id_seq
    FROM troupe_app;
REVOKE ALL ON audit_logs FROM troupe_app;
REVOKE ALL
    ON tasks, subtasks, llm_calls, task_events, api_keys, blobs, tool_calls, messages
    FROM troupe_app;
