-- +goose Up
-- A reset of a task's workflow (temporal workflow reset, troupe retry) starts
-- a new run that records its own steps: subtasks and tool calls are unique
-- per run (run_id is the Temporal run id of the task's workflow; '' for rows
-- of runs started before this column), and a run's events carry its id, so
-- that only the current run waits for a person. The unique keys change:
-- workers older than this migration cannot start a subtask or record a tool
-- call against it, so upgrade the workers with the migration.
ALTER TABLE subtasks ADD COLUMN run_id text NOT NULL DEFAULT '';
ALTER TABLE subtasks DROP CONSTRAINT subtasks_task_id_key_key;
ALTER TABLE subtasks ADD CONSTRAINT subtasks_task_id_run_id_key_key UNIQUE (task_id, run_id, key);

ALTER TABLE tool_calls ADD COLUMN run_id text NOT NULL DEFAULT '';
ALTER TABLE tool_calls DROP CONSTRAINT tool_calls_task_id_call_id_key;
ALTER TABLE tool_calls ADD CONSTRAINT tool_calls_task_id_run_id_call_id_key UNIQUE (task_id, run_id, call_id);

ALTER TABLE task_events ADD COLUMN run_id text;

-- +goose Down
ALTER TABLE task_events DROP COLUMN run_id;

-- The calls and steps of earlier runs keep their rows, under keys naming their run.
UPDATE tool_calls c SET call_id = c.call_id || '@' || c.run_id WHERE EXISTS (
    SELECT 1 FROM tool_calls o WHERE o.task_id = c.task_id AND o.call_id = c.call_id AND o.id > c.id);
ALTER TABLE tool_calls DROP CONSTRAINT tool_calls_task_id_run_id_call_id_key;
ALTER TABLE tool_calls ADD CONSTRAINT tool_calls_task_id_call_id_key UNIQUE (task_id, call_id);
ALTER TABLE tool_calls DROP COLUMN run_id;

UPDATE subtasks s SET key = s.key || '@' || s.run_id WHERE EXISTS (
    SELECT 1 FROM subtasks o WHERE o.task_id = s.task_id AND o.key = s.key AND o.seq > s.seq);
ALTER TABLE subtasks DROP CONSTRAINT subtasks_task_id_run_id_key_key;
ALTER TABLE subtasks ADD CONSTRAINT subtasks_task_id_key_key UNIQUE (task_id, key);
ALTER TABLE subtasks DROP COLUMN run_id;
