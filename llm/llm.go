// Package llm holds the chat completion providers troupe calls: any
// OpenAI-compatible endpoint (OpenAI, OpenRouter, Ollama, vLLM) and the
// offline mock model, plus pricing and the classification of provider errors.
//
// It has no Temporal dependency: the activity layer turns an *Error into a
// Temporal application error using Error.Kind and Error.Retryable.
package llm

import "encoding/json"

// Message is one chat message.
type Message struct {
	Role    string `json:"role"` // system | user | assistant | tool
	Content string `json:"content"`
	// ToolCalls are the calls an assistant message asks for.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID is, on a tool message, the id of the call it answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
}

// ToolCall is one function call a model asks for.
type ToolCall struct {
	// ID is the model's id of the call, echoed by the tool message that
	// answers it.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Arguments is the JSON text of the arguments, as the model wrote it
	// (it may be invalid JSON).
	Arguments string `json:"arguments"`
}

// ToolSpec is a tool offered to the model (OpenAI function calling).
type ToolSpec struct {
	// Name matches ^[a-zA-Z0-9_-]{1,64}$.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is the JSON Schema (an object) of the arguments.
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// Request is one chat completion request.
type Request struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature *float64  `json:"temperature,omitempty"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	// OutputSchema is a JSON Schema: when set, the model is asked for
	// structured JSON output (response_format json_schema, strict when the
	// schema allows it).
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
	// SchemaName names the output schema for the provider ("output" if empty).
	SchemaName string `json:"schema_name,omitempty"`
	// Tools are the tools the model may call.
	Tools []ToolSpec `json:"tools,omitempty"`
}

// Response is the answer to a Request.
type Response struct {
	Content      string `json:"content"`
	Model        string `json:"model"`    // model that answered (as reported)
	Provider     string `json:"provider"` // "openai" (any OpenAI-compatible endpoint) or "mock"
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	// ReportedCost is the cost in USD reported by the provider (OpenRouter's
	// usage.cost), nil if none.
	ReportedCost *float64 `json:"reported_cost,omitempty"`
	FinishReason string   `json:"finish_reason"`
	// ToolCalls are the calls the model asks for (FinishReason "tool_calls",
	// or "length" when their arguments may be cut).
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

// Provider names reported in Response.Provider.
const (
	providerOpenAI = "openai"
	providerMock   = "mock"
)
