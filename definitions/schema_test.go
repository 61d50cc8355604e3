package definitions

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/examples"
)

func TestValidateInputNamesTheFieldAndRule(t *testing.T) {
	t.Parallel()
	cat, err := Load(examples.FS)
	require.NoError(t, err)
	summarize, chat := cat.Agents["summarize"], cat.Agents["chat"]

	require.NoError(t, summarize.ValidateInput(json.RawMessage(`{"text": "Durable execution."}`)))
	require.EqualError(t, summarize.ValidateInput(json.RawMessage(`{"txt": "x"}`)),
		"input does not match its schema: input: required: missing property 'text'")
	require.EqualError(t, summarize.ValidateInput(json.RawMessage(`{"text": ""}`)),
		"input does not match its schema: input.text: minLength: got 0, want 1")
	require.EqualError(t, summarize.ValidateInput(json.RawMessage(`"just text"`)),
		"input does not match its schema: input: type: got string, want object")
	require.EqualError(t, summarize.ValidateInput(nil), "input does not match its schema: input: type: got null, want object")
	require.ErrorContains(t, summarize.ValidateInput(json.RawMessage(`{"text": `)), "input is not valid JSON")

	require.NoError(t, chat.ValidateInput(json.RawMessage(`{"prompt": "hi"}`)))
	require.NoError(t, chat.ValidateInput(json.RawMessage(`{"messages": [{"role": "user", "content": "hi"}]}`)))
	require.EqualError(t, chat.ValidateInput(json.RawMessage(`{"messages": [{"role": "robot", "content": "hi"}]}`)),
		"input does not match its schema: input.messages[0].role: enum: value must be one of 'system', 'user', 'assistant'; input: required: missing property 'prompt'")

	require.NoError(t, cat.Agents["summarizer"].ValidateInput(json.RawMessage(`[1, 2]`)), "no schema accepts anything")
	require.NoError(t, cat.Workflows["research_loop"].ValidateInput(json.RawMessage(`{"topic": "otters"}`)))
	require.EqualError(t, cat.Workflows["research_loop"].ValidateInput(json.RawMessage(`{"topic": 7}`)),
		"input does not match its schema: input.topic: type: got number, want string")
}

func TestValidateOutput(t *testing.T) {
	t.Parallel()
	cat, err := Load(examples.FS)
	require.NoError(t, err)
	assessment := cat.Agents["assessment"]
	require.NoError(t, assessment.ValidateOutput(json.RawMessage(`{"approved": true, "feedback": "Fine."}`)))
	require.EqualError(t, assessment.ValidateOutput(json.RawMessage(`{"approved": "yes", "feedback": "Fine.", "extra": 1}`)),
		"output does not match its schema: output.approved: type: got string, want boolean; output: additionalProperties: additional properties 'extra' not allowed")
	require.NoError(t, cat.Agents["summarize"].ValidateOutput(json.RawMessage(`{"text": "anything"}`)), "no output schema")
}
