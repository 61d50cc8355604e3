package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/llm"
)

// ToolLister discovers the tools an MCP server offers (its tools/list).
type ToolLister interface {
	List(ctx context.Context, server *definitions.Tool) ([]llm.ToolSpec, error)
}

// toolListTimeout bounds the listing of one MCP server's tools.
const toolListTimeout = 5 * time.Second

// ToolSummary describes a loaded tool definition.
type ToolSummary struct {
	Name        string          `json:"name"`
	Kind        string          `json:"kind" enum:"http,mcp,builtin"`
	Description string          `json:"description,omitempty"`
	Input       json.RawMessage `json:"input_schema,omitempty" doc:"JSON Schema of the arguments; an MCP server's tools bring their own."`
	Queue       string          `json:"queue,omitempty" doc:"The Temporal task queue whose workers run its calls (troupe worker --tool-queue); empty: the task's own."`
	Approval    bool            `json:"approval" doc:"Every call waits for a person's decision (approveToolCall or rejectToolCall)."`
	Tools       []ServerTool    `json:"tools,omitempty" doc:"For an MCP server: the tools it offers, grantable as server/tool."`
	Error       string          `json:"error,omitempty" doc:"For an MCP server: why its tools could not be listed."`
}

// ServerTool is one tool of an MCP server.
type ServerTool struct {
	Name        string          `json:"name" doc:"server/tool"`
	Description string          `json:"description,omitempty"`
	Input       json.RawMessage `json:"input_schema,omitempty"`
}

func (s *Server) registerTools(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "listTools", Method: http.MethodGet, Path: "/v1/tools",
		Summary:     "List tool definitions",
		Description: "The tools this server loaded, which agents may be granted and tool steps may call; for an MCP server, also the tools it offers (a server that cannot be reached shows an error).",
		Tags:        []string{"workflows"},
		Errors:      problems(),
	}, func(ctx context.Context, _ *struct{}) (*listOutput[ToolSummary], error) {
		items := make([]ToolSummary, 0, len(s.Catalog.Tools))
		for _, t := range s.Catalog.Tools {
			items = append(items, ToolSummary{Name: t.Name, Kind: t.Kind(), Description: t.Description,
				Input: t.Input, Queue: t.Queue, Approval: t.Approval})
		}
		slices.SortFunc(items, func(a, b ToolSummary) int { return strings.Compare(a.Name, b.Name) })
		s.listServerTools(ctx, items)
		out := &listOutput[ToolSummary]{}
		out.Body.Items = items
		return out, nil
	})
}

// listServerTools fills in the tools of the MCP servers among items, listing them all at once,
// each within toolListTimeout. Without a ToolLister it lists none.
func (s *Server) listServerTools(ctx context.Context, items []ToolSummary) {
	if s.Tools == nil {
		return
	}
	var wg sync.WaitGroup
	for i := range items {
		if items[i].Kind != definitions.ToolKindMCP {
			continue
		}
		wg.Go(func() {
			item := &items[i]
			ctx, cancel := context.WithTimeout(ctx, toolListTimeout)
			defer cancel()
			specs, err := s.Tools.List(ctx, s.Catalog.Tools[item.Name])
			if err != nil {
				s.Logger.WarnContext(ctx, "list tools of MCP server", "tool", item.Name, "error", err)
				item.Error = err.Error()
				return
			}
			item.Tools = make([]ServerTool, 0, len(specs))
			for _, spec := range specs {
				item.Tools = append(item.Tools, ServerTool{Name: item.Name + "/" + spec.Name,
					Description: spec.Description, Input: spec.Parameters})
			}
		})
	}
	wg.Wait()
}
