package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/troupe-dev/troupe/tool/tooltest"
)

// cliEnv makes the test binary run a troupe command instead of the tests
// (e.g. TROUPE_TEST_CLI="worker --tool-queue host"), so that a test can run
// troupe as a process of its own and kill it.
const cliEnv = "TROUPE_TEST_CLI"

func TestMain(m *testing.M) {
	tooltest.MaybeServeStdio()
	if args := os.Getenv(cliEnv); args != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := Run(ctx, strings.Fields(args), os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "troupe:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	stopBrowser()
	os.Exit(code)
}
