package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	temporallog "go.temporal.io/sdk/log"

	"github.com/troupe-dev/troupe/activities"
	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/examples"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/telemetry"
	"github.com/troupe-dev/troupe/tool"
)

// newLogger returns the process logger, writing text to w.
func newLogger(cfg config, w io.Writer) *slog.Logger {
	level, _ := cfg.level()
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// newRegistry returns a Prometheus registry with troupe's metrics and the
// Go runtime's.
func newRegistry() (*prometheus.Registry, *telemetry.Metrics) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg, telemetry.NewMetrics(reg)
}

// dialTemporal connects to the Temporal frontend, with trace propagation
// from the API through workflows to activities.
func dialTemporal(ctx context.Context, cfg config, tp trace.TracerProvider, logger *slog.Logger) (client.Client, error) {
	tracing, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: tp.Tracer("troupe.temporal")})
	if err != nil {
		return nil, fmt.Errorf("temporal tracing: %w", err)
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort:     cfg.TemporalAddress,
		Namespace:    cfg.TemporalNamespace,
		Logger:       temporallog.NewStructuredLogger(logger.With("component", "temporal-sdk")),
		Interceptors: []interceptor.ClientInterceptor{tracing},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	return c, nil
}

// newActivities builds the activities with their LLM providers. Without an
// OpenAI key only the offline mock model is available, and a warning says so.
// Metrics label LLM calls by model only for the models of the price table
// and the default model.
func newActivities(cfg config, st *store.Store, tp trace.TracerProvider, metrics *telemetry.Metrics, logger *slog.Logger) (*activities.Activities, error) {
	prices := llm.DefaultPrices()
	if cfg.Prices != "" {
		var err error
		if prices, err = llm.LoadPrices(cfg.Prices); err != nil {
			return nil, err
		}
	}
	var openai *llm.OpenAI
	if cfg.OpenAIKey != "" {
		openai = llm.NewOpenAI(llm.OpenAIConfig{
			APIKey:     cfg.OpenAIKey,
			BaseURL:    cfg.OpenAIBaseURL,
			HTTPClient: &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(tp))},
		})
	} else {
		logger.Warn("OPENAI_API_KEY is not set: the default model is the offline mock model, which answers deterministically from its input; set OPENAI_API_KEY (and OPENAI_BASE_URL for OpenRouter, Ollama or vLLM) to use a real one")
	}
	return &activities.Activities{
		Store:   st,
		LLM:     llm.NewRouter(openai, llm.NewMock()),
		Prices:  prices,
		Metrics: metrics.WithModels(append(slices.Collect(maps.Keys(prices)), cfg.DefaultModel)...),
	}, nil
}

// newToolbox builds the tool clients: HTTP calls traced with otelhttp, MCP
// sessions, and the file tools under TROUPE_FILE_ROOT.
func newToolbox(cfg config, tp trace.TracerProvider, logger *slog.Logger) *tool.Toolbox {
	return tool.New(tool.Config{
		Getenv:     cfg.getenv,
		FileRoot:   cfg.FileRoot,
		HTTPClient: &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(tp))},
		Logger:     logger.With("component", "tools"),
	})
}

// toolActivities builds the tool activities around a toolbox.
func toolActivities(tb *tool.Toolbox, metrics *telemetry.Metrics, tp trace.TracerProvider) *activities.Tools {
	return &activities.Tools{Toolbox: tb, Metrics: metrics, Tracer: tp.Tracer("troupe.tool")}
}

// loadCatalog loads the agent and workflow definitions: TROUPE_DEFINITIONS,
// or the shipped examples.
func loadCatalog(cfg config) (*definitions.Catalog, error) {
	if cfg.Definitions == "" {
		return definitions.Load(examples.FS)
	}
	return definitions.LoadDir(cfg.Definitions)
}

