package ratelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clock is a fake clock that tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiterRefusesPastTheBurstAndRefills(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(Limit{Rate: 2, Burst: 3}, c.now)
	for i := range 3 {
		d := l.Allow("k")
		require.True(t, d.Allowed, "request %d is within the burst", i)
		require.Equal(t, 3, d.Limit)
		require.Equal(t, 2-i, d.Remaining)
	}
	d := l.Allow("k")
	require.False(t, d.Allowed)
	require.Equal(t, 0, d.Remaining)
	require.Equal(t, 500*time.Millisecond, d.RetryAfter, "one token at 2 a second")
	require.Equal(t, 1500*time.Millisecond, d.Reset, "three tokens to be full")
	require.True(t, l.Allow("other").Allowed, "every key has its own bucket")

	c.t = c.t.Add(d.RetryAfter)
	require.True(t, l.Allow("k").Allowed, "a token is back after RetryAfter")
	require.False(t, l.Allow("k").Allowed)
}

func TestLimiterEvictsIdleBuckets(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(Limit{Rate: 1, Burst: 10}, c.now)
	for i := range 1000 {
		l.Allow(fmt.Sprint("key-", i))
	}
	require.Len(t, l.buckets, 1000)

	c.t = c.t.Add(sweepEvery)
	for l.Allow("busy").Allowed { // spend busy's burst
	}
	require.Len(t, l.buckets, 1, "the full buckets of idle keys are gone; only busy's remains")

	c.t = c.t.Add(sweepEvery)
	require.True(t, l.Allow("new").Allowed)
	require.Len(t, l.buckets, 1, "busy's bucket, full again, is gone too")
}
