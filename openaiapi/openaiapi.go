// Package openaiapi is troupe's OpenAI-compatible front door: GET /v1/models
// lists the agents and workflows a caller may run, and POST
// /v1/chat/completions runs one as a task, so that OpenAI SDKs and chat
// front ends (Open WebUI, LibreChat) can use troupe. The routes are plain
// handlers on the API's router, behind the API's authentication; they answer
// errors in OpenAI's shape.
package openaiapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/troupe-dev/troupe/api"
)

// Handler serves the OpenAI-compatible routes for an API server.
type Handler struct {
	api *api.Server
	// Events follows a task's events, so that a streamed completion sends
	// the answer as it is written (New sets the API's, its hub); nil sends
	// it whole at the end.
	Events Events
	// poll is how often a completion reads its task until it ends.
	poll time.Duration
	// keepAlive is how long a streamed completion may stay silent.
	keepAlive time.Duration
}

// New returns the OpenAI-compatible routes of s, following task events
// with s.Events.
func New(s *api.Server) *Handler {
	h := &Handler{api: s, poll: 200 * time.Millisecond, keepAlive: keepAliveEvery}
	if s.Events != nil {
		h.Events = s.Events
	}
	return h
}

// Routes adds the routes to r (set it as api.Server.Mount).
func (h *Handler) Routes(r chi.Router) {
	r.Get("/v1/models", h.listModels)
	r.Post("/v1/chat/completions", h.chatCompletions)
}

// model is a model of GET /v1/models: an agent or workflow.
type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// workflowPrefix is the prefix of the model ids, as of the task types, of
// workflows.
const workflowPrefix = "workflow:"

// modelIDs lists the ids of every agent and workflow of the catalog,
// sorted: the agent's name, workflow:<name> for a workflow.
func (h *Handler) modelIDs() []string {
	var ids []string
	for name := range h.api.Catalog.Agents {
		ids = append(ids, name)
	}
	for name := range h.api.Catalog.Workflows {
		ids = append(ids, workflowPrefix+name)
	}
	slices.Sort(ids)
	return ids
}

func (h *Handler) listModels(w http.ResponseWriter, r *http.Request) {
	if _, err := h.api.Authenticate(r.Context(), r.Header.Get("Authorization"), "openai.listModels", false); err != nil {
		writeError(w, err)
		return
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, id := range h.modelIDs() {
		list.Data = append(list.Data, model{ID: id, Object: "model", OwnedBy: "troupe"})
	}
	writeJSON(w, http.StatusOK, list)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
