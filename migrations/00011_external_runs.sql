-- +goose Up
-- A task is either run by troupe (source 'troupe', a Temporal workflow) or a
-- run of a flow that runs elsewhere and reports into troupe over POST
-- /v1/events (source 'external': no workflow; its steps are subtasks and its
-- log lines are "log" events). trace_id is the OpenTelemetry trace of the
-- request that created the task (or the one a reporting flow names).
ALTER TABLE tasks ADD COLUMN source text NOT NULL DEFAULT 'troupe' CHECK (source IN ('troupe', 'external'));
ALTER TABLE tasks ADD COLUMN trace_id text;

-- +goose Down
DELETE FROM tasks WHERE source = 'external';
ALTER TABLE tasks DROP COLUMN trace_id;
ALTER TABLE tasks DROP COLUMN source;
