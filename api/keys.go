package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/store"
)

// APIKey is an API key as its tenant's admins see it: never the key itself.
type APIKey struct {
	ID         string     `json:"id" format:"uuid"`
	Role       string     `json:"role" enum:"admin,member,reader"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty" doc:"Written at most once a minute."`
}

func apiKey(k store.APIKey) APIKey {
	return APIKey{ID: k.ID.String(), Role: k.Role, Name: k.Name, CreatedAt: k.CreatedAt,
		ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt}
}

// CreateKeyInput is the request of createKey.
type CreateKeyInput struct {
	Body struct {
		Role      string `json:"role" enum:"admin,member,reader"`
		Name      string `json:"name,omitempty" maxLength:"200"`
		ExpiresIn string `json:"expires_in,omitempty" maxLength:"20" doc:"The key stops working after this long, a duration from 1m to 8760h (e.g. 720h); default: never." example:"720h"`
	}
}

// CreatedKey is the answer of createKey: the only time the key is shown.
type CreatedKey struct {
	Status int
	Body   struct {
		APIKey
		Key string `json:"key" doc:"The key, shown this once: only its sha256 is stored."`
	}
}

// KeyIDInput names one key.
type KeyIDInput struct {
	ID string `path:"id" format:"uuid" doc:"Key id."`
}

func (s *Server) registerKeys(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "listKeys", Method: http.MethodGet, Path: "/v1/keys",
		Summary: "List API keys", Description: "The tenant's keys, revoked and expired ones included, with their last use. Admin keys only.", Tags: []string{"keys"},
		Errors: problems(http.StatusForbidden),
	}, func(ctx context.Context, _ *struct{}) (*listOutput[APIKey], error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		keys, err := s.Store.ListAPIKeys(ctx, who(ctx).Tenant)
		return listOf(keys, err, s.fail, ctx, "keys", apiKey)
	})
	huma.Register(api, huma.Operation{
		OperationID: "createKey", Method: http.MethodPost, Path: "/v1/keys",
		Summary: "Create an API key", Description: "A key of the caller's tenant; the answer holds the key, shown this once. Admin keys only.", Tags: []string{"keys"},
		DefaultStatus: http.StatusCreated, Errors: problems(http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge),
	}, func(ctx context.Context, in *CreateKeyInput) (*CreatedKey, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		n := store.NewAPIKey{TenantID: who(ctx).Tenant, Role: in.Body.Role, Name: in.Body.Name}
		if in.Body.ExpiresIn != "" {
			d, err := time.ParseDuration(in.Body.ExpiresIn)
			if err != nil || d < time.Minute || d > 8760*time.Hour {
				return nil, huma.Error422UnprocessableEntity("expires_in: want a duration from 1m to 8760h, e.g. 720h",
					&huma.ErrorDetail{Location: "body.expires_in", Value: in.Body.ExpiresIn})
			}
			n.ExpiresAt = time.Now().Add(d)
		}
		key, k, err := s.Store.CreateAPIKey(ctx, n)
		if err != nil {
			return nil, s.fail(ctx, "key", err)
		}
		if err := s.auditKey(ctx, k, "api_key_created"); err != nil {
			return nil, s.fail(ctx, "key", err)
		}
		out := &CreatedKey{Status: http.StatusCreated}
		out.Body.APIKey, out.Body.Key = apiKey(k), key
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "revokeKey", Method: http.MethodPost, Path: "/v1/keys/{id}/revoke",
		Summary: "Revoke an API key", Description: "The key stops working at once; revoking it again changes nothing. Admin keys only.", Tags: []string{"keys"},
		DefaultStatus: http.StatusNoContent, Errors: problems(http.StatusForbidden, http.StatusNotFound),
	}, func(ctx context.Context, in *KeyIDInput) (*struct{}, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		id := uuid.MustParse(in.ID)
		if err := s.Store.RevokeAPIKey(ctx, who(ctx).Tenant, id); err != nil {
			return nil, s.fail(ctx, "key "+in.ID, err)
		}
		return nil, s.auditKey(ctx, store.APIKey{ID: id, TenantID: who(ctx).Tenant}, "api_key_revoked")
	})
}

// auditKey appends the audit row eventType about key k, by the caller.
func (s *Server) auditKey(ctx context.Context, k store.APIKey, eventType string) error {
	var meta any
	if k.Role != "" {
		meta = map[string]string{"role": k.Role, "name": k.Name}
	}
	return s.appendAudit(ctx, store.Audit{
		EventType: eventType, ResourceType: "api_key", ResourceID: k.ID.String(),
		TenantID: k.TenantID, Actor: who(ctx).Actor,
	}, meta)
}
