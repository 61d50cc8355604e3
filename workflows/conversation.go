package workflows

import (
	"slices"

	"github.com/google/uuid"
	"go.temporal.io/sdk/workflow"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/llm"
)

// conversation is an agent's conversation: the messages are held here, in
// the workflow's memory, and kept in Postgres, so that an LLM call passes a
// reference to them instead of the whole conversation. History then grows
// with each message once, not with the conversation at every turn.
//
// The first messages are the exception: they are held back (hold), sent
// with the first call and stored with its answer, which takes a store write
// and a read off the way to the first token. They come from the step's
// input, already in history.
type conversation struct {
	taskID uuid.UUID
	key    string
	msgs   []llm.Message
	// stored is how many of msgs Postgres holds.
	stored int
}

// append stores msgs, after the messages held back if any, at the end of
// the conversation.
func (c *conversation) append(ctx workflow.Context, msgs ...llm.Message) error {
	var a *activities.Activities
	in := activities.AppendInput{TaskID: c.taskID, Conversation: c.ref(), Messages: append(c.unstored(), msgs...)}
	if err := workflow.ExecuteLocalActivity(storeOptions(ctx), a.AppendMessages, in).Get(ctx, nil); err != nil {
		return err
	}
	c.msgs = append(c.msgs, msgs...)
	c.stored = len(c.msgs)
	return nil
}

// hold adds msgs to the conversation without storing them: the next call
// carries them, and RecordLLMCall stores them with its answer (answered).
func (c *conversation) hold(msgs ...llm.Message) {
	c.msgs = append(c.msgs, msgs...)
}

// answered adds the answer RecordLLMCall stored, after the messages it
// stored with it.
func (c *conversation) answered(answer llm.Message) {
	c.msgs = append(c.msgs, answer)
	c.stored = len(c.msgs)
}

// ref names the stored part of the conversation.
func (c *conversation) ref() activities.Conversation {
	return activities.Conversation{Key: c.key, Len: c.stored}
}

// unstored returns the messages held back.
func (c *conversation) unstored() []llm.Message {
	return slices.Clone(c.msgs[c.stored:])
}
