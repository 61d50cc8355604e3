package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

const insertBlob = `
INSERT INTO blobs (ref, task_id, data, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (ref) DO UPDATE SET task_id = EXCLUDED.task_id`

// PutBlob stores a JSON value too large for Temporal history and returns its ref, the sha256
// hex of data. Storing the same content again keeps one copy, its time the first store; taskID
// records the last task that stored it, so that retention keeps the blob while that task needs it.
func (s *Store) PutBlob(ctx context.Context, taskID uuid.UUID, data json.RawMessage) (string, error) {
	if len(data) == 0 {
		return "", fmt.Errorf("%w: empty blob", ErrInvalid)
	}
	sum := sha256.Sum256(data)
	ref := hex.EncodeToString(sum[:])
	if _, err := s.pool.Exec(ctx, insertBlob, ref, taskID, []byte(data), s.now()); err != nil {
		return "", fmt.Errorf("insert blob: %w", err)
	}
	return ref, nil
}

// GetBlob returns the JSON value stored under ref (equal as JSON to what was stored; Postgres
// jsonb does not keep its formatting), or ErrNotFound.
func (s *Store) GetBlob(ctx context.Context, ref string) (json.RawMessage, error) {
	var data json.RawMessage
	err := s.pool.QueryRow(ctx, `SELECT data FROM blobs WHERE ref = $1`, ref).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("blob %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("select blob: %w", err)
	}
	return data, nil
}
