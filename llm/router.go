package llm

import (
	"cmp"
	"context"
	"fmt"
)

// MockModel is the model name served by the offline Mock.
const MockModel = "mock"

// Router picks the provider by model name: MockModel goes to the Mock,
// anything else to the OpenAI-compatible client.
type Router struct {
	openai *OpenAI
	mock   *Mock
}

// NewRouter returns a Router. openai may be nil when no OPENAI_API_KEY is
// configured: then only MockModel can be used. A nil mock means NewMock().
func NewRouter(openai *OpenAI, mock *Mock) *Router {
	return &Router{openai: openai, mock: cmp.Or(mock, NewMock())}
}

// Provider names the provider that serves model: "mock" or "openai".
func (r *Router) Provider(model string) string {
	if model == MockModel {
		return providerMock
	}
	return providerOpenAI
}

// ChatStream sends req to the provider of req.Model, streaming the content
// to onDelta. Without an OpenAI client, a model other than MockModel fails
// with a non-retryable *Error.
func (r *Router) ChatStream(ctx context.Context, req Request, onDelta DeltaFunc) (Response, error) {
	if req.Model == MockModel {
		return r.mock.ChatStream(ctx, req, onDelta)
	}
	if r.openai == nil {
		return Response{}, notConfigured(req.Model)
	}
	return r.openai.ChatStream(ctx, req, onDelta)
}

// notConfigured is the error of a model other than MockModel without an
// OpenAI client.
func notConfigured(model string) *Error {
	return newError(0, codeNotConfigured, fmt.Sprintf(
		"model %q needs an OpenAI-compatible provider, but OPENAI_API_KEY is not set (set it, with OPENAI_BASE_URL for OpenRouter, Ollama or vLLM, or use model %q)",
		model, MockModel), 0, nil)
}
