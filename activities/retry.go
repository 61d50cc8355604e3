package activities

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// retryDelay is how long to wait before the next attempt of the running
// activity: what the server asked for (asked, from Retry-After) when it said,
// else the retry policy's backoff for this attempt with jitter ("equal
// jitter": half of it fixed, half random). Temporal's own backoff has no
// jitter, so without this every task failed by one outage would retry at
// the same instants. Zero leaves the delay to Temporal.
func retryDelay(ctx context.Context, asked time.Duration) time.Duration {
	if asked > 0 || !activity.IsActivity(ctx) {
		return asked
	}
	info := activity.GetInfo(ctx)
	return jitter(backoff(info.RetryPolicy, info.Attempt), rand.Float64())
}

// backoff is the policy's interval after attempt (1 for the first):
// InitialInterval × BackoffCoefficient^(attempt-1), at most MaximumInterval.
func backoff(p *temporal.RetryPolicy, attempt int32) time.Duration {
	if p == nil || p.InitialInterval <= 0 {
		return 0
	}
	d := float64(p.InitialInterval) * math.Pow(max(p.BackoffCoefficient, 1), float64(max(attempt, 1)-1))
	if p.MaximumInterval > 0 {
		d = min(d, float64(p.MaximumInterval))
	}
	return time.Duration(min(d, float64(math.MaxInt64/2)))
}

// jitter spreads d over [d/2, d) with r in [0, 1).
func jitter(d time.Duration, r float64) time.Duration {
	return d/2 + time.Duration(r*float64(d/2))
}