// newAPI builds the API server. It serves /metrics only when metricsOnAPI.
func newAPI(cfg config, st *store.Store, tc client.Client, catalog *definitions.Catalog, reg *prometheus.Registry, metrics *telemetry.Metrics, tp trace.TracerProvider, logger *slog.Logger) *api.Server {
	srv := &api.Server{
		Store: st, Temporal: tc, Catalog: catalog,
		TaskQueue: cfg.TaskQueue, Namespace: cfg.TemporalNamespace, TemporalUI: cfg.TemporalUI,
		DefaultModel: cfg.DefaultModel, HashKey: []byte(cfg.HashKey), RequireAuth: cfg.Auth != "none",
		Metrics: metrics, Tracer: tp, Logger: logger, PublicURL: cfg.PublicURL,
	}
	srv.RateLimits, _ = cfg.rateLimits() // checked by validate
	reg.MustRegister(telemetry.NewBudgetCollector(func(ctx context.Context) ([]telemetry.BudgetReading, error) {
		budgets, err := st.ListBudgets(ctx)
		readings := make([]telemetry.BudgetReading, 0, len(budgets))
		for _, b := range budgets {
			readings = append(readings, telemetry.BudgetReading{Tenant: b.TenantID, MonthlyUSD: *b.MonthlyUSD, SpentUSD: b.SpentUSD, ReservedUSD: b.ReservedUSD})
		}
		return readings, err
	}))
	if metricsOnAPI(cfg) {
		srv.Gatherer = reg
	}
	return srv
}

// metricsOnAPI says whether the API serves /metrics: only without API keys
// (TROUPE_AUTH=none, the default of dev), where every caller is trusted.
// With keys, a tenant must not read figures of every tenant: `troupe serve`
// serves them on TROUPE_METRICS_ADDR instead.
func metricsOnAPI(cfg config) bool {
	return cfg.Auth == "none"
}

// httpLimits bound the connections of troupe's HTTP servers.
type httpLimits struct {
	// ReadHeader bounds the reading of a request's headers.
	ReadHeader time.Duration
	// Read bounds the reading of a whole request, body included. Event
	// streams lift it once their request is read.
	Read time.Duration
	// Write bounds the writing of a response; each event of a stream sets a
	// write deadline of its own.
	Write time.Duration
	// Idle bounds the wait for the next request on a kept-alive connection.
	Idle time.Duration
	// Shutdown bounds the wait for requests in flight once ctx ends.
	Shutdown time.Duration
}

// defaultHTTPLimits are the limits of serveHTTP: bodies are at most 1 MiB.
func defaultHTTPLimits() httpLimits {
	return httpLimits{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second, Idle: 2 * time.Minute, Shutdown: 10 * time.Second}
}

// listen binds addr. The commands that serve the API bind its address before
// anything slow starts: a taken port fails at once, and nothing else can take
// the port while the rest starts.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// serveHTTP serves h on addr until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	ln, err := listen(addr)
	if err != nil {
		return err
	}
	return serveOn(ctx, ln, h, nil, logger)
}

// serveOn serves h on ln until ctx ends, then shuts down gracefully: over TLS
// when tlsConfig is not nil.
func serveOn(ctx context.Context, ln net.Listener, h http.Handler, tlsConfig *tls.Config, logger *slog.Logger) error {
	scheme := "http"
	if tlsConfig != nil {
		ln, scheme = tls.NewListener(ln, tlsConfig), "https"
	}
	url := scheme + "://" + ln.Addr().String()
	logger.Info("listening", "url", url, "docs", url+"/docs", "client_certificates", tlsConfig != nil && tlsConfig.ClientCAs != nil)
	return serveListener(ctx, ln, h, defaultHTTPLimits())
}

// serveListener serves h on ln within limits until ctx ends, then shuts
// down gracefully.
func serveListener(ctx context.Context, ln net.Listener, h http.Handler, limits httpLimits) error {
	// Event streams end when the server starts shutting down: Shutdown
	// does not wait for them.
	stopping := make(chan struct{})
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: limits.ReadHeader,
		ReadTimeout:       limits.Read,
		WriteTimeout:      limits.Write,
		IdleTimeout:       limits.Idle,
		BaseContext:       func(net.Listener) context.Context { return api.WithShutdown(context.Background(), stopping) },
	}
	srv.RegisterOnShutdown(func() { close(stopping) })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limits.Shutdown)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down HTTP server: %w", err)
	}
	return nil
}
