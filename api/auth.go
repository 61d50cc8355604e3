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

// authenticate is a Huma middleware resolving the request's API key
// (Authorization: Bearer <key>) to its tenant and role. Without a key,
// requests act for DefaultTenant unless auth is required. An unknown,
// revoked or expired key gets 401, a reader's attempt to change something
// 403; each refusal is audited (see auditRefusal).
func (s *Server) authenticate(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		p := principal{Tenant: DefaultTenant, Actor: "anonymous", Role: store.RoleAdmin}
		key, hasKey := strings.CutPrefix(ctx.Header("Authorization"), "Bearer ")
		switch {
		case hasKey:
			k, err := s.Store.LookupAPIKey(ctx.Context(), strings.TrimSpace(key))
			switch {
			case errors.Is(err, store.ErrNotFound):
				s.auditRefusal(ctx, store.APIKey{}, "unknown key")
				_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, "The API key is unknown.")
				return
			case errors.Is(err, store.ErrKeyRefused):
				s.auditRefusal(ctx, k, err.Error())
				_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, "The API key is refused: "+strings.TrimPrefix(err.Error(), store.ErrKeyRefused.Error()+": ")+".")
				return
			case err != nil:
				s.Logger.ErrorContext(ctx.Context(), "look up api key", "error", err)
				writeProblem(api, ctx, unavailable("The API key could not be checked; try again shortly."))
				return
			}
			p = principal{Tenant: k.TenantID, Actor: "apikey:" + k.ID.String(), Role: k.Role}
			if k.Role == store.RoleReader && !readOnly(ctx.Operation()) {
				s.auditRefusal(ctx, k, "a reader key may not "+ctx.Operation().OperationID)
				_ = huma.WriteErr(api, ctx, http.StatusForbidden, "A reader key may only read; this needs a member or admin key.")
				return
			}
		case s.RequireAuth:
			_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, "Send an API key: Authorization: Bearer <key> (create one with `troupe apikey create`).")
			return
		}
		next(huma.WithValue(ctx, principalKey{}, p))
	}
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
func (s *Server) auditRefusal(ctx huma.Context, k store.APIKey, reason string) {
	s.Logger.WarnContext(ctx.Context(), "request refused", "reason", reason, "key_id", k.ID, "tenant", k.TenantID, "operation", ctx.Operation().OperationID)
	subject := "unknown"
	if k.ID != uuid.Nil {
		subject = k.ID.String()
	}
	minute := time.Now().UTC().Truncate(time.Minute).Format(time.RFC3339)
	meta, _ := json.Marshal(map[string]string{"reason": reason, "operation": ctx.Operation().OperationID})
	err := s.Store.AppendAudit(context.WithoutCancel(ctx.Context()), store.Audit{
		EventType: "auth_refused", ResourceType: "api_key", ResourceID: subject, TenantID: k.TenantID,
		Actor: "apikey:" + subject, Metadata: meta, DedupeKey: "auth_refused:" + subject + ":" + reason + ":" + minute,
	})
	if err != nil {
		s.Logger.ErrorContext(ctx.Context(), "audit a refused request", "error", err)
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

// who returns the principal of the request behind ctx. Every operation runs
// behind authenticate, so it is always set.
func who(ctx context.Context) principal {
	return ctx.Value(principalKey{}).(principal)
}
