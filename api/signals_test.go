package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/troupe-dev/troupe/store"
)

// signals returns the name and payload of each signal the workflow received, in order.
func (b *bundle) signals(t *testing.T, workflowID string) (names []string, payloads []map[string]any) {
	t.Helper()
	it := b.temporal.GetWorkflowHistory(context.Background(), workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		if attrs := e.GetWorkflowExecutionSignaledEventAttributes(); attrs != nil {
			var payload map[string]any
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(attrs.Input, &payload))
			names = append(names, attrs.SignalName)
			payloads = append(payloads, payload)
		}
	}
	return names, payloads
}

// auditRows returns the audit rows of eventType about the task.
func (b *bundle) auditRows(t *testing.T, taskID, eventType string) []store.Audit {
	t.Helper()
	rows, _, err := b.store.ListAudit(context.Background(), store.AuditFilter{TenantID: DefaultTenant, ResourceID: taskID, EventType: eventType})
	require.NoError(t, err)
	return rows
}

// approvalTask submits a task whose workflow waits for the signal publish_ok. No worker
// runs it: its history still records the signals it receives, and the event its approval
// step would write is written here.
func (b *bundle) approvalTask(t *testing.T) Task {
	t.Helper()
	created := b.api.Post("/v1/tasks", map[string]any{"type": "workflow:approval_publish", "input": map[string]any{"brief": "x"}})
	require.Equal(t, http.StatusCreated, created.Code, created.Body.String())
	task := decode[Task](t, created.Body.String())
	require.NoError(t, b.store.AppendEvent(context.Background(), uuid.MustParse(task.ID), "approval_waiting", "approval_waiting:publish",
		map[string]any{"step": "publish", "signal": "publish_ok", "message": "Publish?"}))
	return task
}

func TestSignalTheTaskDoesNotWaitForIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	task := b.approvalTask(t)

	got := decode[Task](t, b.api.Get("/v1/tasks/"+task.ID).Body.String())
	require.Len(t, got.Waiting, 1, "the task shows what it waits for")
	require.Equal(t, "publish_ok", got.Waiting[0].Signal)
	require.Equal(t, "Publish?", got.Waiting[0].Message)
	require.Contains(t, got.Waiting[0].Answer, "/signals/publish_ok")

	resp := b.api.Post("/v1/tasks/"+task.ID+"/signals/publish_okay", map[string]any{"approved": true})
	require.Equal(t, http.StatusUnprocessableEntity, resp.Code, resp.Body.String())
	require.Contains(t, resp.Body.String(), "it waits for: publish_ok")
	names, _ := b.signals(t, task.WorkflowID)
	require.Empty(t, names, "nothing was sent")
	require.Empty(t, b.auditRows(t, task.ID, "task_signaled"))
}

func TestSignalRefusesTextThatCannotBeStored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	task := b.approvalTask(t)
	for name, body := range map[string]any{
		"NUL escape":    map[string]any{"approved": true, "comment": "ship\u0000it"},
		"NUL in a key":  strings.NewReader(`{"approved": true, "a\u0000": 1}`),
		"invalid UTF-8": strings.NewReader("{\"approved\": true, \"comment\": \"\xff\"}"),
	} {
		resp := b.api.Post("/v1/tasks/"+task.ID+"/signals/publish_ok", body)
		require.Equal(t, http.StatusUnprocessableEntity, resp.Code, name+": "+resp.Body.String())
		require.Contains(t, resp.Body.String(), "UTF-8 without NUL", name)
	}
	require.Empty(t, b.auditRows(t, task.ID, "task_signaled"), "nothing is audited")
	names, _ := b.signals(t, task.WorkflowID)
	require.Empty(t, names, "nothing is sent")

	// An escaped backslash followed by u0000 is text, not a NUL.
	ok := b.api.Post("/v1/tasks/"+task.ID+"/signals/publish_ok", strings.NewReader(`{"approved": true, "comment": "C:\\u0000"}`))
	require.Equal(t, http.StatusAccepted, ok.Code, ok.Body.String())
}

func TestSignalIsByTheAuthenticatedCaller(t *testing.T) {
	t.Parallel()
	b := setup(t)
	task := b.approvalTask(t)
	resp := b.api.Post("/v1/tasks/"+task.ID+"/signals/publish_ok", map[string]any{"approved": true, "by": "mallory", "comment": "ok"})
	require.Equal(t, http.StatusAccepted, resp.Code, resp.Body.String())

	names, payloads := b.signals(t, task.WorkflowID)
	require.Equal(t, []string{"publish_ok"}, names)
	require.Equal(t, "anonymous", payloads[0]["by"], "a client-supplied by is replaced")
	require.Equal(t, "ok", payloads[0]["comment"])
	audit := b.auditRows(t, task.ID, "task_signaled")
	require.Len(t, audit, 1)
	require.Equal(t, "anonymous", audit[0].Actor)
	var meta struct {
		Payload map[string]any `json:"payload"`
	}
	require.NoError(t, json.Unmarshal(audit[0].Metadata, &meta))
	require.Equal(t, "anonymous", meta.Payload["by"])
}

// refuseAudits makes every insert into audit_logs fail in the test's database.
func (b *bundle) refuseAudits(t *testing.T) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), b.dbURL)
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(t.Context()))
	_, err = conn.Exec(t.Context(), `
		CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit refused by the test'; END $$;
		CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_logs FOR EACH ROW EXECUTE FUNCTION refuse_audit();`)
	require.NoError(t, err)
}

func TestNothingReachesAWorkflowWithoutItsAuditRow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	task := b.approvalTask(t)
	b.refuseAudits(t)

	signal := b.api.Post("/v1/tasks/"+task.ID+"/signals/publish_ok", map[string]any{"approved": true})
	require.Equal(t, http.StatusInternalServerError, signal.Code, signal.Body.String())
	names, _ := b.signals(t, task.WorkflowID)
	require.Empty(t, names)

	cancel := b.api.Post("/v1/tasks/" + task.ID + "/cancel")
	require.Equal(t, http.StatusInternalServerError, cancel.Code, cancel.Body.String())
	it := b.temporal.GetWorkflowHistory(context.Background(), task.WorkflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		require.NotEqual(t, enums.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED, e.EventType, "cancel was not sent")
	}
}

func TestUndeliveredActionIsAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	task := b.approvalTask(t)
	require.NoError(t, b.temporal.TerminateWorkflow(context.Background(), task.WorkflowID, "", "gone"))
	// The store still says pending: the workflow ended outside troupe and nothing read it yet.
	resp := b.api.Post("/v1/tasks/"+task.ID+"/signals/publish_ok", map[string]any{"approved": true})
	require.Equal(t, http.StatusConflict, resp.Code, resp.Body.String())
	require.Len(t, b.auditRows(t, task.ID, "task_signaled"), 1, "the request is audited first")
	failed := b.auditRows(t, task.ID, "task_signaled_failed")
	require.Len(t, failed, 1)
	require.Contains(t, string(failed[0].Metadata), "not running")

	missing := b.api.Post("/v1/tasks/"+uuid.NewString()+"/signals/publish_ok", map[string]any{"approved": true})
	require.Equal(t, http.StatusNotFound, missing.Code)
}
