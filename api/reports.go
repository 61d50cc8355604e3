package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/troupe-dev/troupe/store"
)

// CostsInput is the request of getCosts.
type CostsInput struct {
	GroupBy string    `query:"group_by" default:"model" doc:"Comma-separated dimensions: tenant, user, model, type, day." example:"model,day"`
	From    time.Time `query:"from" doc:"Tasks created at or after."`
	To      time.Time `query:"to" doc:"Tasks created before."`
}

// CostRow is one group of a cost report.
type CostRow struct {
	Group        map[string]string `json:"group"`
	Tasks        int64             `json:"tasks"`
	InputTokens  int64             `json:"input_tokens"`
	OutputTokens int64             `json:"output_tokens"`
	CostUSD      float64           `json:"cost_usd"`
}

// AuditInput is the request of listAudit.
type AuditInput struct {
	EventType  string    `query:"event_type" example:"task_created"`
	ResourceID string    `query:"resource_id"`
	After      time.Time `query:"after"`
	Before     time.Time `query:"before"`
	Limit      int       `query:"limit" minimum:"1" maximum:"200" default:"50"`
	Cursor     string    `query:"cursor"`
}

// AuditRow is one audit log entry.
type AuditRow struct {
	ID           int64           `json:"id"`
	EventType    string          `json:"event_type"`
	ResourceType string          `json:"resource_type"`
	ResourceID   string          `json:"resource_id"`
	UserIDHash   string          `json:"user_id_hash,omitempty"`
	Actor        string          `json:"actor"`
	At           time.Time       `json:"at"`
	Metadata     json.RawMessage `json:"metadata,omitempty"`
}

func (s *Server) registerReports(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "getCosts", Method: http.MethodGet, Path: "/v1/costs",
		Summary: "Cost report", Description: "Tokens and cost of the tenant's tasks, grouped. Admin keys only.", Tags: []string{"reports"},
		Errors: problems(http.StatusForbidden),
	}, func(ctx context.Context, in *CostsInput) (*listOutput[CostRow], error) {
		return itemsOf(s.Costs(ctx, in))
	})
	huma.Register(api, huma.Operation{
		OperationID: "listAudit", Method: http.MethodGet, Path: "/v1/audit",
		Summary: "Audit log", Description: "The tenant's append-only audit log, newest first. Admin keys only.", Tags: []string{"reports"},
		Errors: problems(http.StatusForbidden),
	}, func(ctx context.Context, in *AuditInput) (*auditPage, error) {
		rows, next, err := s.Audit(ctx, in)
		if err != nil {
			return nil, err
		}
		out := &auditPage{}
		out.Body.Items, out.Body.NextCursor = rows, next
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "verifyAudit", Method: http.MethodGet, Path: "/v1/audit/verify",
		Summary: "Verify the audit log", Description: "Recomputes the hash chain of the tenant's audit log and names the first row that does not follow from its content and the row before it (edited, or a row before it removed). Admin keys only.", Tags: []string{"reports"},
		Errors: problems(http.StatusForbidden),
	}, func(ctx context.Context, _ *struct{}) (*AuditCheck, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		check, err := s.Store.VerifyAudit(ctx, who(ctx).Tenant)
		if err != nil {
			return nil, s.fail(ctx, "audit", err)
		}
		out := &AuditCheck{}
		out.Body.OK, out.Body.Checked, out.Body.Head = check.OK, check.Checked, hex.EncodeToString(check.Head)
		if b := check.FirstBroken; b != nil {
			out.Body.FirstBroken = &BrokenAudit{ID: b.ID, EventType: b.EventType, At: b.At, Reason: b.Reason}
		}
		return out, nil
	})
}

// Costs is the cost report of ctx's tenant, as GET /v1/costs answers it
// (GroupBy is required here: no default). Admin callers only. Its errors are
// huma.StatusErrors.
func (s *Server) Costs(ctx context.Context, in *CostsInput) ([]CostRow, error) {
	if err := adminOnly(ctx); err != nil {
		return nil, err
	}
	rows, err := s.Store.Costs(ctx, who(ctx).Tenant, strings.Split(in.GroupBy, ","), in.From, in.To)
	return convert(rows, err, s.fail, ctx, "costs", func(r store.CostRow) CostRow {
		return CostRow{Group: r.Group, Tasks: r.Tasks, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, CostUSD: r.CostUSD}
	})
}

// Audit is a page of the audit log of ctx's tenant and the cursor of the
// next, as GET /v1/audit answers it. Admin callers only. Its errors are
// huma.StatusErrors.
func (s *Server) Audit(ctx context.Context, in *AuditInput) ([]AuditRow, string, error) {
	if err := adminOnly(ctx); err != nil {
		return nil, "", err
	}
	rows, next, err := s.Store.ListAudit(ctx, store.AuditFilter{
		TenantID: who(ctx).Tenant, EventType: in.EventType, ResourceID: in.ResourceID,
		After: in.After, Before: in.Before, Limit: in.Limit, Cursor: in.Cursor,
	})
	if err != nil {
		return nil, "", s.fail(ctx, "audit", err)
	}
	out := make([]AuditRow, 0, len(rows))
	for _, a := range rows {
		out = append(out, AuditRow{ID: a.ID, EventType: a.EventType, ResourceType: a.ResourceType,
			ResourceID: a.ResourceID, UserIDHash: a.UserIDHash, Actor: a.Actor, At: a.At, Metadata: a.Metadata})
	}
	return out, next, nil
}

// AuditCheck is the answer of verifyAudit.
type AuditCheck struct {
	Body struct {
		OK          bool         `json:"ok" doc:"Whether every row's hash follows from its content and the row before it."`
		Checked     int64        `json:"checked" doc:"Rows recomputed."`
		Head        string       `json:"head,omitempty" doc:"Hex hash of the last row: kept elsewhere, it also reveals a chain rewritten to its end."`
		FirstBroken *BrokenAudit `json:"first_broken,omitempty"`
	}
}

// BrokenAudit is the first audit row that breaks the chain.
type BrokenAudit struct {
	ID        int64     `json:"id"`
	EventType string    `json:"event_type"`
	At        time.Time `json:"at"`
	Reason    string    `json:"reason"`
}

type auditPage struct {
	Body struct {
		Items      []AuditRow `json:"items"`
		NextCursor string     `json:"next_cursor,omitempty"`
	}
}
