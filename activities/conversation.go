package activities

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/llm"
)

// Conversation names the messages of one agent conversation, kept in
// Postgres: the first Len messages of the task's conversation Key. The
// workflow passes this reference to CallLLM instead of the messages.
type Conversation struct {
	Key string `json:"key"`
	Len int    `json:"len"`
}

// AppendInput is the input of AppendMessages, run as a local activity: its
// messages stay out of workflow history.
type AppendInput struct {
	TaskID uuid.UUID `json:"task_id"`
	// Conversation is the conversation before the messages: they become
	// its messages Len, Len+1, ...
	Conversation Conversation  `json:"conversation"`
	Messages     []llm.Message `json:"messages"`
}

// AppendMessages stores messages of a conversation. A retry, or a replay,
// writes the same messages at the same places.
func (a *Activities) AppendMessages(ctx context.Context, in AppendInput) error {
	return a.appendMessages(ctx, in.TaskID, in.Conversation, in.Messages...)
}

func (a *Activities) appendMessages(ctx context.Context, taskID uuid.UUID, conv Conversation, msgs ...llm.Message) error {
	raw := make([]json.RawMessage, len(msgs))
	for i, m := range msgs {
		var err error
		if raw[i], err = json.Marshal(m); err != nil {
			return fmt.Errorf("encode message: %w", err)
		}
	}
	if err := a.Store.AppendMessages(ctx, taskID, conv.Key, conv.Len, raw); err != nil {
		return fmt.Errorf("store conversation %s: %w", conv.Key, err)
	}
	return nil
}

// conversation loads the messages a Conversation names.
func (a *Activities) conversation(ctx context.Context, taskID uuid.UUID, conv Conversation) ([]llm.Message, error) {
	if conv.Len == 0 {
		return nil, nil
	}
	raw, err := a.Store.Messages(ctx, taskID, conv.Key, conv.Len)
	if err != nil {
		return nil, fmt.Errorf("load conversation %s: %w", conv.Key, err)
	}
	msgs := make([]llm.Message, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &msgs[i]); err != nil {
			return nil, fmt.Errorf("decode message %d of conversation %s: %w", i, conv.Key, err)
		}
	}
	return msgs, nil
}
