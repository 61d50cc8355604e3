package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/store"
)

// ExportInput is the request of exportConversations.
type ExportInput struct {
	Status        string    `query:"status" enum:"pending,running,completed,failed,canceled,timed_out"`
	Type          string    `query:"type"`
	Model         string    `query:"model" doc:"The task's model."`
	UserEmail     string    `query:"user_email" format:"email"`
	CreatedAfter  time.Time `query:"created_after"`
	CreatedBefore time.Time `query:"created_before"`
	Cursor        string    `query:"cursor" doc:"metadata.cursor of the last line received: the export resumes after that line's task."`
}

// exportWriteTimeout bounds the write of one line of an export: the export
// as a whole outlives the server's write timeout.
const exportWriteTimeout = 30 * time.Second

// ExportLine is one line of a conversation export: a conversation in the
// OpenAI fine-tuning chat format, with what troupe knows of it.
type ExportLine struct {
	Messages []ChatMessage `json:"messages"`
	Metadata ExportMeta    `json:"metadata"`
}

// ExportMeta is the metadata of an exported conversation. Tokens and cost
// are the whole task's.
type ExportMeta struct {
	TaskID       string    `json:"task_id"`
	Type         string    `json:"type"`
	Status       string    `json:"status"`
	Conversation string    `json:"conversation"`
	Model        string    `json:"model"`
	InputTokens  int64     `json:"input_tokens"`
	OutputTokens int64     `json:"output_tokens"`
	CostUSD      float64   `json:"cost_usd"`
	CreatedAt    time.Time `json:"created_at"`
	Cursor       string    `json:"cursor"`
}

// ChatMessage is a message in OpenAI's chat format.
type ChatMessage struct {
	Role string `json:"role"`
	// Content is null on an assistant message that only calls tools.
	Content    *string        `json:"content"`
	ToolCalls  []ChatToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

// ChatToolCall is a tool call in OpenAI's chat format.
type ChatToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function ChatFunction `json:"function"`
}

// ChatFunction is the function of a ChatToolCall.
type ChatFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// chatMessage converts a stored message to OpenAI's chat format.
func chatMessage(raw json.RawMessage) (ChatMessage, error) {
	var m llm.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return ChatMessage{}, err
	}
	out := ChatMessage{Role: m.Role, ToolCallID: m.ToolCallID}
	if m.Content != "" || len(m.ToolCalls) == 0 {
		out.Content = &m.Content
	}
	for _, c := range m.ToolCalls {
		out.ToolCalls = append(out.ToolCalls, ChatToolCall{ID: c.ID, Type: "function", Function: ChatFunction{Name: c.Name, Arguments: c.Arguments}})
	}
	return out, nil
}

func (s *Server) registerExport(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "exportConversations", Method: http.MethodGet, Path: "/v1/export/conversations",
		Summary: "Export conversations as JSONL",
		Description: "The conversations of the tenant's tasks, newest task first, one per line in the OpenAI fine-tuning chat format " +
			"(system, user, assistant with its tool calls, tool results), with the task's id, type, model, tokens and cost in `metadata`. " +
			"The export streams: every matching conversation comes in one response, read from the database a page at a time. " +
			"An interrupted download resumes with `cursor` set to the last line's `metadata.cursor`. " +
			"The trailer `Troupe-Export` is `complete` when the export ended normally. Admin keys only.",
		Tags:   []string{"reports"},
		Errors: problems(http.StatusForbidden),
		Responses: map[string]*huma.Response{"200": {
			Description: "One JSON object a line.",
			Content:     map[string]*huma.MediaType{"application/jsonl": {Schema: &huma.Schema{Type: "string"}}},
		}},
	}, func(ctx context.Context, in *ExportInput) (*huma.StreamResponse, error) {
		if err := adminOnly(ctx); err != nil {
			return nil, err
		}
		f := store.TaskFilter{
			TenantID: who(ctx).Tenant, Status: store.Status(in.Status), Type: in.Type, Model: in.Model,
			UserIDHash: s.UserHash(who(ctx).Tenant, in.UserEmail), CreatedAfter: in.CreatedAfter, CreatedBefore: in.CreatedBefore,
			Cursor: in.Cursor, Limit: 1,
		}
		// A bad filter, a bad cursor or a database down answer a problem
		// before the export starts.
		if _, _, err := s.Store.ListTasks(ctx, f); err != nil {
			return nil, s.fail(ctx, "conversations", err)
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			s.streamExport(hctx, f)
		}}, nil
	})
}

// streamExport writes the export of f, line by line, flushing as it goes.
func (s *Server) streamExport(ctx huma.Context, f store.TaskFilter) {
	ctx.SetHeader("Content-Type", "application/jsonl")
	ctx.SetHeader("Trailer", "Troupe-Export")
	ctx.SetStatus(http.StatusOK)
	// The adapters' body writer is the http.ResponseWriter, whose controller
	// sets deadlines and flushes through the middlewares' wrappers.
	rw, _ := ctx.BodyWriter().(http.ResponseWriter)
	rc := http.NewResponseController(rw)
	w := bufio.NewWriterSize(ctx.BodyWriter(), 64<<10)
	enc := json.NewEncoder(w)
	err := s.Store.ExportConversations(ctx.Context(), f, func(c store.Conversation) error {
		line := ExportLine{Messages: make([]ChatMessage, 0, len(c.Messages)), Metadata: ExportMeta{
			TaskID: c.Task.ID.String(), Type: c.Task.Type, Status: string(c.Task.Status), Conversation: c.Name,
			Model: c.Task.Model, InputTokens: c.Task.InputTokens, OutputTokens: c.Task.OutputTokens,
			CostUSD: c.Task.CostUSD, CreatedAt: c.Task.CreatedAt, Cursor: c.Cursor,
		}}
		for _, raw := range c.Messages {
			m, err := chatMessage(raw)
			if err != nil {
				return err
			}
			line.Messages = append(line.Messages, m)
		}
		_ = rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
		if err := enc.Encode(line); err != nil {
			return err
		}
		if w.Buffered() > 32<<10 {
			if err := w.Flush(); err != nil {
				return err
			}
			_ = rc.Flush()
		}
		return nil
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		s.Logger.WarnContext(ctx.Context(), "export conversations ended early", "error", err)
		ctx.SetHeader("Troupe-Export", "incomplete; resume with the cursor of the last line")
		return
	}
	ctx.SetHeader("Troupe-Export", "complete")
}
