// Package cli implements the troupe commands. main only calls Run.
package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
)

// usage is printed for `troupe help` and unknown commands.
const usage = `troupe runs LLM agent tasks and multi-agent YAML workflows on Temporal.

Usage:
  troupe dev                          everything in one process, for a laptop
  troupe serve                        the REST API (production)
  troupe worker [--queue NAME | --tool-queue NAME] [--file-root DIR]
                                      a Temporal worker (production; run many)
  troupe migrate [up|down|status]     database schema migrations
  troupe validate FILE...             lint agent and workflow YAML
  troupe run FILE|TYPE [--input JSON] submit a task to a running API and follow it
  troupe replay HISTORY.json...       replay exported workflow histories
  troupe apikey create TENANT [--role admin|member|reader] [--name NAME] [--expires 720h]
  troupe apikey list TENANT | revoke TENANT KEY_ID
  troupe audit verify [--tenant T]    recompute the audit log's hash chains
  troupe tenants set-budget TENANT USD|none | budgets
                                      a tenant's monthly LLM budget; every budget and its use
  troupe certs dev [--dir DIR] [--host H]... [--client TENANT:ROLE]...
                                      a development CA, server and client certificates (mTLS)
  troupe export [--type T] [--status S] [--model M] [--since 24h] [--cursor C] [--output FILE]
                                      conversations as JSONL (OpenAI fine-tuning format)
  troupe workers [--json]             the workers polling each task queue, and its backlog
  troupe tasks [--status S] [--type T] [--schedule ID] [--since 24h] [--limit N] [--json]
                                      the latest tasks, a table
  troupe show ID [--json]             a task as a tree: steps, LLM and tool calls, output
  troupe follow ID                    print a running task's events until it ends
  troupe cancel ID                    cancel a task
  troupe retry ID                     run a failed, canceled or timed-out task again
                                      from the step that failed
  troupe signal ID NAME [--data JSON] send a signal, e.g. an approval
  troupe schedules list|show ID|pause ID|resume ID|trigger ID|delete ID [--json]
  troupe schedules create --id ID --type T [--input JSON] (--cron EXPR | --every DUR)
                          [--time-zone TZ] [--overlap POLICY] [--jitter DUR]
                                      tasks started on a timetable (Temporal Schedules)
  troupe openapi [--3.0]              print the API's OpenAPI document (3.1, or 3.0.3)

Configuration comes from environment variables; see the README.
`

// Run runs the troupe command named by args[0].
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	cfg := loadConfig(getenv)
	cmd, rest := args[0], args[1:]
	if cmd != "worker" && (slices.Contains(rest, "-h") || slices.Contains(rest, "--help")) {
		fmt.Fprint(stdout, usage) // and start nothing
		return nil
	}
	switch cmd {
	case "dev":
		return runDev(ctx, cfg, stderr)
	case "serve":
		return runServe(ctx, cfg, stderr)
	case "worker":
		return runWorker(ctx, cfg, rest, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, cfg, rest, stdout)
	case "validate":
		return runValidate(cfg, rest, stdout)
	case "run":
		return runTask(ctx, cfg, rest, stdout)
	case "replay":
		return runReplay(rest, stdout)
	case "apikey":
		return runAPIKey(ctx, cfg, rest, stdout)
	case "audit":
		return runAudit(ctx, cfg, rest, stdout)
	case "tenants":
		return runTenants(ctx, cfg, rest, stdout)
	case "certs":
		return runCerts(cfg, rest, stdout)
	case "export":
		return runExport(ctx, cfg, rest, stdout)
	case "workers":
		return runWorkers(ctx, cfg, rest, stdout)
	case "tasks":
		return runTasks(ctx, cfg, rest, stdout)
	case "show":
		return runShow(ctx, cfg, rest, stdout)
	case "follow":
		return runFollow(ctx, cfg, rest, stdout)
	case "cancel":
		return runCancel(ctx, cfg, rest, stdout)
	case "retry":
		return runRetry(ctx, cfg, rest, stdout)
	case "signal":
		return runSignal(ctx, cfg, rest, stdout)
	case "schedules":
		return runSchedules(ctx, cfg, rest, stdout)
	case "openapi":
		return runOpenAPI(cfg, rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
