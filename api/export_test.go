package api

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

func TestExportConversations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	task := storedTask(t, b, DefaultTenant)
	require.NoError(t, b.store.AppendMessages(t.Context(), task.ID, "agent", 0, []json.RawMessage{
		json.RawMessage(`{"role":"system","content":"You look orders up."}`),
		json.RawMessage(`{"role":"user","content":"Where is order 7?"}`),
		json.RawMessage(`{"role":"assistant","content":"","tool_calls":[{"id":"c1","name":"lookup_order","arguments":"{\"id\":7}"}]}`),
		json.RawMessage(`{"role":"tool","content":"{\"status\":\"shipped\"}","tool_call_id":"c1"}`),
		json.RawMessage(`{"role":"assistant","content":"It has shipped."}`),
	}))
	foreign := storedTask(t, b, "globex")
	require.NoError(t, b.store.AppendMessages(t.Context(), foreign.ID, "agent", 0, []json.RawMessage{json.RawMessage(`{"role":"user","content":"secret"}`)}))

	srv := serveReal(t, b)
	resp := getStream(t, srv.URL+"/v1/export/conversations?type=summarize", "application/jsonl")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/jsonl", resp.Header.Get("Content-Type"))
	lines := bufio.NewScanner(resp.Body)
	require.True(t, lines.Scan())
	require.JSONEq(t, `[
		{"role":"system","content":"You look orders up."},
		{"role":"user","content":"Where is order 7?"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"lookup_order","arguments":"{\"id\":7}"}}]},
		{"role":"tool","content":"{\"status\":\"shipped\"}","tool_call_id":"c1"},
		{"role":"assistant","content":"It has shipped."}]`, jsonField(t, lines.Bytes(), "messages"))
	var line ExportLine
	require.NoError(t, json.Unmarshal(lines.Bytes(), &line))
	require.Equal(t, task.ID.String(), line.Metadata.TaskID)
	require.Equal(t, "agent", line.Metadata.Conversation)
	require.Equal(t, "mock", line.Metadata.Model)
	require.NotEmpty(t, line.Metadata.Cursor)
	require.False(t, lines.Scan(), "another tenant's conversation is not exported")
	_, _ = io.Copy(io.Discard, resp.Body)
	require.Equal(t, "complete", resp.Trailer.Get("Troupe-Export"))

	after := getStream(t, srv.URL+"/v1/export/conversations?cursor="+line.Metadata.Cursor, "application/jsonl")
	rest, err := io.ReadAll(after.Body)
	require.NoError(t, err)
	require.Empty(t, rest, "the cursor resumes after the last line's task")

	bad := b.api.Get("/v1/export/conversations?cursor=nope")
	require.Equal(t, http.StatusUnprocessableEntity, bad.Code, bad.Body.String())

	b.server.RequireAuth = true
	member, _, err := b.store.CreateAPIKey(t.Context(), store.NewAPIKey{TenantID: DefaultTenant, Role: "member", Name: "ci"})
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, b.api.Get("/v1/export/conversations", "Authorization: Bearer "+member).Code)
	admin, _, err := b.store.CreateAPIKey(t.Context(), store.NewAPIKey{TenantID: "globex", Role: store.RoleAdmin, Name: "ops"})
	require.NoError(t, err)
	theirs := b.api.Get("/v1/export/conversations", "Authorization: Bearer "+admin)
	require.Equal(t, http.StatusOK, theirs.Code)
	require.Contains(t, theirs.Body.String(), foreign.ID.String())
	require.NotContains(t, theirs.Body.String(), task.ID.String())
}

// jsonField returns the JSON text of field name of the object in data.
func jsonField(t *testing.T, data []byte, name string) string {
	t.Helper()
	var obj map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &obj))
	return string(obj[name])
}
