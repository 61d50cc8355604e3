package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Conversation is one conversation of a task (an agent's messages: system,
// user, assistant, tool results), as exported.
type Conversation struct {
	Task Task
	// Name is the conversation's name within the task ("agent" for an agent
	// task; a step's key in a workflow).
	Name     string
	Messages []json.RawMessage
	// Cursor resumes an export after this conversation's task.
	Cursor string
}

// exportPage is how many tasks an export reads at a time.
const exportPage = 100

const selectConversations = `
SELECT task_id, conversation, jsonb_agg(message ORDER BY seq)
FROM messages WHERE task_id = ANY($1)
GROUP BY task_id, conversation ORDER BY task_id, conversation`

// ExportConversations calls fn with every conversation of the tasks f selects
// (its Limit is ignored), newest task first, a task's conversations by name.
// It reads a page of tasks at a time, so an export of any size holds one
// page in memory. An error of fn stops it and is returned.
func (s *Store) ExportConversations(ctx context.Context, f TaskFilter, fn func(Conversation) error) error {
	for {
		c, err := taskConditions(f)
		if err != nil {
			return err
		}
		tasks, err := s.selectTasks(ctx, c, exportPage)
		if err != nil {
			return fmt.Errorf("export conversations: %w", err)
		}
		if len(tasks) == 0 {
			return nil
		}
		ids := make([]uuid.UUID, len(tasks))
		for i, t := range tasks {
			ids[i] = t.ID
		}
		byTask := map[uuid.UUID][]Conversation{}
		rows, err := s.pool.Query(ctx, selectConversations, ids)
		if err != nil {
			return fmt.Errorf("export conversations: %w", err)
		}
		var conv Conversation
		_, err = pgx.ForEachRow(rows, []any{&conv.Task.ID, &conv.Name, &conv.Messages}, func() error {
			byTask[conv.Task.ID] = append(byTask[conv.Task.ID], conv)
			conv.Messages = nil // the next row decodes into a slice of its own
			return nil
		})
		if err != nil {
			return fmt.Errorf("export conversations: %w", err)
		}
		for _, t := range tasks {
			f.Cursor = taskPosition(t).encode()
			for _, c := range byTask[t.ID] {
				c.Task, c.Cursor = t, f.Cursor
				if err := fn(c); err != nil {
					return err
				}
			}
		}
		if len(tasks) < exportPage {
			return nil
		}
	}
}
