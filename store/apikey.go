package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The roles of an API key.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// APIKey is an API key of a tenant. Only the sha256 of the key itself is stored.
type APIKey struct {
	ID        uuid.UUID
	TenantID  string
	Role      string
	Name      string
	CreatedAt time.Time
}

const insertAPIKey = `
INSERT INTO api_keys (id, key_hash, tenant_id, role, name, created_at)
VALUES ($1, $2, $3, $4, $5, $6)`

const lookupAPIKey = `
SELECT id, tenant_id, role, name, created_at FROM api_keys
WHERE key_hash = $1 AND revoked_at IS NULL`

const revokeAPIKey = `
UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND tenant_id = $2`

// CreateAPIKey creates a key with role (RoleAdmin or RoleMember) for tenantID and returns the
// key in plaintext ("trp_" + random), the only time it is available.
func (s *Store) CreateAPIKey(ctx context.Context, tenantID, role, name string) (key string, k APIKey, err error) {
	if tenantID == "" {
		return "", APIKey{}, fmt.Errorf("%w: an api key needs a tenant", ErrInvalid)
	}
	if role != RoleAdmin && role != RoleMember {
		return "", APIKey{}, fmt.Errorf("%w: unknown role %q (want %s or %s)", ErrInvalid, role, RoleAdmin, RoleMember)
	}
	key = "trp_" + rand.Text()
	k = APIKey{ID: uuid.New(), TenantID: tenantID, Role: role, Name: name, CreatedAt: s.now()}
	if _, err := s.pool.Exec(ctx, insertAPIKey, k.ID, hashAPIKey(key), k.TenantID, k.Role, k.Name, k.CreatedAt); err != nil {
		return "", APIKey{}, fmt.Errorf("insert api key: %w", err)
	}
	return key, k, nil
}

// LookupAPIKey returns the key whose plaintext is key; ErrNotFound if unknown or revoked.
func (s *Store) LookupAPIKey(ctx context.Context, key string) (APIKey, error) {
	var k APIKey
	err := s.pool.QueryRow(ctx, lookupAPIKey, hashAPIKey(key)).Scan(&k.ID, &k.TenantID, &k.Role, &k.Name, &k.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, fmt.Errorf("api key: %w", ErrNotFound)
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("select api key: %w", err)
	}
	return k, nil
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
