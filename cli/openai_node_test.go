package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
)

// TestOpenAINodeSDK drives troupe dev with the official OpenAI Node SDK
// (testdata/openai-node/check.cjs): models, a completion, a streamed
// completion in pieces with its usage chunk, and an unknown model's error.
// ./scripts/test.sh installs the SDK (scripts/lib.sh ensure_node_openai).
func TestOpenAINodeSDK(t *testing.T) {
	t.Parallel()
	modules := os.Getenv("TROUPE_NODE_MODULES")
	if modules == "" {
		t.Skip("TROUPE_NODE_MODULES is not set: run ./scripts/test.sh, which installs the openai npm package")
	}
	fake := llmtest.NewServer(t, func(_ int, req llm.Request) llmtest.Reply {
		if strings.Contains(req.Messages[len(req.Messages)-1].Content, "Stream it.") {
			// Written slowly, a piece per 120 ms: the deltas come apart.
			return llmtest.Reply{Content: "A streamed, durable answer.", InputTokens: 12, OutputTokens: 6, ChunkRunes: 4, ChunkDelay: 120 * time.Millisecond}
		}
		return llmtest.Reply{Content: "Durable answer.", InputTokens: 21, OutputTokens: 4}
	})
	s := startDev(t, fake, map[string]string{"TROUPE_AUTH": "apikey"})
	key, _, err := s.store.CreateAPIKey(t.Context(), store.NewAPIKey{TenantID: "acme", Role: store.RoleMember, Name: "node"})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "testdata/openai-node/check.cjs")
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "TROUPE_BASE_URL="+s.api+"/v1", "TROUPE_API_KEY="+key)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "node: %s", stderr.String())

	var got struct {
		Models     []string `json:"models"`
		Completion struct {
			ID, Object, Content string
			FinishReason        string `json:"finish_reason"`
			TaskHeader          string `json:"task_header"`
			Usage               struct {
				PromptTokens     int64 `json:"prompt_tokens"`
				CompletionTokens int64 `json:"completion_tokens"`
				TotalTokens      int64 `json:"total_tokens"`
			}
		}
		Stream struct {
			Chunks        int
			ContentChunks int `json:"content_chunks"`
			Content       string
			FinishReason  string `json:"finish_reason"`
			IDs           []string
			Usage         struct {
				PromptTokens     int64 `json:"prompt_tokens"`
				CompletionTokens int64 `json:"completion_tokens"`
			}
		}
		Unknown struct {
			Status int
			Type   string
			Code   string
		}
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), stdout.String())

	require.Contains(t, got.Models, "chat")
	require.Contains(t, got.Models, "workflow:research_loop")

	require.Equal(t, "chat.completion", got.Completion.Object)
	require.Equal(t, "Durable answer.", got.Completion.Content)
	require.Equal(t, "stop", got.Completion.FinishReason)
	require.Equal(t, int64(25), got.Completion.Usage.TotalTokens)
	require.Equal(t, got.Completion.ID, got.Completion.TaskHeader, "the completion id is the task id")
	var task taskJSON
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+got.Completion.ID, nil, map[string]string{"Authorization": "Bearer " + key}, &task))
	require.Equal(t, "completed", task.Status)
	require.Equal(t, int64(21), task.InputTokens)

	require.Equal(t, "A streamed, durable answer.", got.Stream.Content)
	require.Equal(t, "stop", got.Stream.FinishReason)
	require.GreaterOrEqual(t, got.Stream.ContentChunks, 3, "the answer comes in pieces, as the model writes it")
	require.Len(t, got.Stream.IDs, 1, "every chunk names the same completion (its task)")
	require.Equal(t, int64(12), got.Stream.Usage.PromptTokens)
	require.Equal(t, int64(6), got.Stream.Usage.CompletionTokens)

	require.Equal(t, http.StatusNotFound, got.Unknown.Status)
	require.Equal(t, "model_not_found", got.Unknown.Code, "the SDK reads OpenAI's error shape")
}
