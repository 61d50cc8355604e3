#!/usr/bin/env bash
# Runs every troupe test against a real PostgreSQL: the one TEST_DATABASE_URL
# points at, else a private cluster started here and removed afterwards
# (installing Debian's postgresql package first when the machine has none;
# likewise chromium, for the console's browser tests). It
# never writes into a server it was not pointed at.
# Extra arguments go to `go test` (e.g. ./scripts/test.sh -run TestDev ./cli/).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_go

port_free() { # port
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  ensure_pg_binaries
  bin="$(pg_bin)"
  dir="$(mktemp -d /tmp/troupe-test-pg.XXXXXX)"
  port=55432
  while ! port_free "$port"; do port=$((port + 1)); done
  as=()
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; as=(runuser -u postgres --); fi
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync >/dev/null
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
  trap '"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null; rm -rf "$dir"' EXIT
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  echo "started a private PostgreSQL for the tests on port $port; it is removed at the end" >&2
fi
# devserver tests start private clusters from the PostgreSQL binaries.
ensure_pg_binaries
# The console's browser tests (cli) drive Debian's chromium headless.
ensure_chromium
# The OpenAI-compatible API is tested with the official Node SDK too.
ensure_node_openai

if [ $# -eq 0 ]; then set -- ./...; fi
go test -count=1 -timeout 45m "$@"
