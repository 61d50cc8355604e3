package api

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/danielgtaylor/huma/v2"

	"github.com/troupe-dev/troupe/certs"
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

// Authenticate resolves a request's Authorization header (Bearer <key>), or
// its verified client certificate (see clientCertificates), to its tenant and
// role, and returns ctx carrying them for the operations of the Server. A key
// sent with a certificate must be of the certificate's tenant (else a 403).
// Without either, requests act for DefaultTenant unless auth is required. An unknown, revoked or expired key is a 401, a reader key for
// an operation that changes something a 403, a key that could not be checked
// a 503, a request past its key's or tenant's rate limit a 429 (each a
// huma.StatusError); each refusal of a key is audited (see
// auditRefusal), with operation as the operation it was refused.
func (s *Server) Authenticate(ctx context.Context, authorization, operation string, changes bool) (context.Context, error) {
	p := principal{Tenant: DefaultTenant, Actor: "anonymous", Role: store.RoleAdmin}
	key, hasKey := strings.CutPrefix(authorization, "Bearer ")
	cert, hasCert, err := s.certificatePrincipal(ctx, operation)
	if err != nil {
		return nil, err
	}
	switch {
	case hasCert && !hasKey:
		p = cert
		if p.Role == store.RoleReader && changes {
			s.auditRefusal(ctx, operation, store.APIKey{TenantID: p.Tenant}, "a reader certificate may not "+operation)
			return nil, huma.Error403Forbidden("A reader certificate may only read; this needs a member or admin one.")
		}
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
		if hasCert && cert.Tenant != k.TenantID {
			s.auditRefusal(ctx, operation, k, "the key's tenant is not the client certificate's")
			return nil, huma.Error403Forbidden("The API key is of another tenant than the client certificate.")
		}
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

type clientCertKey struct{}

// clientCertificates is a middleware keeping, in the request's context, the
// client certificate the TLS handshake verified (when the server asks for
// one: TROUPE_TLS_CLIENT_CA), for Authenticate.
func clientCertificates(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
			r = r.WithContext(context.WithValue(r.Context(), clientCertKey{}, r.TLS.VerifiedChains[0][0]))
		}
		next.ServeHTTP(w, r)
	})
}

// certificatePrincipal is who the request's verified client certificate
// stands for, if it has one (see package certs); a certificate naming no
// valid tenant and role is a 403.
func (s *Server) certificatePrincipal(ctx context.Context, operation string) (principal, bool, error) {
	cert, ok := ctx.Value(clientCertKey{}).(*x509.Certificate)
	if !ok {
		return principal{}, false, nil
	}
	id, err := certs.IdentityOf(cert)
	if err != nil {
		s.auditRefusal(ctx, operation, store.APIKey{}, "client certificate: "+err.Error())
		return principal{}, false, huma.Error403Forbidden("The client certificate is refused: " + err.Error() + ".")
	}
	return principal{Tenant: id.Tenant, Actor: "cert:" + id.Name, Role: id.Role}, true, nil
}

// AuthenticateReader is Authenticate for an operation that changes nothing,
// returning the caller's tenant: the check of routes outside the API's
// operations that only read, such as the WebSocket of stream.
func (s *Server) AuthenticateReader(ctx context.Context, authorization, operation string) (string, error) {
	ctx, err := s.Authenticate(ctx, authorization, operation, false)
	if err != nil {
		return "", err
	}
	return who(ctx).Tenant, nil
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
