package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestIdempotencyKeyIsBoundToItsRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key := "Idempotency-Key: " + uuid.NewString()
	first := b.api.Post("/v1/tasks", key, strings.NewReader(`{"type": "summarize", "input": {"text": "once", "n": 1}}`))
	require.Equal(t, http.StatusCreated, first.Code, first.Body.String())
	task := decode[Task](t, first.Body.String())

	// The same request, keys in another order and spaced otherwise: the same task.
	again := b.api.Post("/v1/tasks", key, strings.NewReader(`{"input":{"n":1,"text":"once"},"type":"summarize"}`))
	require.Equal(t, http.StatusOK, again.Code, again.Body.String())
	require.Equal(t, task.ID, decode[Task](t, again.Body.String()).ID)

	// Another request with the key: refused, and no second task.
	other := b.api.Post("/v1/tasks", key, strings.NewReader(`{"type": "summarize", "input": {"text": "twice", "n": 1}}`))
	require.Equal(t, http.StatusUnprocessableEntity, other.Code, other.Body.String())
	require.Equal(t, "application/problem+json", other.Header().Get("Content-Type"))
	require.Contains(t, other.Body.String(), "was used for another request")
	require.Equal(t, 1, b.countTasks(t))
}
