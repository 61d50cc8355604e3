package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/troupe-dev/troupe/ratelimit"
)

// RateLimits are the API's limits, kept in this process: N API replicas
// allow N times the rates. An Off limit is not enforced.
type RateLimits struct {
	// Key limits the requests of one API key (anonymous callers share one
	// bucket), Tenant those of one tenant.
	Key, Tenant ratelimit.Limit
	// TaskStarts limits the tasks one tenant starts (created or retried):
	// Rate is per second, as in every Limit.
	TaskStarts ratelimit.Limit
}

// rateCheck is one limit a request is held to.
type rateCheck struct {
	limiter *ratelimit.Limiter
	what    string // what is limited, for the problem's detail
	per     func(principal) string
}

// limiters are the buckets of a Server's RateLimits, made at first use.
type limiters struct {
	requests []rateCheck // of a key, and of a tenant
	starts   []rateCheck // of a tenant's task starts
}

func (s *Server) limiters() *limiters {
	s.limitsOnce.Do(func() {
		l := s.RateLimits
		s.limits = &limiters{
			requests: []rateCheck{
				{limiterOf(l.Key), fmt.Sprintf("requests of this API key (%g a second, bursts of %d)", l.Key.Rate, l.Key.Burst), actor},
				{limiterOf(l.Tenant), fmt.Sprintf("requests of this tenant (%g a second, bursts of %d)", l.Tenant.Rate, l.Tenant.Burst), tenant},
			},
			starts: []rateCheck{{limiterOf(l.TaskStarts),
				fmt.Sprintf("tasks started by this tenant (%.4g a minute)", l.TaskStarts.Rate*60), tenant}},
		}
	})
	return s.limits
}

// allowRequest holds a request of p to the limits of its key and tenant
// (Authenticate calls it, for the Huma operations and the routes of Mount
// alike); allowStart holds a task start to its tenant's limit (the handlers
// that start tasks call it before writing anything). Past a limit, the error
// is a 429 with Retry-After and the RateLimit-Limit, -Remaining and -Reset
// headers of that limit.
func (s *Server) allowRequest(p principal) error { return allow(p, s.limiters().requests) }
func (s *Server) allowStart(p principal) error   { return allow(p, s.limiters().starts) }

func allow(p principal, checks []rateCheck) error {
	for _, c := range checks {
		if c.limiter == nil {
			continue
		}
		if d := c.limiter.Allow(c.per(p)); !d.Allowed {
			return tooManyRequests(c.what, d)
		}
	}
	return nil
}

// actor and tenant name the bucket of a request's key and of its tenant.
func actor(p principal) string  { return p.Actor }
func tenant(p principal) string { return p.Tenant }

// limiterOf returns a limiter of l, or nil when l is off.
func limiterOf(l ratelimit.Limit) *ratelimit.Limiter {
	if l.Off() {
		return nil
	}
	return ratelimit.New(l, nil)
}

// tooManyRequests is the 429 of a refused request, with its headers.
func tooManyRequests(what string, d ratelimit.Decision) error {
	wait := seconds(d.RetryAfter)
	return huma.ErrorWithHeaders(huma.NewError(http.StatusTooManyRequests,
		fmt.Sprintf("Too many %s; retry in %d s.", what, wait)),
		http.Header{
			"Retry-After":         {strconv.Itoa(wait)},
			"RateLimit-Limit":     {strconv.Itoa(d.Limit)},
			"RateLimit-Remaining": {strconv.Itoa(d.Remaining)},
			"RateLimit-Reset":     {strconv.Itoa(seconds(d.Reset))},
		})
}

// seconds rounds d up to whole seconds, at least 1.
func seconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// rateLimitHeaders describe the headers of a 429 in the OpenAPI document.
func rateLimitHeaders() map[string]*huma.Param {
	integer := func(description string) *huma.Param {
		return &huma.Param{Description: description, Schema: &huma.Schema{Type: "integer"}}
	}
	return map[string]*huma.Param{
		"Retry-After":         integer("Whole seconds until the request may succeed (at least 1)."),
		"RateLimit-Limit":     integer("The size of the bucket that refused the request: the requests (or task starts) allowed at once."),
		"RateLimit-Remaining": integer("What is left in that bucket: 0."),
		"RateLimit-Reset":     integer("Whole seconds until that bucket is full again."),
	}
}
