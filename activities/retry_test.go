package activities

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
)

func TestBackoffIsCapped(t *testing.T) {
	t.Parallel()
	p := &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second}
	for attempt, want := range map[int32]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 6: 30 * time.Second, 10_000: 30 * time.Second} {
		require.Equal(t, want, backoff(p, attempt), "attempt %d", attempt)
	}
	require.Zero(t, backoff(nil, 3), "no policy: Temporal decides")
	require.Equal(t, time.Second, backoff(&temporal.RetryPolicy{InitialInterval: time.Second}, 5), "a coefficient under 1 counts as 1")
}

func TestJitterSpreadsRetries(t *testing.T) {
	t.Parallel()
	d := 8 * time.Second
	require.Equal(t, 4*time.Second, jitter(d, 0))
	require.Less(t, jitter(d, 0.999999), d)
	seen := map[time.Duration]bool{}
	for range 100 {
		got := retryDelayFor(d)
		require.GreaterOrEqual(t, got, d/2)
		require.Less(t, got, d)
		seen[got] = true
	}
	require.Greater(t, len(seen), 50, "a hundred retries of one outage do not come back together")
}

// retryDelayFor draws one jittered delay for a backoff of d.
func retryDelayFor(d time.Duration) time.Duration {
	return jitter(backoff(&temporal.RetryPolicy{InitialInterval: d}, 1), rand.Float64())
}

func TestRetryDelayKeepsWhatTheServerAsked(t *testing.T) {
	t.Parallel()
	require.Equal(t, 7*time.Second, retryDelay(context.Background(), 7*time.Second))
	require.Zero(t, retryDelay(context.Background(), 0), "outside an activity, Temporal decides")
}
