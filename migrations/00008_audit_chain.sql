-- +goose Up
-- Each audit row carries a hash chained to the previous row of its tenant:
-- hash = sha256(prev_hash || audit_content(row)), prev_hash being the hash of
-- the tenant's row before it (empty for the first). A BEFORE INSERT trigger
-- fills them for every writer, under a per-tenant transaction lock taken
-- before the row gets its id, so concurrent writers cannot fork the chain and
-- ids follow the chain. The append-only triggers stay; the chain is what
-- reveals an edit made by someone who could switch them off.
ALTER TABLE audit_logs ADD COLUMN prev_hash bytea;
ALTER TABLE audit_logs ADD COLUMN hash bytea;
CREATE INDEX audit_logs_tenant_id_idx ON audit_logs (tenant_id, id);

-- +goose StatementBegin
-- audit_content is the text of a row that its hash covers: every column but
-- the hashes, timestamps in UTC to the microsecond, JSON as jsonb prints it.
CREATE FUNCTION audit_content(a audit_logs) RETURNS bytea LANGUAGE sql STABLE AS $$
    SELECT convert_to(concat_ws(E'\n', a.id::text, a.event_type, COALESCE(a.resource_type, ''),
        COALESCE(a.resource_id, ''), COALESCE(a.tenant_id, ''), COALESCE(a.user_id_hash, ''),
        COALESCE(a.actor, ''), to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        COALESCE(a.metadata::text, ''), COALESCE(a.dedupe_key, '')), 'UTF8')
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION audit_logs_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('troupe.audit_logs:' || COALESCE(NEW.tenant_id, ''), 0));
    NEW.id := nextval(pg_get_serial_sequence('audit_logs', 'id'));
    IF NEW.tenant_id IS NULL THEN
        SELECT hash INTO NEW.prev_hash FROM audit_logs WHERE tenant_id IS NULL ORDER BY id DESC LIMIT 1;
    ELSE
        SELECT hash INTO NEW.prev_hash FROM audit_logs WHERE tenant_id = NEW.tenant_id ORDER BY id DESC LIMIT 1;
    END IF;
    NEW.prev_hash := COALESCE(NEW.prev_hash, ''::bytea);
    NEW.hash := sha256(NEW.prev_hash || audit_content(NEW));
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

-- The rows written before: chained in id order, with the append-only
-- trigger off for the time of this migration only.
ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_change;
-- +goose StatementBegin
DO $$
DECLARE
    r audit_logs;
    prev bytea;
    last_tenant text := NULL;
    first boolean := true;
BEGIN
    FOR r IN SELECT * FROM audit_logs ORDER BY tenant_id NULLS FIRST, id LOOP
        IF first OR r.tenant_id IS DISTINCT FROM last_tenant THEN
            prev := ''::bytea;
        END IF;
        first := false;
        last_tenant := r.tenant_id;
        UPDATE audit_logs SET prev_hash = prev, hash = sha256(prev || audit_content(r)) WHERE id = r.id
            RETURNING hash INTO prev;
    END LOOP;
END;
$$;
-- +goose StatementEnd
ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_change;

CREATE TRIGGER audit_logs_chain BEFORE INSERT ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_chain();

-- +goose Down
DROP TRIGGER audit_logs_chain ON audit_logs;
DROP FUNCTION audit_logs_chain();
DROP FUNCTION audit_content(audit_logs);
DROP INDEX audit_logs_tenant_id_idx;
ALTER TABLE audit_logs DROP COLUMN hash;
ALTER TABLE audit_logs DROP COLUMN prev_hash;
