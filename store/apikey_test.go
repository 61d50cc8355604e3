package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestAPIKeys(t *testing.T) {
	b := setup(t)
	key, k, err := b.store.CreateAPIKey(b.ctx, store.NewAPIKey{TenantID: "acme", Role: store.RoleAdmin, Name: "ops laptop"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(key, "trp_"))
	require.Greater(t, len(key), 20)
	require.Equal(t, "acme", k.TenantID)
	require.Equal(t, store.RoleAdmin, k.Role)
	require.Equal(t, "ops laptop", k.Name)
	require.Equal(t, 0, b.count(t, "api_keys", "key_hash = $1", key), "the plaintext is never stored")

	got, err := b.store.LookupAPIKey(b.ctx, key)
	require.NoError(t, err)
	require.Equal(t, k.ID, got.ID)
	require.Equal(t, k.TenantID, got.TenantID)
	require.Equal(t, k.Role, got.Role)
	require.True(t, got.CreatedAt.Equal(k.CreatedAt))

	other, _, err := b.store.CreateAPIKey(b.ctx, store.NewAPIKey{TenantID: "acme", Role: store.RoleMember, Name: ""})
	require.NoError(t, err)
	require.NotEqual(t, key, other)

	_, err = b.store.LookupAPIKey(b.ctx, "trp_unknown")
	require.ErrorIs(t, err, store.ErrNotFound)

	require.ErrorIs(t, b.store.RevokeAPIKey(b.ctx, "globex", k.ID), store.ErrNotFound, "another tenant's key")
	require.NoError(t, b.store.RevokeAPIKey(b.ctx, "acme", k.ID))
	require.NoError(t, b.store.RevokeAPIKey(b.ctx, "acme", k.ID), "revoking again")
	refused, err := b.store.LookupAPIKey(b.ctx, key)
	require.ErrorIs(t, err, store.ErrKeyRefused)
	require.ErrorContains(t, err, "revoked at")
	require.Equal(t, "acme", refused.TenantID, "a refused key tells its tenant")
	_, err = b.store.LookupAPIKey(b.ctx, other)
	require.NoError(t, err)
	require.ErrorIs(t, b.store.RevokeAPIKey(b.ctx, "acme", uuid.New()), store.ErrNotFound)

	_, _, err = b.store.CreateAPIKey(b.ctx, store.NewAPIKey{TenantID: "acme", Role: "owner", Name: ""})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, _, err = b.store.CreateAPIKey(b.ctx, store.NewAPIKey{TenantID: "", Role: store.RoleMember, Name: ""})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, _, err = b.store.CreateAPIKey(b.ctx, store.NewAPIKey{TenantID: "acme", Role: store.RoleReader, ExpiresAt: b.clock.Now().Add(-time.Second)})
	require.ErrorIs(t, err, store.ErrInvalid, "a key expiring in the past")
}

func TestAPIKeysExpireAndKeepTheirLastUse(t *testing.T) {
	b := setup(t)
	key, k, err := b.store.CreateAPIKey(b.ctx, store.NewAPIKey{TenantID: "acme", Role: store.RoleReader, Name: "dashboard", ExpiresAt: b.clock.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, store.RoleReader, k.Role)
	require.Nil(t, k.LastUsedAt)

	_, err = b.store.LookupAPIKey(b.ctx, key)
	require.NoError(t, err)
	first := b.clock.Now()
	b.clock.Advance(30 * time.Second)
	_, err = b.store.LookupAPIKey(b.ctx, key)
	require.NoError(t, err)
	keys, err := b.store.ListAPIKeys(b.ctx, "acme")
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.True(t, keys[0].LastUsedAt.Equal(first), "written at most once a minute")
	b.clock.Advance(time.Minute)
	_, err = b.store.LookupAPIKey(b.ctx, key)
	require.NoError(t, err)
	keys, err = b.store.ListAPIKeys(b.ctx, "acme")
	require.NoError(t, err)
	require.True(t, keys[0].LastUsedAt.Equal(b.clock.Now()))

	b.clock.Advance(time.Hour)
	_, err = b.store.LookupAPIKey(b.ctx, key)
	require.ErrorIs(t, err, store.ErrKeyRefused)
	require.ErrorContains(t, err, "expired at")
	others, err := b.store.ListAPIKeys(b.ctx, "globex")
	require.NoError(t, err)
	require.Empty(t, others)
}
