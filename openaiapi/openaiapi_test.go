package openaiapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/definitions"
)

// serve sends a request to the routes of an API server with a catalog of
// the chat agent and the research_loop workflow, and decodes the answer.
func serve(t *testing.T, requireAuth bool, method, path, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	r := chi.NewRouter()
	New(&api.Server{RequireAuth: requireAuth, Catalog: &definitions.Catalog{
		Agents:    map[string]*definitions.Agent{"chat": {Name: "chat"}},
		Workflows: map[string]*definitions.Workflow{"research_loop": {Name: "research_loop"}},
	}}).Routes(r)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
	var out map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), w.Body.String())
	return w, out
}

func TestErrorsHaveOpenAIShape(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		requireAuth bool
		body        string
		status      int
		typ, code   any
		param       any
	}{
		"no key":        {true, `{}`, 401, "invalid_request_error", "invalid_api_key", nil},
		"not json":      {false, `{"model":`, 400, "invalid_request_error", nil, nil},
		"no model":      {false, `{"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", nil, "model"},
		"unknown model": {false, `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, 404, "invalid_request_error", "model_not_found", nil},
		"n":             {false, `{"model":"chat","n":2,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", nil, "n"},
		"tools":         {false, `{"model":"chat","tools":[{"type":"function"}],"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", nil, "tools"},
		"tool message":  {false, `{"model":"chat","messages":[{"role":"tool","content":"42"}]}`, 400, "invalid_request_error", nil, "messages[0].role"},
		"too large":     {false, `{"model":"chat","messages":[{"role":"user","content":"` + strings.Repeat("x", maxRequestBytes) + `"}]}`, 413, "invalid_request_error", nil, nil},
		"NUL":           {false, `{"model":"chat","messages":[{"role":"user","content":"a\u0000b"}]}`, 400, "invalid_request_error", nil, nil},
		"image part":    {false, `{"model":"chat","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, 400, "invalid_request_error", nil, "messages[0].content"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, out := serve(t, c.requireAuth, http.MethodPost, "/v1/chat/completions", c.body)
			require.Equal(t, c.status, w.Code, w.Body.String())
			require.Equal(t, "application/json", w.Header().Get("Content-Type"))
			e, ok := out["error"].(map[string]any)
			require.True(t, ok, "error object: %v", out)
			require.NotEmpty(t, e["message"])
			require.Equal(t, c.typ, e["type"])
			require.Equal(t, c.code, e["code"])
			require.Equal(t, c.param, e["param"])
			require.Contains(t, e, "param", "param is always there, null when none")
		})
	}
}

func TestModelsListAgentsAndWorkflows(t *testing.T) {
	t.Parallel()
	w, out := serve(t, false, http.MethodGet, "/v1/models", "")
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "list", out["object"])
	data := out["data"].([]any)
	require.Len(t, data, 2)
	require.Equal(t, map[string]any{"id": "chat", "object": "model", "created": 0.0, "owned_by": "troupe"}, data[0])
	require.Equal(t, "workflow:research_loop", data[1].(map[string]any)["id"])
}

func TestAPIProblemsBecomeOpenAIErrors(t *testing.T) {
	t.Parallel()
	unavailable := huma.ErrorWithHeaders(huma.Error503ServiceUnavailable("down"), http.Header{"Retry-After": {"5"}})
	w := httptest.NewRecorder()
	writeError(w, unavailable)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "5", w.Header().Get("Retry-After"))
	require.JSONEq(t, `{"error":{"message":"down","type":"server_error","param":null,"code":"service_unavailable"}}`, w.Body.String())

	e := openAIError(huma.Error422UnprocessableEntity("input does not match", &huma.ErrorDetail{Location: "body.input.text", Message: "expected string"}))
	require.Equal(t, http.StatusBadRequest, e.Status)
	require.Equal(t, "input does not match; body.input.text expected string", e.Message)
	require.Equal(t, http.StatusTooManyRequests, openAIError(huma.NewError(http.StatusTooManyRequests, "slow down")).Status)
	internal := openAIError(errors.New("pq: password leaked"))
	require.Equal(t, http.StatusInternalServerError, internal.Status)
	require.NotContains(t, internal.Message, "leaked", "internal errors stay in the logs")
}

func TestTaskInputAndOutputText(t *testing.T) {
	t.Parallel()
	conversation := []message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "hi"}}
	require.JSONEq(t, `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]}`, string(taskInput(conversation)))
	require.JSONEq(t, `{"topic":"durability"}`, string(taskInput([]message{{Role: "user", Content: `{"topic":"durability"}`}, {Role: "assistant", Content: "ok"}})),
		"the last user message, when a JSON object, is the input")
	require.Equal(t, "Hello.", outputText(json.RawMessage(`{"text":"Hello."}`)))
	require.Equal(t, `{"kind":"bug"}`, outputText(json.RawMessage(`{"kind":"bug"}`)))
	require.Equal(t, `{"text":"a","more":1}`, outputText(json.RawMessage(`{"text":"a","more":1}`)))
}
