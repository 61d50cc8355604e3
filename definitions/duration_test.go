package definitions

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"
)

func TestDurationIsText(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{InitialInterval: Duration(90 * time.Second), MaxInterval: Duration(time.Hour)}
	data, err := json.Marshal(p)
	require.NoError(t, err)
	require.JSONEq(t, `{"initial_interval": "1m30s", "max_interval": "1h0m0s"}`, string(data))
	var back RetryPolicy
	require.NoError(t, json.Unmarshal(data, &back))
	require.Equal(t, p, back)
	require.ErrorContains(t, json.Unmarshal([]byte(`{"max_interval": "soon"}`), &back), `duration: time: invalid duration "soon"`)

	out, err := yaml.Marshal(map[string]Duration{"timeout": Duration(2 * time.Minute)})
	require.NoError(t, err)
	require.Equal(t, "timeout: 2m0s\n", string(out))
}
