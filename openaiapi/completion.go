package openaiapi

import (
	"encoding/json"

	"github.com/troupe-dev/troupe/store"
)

// completion is what the answers to a chat completion request share.
type completion struct {
	id      string // the task's id
	model   string
	created int64
}

type usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

type choice struct {
	Index        int      `json:"index"`
	Message      *message `json:"message,omitempty"`
	Delta        *delta   `json:"delta,omitempty"`
	FinishReason *string  `json:"finish_reason"`
}

type delta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

// chatCompletion is a chat.completion object, or a chat.completion.chunk.
type chatCompletion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   *usage   `json:"usage,omitempty"`
}

// stop is the finish reason of every completion.
var stop = "stop"

// answer is the chat.completion of a completed task.
func (c completion) answer(t store.Task) chatCompletion {
	return chatCompletion{ID: c.id, Object: "chat.completion", Created: c.created, Model: c.model,
		Choices: []choice{{Message: &message{Role: "assistant", Content: outputText(t.Output)}, FinishReason: &stop}},
		Usage:   usageOf(t)}
}

// chunk is a chat.completion.chunk with one choice, or none.
func (c completion) chunk(choices ...choice) chatCompletion {
	return chatCompletion{ID: c.id, Object: "chat.completion.chunk", Created: c.created, Model: c.model, Choices: choices}
}

func usageOf(t store.Task) *usage {
	return &usage{PromptTokens: t.InputTokens, CompletionTokens: t.OutputTokens, TotalTokens: t.InputTokens + t.OutputTokens}
}

// outputText is the text of a task's output: the text of {"text": "..."}
// (an agent without an output schema), else the output's JSON.
func outputText(output json.RawMessage) string {
	var o map[string]json.RawMessage
	if json.Unmarshal(output, &o) == nil && len(o) == 1 {
		var text string
		if raw, ok := o["text"]; ok && json.Unmarshal(raw, &text) == nil {
			return text
		}
	}
	return string(output)
}
