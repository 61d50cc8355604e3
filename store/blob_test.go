package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestBlobs(t *testing.T) {
	b := setup(t)
	task := b.createTask(t, store.NewTask{})
	data := json.RawMessage(`{"text":"` + strings.Repeat("x", 300<<10) + `"}`)

	ref, err := b.store.PutBlob(b.ctx, task.ID, data)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	require.Equal(t, hex.EncodeToString(sum[:]), ref)

	again, err := b.store.PutBlob(b.ctx, task.ID, data)
	require.NoError(t, err)
	require.Equal(t, ref, again)
	require.Equal(t, 1, b.count(t, "blobs", "ref = $1", ref))

	got, err := b.store.GetBlob(b.ctx, ref)
	require.NoError(t, err)
	require.JSONEq(t, string(data), string(got))

	_, err = b.store.GetBlob(b.ctx, strings.Repeat("0", 64))
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.store.PutBlob(b.ctx, task.ID, nil)
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = b.store.PutBlob(b.ctx, task.ID, json.RawMessage(`{not json`))
	require.Error(t, err)
}
