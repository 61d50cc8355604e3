package tasklog

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAttrs(t *testing.T) {
	require.Nil(t, attrs(nil))
	require.JSONEq(t, `{"call_key":"k","attempt":2,"error":"boom"}`, string(attrs([]any{"call_key", "k", "attempt", 2, "error", errors.New("boom")})))
	require.JSONEq(t, `{"a":1,"!BADKEY":"dangling"}`, string(attrs([]any{"a", 1, "dangling"})))

	// A value JSON cannot hold: every value is kept as its text.
	var text map[string]string
	require.NoError(t, json.Unmarshal(attrs([]any{"n", 1, "ch", make(chan int)}), &text))
	require.Equal(t, "1", text["n"])
	require.Regexp(t, `^0x[0-9a-f]+$`, text["ch"])
}
