package cli

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/api/apiclient"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
)

// The client that oapi-codegen generated from the OpenAPI document drives a
// task through `troupe dev` with API keys required: a submission with an
// Idempotency-Key answers 201, its replay 200 with the same task, the task
// is read until the mock model has completed it and found in the list, an
// unknown id is a 404 problem and no key a 401 one. Every answer is parsed
// into the type the document declares for its status.
func TestGeneratedClientDrivesATask(t *testing.T) {
	t.Parallel()
	fake := llmtest.NewServer(t, func(int, llm.Request) llmtest.Reply {
		t.Error("the mock model calls no provider")
		return llmtest.Reply{Status: http.StatusInternalServerError}
	})
	s := startDev(t, fake, map[string]string{"OPENAI_API_KEY": "", "TROUPE_DEFAULT_MODEL": "mock", "TROUPE_AUTH": "apikey"})
	ctx := t.Context()
	key, _, err := s.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "acme", Role: store.RoleMember, Name: "apiclient"})
	require.NoError(t, err)
	c, err := apiclient.NewClientWithResponses(s.api, apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	}))
	require.NoError(t, err)
	anonymous, err := apiclient.NewClientWithResponses(s.api)
	require.NoError(t, err)

	ready, err := anonymous.ReadyzWithResponse(ctx)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, ready.StatusCode(), "the probes need no key")
	refused, err := anonymous.ListTasksWithResponse(ctx, &apiclient.ListTasksParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, refused.StatusCode())
	require.NotNil(t, refused.ApplicationproblemJSON401)
	require.Contains(t, *refused.ApplicationproblemJSON401.Detail, "API key")

	idempotencyKey := "apiclient-" + uuid.NewString()
	params := &apiclient.CreateTaskParams{IdempotencyKey: &idempotencyKey}
	body := apiclient.CreateTaskJSONRequestBody{Type: "summarize", Input: map[string]any{"text": "Temporal makes code durable."}}
	created, err := c.CreateTaskWithResponse(ctx, params, body)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, created.StatusCode(), string(created.Body))
	require.NotNil(t, created.JSON201)
	task := *created.JSON201
	require.Equal(t, "mock", task.Model)
	require.Equal(t, "/v1/tasks/"+task.Id.String(), created.HTTPResponse.Header.Get("Location"))

	replayed, err := c.CreateTaskWithResponse(ctx, params, body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, replayed.StatusCode(), string(replayed.Body))
	require.NotNil(t, replayed.JSON200, "the replay parses as the declared 200")
	require.Equal(t, task.Id, replayed.JSON200.Id, "the replay answers the same task")

	deadline := time.Now().Add(time.Minute)
	for task.Status != apiclient.TaskStatusCompleted {
		require.Contains(t, []apiclient.TaskStatus{apiclient.TaskStatusPending, apiclient.TaskStatusRunning}, task.Status, "task %s: %v", task.Id, task.Error)
		require.True(t, time.Now().Before(deadline), "task %s still %s after a minute", task.Id, task.Status)
		time.Sleep(100 * time.Millisecond)
		got, err := c.GetTaskWithResponse(ctx, task.Id)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, got.StatusCode(), string(got.Body))
		task = *got.JSON200
	}
	output, ok := task.Output.(map[string]any)
	require.True(t, ok, "output %#v", task.Output)
	require.NotEmpty(t, output["text"])
	require.NotNil(t, task.FinishedAt)

	summaries := "summarize"
	list, err := c.ListTasksWithResponse(ctx, &apiclient.ListTasksParams{Type: &summaries})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, list.StatusCode(), string(list.Body))
	require.NotNil(t, list.JSON200.Items)
	items := *list.JSON200.Items
	require.Len(t, items, 1, "the replay started no second task")
	require.Equal(t, task.Id, items[0].Id)
	require.Equal(t, apiclient.TaskStatusCompleted, items[0].Status)

	missing, err := c.GetTaskWithResponse(ctx, uuid.New())
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, missing.StatusCode())
	require.NotNil(t, missing.ApplicationproblemJSON404, "the 404 parses as the declared problem")
	require.EqualValues(t, http.StatusNotFound, *missing.ApplicationproblemJSON404.Status)
	require.Contains(t, *missing.ApplicationproblemJSON404.Detail, "not found")
}
