package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

// A store whose server is gone answers errors that Unavailable recognises;
// a wrong request's errors are not.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: every connection is refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	pool, err := store.Connect(context.Background(), "postgres://postgres@"+addr+"/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		defer pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = store.New(pool).GetTask(ctx, "t", uuid.New())
	}
	require.Error(t, err)
	require.True(t, store.Unavailable(err), "refused connection: %v", err)
	require.True(t, store.Unavailable(fmt.Errorf("get task: %w", &pgconn.PgError{Code: "57P01"})), "admin shutdown")
	require.True(t, store.Unavailable(fmt.Errorf("get task: %w", pgconn.ErrConnClosed)))

	require.False(t, store.Unavailable(nil))
	require.False(t, store.Unavailable(store.ErrNotFound))
	require.False(t, store.Unavailable(&pgconn.PgError{Code: "23505"}), "a unique violation")
	require.False(t, store.Unavailable(errors.New("boom")))
}
