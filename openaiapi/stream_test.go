package openaiapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

func TestAnswerTextFollowsCallsAndRetries(t *testing.T) {
	t.Parallel()
	step := uuid.New()
	var a answerText
	var got string
	for _, d := range []struct {
		activities.Delta
		want string
	}{
		{activities.Delta{CallKey: "c1", Attempt: 1, Seq: 0, Text: "Hello"}, "Hello"},
		{activities.Delta{CallKey: "c1", Attempt: 1, Seq: 1, Text: " wor"}, " wor"},
		{activities.Delta{CallKey: "c1", Attempt: 2, Seq: 0, Text: "Hello"}, ""},    // the retry starts over: nothing new yet
		{activities.Delta{CallKey: "c1", Attempt: 2, Seq: 1, Text: " world"}, "ld"}, // past what was sent
		{activities.Delta{CallKey: "c1", Attempt: 1, Seq: 2, Text: "late"}, ""},     // an older attempt is over
		{activities.Delta{CallKey: "x", Attempt: 1, SubtaskID: &step, Text: "an agent-tool's"}, ""},
		{activities.Delta{CallKey: "c2", Attempt: 1, Seq: 0, Text: "It is 5."}, "\n\nIt is 5."},
	} {
		text := a.add(d.Delta)
		require.Equal(t, d.want, text, "after %+v", d.Delta)
		got += text
	}
	require.Equal(t, "Hello world\n\nIt is 5.", got)
	require.Equal(t, "", a.rest("It is 5."), "the output is what the last call streamed")
	require.Equal(t, " And more.", a.rest("It is 5. And more."))
	require.Equal(t, "", a.rest(`{"a":1}`), "a re-encoded structured answer is not sent again")

	var none answerText
	require.Equal(t, "all of it", none.rest("all of it"), "nothing streamed: the output whole")

	var retried answerText
	retried.add(activities.Delta{CallKey: "c", Attempt: 1, Text: "Bonjour"})
	require.Equal(t, "", retried.add(activities.Delta{CallKey: "c", Attempt: 2, Text: "Hello"}),
		"a retry that writes something else is not sent over what the client has")
	require.Equal(t, "\n\nHello", retried.rest("Hello"), "but the answer comes at the end")
}

// scriptedEvents is an Events that sends a fixed list of events, each after
// its pause, then closes the channel, as the hub does at a task's end.
type scriptedEvents struct {
	events []store.Event
	pauses []time.Duration
}

func (s scriptedEvents) Subscribe(ctx context.Context, _ string, _ uuid.UUID, _ int64) (<-chan store.Event, error) {
	out := make(chan store.Event)
	go func() {
		defer close(out)
		for i, e := range s.events {
			select {
			case <-time.After(s.pauses[i]):
			case <-ctx.Done():
				return
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// deltaEvent is an llm.delta event of a single-agent call.
func deltaEvent(t *testing.T, seq int, text string) store.Event {
	payload, err := json.Marshal(activities.Delta{CallKey: "c", Attempt: 1, Seq: seq, Text: text})
	require.NoError(t, err)
	return store.Event{ID: int64(seq + 10), Kind: activities.DeltaKind, Payload: payload}
}

func TestStreamSendsDeltasAsChunks(t *testing.T) {
	t.Parallel()
	st := storetest.NewStore(t)
	ctx := context.Background()
	task, _, err := st.CreateTask(ctx, store.NewTask{TenantID: api.DefaultTenant, Type: "chat", Input: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.NoError(t, st.FinishTask(ctx, task.ID, "", store.StatusCompleted, json.RawMessage(`{"text":"Hello, world. Bye."}`), ""))

	srv := &api.Server{Store: st, Logger: slog.New(slog.DiscardHandler), Catalog: &definitions.Catalog{}}
	h := New(srv)
	h.keepAlive = 50 * time.Millisecond
	h.Events = scriptedEvents{
		events: []store.Event{{ID: 1, Kind: "started"}, deltaEvent(t, 0, "Hello,"), deltaEvent(t, 1, " world.")},
		pauses: []time.Duration{0, 0, 200 * time.Millisecond},
	}
	actx, err := srv.Authenticate(ctx, "", "test", false)
	require.NoError(t, err)
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	h.stream(actx, w, http.NewResponseController(w), r, completion{id: task.ID.String(), model: "chat"}, true)

	body := w.Body.String()
	require.Contains(t, body, ": keep-alive\n\n", "a silent stream is kept alive")
	var content []string
	var usage *usage
	for _, line := range strings.Split(body, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c chatCompletion
		require.NoError(t, json.Unmarshal([]byte(data), &c), data)
		require.Equal(t, "chat.completion.chunk", c.Object)
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			content = append(content, c.Choices[0].Delta.Content)
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	require.Equal(t, []string{"Hello,", " world.", " Bye."}, content, "a chunk per delta, then the rest of the output")
	require.NotNil(t, usage, "the usage chunk, when asked")
	require.True(t, strings.HasSuffix(body, "data: [DONE]\n\n"))
}
