// Package activities holds the Temporal activities of troupe: LLM calls and
// the writes that project a task's progress into the store. Activities run at
// least once, so each of them is idempotent.
package activities

import (
	"time"

	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/telemetry"
)

// Activities holds the dependencies of every troupe activity. Register a
// pointer to it with a Temporal worker.
type Activities struct {
	Store   *store.Store
	LLM     chatModel
	Prices  llm.Prices
	Metrics *telemetry.Metrics
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}
