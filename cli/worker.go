package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/telemetry"
	"github.com/troupe-dev/troupe/worker"
)

// runWorker runs a Temporal worker alone, with /metrics and /healthz on
// TROUPE_METRICS_ADDR. With --tool-queue it polls that tool queue only.
func runWorker(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&cfg.TaskQueue, "queue", cfg.TaskQueue, "poll this task queue: run the tasks, agents and steps that name it (a full worker, with the database) [TROUPE_TASK_QUEUE]")
	fs.StringVar(&cfg.ToolQueue, "tool-queue", cfg.ToolQueue, "poll this tool queue only: run the calls of tools that name it (no database needed) [TROUPE_TOOL_QUEUE]")
	fs.StringVar(&cfg.FileRoot, "file-root", cfg.FileRoot, "root directory of the built-in file tools on this worker [TROUPE_FILE_ROOT]")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "Usage: troupe worker [--queue NAME | --tool-queue NAME] [--file-root DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("troupe worker takes no arguments, got %q", fs.Args())
	}
	for _, q := range []string{cfg.TaskQueue, cfg.ToolQueue} {
		if q != "" && !definitions.ValidQueue(q) {
			return fmt.Errorf("queue %q may hold only letters, digits, _, . and - (it names a Temporal task queue)", q)
		}
	}
	if cfg.ToolQueue != "" {
		return runToolWorker(ctx, cfg, stderr)
	}
	return runWithWorker(ctx, cfg, stderr, "troupe-worker", func(p *process) error {
		return serveMetrics(ctx, p)
	})
}

// runToolWorker runs a worker on a tool queue: the tool calls of tools that
// name the queue, run where this worker runs, with no database.
func runToolWorker(ctx context.Context, cfg config, stderr io.Writer) error {
	if _, err := cfg.level(); err != nil {
		return err
	}
	opts, err := cfg.workerOptions()
	if err != nil {
		return err
	}
	p := &process{cfg: cfg, logger: newLogger(cfg, stderr).With("service", "troupe-tool-worker", "tool_queue", cfg.ToolQueue)}
	p.registry, p.metrics = newRegistry()
	if p.tracer, err = telemetry.NewTracerProvider(ctx, "troupe-tool-worker", cfg.OTLPEndpoint); err != nil {
		return err
	}
	defer p.Close()
	p.tools = newToolbox(cfg, p.tracer, p.logger)
	if p.temporal, err = dialTemporal(ctx, cfg, p.tracer, p.logger); err != nil {
		return err
	}
	w := worker.NewToolWorker(p.temporal, cfg.ToolQueue, opts, toolActivities(p.tools, p.metrics, p.tracer))
	if err := w.Start(); err != nil {
		return fmt.Errorf("start tool worker: %w", err)
	}
	defer w.Stop()
	p.logger.Info("tool worker polling", "file_root", cfg.FileRoot)
	return serveMetrics(ctx, p)
}

// serveMetrics serves /metrics and /healthz on TROUPE_METRICS_ADDR.
func serveMetrics(ctx context.Context, p *process) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return serveHTTP(ctx, p.cfg.MetricsAddr, mux, p.logger)
}
