package store

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err says that Postgres could not be reached,
// went away or is shutting down, rather than that the request was wrong: the
// same request may succeed later. The API answers such errors with 503 and
// Retry-After.
func Unavailable(err error) bool {
	var connect *pgconn.ConnectError
	var pg *pgconn.PgError
	var netErr net.Error
	switch {
	case err == nil:
		return false
	case errors.As(err, &pg):
		// Class 08: connection exceptions; 57P01-57P03: the server is shutting
		// down, crashed, or is not yet accepting connections; 53300: too many
		// connections.
		return strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01" || pg.Code == "57P02" ||
			pg.Code == "57P03" || pg.Code == "53300"
	case errors.As(err, &connect), errors.As(err, &netErr), pgconn.Timeout(err):
		return true
	default:
		return errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF)
	}
}
