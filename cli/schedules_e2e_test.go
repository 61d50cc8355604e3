package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
)

// scheduleJSON is the API's schedule as the tests read it.
type scheduleJSON struct {
	ID         string `json:"id"`
	Paused     bool   `json:"paused"`
	Actions    int    `json:"actions"`
	RecentRuns []struct {
		TaskID     string `json:"task_id"`
		WorkflowID string `json:"workflow_id"`
	} `json:"recent_runs"`
}

func TestSchedules(t *testing.T) {
	fake := llmtest.NewServer(t, func(_ int, req llm.Request) llmtest.Reply {
		if strings.Contains(req.Messages[len(req.Messages)-1].Content, "SLOW") {
			return llmtest.Reply{Content: "too late", Delay: time.Minute}
		}
		return llmtest.Reply{Content: "A short summary.", InputTokens: 10, OutputTokens: 4}
	})
	s := startDev(t, fake, nil)
	env := map[string]string{"TROUPE_API_URL": s.api}
	troupe := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		require.NoError(t, Run(context.Background(), args, func(k string) string { return env[k] }, &out, &out), out.String())
		return out.String()
	}
	// createdTask waits until the task of a run exists: the run creates it
	// once started.
	createdTask := func(id string) {
		t.Helper()
		require.Eventually(t, func() bool {
			return s.call(t, http.MethodGet, "/v1/tasks/"+id, nil, nil, nil) == http.StatusOK
		}, 10*time.Second, 100*time.Millisecond, "a run creates its task")
	}
	get := func() scheduleJSON {
		t.Helper()
		var sched scheduleJSON
		require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/schedules/tick", nil, nil, &sched))
		return sched
	}

	var created scheduleJSON
	out := troupe("schedules", "create", "--id", "tick", "--type", "summarize", "--input", `{"text": "tick tock"}`, "--every", "1s", "--paused", "--json")
	require.NoError(t, json.Unmarshal([]byte(out), &created), out)
	require.True(t, created.Paused)

	// A trigger starts one ordinary task, linked to its schedule.
	troupe("schedules", "trigger", "tick")
	var sched scheduleJSON
	require.Eventually(t, func() bool { sched = get(); return len(sched.RecentRuns) == 1 }, 10*time.Second, 100*time.Millisecond)
	taskID := sched.RecentRuns[0].TaskID
	createdTask(taskID)
	s.waitFor(t, taskID, "completed")
	var task struct {
		Type     string            `json:"type"`
		Metadata map[string]string `json:"metadata"`
		Output   json.RawMessage   `json:"output"`
	}
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+taskID, nil, nil, &task))
	require.Equal(t, "summarize", task.Type)
	require.Equal(t, map[string]string{"schedule_id": "tick"}, task.Metadata)
	require.JSONEq(t, `{"text": "A short summary."}`, string(task.Output))
	require.Contains(t, troupe("schedules", "show", "tick"), "task "+taskID, "show names the run's task")
	tc, err := client.Dial(client.Options{HostPort: s.temporal})
	require.NoError(t, err)
	defer tc.Close()
	require.NoError(t, tc.GetWorkflow(context.Background(), sched.RecentRuns[0].WorkflowID, "").Get(context.Background(), nil),
		"the run ends with its task")
	recordHistory(t, s.temporal, sched.RecentRuns[0].WorkflowID, "scheduled_task")

	// Resumed, it runs every second; paused, it stops.
	troupe("schedules", "resume", "tick")
	require.Eventually(t, func() bool { return get().Actions >= 3 }, 10*time.Second, 100*time.Millisecond, "runs every second")
	troupe("schedules", "pause", "tick")
	time.Sleep(500 * time.Millisecond) // a run due as the pause lands
	paused := get()
	require.True(t, paused.Paused)
	time.Sleep(2500 * time.Millisecond)
	require.Equal(t, paused.Actions, get().Actions, "a paused schedule starts nothing")
	for _, r := range get().RecentRuns {
		createdTask(r.TaskID)
		s.waitFor(t, r.TaskID, "completed")
	}
	var tasks struct {
		Items []taskJSON `json:"items"`
	}
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks?schedule_id=tick&limit=200", nil, nil, &tasks))
	require.Len(t, tasks.Items, paused.Actions, "one task per run, found by its schedule")
	require.Contains(t, troupe("tasks", "--schedule", "tick"), taskID)

	// Another tenant does not see it.
	other, _, err := s.store.CreateAPIKey(context.Background(), store.NewAPIKey{TenantID: "other", Role: "member", Name: "test"})
	require.NoError(t, err)
	asOther := map[string]string{"Authorization": "Bearer " + other}
	require.Equal(t, http.StatusNotFound, s.call(t, http.MethodGet, "/v1/schedules/tick", nil, asOther, nil))
	require.Equal(t, http.StatusNotFound, s.call(t, http.MethodPost, "/v1/schedules/tick/trigger", nil, asOther, nil))
	var list struct {
		Items []scheduleJSON `json:"items"`
	}
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/schedules", nil, asOther, &list))
	require.Empty(t, list.Items)
	require.Eventually(t, func() bool {
		var out bytes.Buffer
		return Run(context.Background(), []string{"schedules", "list"}, func(k string) string { return env[k] }, &out, &out) == nil &&
			bytes.Contains(out.Bytes(), []byte("tick")) && bytes.Contains(out.Bytes(), []byte("paused"))
	}, 10*time.Second, 200*time.Millisecond, "the owner lists it")

	troupe("schedules", "delete", "tick")
	require.Equal(t, http.StatusNotFound, s.call(t, http.MethodGet, "/v1/schedules/tick", nil, nil, nil))

	// With overlap cancel_other, a run due while the last task runs cancels it.
	troupe("schedules", "create", "--id", "slow", "--type", "summarize", "--input", `{"text": "SLOW"}`, "--every", "1h", "--overlap", "cancel_other", "--paused")
	runs := func(n int) []string {
		t.Helper()
		var ids []string
		require.Eventually(t, func() bool {
			var sched scheduleJSON
			require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/schedules/slow", nil, nil, &sched))
			ids = nil
			for _, r := range sched.RecentRuns {
				ids = append(ids, r.TaskID)
			}
			return len(ids) == n
		}, 10*time.Second, 100*time.Millisecond)
		return ids
	}
	troupe("schedules", "trigger", "slow")
	first := runs(1)[0]
	createdTask(first)
	s.waitFor(t, first, "running")
	troupe("schedules", "trigger", "slow")
	second := runs(2)[1]
	require.Equal(t, "canceled", s.waitFor(t, first, "canceled", "completed", "failed").Status)
	createdTask(second)
	s.waitFor(t, second, "running")
	require.Equal(t, http.StatusAccepted, s.call(t, http.MethodPost, "/v1/tasks/"+second+"/cancel", nil, nil, nil))
	s.waitFor(t, second, "canceled")
	troupe("schedules", "delete", "slow")
}
