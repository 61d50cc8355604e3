package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.temporal.io/sdk/client"

	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/console"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/openaiapi"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/stream"
	"github.com/troupe-dev/troupe/telemetry"
	"github.com/troupe-dev/troupe/tool"
	"github.com/troupe-dev/troupe/worker"
)

// process holds what every long-running troupe command is built from:
// logging, telemetry, the store and the Temporal client.
type process struct {
	cfg      config
	logger   *slog.Logger
	tracer   *sdktrace.TracerProvider
	registry *prometheus.Registry
	metrics  *telemetry.Metrics
	pool     *pgxpool.Pool
	store    *store.Store
	temporal client.Client
	tools    *tool.Toolbox
}

// openProcess connects to Postgres and Temporal and builds telemetry.
// Close it when done.
func openProcess(ctx context.Context, cfg config, stderr io.Writer, service string) (*process, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &process{cfg: cfg, logger: newLogger(cfg, stderr).With("service", service)}
	p.registry, p.metrics = newRegistry()
	var err error
	if p.tracer, err = telemetry.NewTracerProvider(ctx, service, cfg.OTLPEndpoint); err != nil {
		return nil, err
	}
	if p.pool, err = store.Connect(ctx, cfg.DatabaseURL); err != nil {
		p.Close()
		return nil, err
	}
	if err := checkSchema(ctx, p.pool, p.logger); err != nil {
		p.Close()
		return nil, err
	}
	p.store = store.New(p.pool)
	p.tools = newToolbox(cfg, p.tracer, p.logger)
	if p.temporal, err = dialTemporal(ctx, cfg, p.tracer, p.logger); err != nil {
		p.Close()
		return nil, err
	}
	if err := worker.EnsureSearchAttributes(ctx, p.temporal, cfg.TemporalNamespace); err != nil {
		p.logger.Warn("search attributes are not registered; register TroupeTenant, TroupeTaskType and TroupeUserHash (Keyword) with `temporal operator search-attribute create`", "error", err)
	}
	return p, nil
}

// checkSchema refuses a database schema older than this binary's migrations,
// and warns about a newer one: migrations are additive, so a binary one
// version behind keeps working during a rolling upgrade.
func checkSchema(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	v, err := store.CheckSchema(ctx, pool)
	if err != nil {
		return err
	}
	if v.Database > v.Binary {
		logger.Warn("the database schema is newer than this troupe binary; fine during a rolling upgrade, but upgrade this process",
			"schema_version", v.Database, "binary_schema_version", v.Binary)
	}
	return nil
}

// Close releases the process's connections.
func (p *process) Close() {
	if p.temporal != nil {
		p.temporal.Close()
	}
	if p.tools != nil {
		if err := p.tools.Close(); err != nil {
			p.logger.Warn("stop MCP sessions", "error", err)
		}
	}
	if p.pool != nil {
		p.pool.Close()
	}
	if p.tracer != nil {
		if err := p.tracer.Shutdown(context.Background()); err != nil {
			p.logger.Warn("flush traces", "error", err)
		}
	}
}

// runWithWorker opens a process with a Temporal worker in it, runs serve until
// it returns, then stops the worker and closes the process.
func runWithWorker(ctx context.Context, cfg config, stderr io.Writer, service string, serve func(*process) error) error {
	p, err := openProcess(ctx, cfg, stderr, service)
	if err != nil {
		return err
	}
	defer p.Close()
	w, err := p.startWorker()
	if err != nil {
		return err
	}
	defer w.Stop()
	if retention, _ := cfg.retention(); retention > 0 { // checked by validate
		stop := (&store.Cleaner{Store: p.store, Retention: retention, Logger: p.logger}).Start(ctx)
		defer stop()
	}
	return serve(p)
}

// startWorker starts a Temporal worker in the process; stop it with Stop.
func (p *process) startWorker() (interface{ Stop() }, error) {
	acts, err := newActivities(p.cfg, p.store, p.tracer, p.metrics, p.logger)
	if err != nil {
		return nil, err
	}
	opts, _ := p.cfg.workerOptions() // checked by validate
	opts.Logs = p.store
	w := worker.New(p.temporal, p.cfg.TaskQueue, opts, acts, toolActivities(p.tools, p.metrics, p.tracer))
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	p.logger.Info("worker polling", "task_queue", p.cfg.TaskQueue, "default_model", p.cfg.DefaultModel)
	return w, nil
}

// serveAPI serves the API on ln, bound to TROUPE_ADDR, with the definitions
// of catalog, until ctx ends; meanwhile it sweeps pending tasks whose workflow
// never started. With API keys required, /metrics is not on the API, where
// tenants could read figures of every tenant, but on a listener of its own,
// TROUPE_METRICS_ADDR, for the operator's Prometheus.
func (p *process) serveAPI(ctx context.Context, ln net.Listener, catalog *definitions.Catalog) error {
	srv := newAPI(p.cfg, p.store, p.temporal, catalog, p.registry, p.metrics, p.tracer, p.logger)
	srv.Tools = p.tools
	hub := stream.NewHub(p.store, p.logger.With("component", "stream"))
	p.registry.MustRegister(hub.Collectors()...)
	srv.Events = hub
	openai, ui := openaiapi.New(srv), console.New(srv, hub)
	ws := &stream.WebSocket{Hub: hub, Authenticate: srv.AuthenticateReader, Stopping: api.ShuttingDown, Logger: p.logger.With("component", "websocket")}
	srv.Mount = func(r chi.Router) {
		openai.Routes(r)
		r.Get("/v1/ws", ws.ServeHTTP)
		ui.Routes(r)
	}
	stop := srv.StartSweep(ctx)
	defer stop()
	tlsConfig, _ := p.cfg.tlsConfig() // checked by validate
	// The hub starts and stops with the API.
	serve := func(ctx context.Context) error {
		return serveBoth(ctx, hub.Run, func(ctx context.Context) error { return serveOn(ctx, ln, srv.Handler(), tlsConfig, p.logger) })
	}
	if metricsOnAPI(p.cfg) {
		return serve(ctx)
	}
	return serveBoth(ctx, serve, func(ctx context.Context) error { return serveMetrics(ctx, p) })
}
