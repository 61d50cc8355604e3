package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/danielgtaylor/huma/v2"

	"github.com/troupe-dev/troupe/store"
)

// DefaultTenant is the tenant of anonymous requests when auth is not required.
const DefaultTenant = "default"

// principal is who makes a request.
type principal struct {
	Tenant string
	Actor  string // "apikey:<id>" or "anonymous"
	Role   string
}

type principalKey struct{}

// authenticate is a Huma middleware running Authenticate on each operation:
// a reader's key may only read (see readOnly).
func (s *Server) authenticate(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		op := ctx.Operation()
		authed, err := s.Authenticate(ctx.Context(), ctx.Header("Authorization"), op.OperationID, !readOnly(op))
		if err != nil {
			writeProblem(api, ctx, err)
			return
		}
		next(huma.WithValue(ctx, principalKey{}, who(authed)))
	}
}

// Authenticate resolves a request's Authorization header (Bearer <key>) to
// its tenant and role, and returns ctx carrying them for the operations of
// the Server. Without a key, requests act for DefaultTenant unless auth is
// required. An unknown, revoked or expired key is a 401, a reader key for
// an operation that changes something a 403, a key that could not be checked
// a 503, a request past its key's or tenant's rate limit a 429 (each a
// huma.StatusError); each refusal of a key is audited (see
// auditRefusal), with operation as the operation it was refused.
func (s *Server) Authenticate(ctx context.Context, authorization, operation string, changes bool) (context.Context, error) {
	p := principal{Tenant: DefaultTenant, Actor: "anonymous", Role: store.RoleAdmin}
	key, hasKey := strings.CutPrefix(authorization, "Bearer ")
	switch {
	case hasKey:
		k, err := s.Store.LookupAPIKey(ctx, strings.TrimSpace(key))
		switch {
		case errors.Is(err, store.ErrNotFound):
			s.auditRefusal(ctx, operation, store.APIKey{}, "unknown key")
			return nil, huma.Error401Unauthorized("The API key is unknown.")
		case errors.Is(err, store.ErrKeyRefused):
			s.auditRefusal(ctx, operation, k, err.Error())
			return nil, huma.Error401Unauthorized("The API key is refused: " + strings.TrimPrefix(err.Error(), store.ErrKeyRefused.Error()+": ") + ".")
		case err != nil:
			s.Logger.ErrorContext(ctx, "look up api key", "error", err)
			return nil, unavailable("The API key could not be checked; try again shortly.")
		}
		p = principal{Tenant: k.TenantID, Actor: "apikey:" + k.ID.String(), Role: k.Role}
		if k.Role == store.RoleReader && changes {
			s.auditRefusal(ctx, operation, k, "a reader key may not "+operation)
			return nil, huma.Error403Forbidden("A reader key may only read; this needs a member or admin key.")
		}
	case s.RequireAuth:
		return nil, huma.Error401Unauthorized("Send an API key: Authorization: Bearer <key> (create one with `troupe apikey create`).")
	}
	if err := s.allowRequest(p); err != nil {
		return nil, err
	}
	return context.WithValue(ctx, principalKey{}, p), nil
}

// readOnly says whether an operation changes nothing: every GET, and the
// validation of a posted YAML.
func readOnly(op *huma.Operation) bool {
	return op.Method == http.MethodGet || op.OperationID == "validateWorkflow"
}

// auditRefusal writes an auth_refused audit row: in the tenant of a known
// key (k), else with no tenant. Rows are deduplicated per key (or for all
// unknown keys) and reason per minute, so a flood of failures writes at
// most one row a minute each; every refusal is logged.
func (s *Server) auditRefusal(ctx context.Context, operation string, k store.APIKey, reason string) {
	s.Logger.WarnContext(ctx, "request refused", "reason", reason, "key_id", k.ID, "tenant", k.TenantID, "operation", operation)
	subject := "unknown"
	if k.ID != uuid.Nil {
		subject = k.ID.String()
	}
	minute := time.Now().UTC().Truncate(time.Minute).Format(time.RFC3339)
	meta, _ := json.Marshal(map[string]string{"reason": reason, "operation": operation})
	err := s.Store.AppendAudit(context.WithoutCancel(ctx), store.Audit{
		EventType: "auth_refused", ResourceType: "api_key", ResourceID: subject, TenantID: k.TenantID,
		Actor: "apikey:" + subject, Metadata: meta, DedupeKey: "auth_refused:" + subject + ":" + reason + ":" + minute,
	})
	if err != nil {
		s.Logger.ErrorContext(ctx, "audit a refused request", "error", err)
	}
}

// adminOnly refuses callers whose key is not an admin key: tenant-wide
// reports (costs, audit) are for admins; members work with tasks.
func adminOnly(ctx context.Context) error {
	if who(ctx).Role != store.RoleAdmin {
		return huma.Error403Forbidden("this report needs an admin API key (troupe apikey create TENANT --role admin)")
	}
	return nil
}

// Caller is who makes a request, as Authenticate found it: the tenant it
// acts for, the actor audit rows name ("apikey:<id>" or "anonymous") and
// its role (store.RoleAdmin, RoleMember or RoleReader).
type Caller struct {
	Tenant string
	Actor  string
	Role   string
}

// CallerOf returns the caller that Authenticate put in ctx, and whether
// there is one.
func CallerOf(ctx context.Context) (Caller, bool) {
	p, ok := ctx.Value(principalKey{}).(principal)
	return Caller(p), ok
}

// who returns the principal of the request behind ctx. Every operation runs
// behind authenticate, so it is always set.
func who(ctx context.Context) principal {
	return ctx.Value(principalKey{}).(principal)
}
