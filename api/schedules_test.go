package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/workflows"
)

func TestCreateScheduleRefusesBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	base := func(extra map[string]any) map[string]any {
		body := map[string]any{"id": "s-" + uuid.NewString(), "type": "summarize", "input": map[string]any{"text": "x"}}
		for k, v := range extra {
			body[k] = v
		}
		return body
	}
	for name, tc := range map[string]struct {
		body map[string]any
		want string
	}{
		"bad cron":           {base(map[string]any{"cron": []string{"61 * * * *"}}), "timetable is not valid"},
		"bad time zone":      {base(map[string]any{"cron": []string{"0 6 * * *"}, "time_zone": "Mars/Olympus"}), "not an IANA time zone"},
		"cron and every":     {base(map[string]any{"cron": []string{"0 6 * * *"}, "every": "1h"}), "either cron or every"},
		"no timetable":       {base(nil), "needs a timetable"},
		"interval too short": {base(map[string]any{"every": "500ms"}), "1s or more"},
		"offset past every":  {base(map[string]any{"every": "1h", "offset": "2h"}), "less than every"},
		"unknown type":       {base(map[string]any{"every": "1h", "type": "nope"}), "unknown task type"},
		"bad input":          {base(map[string]any{"every": "1h", "input": map[string]any{}}), "input schema"},
		"bad timeout":        {base(map[string]any{"every": "1h", "timeout": "1ms"}), "timeout"},
		"bad overlap":        {base(map[string]any{"every": "1h", "overlap": "sometimes"}), "overlap"},
		"bad id":             {base(map[string]any{"every": "1h", "id": "a/b"}), "id"},
	} {
		resp := b.api.Post("/v1/schedules", tc.body)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Code, "%s: %s", name, resp.Body.String())
		require.Contains(t, resp.Body.String(), tc.want, name)
		_, err := b.temporal.ScheduleClient().GetHandle(context.Background(), scheduleID(DefaultTenant, tc.body["id"].(string))).Describe(context.Background())
		require.Error(t, err, "%s: no schedule was created", name)
	}
}

func TestScheduleLifecycleIsTenantScoped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tenant := "acme-" + uuid.NewString()
	acme, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: tenant, Role: "member", Name: "ci"})
	require.NoError(t, err)
	globex, _, err := b.store.CreateAPIKey(ctx, store.NewAPIKey{TenantID: "globex-" + uuid.NewString(), Role: "member", Name: "ci"})
	require.NoError(t, err)
	asAcme, asGlobex := "Authorization: Bearer "+acme, "Authorization: Bearer "+globex

	resp := b.api.Post("/v1/schedules", asAcme, map[string]any{
		"id": "nightly", "type": "summarize", "input": map[string]any{"text": "x"},
		"cron": []string{"0 6 * * 1-5"}, "time_zone": "Europe/Paris", "jitter": "30s", "paused": true, "note": "not yet",
	})
	require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	created := decode[Schedule](t, resp.Body.String())
	require.Equal(t, "nightly", created.ID)
	require.Equal(t, "mock", created.Model, "the model is resolved at creation")
	require.Equal(t, "skip", created.Overlap)
	require.Equal(t, []string{"0 6 * * 1-5"}, created.Cron)
	require.True(t, created.Paused)
	require.Equal(t, "not yet", created.Note)
	require.Equal(t, "/v1/schedules/nightly", resp.Header().Get("Location"))

	d, err := b.temporal.ScheduleClient().GetHandle(ctx, "troupe/"+tenant+"/nightly").Describe(ctx)
	require.NoError(t, err)
	action := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	require.Equal(t, "ScheduledTaskWorkflow", action.Workflow)
	require.Equal(t, b.server.TaskQueue, action.TaskQueue)
	require.Equal(t, "Europe/Paris", d.Schedule.Spec.TimeZoneName)
	require.Equal(t, 30*time.Second, d.Schedule.Spec.Jitter)

	again := b.api.Post("/v1/schedules", asAcme, map[string]any{"id": "nightly", "type": "summarize", "input": map[string]any{"text": "x"}, "every": "1h"})
	require.Equal(t, http.StatusConflict, again.Code, again.Body.String())

	for _, path := range []string{"/pause", "/resume", "/trigger"} {
		resp := b.api.Post("/v1/schedules/nightly"+path, asGlobex)
		require.Equal(t, http.StatusNotFound, resp.Code, "another tenant cannot %s it: %s", path, resp.Body.String())
	}
	require.Equal(t, http.StatusNotFound, b.api.Get("/v1/schedules/nightly", asGlobex).Code)
	require.Equal(t, http.StatusNotFound, b.api.Delete("/v1/schedules/nightly", asGlobex).Code)
	require.Equal(t, http.StatusNotFound, b.api.Get("/v1/schedules/nightly").Code, "nor the default tenant")

	resumed := b.api.Post("/v1/schedules/nightly/resume", asAcme)
	require.Equal(t, http.StatusOK, resumed.Code, resumed.Body.String())
	got := decode[Schedule](t, resumed.Body.String())
	require.False(t, got.Paused)
	require.NotEmpty(t, got.NextRuns, "a running schedule says when it runs next")

	require.Eventually(t, func() bool {
		list := decode[struct{ Items []Schedule }](t, b.api.Get("/v1/schedules", asAcme).Body.String()).Items
		return len(list) == 1 && list[0].ID == "nightly" && list[0].Type == "summarize"
	}, 10*time.Second, 100*time.Millisecond, "the tenant lists its schedule")
	require.Empty(t, decode[struct{ Items []Schedule }](t, b.api.Get("/v1/schedules", asGlobex).Body.String()).Items, "another tenant lists none")

	require.Equal(t, http.StatusNoContent, b.api.Delete("/v1/schedules/nightly", asAcme).Code)
	require.Equal(t, http.StatusNotFound, b.api.Get("/v1/schedules/nightly", asAcme).Code)

	rows, _, err := b.store.ListAudit(ctx, store.AuditFilter{TenantID: tenant, ResourceID: "nightly"})
	require.NoError(t, err)
	var kinds []string
	for _, r := range rows {
		kinds = append(kinds, r.EventType)
		require.Equal(t, "schedule", r.ResourceType)
	}
	require.ElementsMatch(t, []string{"schedule_created", "schedule_resume", "schedule_delete"}, kinds)
}

func TestScheduledTaskIDIsStablePerRun(t *testing.T) {
	t.Parallel()
	require.Equal(t, workflows.ScheduledTaskID("run-1"), workflows.ScheduledTaskID("run-1"))
	require.NotEqual(t, workflows.ScheduledTaskID("run-1"), workflows.ScheduledTaskID("run-2"))
}

func TestListTasksOfASchedule(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, meta := range []map[string]string{{"schedule_id": "nightly"}, {"schedule_id": "hourly"}, nil} {
		resp := b.api.Post("/v1/tasks", map[string]any{"type": "summarize", "input": map[string]any{"text": "x"}, "metadata": meta})
		require.Equal(t, http.StatusCreated, resp.Code, resp.Body.String())
	}
	list := decode[struct{ Items []Task }](t, b.api.Get("/v1/tasks?schedule_id=nightly").Body.String()).Items
	require.Len(t, list, 1)
	require.JSONEq(t, `{"schedule_id": "nightly"}`, string(list[0].Metadata))
}
