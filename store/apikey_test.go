package store_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestAPIKeys(t *testing.T) {
	b := setup(t)
	key, k, err := b.store.CreateAPIKey(b.ctx, "acme", store.RoleAdmin, "ops laptop")
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

	other, _, err := b.store.CreateAPIKey(b.ctx, "acme", store.RoleMember, "")
	require.NoError(t, err)
	require.NotEqual(t, key, other)

	_, err = b.store.LookupAPIKey(b.ctx, "trp_unknown")
	require.ErrorIs(t, err, store.ErrNotFound)

	require.ErrorIs(t, b.store.RevokeAPIKey(b.ctx, "globex", k.ID), store.ErrNotFound, "another tenant's key")
	require.NoError(t, b.store.RevokeAPIKey(b.ctx, "acme", k.ID))
	require.NoError(t, b.store.RevokeAPIKey(b.ctx, "acme", k.ID), "revoking again")
	_, err = b.store.LookupAPIKey(b.ctx, key)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.store.LookupAPIKey(b.ctx, other)
	require.NoError(t, err)
	require.ErrorIs(t, b.store.RevokeAPIKey(b.ctx, "acme", uuid.New()), store.ErrNotFound)

	_, _, err = b.store.CreateAPIKey(b.ctx, "acme", "owner", "")
	require.ErrorIs(t, err, store.ErrInvalid)
	_, _, err = b.store.CreateAPIKey(b.ctx, "", store.RoleMember, "")
	require.ErrorIs(t, err, store.ErrInvalid)
}
