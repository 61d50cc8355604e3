package workflows

import (
	"github.com/google/uuid"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/llm"
)

// conversation is an agent's conversation: the messages are held here, in
// the workflow's memory, and kept in Postgres, so that an LLM call passes a
// reference to them instead of the whole conversation. History then grows
// with each message once, not with the conversation at every turn.
type conversation struct {
	taskID uuid.UUID
	key    string
	msgs   []llm.Message
}

// append stores msgs after the messages already there.
func (c *conversation) append(ctx workflow.Context, msgs ...llm.Message) error {
	var a *activities.Activities
	in := activities.AppendInput{TaskID: c.taskID, Conversation: c.ref(), Messages: msgs}
	if err := workflow.ExecuteLocalActivity(storeOptions(ctx), a.AppendMessages, in).Get(ctx, nil); err != nil {
		return err
	}
	c.msgs = append(c.msgs, msgs...)
	return nil
}

// ref names the conversation as it is now.
func (c *conversation) ref() activities.Conversation {
	return activities.Conversation{Key: c.key, Len: len(c.msgs)}
}
