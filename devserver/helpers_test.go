package devserver

import (
	"log/slog"
	"testing"
)

// testLogger logs to the test's output, at Info and above.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}
