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
	Role    string `json:"role"` // system | user | assistant
	Content string `json:"content"`
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
}

// Provider names reported in Response.Provider.
const (
	providerOpenAI = "openai"
	providerMock   = "mock"
)
