package openaiapi

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/activities"
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
