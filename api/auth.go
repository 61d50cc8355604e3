package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

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
// (Authorization: Bearer <key>) to its tenant. Without a key, requests act
// for DefaultTenant unless auth is required.
func (s *Server) authenticate(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		p := principal{Tenant: DefaultTenant, Actor: "anonymous", Role: store.RoleAdmin}
		key, hasKey := strings.CutPrefix(ctx.Header("Authorization"), "Bearer ")
		switch {
		case hasKey:
			k, err := s.Store.LookupAPIKey(ctx.Context(), strings.TrimSpace(key))
			if errors.Is(err, store.ErrNotFound) {
				_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, "The API key is unknown or revoked.")
				return
			} else if err != nil {
				s.Logger.ErrorContext(ctx.Context(), "look up api key", "error", err)
				writeProblem(api, ctx, unavailable("The API key could not be checked; try again shortly."))
				return
			}
			p = principal{Tenant: k.TenantID, Actor: "apikey:" + k.ID.String(), Role: k.Role}
		case s.RequireAuth:
			_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, "Send an API key: Authorization: Bearer <key> (create one with `troupe apikey create`).")
			return
		}
		next(huma.WithValue(ctx, principalKey{}, p))
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
