package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Audit is one row of the append-only audit log.
type Audit struct {
	ID           int64
	EventType    string
	ResourceType string
	ResourceID   string
	TenantID     string
	UserIDHash   string
	Actor        string
	At           time.Time
	Metadata     json.RawMessage
	// DedupeKey, when set, makes the row written once whatever the number of calls.
	DedupeKey string
}

// AuditFilter selects the audit rows ListAudit returns; zero fields do not filter (an empty
// TenantID means every tenant).
type AuditFilter struct {
	TenantID   string
	EventType  string
	ResourceID string
	After      time.Time
	Before     time.Time
	// Limit is the page size: default 50, at most 200.
	Limit int
	// Cursor is the next cursor of the previous page, or "" for the first page.
	Cursor string
}

const auditColumns = `id, event_type, COALESCE(resource_type, ''), COALESCE(resource_id, ''),
	COALESCE(tenant_id, ''), COALESCE(user_id_hash, ''), COALESCE(actor, ''), at, metadata,
	COALESCE(dedupe_key, '')`

const insertAuditSQL = `
INSERT INTO audit_logs (event_type, resource_type, resource_id, tenant_id, user_id_hash, actor,
	at, metadata, dedupe_key)
VALUES ($1, NULLIF($2, ''), NULLIF($3, ''), NULLIF($4, ''), NULLIF($5, ''), NULLIF($6, ''),
	$7, $8, NULLIF($9, ''))
ON CONFLICT (dedupe_key) DO NOTHING`

// AppendAudit appends a to the audit log; with a DedupeKey already written it changes nothing.
// A zero At means now.
func (s *Store) AppendAudit(ctx context.Context, a Audit) error {
	if a.EventType == "" {
		return fmt.Errorf("%w: an audit row needs an event type", ErrInvalid)
	}
	if a.At.IsZero() {
		a.At = s.now()
	}
	return insertAudit(ctx, s.pool, a)
}

func insertAudit(ctx context.Context, q querier, a Audit) error {
	_, err := q.Exec(ctx, insertAuditSQL, a.EventType, a.ResourceType, a.ResourceID, a.TenantID,
		a.UserIDHash, a.Actor, a.At, nullJSON(a.Metadata), a.DedupeKey)
	if err != nil {
		return fmt.Errorf("insert %s audit row: %w", a.EventType, err)
	}
	return nil
}

// ListAudit returns a page of audit rows matching f, newest first, and the cursor of the next
// page ("" on the last page). A cursor ListAudit did not issue gives ErrInvalidCursor.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]Audit, string, error) {
	var c conditions
	if f.TenantID != "" {
		c.add("tenant_id = $%d", f.TenantID)
	}
	if f.EventType != "" {
		c.add("event_type = $%d", f.EventType)
	}
	if f.ResourceID != "" {
		c.add("resource_id = $%d", f.ResourceID)
	}
	if !f.After.IsZero() {
		c.add("at > $%d", f.After)
	}
	if !f.Before.IsZero() {
		c.add("at < $%d", f.Before)
	}
	if f.Cursor != "" {
		cur, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		id, err := strconv.ParseInt(cur.ID, 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrInvalidCursor, err)
		}
		c.add("(at, id) < ($%d, $%d)", cur.At, id)
	}
	limit := pageLimit(f.Limit, 50, 200)
	query := fmt.Sprintf("SELECT %s FROM audit_logs %s ORDER BY at DESC, id DESC LIMIT %d",
		auditColumns, c.where(), limit+1)
	rows, err := s.pool.Query(ctx, query, c.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	audits, err := collect(rows, func(row pgx.Row) (Audit, error) {
		var a Audit
		err := row.Scan(&a.ID, &a.EventType, &a.ResourceType, &a.ResourceID, &a.TenantID,
			&a.UserIDHash, &a.Actor, &a.At, &a.Metadata, &a.DedupeKey)
		return a, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	audits, next := page(audits, limit, func(a Audit) cursor {
		return cursor{At: a.At, ID: strconv.FormatInt(a.ID, 10)}
	})
	return audits, next, nil
}

// AuditCheck is the outcome of VerifyAudit: how many rows of the chain were
// recomputed, and the first one that does not match, if any.
type AuditCheck struct {
	OK      bool
	Checked int64
	// Head is the hash of the tenant's last row: kept elsewhere, it also
	// reveals a chain rewritten from some row to its end.
	Head        []byte
	FirstBroken *BrokenAudit
}

// BrokenAudit is an audit row whose hash does not follow from its content
// and the row before it: it, or a row before it, was changed or removed.
type BrokenAudit struct {
	ID        int64
	EventType string
	At        time.Time
	Reason    string
}

// verifyAuditSQL recomputes each row's hash of a tenant's chain from its
// content and the previous row's stored hash, in chain (id) order, and
// returns the count, the head and the first row that does not match.
const verifyAuditSQL = `
WITH chain AS (
	SELECT id, event_type, at, hash, prev_hash,
		COALESCE(lag(hash) OVER w, ''::bytea) AS before,
		sha256(COALESCE(lag(hash) OVER w, ''::bytea) || audit_content(a)) AS want
	FROM audit_logs a WHERE tenant_id = $1
	WINDOW w AS (ORDER BY id)
), broken AS (
	SELECT id, event_type, at,
		CASE WHEN prev_hash IS DISTINCT FROM before THEN 'its previous hash is not the hash of the row before it: a row before it was removed or rewritten'
		     ELSE 'its hash does not match its content: the row was changed' END AS reason
	FROM chain WHERE hash IS DISTINCT FROM want OR prev_hash IS DISTINCT FROM before
	ORDER BY id LIMIT 1
)
SELECT (SELECT count(*) FROM chain), (SELECT hash FROM chain ORDER BY id DESC LIMIT 1),
	b.id, b.event_type, b.at, b.reason
FROM (SELECT 1) one LEFT JOIN broken b ON true`

// VerifyAudit recomputes the hash chain of a tenant's audit rows and names
// the first row that breaks it.
func (s *Store) VerifyAudit(ctx context.Context, tenantID string) (AuditCheck, error) {
	var c AuditCheck
	var id *int64
	var eventType, reason *string
	var at *time.Time
	if err := s.pool.QueryRow(ctx, verifyAuditSQL, tenantID).Scan(&c.Checked, &c.Head, &id, &eventType, &at, &reason); err != nil {
		return AuditCheck{}, fmt.Errorf("verify the audit chain of %s: %w", tenantID, err)
	}
	c.OK = id == nil
	if id != nil {
		c.FirstBroken = &BrokenAudit{ID: *id, EventType: *eventType, At: *at, Reason: *reason}
	}
	return c, nil
}

// AuditTenants lists the tenants that have audit rows.
func (s *Store) AuditTenants(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT tenant_id FROM audit_logs WHERE tenant_id IS NOT NULL ORDER BY tenant_id`)
	if err != nil {
		return nil, fmt.Errorf("list audit tenants: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
