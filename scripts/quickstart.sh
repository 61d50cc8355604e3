#!/usr/bin/env bash
# Builds troupe, starts `troupe dev` (embedded Temporal + Web UI, a private
# PostgreSQL, a worker and the API), submits a first task with curl, prints
# the result, and keeps the stack running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_go
[ -n "${DATABASE_URL:-}" ] || ensure_pg_binaries

mkdir -p bin
echo "building troupe (the first build compiles the Temporal server: about 10 minutes on two cores)..." >&2
go build -o bin/troupe ./cmd/troupe

api="http://${TROUPE_ADDR:-127.0.0.1:8080}"
bin/troupe dev &
dev=$!
trap 'kill -INT $dev 2>/dev/null; wait $dev' INT TERM

for _ in $(seq 1 600); do
  curl -fs "$api/readyz" >/dev/null 2>&1 && break
  kill -0 $dev 2>/dev/null || { echo "troupe dev exited" >&2; exit 1; }
  sleep 0.2
done

echo "submitting a first task:" >&2
set -x
task=$(curl -fsS -X POST "$api/v1/tasks" -H 'Content-Type: application/json' \
  -d '{"type": "summarize", "input": {"text": "Temporal is a durable execution platform: workflows survive crashes, retries are automatic, and every step is recorded in an event history that can be replayed."}}')
{ set +x; } 2>/dev/null
id=$(printf '%s' "$task" | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
for _ in $(seq 1 300); do
  task=$(curl -fsS "$api/v1/tasks/$id")
  # The task's own status comes first; its runs' statuses come after it.
  case "$(printf '%s' "$task" | grep -o '"status":"[a-z_]*"' | head -1)" in
    '"status":"completed"'|'"status":"failed"'|'"status":"canceled"'|'"status":"timed_out"') break;;
  esac
  sleep 0.2
done
echo "$task"
cat >&2 <<MSG

troupe dev is running. Try:
  ID=$id
  curl -s $api/v1/tasks/\$ID             # the task
  curl -s $api/v1/tasks/\$ID/llm-calls   # the conversation, tokens and cost
  bin/troupe show \$ID                   # the same as a tree
  http://127.0.0.1:8233                   # the Temporal Web UI in a browser (workflow task-$id)
  $api/docs                               # the API reference in a browser
  curl -s $api/metrics                    # Prometheus metrics
  # an agent with tools, offline (the mock model writes a note, a tool step reads it back):
  bin/troupe run workflow:keep_note --input '{"name": "first", "text": "Tools work offline."}'
  cat .troupe/workspace/notes/first.md
Ctrl-C stops everything.
MSG
wait $dev
