package cli

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/ratelimit"
)

func TestRateLimitSettings(t *testing.T) {
	t.Parallel()
	read := func(env map[string]string) api.RateLimits {
		t.Helper()
		l, err := loadConfig(func(k string) string { return env[k] }).rateLimits()
		require.NoError(t, err)
		return l
	}
	require.Equal(t, api.RateLimits{
		Key: ratelimit.Limit{Rate: 20, Burst: 40}, Tenant: ratelimit.Limit{Rate: 100, Burst: 200},
		TaskStarts: ratelimit.Limit{Rate: 2, Burst: 120},
	}, read(nil), "the defaults of serve")
	require.Equal(t, api.RateLimits{Key: ratelimit.Limit{Rate: 0.5, Burst: 3}, TaskStarts: ratelimit.Limit{Rate: 0.5, Burst: 30}},
		read(map[string]string{"TROUPE_RATE_KEY": "0.5,3", "TROUPE_RATE_TENANT": "0", "TROUPE_TASKS_PER_MINUTE": "30"}))
	off := read(map[string]string{"TROUPE_RATE_KEY": "0", "TROUPE_RATE_TENANT": "0", "TROUPE_TASKS_PER_MINUTE": "0"})
	require.True(t, off.Key.Off() && off.Tenant.Off() && off.TaskStarts.Off(), "0 is off, as dev sets them")
}
