package store

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// cursor is a keyset position in a list ordered by (time desc, id desc): the last row returned.
// It travels to clients as opaque base64url text.
type cursor struct {
	At time.Time
	ID string
}

func (c cursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.At.UTC().Format(time.RFC3339Nano) + " " + c.ID))
}

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("%w: %w", ErrInvalidCursor, err)
	}
	at, id, ok := strings.Cut(string(b), " ")
	if !ok || id == "" {
		return cursor{}, fmt.Errorf("%w: missing position", ErrInvalidCursor)
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return cursor{}, fmt.Errorf("%w: %w", ErrInvalidCursor, err)
	}
	return cursor{At: t, ID: id}, nil
}

// page trims rows, fetched with a limit of limit+1, to limit and returns the cursor of the
// next page: the position of the last row kept, or "" when there is no next page.
func page[T any](rows []T, limit int, position func(T) cursor) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, position(rows[limit-1]).encode()
}
