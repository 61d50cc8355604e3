package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The roles of an API key: an admin may do everything in its tenant, a
// member work with tasks, a reader only read.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
	RoleReader = "reader"
)

// Roles lists the roles of API keys.
var Roles = []string{RoleAdmin, RoleMember, RoleReader}

// ErrKeyRefused is the error of a key that exists but is revoked or has
// expired; LookupAPIKey returns the key with it, so the refusal can be
// told to its tenant.
var ErrKeyRefused = errors.New("api key refused")

// APIKey is an API key of a tenant. Only the sha256 of the key itself is stored.
type APIKey struct {
	ID         uuid.UUID
	TenantID   string
	Role       string
	Name       string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// NewAPIKey is what CreateAPIKey needs; a zero ExpiresAt never expires.
type NewAPIKey struct {
	TenantID  string
	Role      string
	Name      string
	ExpiresAt time.Time
}

const apiKeyColumns = `id, tenant_id, role, name, created_at, expires_at, revoked_at, last_used_at`

func scanAPIKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	err := row.Scan(&k.ID, &k.TenantID, &k.Role, &k.Name, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt)
	return k, err
}

const insertAPIKey = `
INSERT INTO api_keys (id, key_hash, tenant_id, role, name, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING ` + apiKeyColumns

const lookupAPIKey = `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE key_hash = $1`

// lastUsedEvery is how often a key's last_used_at is written at most.
const lastUsedEvery = time.Minute

const touchAPIKey = `UPDATE api_keys SET last_used_at = $2
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)`

const revokeAPIKey = `
UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND tenant_id = $2`

const listAPIKeys = `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id`

// CreateAPIKey creates a key of a tenant with a role and returns the key in
// plaintext ("trp_" + random), the only time it is available.
func (s *Store) CreateAPIKey(ctx context.Context, n NewAPIKey) (key string, k APIKey, err error) {
	if n.TenantID == "" {
		return "", APIKey{}, fmt.Errorf("%w: an api key needs a tenant", ErrInvalid)
	}
	if !slices.Contains(Roles, n.Role) {
		return "", APIKey{}, fmt.Errorf("%w: unknown role %q (want one of %s)", ErrInvalid, n.Role, strings.Join(Roles, ", "))
	}
	now := s.now()
	var expires *time.Time
	if !n.ExpiresAt.IsZero() {
		if !n.ExpiresAt.After(now) {
			return "", APIKey{}, fmt.Errorf("%w: the key would expire at %s, in the past", ErrInvalid, n.ExpiresAt.Format(time.RFC3339))
		}
		expires = &n.ExpiresAt
	}
	key = "trp_" + rand.Text()
	k, err = scanAPIKey(s.pool.QueryRow(ctx, insertAPIKey, uuid.New(), hashAPIKey(key), n.TenantID, n.Role, n.Name, now, expires))
	if err != nil {
		return "", APIKey{}, fmt.Errorf("insert api key: %w", err)
	}
	return key, k, nil
}

// LookupAPIKey returns the key whose plaintext is key, and notes it was used
// (at most once a minute). ErrNotFound if unknown; the key and an error
// wrapping ErrKeyRefused when it is revoked or has expired.
func (s *Store) LookupAPIKey(ctx context.Context, key string) (APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, lookupAPIKey, hashAPIKey(key)))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, fmt.Errorf("api key: %w", ErrNotFound)
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("select api key: %w", err)
	}
	now := s.now()
	switch {
	case k.RevokedAt != nil:
		return k, fmt.Errorf("%w: it was revoked at %s", ErrKeyRefused, k.RevokedAt.UTC().Format(time.RFC3339))
	case k.ExpiresAt != nil && !k.ExpiresAt.After(now):
		return k, fmt.Errorf("%w: it expired at %s", ErrKeyRefused, k.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) >= lastUsedEvery {
		if _, err := s.pool.Exec(ctx, touchAPIKey, k.ID, now, now.Add(-lastUsedEvery)); err != nil {
			return APIKey{}, fmt.Errorf("note the use of api key: %w", err)
		}
	}
	return k, nil
}

// ListAPIKeys lists a tenant's keys, revoked and expired ones included,
// oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, tenantID string) ([]APIKey, error) {
	rows, err := s.pool.Query(ctx, listAPIKeys, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	keys, err := collect(rows, scanAPIKey)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey revokes the tenant's key id; revoking it again changes nothing. ErrNotFound if
// the tenant has no such key.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID string, id uuid.UUID) error {
	tag, err := s.pool.Exec(ctx, revokeAPIKey, id, tenantID, s.now())
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("api key %s: %w", id, ErrNotFound)
	}
	return nil
}

// hashAPIKey returns the sha256 hex of key, the form in which keys are stored.
func hashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
