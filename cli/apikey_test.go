package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

func TestAPIKeyCreateListRevoke(t *testing.T) {
	t.Parallel()
	url := storetest.NewDB(t)
	apikey := func(args ...string) (string, error) {
		var out bytes.Buffer
		env := map[string]string{"DATABASE_URL": url}
		err := Run(context.Background(), append([]string{"apikey"}, args...), func(k string) string { return env[k] }, &out, &out)
		return out.String(), err
	}
	key, err := apikey("create", "acme", "--role", "reader", "--name", "dashboard", "--expires", "24h")
	require.NoError(t, err)
	key = strings.TrimSpace(key)
	require.True(t, strings.HasPrefix(key, "trp_"))
	_, err = apikey("create", "acme", "--role", "owner")
	require.ErrorContains(t, err, "unknown role")

	pool, err := store.Connect(t.Context(), url)
	require.NoError(t, err)
	defer pool.Close()
	_, err = store.New(pool).LookupAPIKey(t.Context(), key)
	require.NoError(t, err)

	list, err := apikey("list", "acme")
	require.NoError(t, err)
	// created, expires and last used (the lookup above) are all set
	require.Regexp(t, `reader\s+dashboard\s+\S+Z\s+\S+Z\s+\S+Z\s+active`, list)
	id := regexp.MustCompile(`(?m)^([0-9a-f-]{36})\s`).FindStringSubmatch(list)[1]

	out, err := apikey("revoke", "acme", id)
	require.NoError(t, err, out)
	list, err = apikey("list", "acme")
	require.NoError(t, err)
	require.Contains(t, list, "revoked ")
	_, err = store.New(pool).LookupAPIKey(t.Context(), key)
	require.ErrorIs(t, err, store.ErrKeyRefused)
	_, err = apikey("revoke", "globex", id)
	require.ErrorIs(t, err, store.ErrNotFound, "another tenant's key")
	_, err = apikey("revoke", "acme", "nope")
	require.ErrorContains(t, err, "is not a key id")
}
