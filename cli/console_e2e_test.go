package cli

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
	"github.com/troupe-dev/troupe/store"
)

// streamedAnswer is the answer TestConsoleInTheBrowser watches being written.
const streamedAnswer = "Sea otters wrap themselves in kelp so that they do not drift apart while they sleep."

// TestConsoleInTheBrowser drives the console of `troupe dev` (no API keys,
// so no login) with headless chromium, and saves a screenshot of each page.
func TestConsoleInTheBrowser(t *testing.T) {
	cost := 0.002
	fake := llmtest.NewServer(t, func(_ int, req llm.Request) llmtest.Reply {
		prompt := req.Messages[len(req.Messages)-1].Content
		if strings.Contains(prompt, "STREAMED-ANSWER") { // written slowly, 6 runes at a time
			return llmtest.Reply{Content: streamedAnswer, InputTokens: 40, OutputTokens: 20, Cost: &cost, Delay: 500 * time.Millisecond, ChunkRunes: 6, ChunkDelay: 80 * time.Millisecond}
		}
		if strings.Contains(prompt, "SLOW-ANSWER") {
			return llmtest.Reply{Content: "Otters **hold hands** while they sleep.", InputTokens: 30, OutputTokens: 9, Cost: &cost, Delay: 2 * time.Second}
		}
		return llmtest.Reply{Content: "A draft about otters.", InputTokens: 120, OutputTokens: 8, Cost: &cost}
	})
	s := startDev(t, fake, nil)
	dir := artifacts(t)
	ctx := newTab(t, false)

	var task taskJSON
	t.Run("the task page shows the conversation and the output", func(t *testing.T) {
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks",
			map[string]any{"type": "chat", "input": map[string]any{"prompt": "SLOW-ANSWER: tell me about otters"}, "user_email": "ann@example.com"}, nil, &task))
		s.waitFor(t, task.ID, "completed")
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.api+"/ui/tasks/"+task.ID)))
		require.Contains(t, text(t, ctx, "h1"), "completed")
		conversation := text(t, ctx, ".call")
		require.Contains(t, conversation, "SLOW-ANSWER: tell me about otters", "the user's message")
		require.Contains(t, conversation, "Otters **hold hands** while they sleep.", "the answer as the model wrote it")
		require.Contains(t, conversation, "gpt-4o-mini")
		bold := text(t, ctx, ".output .markdown strong")
		require.Equal(t, "hold hands", bold, "the output rendered as Markdown")
		bars, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(".timeline rect.bar")))
		require.NoError(t, err)
		require.NotEmpty(t, bars, "the LLM call on the timeline")
		screenshot(t, ctx, dir, "task", 1280)
	})

	t.Run("the task page shows the answer growing while it is written", func(t *testing.T) {
		var slow taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks",
			map[string]any{"type": "chat", "input": map[string]any{"prompt": "STREAMED-ANSWER: how do otters sleep?"}}, nil, &slow))
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.api+"/ui/tasks/"+slow.ID)))
		waitLive(t, ctx)
		// Read the answer being written, as shown, until the task ends.
		var seen []string
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(40 * time.Millisecond) {
			shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#live .streaming")?.textContent ?? ""`))
			require.NoError(t, err)
			if shown != "" && (len(seen) == 0 || shown != seen[len(seen)-1]) {
				if seen = append(seen, shown); len(seen) == 3 {
					screenshot(t, ctx, dir, "task-streaming", 1280)
				}
			}
			if shown == streamedAnswer || strings.Contains(text(t, ctx, "h1"), "completed") {
				break
			}
		}
		require.GreaterOrEqual(t, len(seen), 3, "the answer grew while it was written: %q", seen)
		for i, shown := range seen {
			require.True(t, strings.HasPrefix(streamedAnswer, shown), "what is shown is the start of the answer: %q", shown)
			if i > 0 {
				require.Greater(t, len(shown), len(seen[i-1]), "it only grows: %q", seen)
			}
		}
		s.waitFor(t, slow.ID, "completed")
	})

	t.Run("a submitted task appears in the list and turns completed without a reload", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(s.api+"/ui/"),
			chromedp.WaitVisible(chromedp.CSS("table.tasks"))))
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`))
		require.NoError(t, err)
		waitLive(t, ctx)
		var live taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks",
			map[string]any{"type": "chat", "input": map[string]any{"prompt": "SLOW-ANSWER: and beavers?"}}, nil, &live))
		waitText(t, ctx, "#task-"+live.ID, "running")
		screenshot(t, ctx, dir, "tasks-live", 1280)
		waitText(t, ctx, "#task-"+live.ID, "completed")
		same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`))
		require.NoError(t, err)
		require.True(t, same, "the page was not reloaded")
	})

	t.Run("an approval button resumes a waiting workflow", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(s.api+"/ui/workflows"),
			chromedp.WaitVisible(chromedp.CSS(`#wf-approval_publish`))))
		screenshot(t, ctx, dir, "workflows", 1280)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS(`#wf-approval_publish textarea[name="in.brief"]`), "otters"),
			chromedp.Click(chromedp.CSS(`#wf-approval_publish button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#task-head h1`))))
		loc, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		id := strings.TrimPrefix(loc, s.api+"/ui/tasks/")
		require.Len(t, id, 36, "the run form leads to the new task's page: %s", loc)
		require.Eventually(t, func() bool {
			var got struct {
				Waiting []any `json:"waiting"`
			}
			s.call(t, http.MethodGet, "/v1/tasks/"+id, nil, nil, &got)
			return len(got.Waiting) == 1
		}, time.Minute, 200*time.Millisecond, "the workflow waits for its approval")
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Reload(),
			chromedp.SetValue(chromedp.CSS(`.waiting input[name="comment"]`), "ship it")))
		screenshot(t, ctx, dir, "task-waiting", 1280)
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.waiting button.approve`))))
		done := s.waitFor(t, id, "completed")
		require.Contains(t, string(done.Output), `"approved_by":"anonymous"`)
		rows, _, err := s.store.ListAudit(context.Background(), store.AuditFilter{TenantID: "default", EventType: "task_signaled", ResourceID: id})
		require.NoError(t, err)
		require.Len(t, rows, 1, "audited as the API audits a signal")
		require.Contains(t, string(rows[0].Metadata), "ship it")
	})

	t.Run("the costs page charts real rows", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.api+"/ui/costs")))
		bars, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(".chart rect.bar-cost")))
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(bars), 4, "a cost bar in each chart")
		require.Contains(t, text(t, ctx, ".charts"), "gpt-4o-mini")
		screenshot(t, ctx, dir, "costs", 1280)
	})

	t.Run("every other page, at laptop and phone width", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.api+"/ui/")))
		require.Contains(t, text(t, ctx, "table.tasks tbody"), task.ID[:8])
		screenshot(t, ctx, dir, "tasks", 1280)
		screenshot(t, ctx, dir, "tasks-phone", 390)
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		require.LessOrEqual(t, width, 390, "nothing wider than a phone")
		for _, page := range []string{"stats", "audit", "users?email=ann%40example.com"} {
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.api+"/ui/"+page)))
			require.NotContains(t, text(t, ctx, "h1"), "Error")
			screenshot(t, ctx, dir, strings.SplitN(page, "?", 2)[0], 1280)
		}
		require.Contains(t, text(t, ctx, "table.tasks"), task.ID[:8], "ann's task, found by her email")
	})

	t.Run("a key of another tenant sees nothing", func(t *testing.T) {
		key, _, err := s.store.CreateAPIKey(context.Background(), store.NewAPIKey{TenantID: "globex", Role: store.RoleAdmin, Name: "browser test"})
		require.NoError(t, err)
		other := newTab(t, true)
		require.NoError(t, chromedp.Do(other, chromedp.Navigate(s.api+"/ui/login")))
		screenshot(t, other, dir, "login", 1280)
		require.NoError(t, chromedp.Do(other,
			chromedp.SetValue(chromedp.CSS(`input[name="key"]`), key),
			chromedp.Submit(chromedp.CSS(`input[name="key"]`)),
			chromedp.WaitVisible(chromedp.CSS(`table.tasks`))))
		require.Contains(t, text(t, other, ".who"), "globex")
		require.Contains(t, text(t, other, "table.tasks tbody"), "No tasks")
		require.NoError(t, chromedp.Do(other, chromedp.Navigate(s.api+"/ui/tasks/"+task.ID)))
		require.Contains(t, text(t, other, "h1"), "404")
		require.NoError(t, chromedp.Do(other, chromedp.Navigate(s.api+"/ui/costs")))
		require.Contains(t, text(t, other, ".charts"), "No task in this range")
	})
}
