package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The messages of a conversation are numbered from 0 within their task and conversation.
// A workflow keeps only a reference (task, conversation, length) in its history and the
// activities read the messages from here.

const insertMessages = `
INSERT INTO messages (task_id, conversation, seq, message)
SELECT $1, $2, $3 + m.ord - 1, m.message FROM unnest($4::jsonb[]) WITH ORDINALITY AS m(message, ord)
ON CONFLICT (task_id, conversation, seq) DO UPDATE SET message = EXCLUDED.message`

const selectMessages = `
SELECT message FROM messages WHERE task_id = $1 AND conversation = $2 AND seq < $3 ORDER BY seq`

// AppendMessages stores msgs as the messages from, from+1, ... of the task's conversation.
// A message already stored at one of those places is replaced: a retried call writes the same
// messages, and a reset run of the workflow, which may be answered differently from the place
// it was reset to, replaces what the earlier run wrote there. Text
// the database cannot hold (NUL bytes, invalid UTF-8, JSON that does not parse) is stored
// cleaned. ErrNotFound for an unknown task.
func (s *Store) AppendMessages(ctx context.Context, taskID uuid.UUID, conversation string, from int, msgs []json.RawMessage) error {
	if conversation == "" || from < 0 {
		return fmt.Errorf("%w: messages need a conversation and a position from 0", ErrInvalid)
	}
	if len(msgs) == 0 {
		return nil
	}
	clean := make([]string, len(msgs))
	for i, m := range msgs {
		if len(m) == 0 {
			return fmt.Errorf("%w: message %d of conversation %s is empty", ErrInvalid, from+i, conversation)
		}
		clean[i] = string(cleanJSON(m))
	}
	_, err := s.pool.Exec(ctx, insertMessages, taskID, cleanText(conversation), from, clean)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("append messages: task %s: %w", taskID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("append messages: %w", err)
	}
	return nil
}

// Messages returns the first n messages of the task's conversation, in order. Fewer than n
// stored is an error wrapping ErrNotFound.
func (s *Store) Messages(ctx context.Context, taskID uuid.UUID, conversation string, n int) ([]json.RawMessage, error) {
	rows, err := s.pool.Query(ctx, selectMessages, taskID, cleanText(conversation), n)
	if err != nil {
		return nil, fmt.Errorf("select messages: %w", err)
	}
	msgs, err := pgx.CollectRows(rows, pgx.RowTo[json.RawMessage])
	if err != nil {
		return nil, fmt.Errorf("select messages: %w", err)
	}
	if len(msgs) < n {
		return nil, fmt.Errorf("conversation %s of task %s has %d messages, not %d: %w",
			conversation, taskID, len(msgs), n, ErrNotFound)
	}
	return msgs, nil
}
