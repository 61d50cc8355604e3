package api

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/store"
)

// Every answer of every operation is one its OpenAPI description declares:
// a task is submitted and its submission replayed (201, then 200), and each
// operation is called anonymously, with a member and a reader key, on an
// unknown task, with a malformed and with too large a body, without a key
// where keys are required and with Postgres unreachable; the status it
// answers must be among its responses. Only the probes need no key, and the served document
// names the server it was configured with.
func TestOperationsAnswerAsDeclared(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.server.PublicURL = "https://troupe.example.com"
	srv := serveReal(t, b)
	member, _, err := b.store.CreateAPIKey(t.Context(), store.NewAPIKey{TenantID: DefaultTenant, Role: store.RoleMember, Name: "member"})
	require.NoError(t, err)
	reader, _, err := b.store.CreateAPIKey(t.Context(), store.NewAPIKey{TenantID: DefaultTenant, Role: store.RoleReader, Name: "reader"})
	require.NoError(t, err)

	resp, err := srv.Client().Get(srv.URL + "/openapi.json")
	require.NoError(t, err)
	var served struct {
		Servers    []huma.Server
		Security   []map[string][]string
		Components struct {
			SecuritySchemes map[string]huma.SecurityScheme
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&served))
	resp.Body.Close()
	require.Equal(t, []huma.Server{{URL: "https://troupe.example.com"}}, served.Servers)
	require.Equal(t, []map[string][]string{{"bearer": {}}}, served.Security, "every operation needs a key unless it says otherwise")
	require.Equal(t, huma.SecurityScheme{Type: "http", Scheme: "bearer", Description: served.Components.SecuritySchemes["bearer"].Description},
		served.Components.SecuritySchemes["bearer"])

	doc := b.api.OpenAPI()
	ops := append(operations(t, b), doc.Paths["/healthz"].Get, doc.Paths["/readyz"].Get)
	for _, op := range ops {
		if strings.HasPrefix(op.Path, "/v1/") {
			require.Nil(t, op.Security, "%s needs the key of the document's security", op.OperationID)
		} else {
			require.Equal(t, []map[string][]string{}, op.Security, "%s is a probe anyone may call", op.OperationID)
		}
	}

	unknown := uuid.NewString()
	// call sends op a request and checks that its answer is declared.
	call := func(op *huma.Operation, what string, header http.Header, body string) int {
		t.Helper()
		url := srv.URL + strings.NewReplacer("{id}", unknown, "{name}", "approval", "{call_id}", "call-1").Replace(op.Path)
		var r io.Reader
		if op.RequestBody != nil { // as a client would: no body to an operation that takes none
			r = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(t.Context(), op.Method, url, r)
		require.NoError(t, err)
		req.Header = header.Clone()
		if req.Header == nil {
			req.Header = http.Header{}
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		require.NoError(t, err, "%s %s", op.OperationID, what)
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		declared := slices.Sorted(maps.Keys(op.Responses))
		require.Contains(t, declared, strconv.Itoa(resp.StatusCode), "%s %s answered %s, which its description does not declare: %s",
			op.OperationID, what, resp.Status, answer)
		return resp.StatusCode
	}

	withKey := http.Header{"Authorization": {"Bearer " + member}}
	create := doc.Paths["/v1/tasks"].Post
	submit := `{"type": "summarize", "input": {"text": "Durable execution."}}`
	once := http.Header{"Idempotency-Key": {"declared-" + unknown}}
	require.Equal(t, http.StatusCreated, call(create, "with a new Idempotency-Key", once, submit))
	require.Equal(t, http.StatusOK, call(create, "replayed with the same Idempotency-Key", once, submit))

	adminOnly := map[string]bool{"getCosts": true, "listAudit": true, "verifyAudit": true, "getStats": true, "listWorkers": true, "exportConversations": true, "getBudget": true}
	seen := map[int]bool{}
	for _, op := range ops {
		seen[call(op, "anonymously, on an unknown task", nil, "{}")] = true
		status := call(op, "with a member key, on an unknown task", withKey, "{}")
		if adminOnly[op.OperationID] {
			require.Equal(t, http.StatusForbidden, status, op.OperationID)
		}
		status = call(op, "with a reader key, on an unknown task", http.Header{"Authorization": {"Bearer " + reader}}, "{}")
		if !readOnly(op) {
			require.Equal(t, http.StatusForbidden, status, op.OperationID)
		}
		if op.RequestBody != nil {
			seen[call(op, "with malformed JSON", nil, `{"type": `)] = true
			require.Equal(t, http.StatusRequestEntityTooLarge, call(op, "with too large a body", nil, strings.Repeat(" ", 2<<20)), op.OperationID)
		}
	}
	require.Subset(t, slices.Collect(maps.Keys(seen)), []int{http.StatusOK, http.StatusNotFound, http.StatusBadRequest, http.StatusUnprocessableEntity})

	b.server.RequireAuth = true
	for _, op := range ops {
		status := call(op, "without a key where keys are required", nil, "{}")
		if strings.HasPrefix(op.Path, "/v1/") {
			require.Equal(t, http.StatusUnauthorized, status, op.OperationID)
		} else {
			require.Equal(t, http.StatusOK, status, op.OperationID)
		}
	}

	dead, err := pgxpool.New(t.Context(), "postgres://troupe:secret@127.0.0.1:1/troupe?sslmode=disable&connect_timeout=2")
	require.NoError(t, err) // connects lazily
	t.Cleanup(dead.Close)
	b.server.Store = store.New(dead)
	for _, op := range ops {
		status := call(op, "with Postgres down", withKey, "{}")
		if op.Path != "/healthz" {
			require.Equal(t, http.StatusServiceUnavailable, status, op.OperationID)
		}
	}
}
