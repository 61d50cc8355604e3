package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no command", nil, nil, "no command"},
		{"unknown command", []string{"launch"}, nil, `unknown command "launch"`},
		{"serve without hash key", []string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x"}, "TROUPE_HASH_KEY is not set"},
		{"serve without database", []string{"serve"}, map[string]string{"TROUPE_HASH_KEY": "k"}, "DATABASE_URL is not set"},
		{"worker with a bad log level", []string{"worker"}, map[string]string{"DATABASE_URL": "postgres://x", "TROUPE_LOG_LEVEL": "loud"}, "TROUPE_LOG_LEVEL"},
		{"bad auth mode", []string{"worker"}, map[string]string{"DATABASE_URL": "postgres://x", "TROUPE_AUTH": "maybe"}, "TROUPE_AUTH"},
		{"migrate without database", []string{"migrate"}, nil, "DATABASE_URL is not set"},
		{"migrate sideways", []string{"migrate", "sideways"}, map[string]string{"DATABASE_URL": "postgres://x"}, "usage: troupe migrate"},
		{"run with bad input", []string{"run", "chat", "--input", "{nope"}, nil, "--input is not valid JSON"},
		{"worker with a negative retention", []string{"worker"}, map[string]string{"DATABASE_URL": "postgres://x", "TROUPE_RETENTION": "-1h"}, "TROUPE_RETENTION"},
		{"worker with a bad stop timeout", []string{"worker"}, map[string]string{"DATABASE_URL": "postgres://x", "TROUPE_WORKER_STOP_TIMEOUT": "soon"}, "TROUPE_WORKER_STOP_TIMEOUT"},
		{"worker with no activities", []string{"worker"}, map[string]string{"DATABASE_URL": "postgres://x", "TROUPE_ACTIVITY_CONCURRENCY": "0"}, "TROUPE_ACTIVITY_CONCURRENCY"},
		{"serve with a bad key rate", []string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "TROUPE_HASH_KEY": "k", "TROUPE_RATE_KEY": "20"}, "TROUPE_RATE_KEY is \"20\""},
		{"serve with a bad tenant rate", []string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "TROUPE_HASH_KEY": "k", "TROUPE_RATE_TENANT": "-1,5"}, "TROUPE_RATE_TENANT"},
		{"serve with bad task starts", []string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "TROUPE_HASH_KEY": "k", "TROUPE_TASKS_PER_MINUTE": "many"}, "TROUPE_TASKS_PER_MINUTE"},
		{"worker with an argument", []string{"worker", "extra"}, nil, "takes no arguments"},
		{"worker with a bad queue", []string{"worker", "--queue", "gpu pool"}, map[string]string{"DATABASE_URL": "postgres://x"}, `queue "gpu pool" may hold only`},
		{"broken definitions folder", []string{"serve"}, map[string]string{"TROUPE_HASH_KEY": "k", "DATABASE_URL": "postgres://x", "TROUPE_DEFINITIONS": "/nonexistent"}, "nonexistent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := Run(context.Background(), c.args, func(k string) string { return c.env[k] }, &out, &out)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestHelpStartsNothing(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"dev", "--help"}, {"serve", "-h"}, {"worker", "--help"}} {
		dir := t.TempDir()
		var out bytes.Buffer
		env := map[string]string{"TROUPE_DATA_DIR": dir}
		require.NoError(t, Run(context.Background(), args, func(k string) string { return env[k] }, &out, &out), args)
		require.Contains(t, out.String(), "troupe", args)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Empty(t, entries, "%v created nothing", args)
	}
}

func TestRunSaysHowToAnswerAWait(t *testing.T) {
	api, task := "http://127.0.0.1:8080", "4f1c2a9e-0000-4000-8000-000000000001"
	tool := howToAnswer(api, task, "tool_call.waiting", []byte(`{"call_id": "tc_1", "tool": "refund", "status": "pending_approval"}`))
	require.Contains(t, tool, api+"/v1/tasks/"+task+"/tool-calls/tc_1/approve")
	step := howToAnswer(api, task, "approval_waiting", []byte(`{"step": "ok", "signal": "publish_ok"}`))
	require.Contains(t, step, api+"/v1/tasks/"+task+"/signals/publish_ok")
	require.Empty(t, howToAnswer(api, task, "tool_call.started", []byte(`{"call_id": "tc_1"}`)))
}

// A taken API port fails `troupe serve` and `troupe dev` before anything slow
// starts: neither reaches the database (here nowhere), nor creates its data
// dir, nor starts Postgres or Temporal.
func TestServeAndDevFailAtOnceOnATakenPort(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = taken.Close() })
	for _, command := range []string{"serve", "dev"} {
		dir := filepath.Join(t.TempDir(), "data")
		env := map[string]string{
			"TROUPE_ADDR": taken.Addr().String(), "TROUPE_DATA_DIR": dir, "TROUPE_HASH_KEY": "k",
			"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?connect_timeout=30",
		}
		var out bytes.Buffer
		err := Run(context.Background(), []string{command}, func(k string) string { return env[k] }, &out, &out)
		require.ErrorContains(t, err, "listen on "+taken.Addr().String(), command)
		require.ErrorContains(t, err, "address already in use", command)
		require.NoDirExists(t, dir, command)
	}
}
