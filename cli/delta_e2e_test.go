package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/llm/llmtest"
)

// sseEvent is an event of GET /v1/tasks/{id}/events/stream, as a client reads it.
type sseEvent struct {
	ID      int64
	Kind    string
	Payload json.RawMessage
	// At is when the client read it.
	At time.Time
}

// openEvents opens the task's event stream after lastID (none if 0) and
// sends its events on the returned channel, closed when the stream ends;
// stop hangs up.
func (s *devStack) openEvents(t testing.TB, id string, lastID int64) (events <-chan sseEvent, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api+"/v1/tasks/"+id+"/events/stream", nil)
	require.NoError(t, err)
	if lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := make(chan sseEvent, 1024)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		lines := bufio.NewScanner(resp.Body)
		lines.Buffer(nil, 1<<20)
		for lines.Scan() {
			data, ok := strings.CutPrefix(lines.Text(), "data: ")
			if !ok {
				continue
			}
			var e struct {
				ID      int64           `json:"id"`
				Kind    string          `json:"kind"`
				Payload json.RawMessage `json:"payload"`
			}
			if json.Unmarshal([]byte(data), &e) == nil {
				out <- sseEvent{ID: e.ID, Kind: e.Kind, Payload: e.Payload, At: time.Now()}
			}
		}
	}()
	return out, cancel
}

// nextDelta reads events until an llm.delta, false if the stream ends first.
func nextDelta(t testing.TB, events <-chan sseEvent) (sseEvent, activities.Delta, bool) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return e, activities.Delta{}, false
			}
			if e.Kind != activities.DeltaKind {
				continue
			}
			var d activities.Delta
			require.NoError(t, json.Unmarshal(e.Payload, &d))
			return e, d, true
		case <-timeout:
			t.Fatal("no llm.delta within a minute")
		}
	}
}

// slowAnswer is what the fake streams slowly: 64 pieces of 5 bytes, 40 ms
// apart, some 2.5 s of writing.
var slowAnswer = strings.Repeat("Tokens flow, ", 25)[:320]

// TestTokenStreamingEndToEnd drives troupe dev against the fake provider's
// streaming mode, with slow chunks: the answer's llm.delta events reach an
// SSE client while the call is still running; a client that reconnects
// mid-answer with Last-Event-ID gets the pieces it missed, then the live
// ones, and they join into the answer llm_calls recorded; cancelling the
// task mid-answer aborts the provider's request at once.
func TestTokenStreamingEndToEnd(t *testing.T) {
	t.Parallel()
	fake := llmtest.NewServer(t, func(_ int, req llm.Request) llmtest.Reply {
		switch last := req.Messages[len(req.Messages)-1].Content; {
		case strings.Contains(last, "endless"):
			return llmtest.Reply{Content: strings.Repeat("and on ", 1000), ChunkDelay: 50 * time.Millisecond}
		}
		return llmtest.Reply{Content: slowAnswer, InputTokens: 30, OutputTokens: 64, ChunkRunes: 5, ChunkDelay: 40 * time.Millisecond}
	})
	s := startDev(t, fake, nil)

	t.Run("deltas stream live, and a reconnect loses nothing", func(t *testing.T) {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "stream slowly"}}, nil, &task))
		events, stop := s.openEvents(t, task.ID, 0)
		var text strings.Builder
		_, d, ok := nextDelta(t, events)
		require.True(t, ok, "an llm.delta before the stream ends")
		var now taskJSON
		require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+task.ID, nil, nil, &now))
		require.Equal(t, "running", now.Status, "the first piece arrives while the model still writes")
		require.Less(t, len(d.Text), len(slowAnswer))
		text.WriteString(d.Text)
		callKey, seq := d.CallKey, d.Seq
		require.Equal(t, 0, seq)
		e, d, ok := nextDelta(t, events)
		require.True(t, ok)
		text.WriteString(d.Text)
		last := e.ID
		seq = d.Seq
		require.Equal(t, 1, seq)
		stop() // hang up mid-answer, and miss what is written meanwhile

		time.Sleep(500 * time.Millisecond)
		away := time.Now()
		events, stop = s.openEvents(t, task.ID, last)
		defer stop()
		var missed, live int
		for {
			e, d, ok := nextDelta(t, events)
			if !ok {
				break
			}
			require.Greater(t, e.ID, last)
			require.Equal(t, callKey, d.CallKey)
			require.Equal(t, seq+1, d.Seq, "every piece, in order")
			seq = d.Seq
			text.WriteString(d.Text)
			if e.At.Sub(away) < 100*time.Millisecond {
				missed++
			} else {
				live++
			}
		}
		require.Positive(t, missed, "the pieces written while away come at once")
		require.Positive(t, live, "then the live ones")

		done := s.waitFor(t, task.ID, "completed", "failed")
		require.Equal(t, "completed", done.Status, done.Error)
		require.JSONEq(t, `{"text":"`+slowAnswer+`"}`, string(done.Output))
		var calls struct {
			Items []struct {
				Response     struct{ Content string } `json:"response"`
				InputTokens  int64                    `json:"input_tokens"`
				OutputTokens int64                    `json:"output_tokens"`
			} `json:"items"`
		}
		require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/v1/tasks/"+task.ID+"/llm-calls", nil, nil, &calls))
		require.Len(t, calls.Items, 1)
		require.Equal(t, slowAnswer, calls.Items[0].Response.Content)
		require.Equal(t, calls.Items[0].Response.Content, text.String(), "the pieces join into the recorded answer")
		require.EqualValues(t, 30, calls.Items[0].InputTokens, "the usage chunk's tokens")
		require.EqualValues(t, 64, calls.Items[0].OutputTokens)
	})

	t.Run("cancel mid-answer aborts the provider call", func(t *testing.T) {
		var task taskJSON
		require.Equal(t, http.StatusCreated, s.call(t, http.MethodPost, "/v1/tasks", map[string]any{"type": "chat", "input": map[string]any{"prompt": "endless"}}, nil, &task))
		events, stop := s.openEvents(t, task.ID, 0)
		defer stop()
		_, _, ok := nextDelta(t, events)
		require.True(t, ok, "the answer is streaming")
		aborted := fake.Aborted()
		canceled := time.Now()
		require.Equal(t, http.StatusAccepted, s.call(t, http.MethodPost, "/v1/tasks/"+task.ID+"/cancel", nil, nil, nil))
		done := s.waitFor(t, task.ID, "canceled", "completed", "failed")
		require.Equal(t, "canceled", done.Status, done.Error)
		require.Eventually(t, func() bool { return fake.Aborted() > aborted }, 10*time.Second, 20*time.Millisecond,
			"the provider sees the request end")
		require.Less(t, time.Since(canceled), 10*time.Second, "at once, not at the end of a 50 s answer")
	})
}
