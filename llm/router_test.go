package llm_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
)

func TestRouter(t *testing.T) {
	t.Parallel()
	client, srv := setup(t, func(int, llm.Request) llmtest.Reply {
		return llmtest.Reply{Content: "from the provider", InputTokens: 5, OutputTokens: 3}
	})
	router := llm.NewRouter(client, llm.NewMock())

	resp, err := router.ChatStream(t.Context(), userRequest(llm.MockModel, "hi"), func(string) {})
	require.NoError(t, err)
	require.Equal(t, "mock", resp.Provider)
	require.Zero(t, srv.Count(), "mock never reaches the provider")

	resp, err = router.ChatStream(t.Context(), userRequest("gpt-4o-mini", "hi"), func(string) {})
	require.NoError(t, err)
	require.Equal(t, "openai", resp.Provider)
	require.Equal(t, "from the provider", resp.Content)
	require.Equal(t, 1, srv.Count())
}

func TestRouterWithoutOpenAI(t *testing.T) {
	t.Parallel()
	router := llm.NewRouter(nil, nil)

	resp, err := router.ChatStream(t.Context(), userRequest("mock", "hi"), func(string) {})
	require.NoError(t, err)
	require.Equal(t, "mock", resp.Provider)

	_, err = router.ChatStream(t.Context(), userRequest("gpt-4.1", "hi"), func(string) {})
	var lerr *llm.Error
	require.ErrorAs(t, err, &lerr)
	require.False(t, lerr.Retryable)
	require.Equal(t, "not_configured", lerr.Kind())
	require.Contains(t, lerr.Error(), "OPENAI_API_KEY is not set")
	require.Contains(t, lerr.Error(), `"gpt-4.1"`)
}

func TestRouterProvider(t *testing.T) {
	t.Parallel()
	r := llm.NewRouter(nil, nil)
	require.Equal(t, "mock", r.Provider(llm.MockModel))
	require.Equal(t, "openai", r.Provider("gpt-4o-mini"))
}
