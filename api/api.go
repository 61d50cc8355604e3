// Package api is troupe's REST API: Huma v2 operations on chi that start,
// query, signal and cancel Temporal workflows and read the store. It never
// calls an LLM itself.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/docsui"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/telemetry"
)

// Server holds what the API operations need.
type Server struct {
	Store    *store.Store
	Temporal client.Client
	Catalog  *definitions.Catalog
	// Tools lists the tools of MCP servers for GET /v1/tools; nil lists none.
	Tools ToolLister
	// TaskQueue is the Temporal task queue the workers poll.
	TaskQueue string
	// Namespace is the Temporal namespace, used in Web UI links.
	Namespace string
	// TemporalUI is the base URL of the Temporal Web UI ("" = no links).
	TemporalUI string
	// DefaultModel is the model of tasks whose agent and request name none.
	DefaultModel string
	// HashKey keys the HMAC that turns user emails into user hashes.
	HashKey []byte
	// RequireAuth makes an API key (Authorization: Bearer ...) mandatory;
	// without it, anonymous requests act for the "default" tenant.
	RequireAuth bool
	Metrics     *telemetry.Metrics
	Gatherer    prometheus.Gatherer
	// Tracer makes a span of each request, the root of the task's trace
	// through Temporal to the LLM call; nil means no spans.
	Tracer trace.TracerProvider
	Logger *slog.Logger
	// PublicURL is where clients reach the API, the server of the OpenAPI
	// document (e.g. https://troupe.example.com).
	PublicURL string
	// RateLimits are the request and task-start limits (see allowRequest).
	RateLimits RateLimits
	limitsOnce sync.Once
	limits     *limiters
	// Events delivers task events live to the event streams: a running
	// stream.Hub.
	Events EventSource
	// KeepAlive is how long an event stream stays silent before a comment
	// keeps it open (default 15s).
	KeepAlive time.Duration
	// Mount adds routes that are not Huma operations (the OpenAI-compatible
	// ones) to the API's router, behind its metrics and tracing; nil adds none.
	Mount func(chi.Router)
}

// EventSource delivers a task's events, those stored after an id and then
// the live ones, until the task ends (see stream.Hub.Subscribe).
type EventSource interface {
	Subscribe(ctx context.Context, tenant string, task uuid.UUID, after int64) (<-chan store.Event, error)
}

// Handler returns the HTTP handler of the whole API: the /v1 operations,
// /openapi.json, /docs, /healthz, /readyz and /metrics.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.observe, eventStreams, clientCertificates)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	r.Get("/readyz", s.ready)
	if s.Gatherer != nil {
		r.Handle("/metrics", promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{}))
	}
	cfg := Config(s.PublicURL)
	docs := docsui.Handler("/docs", cfg.Info.Title, cfg.OpenAPIPath+".json")
	r.Get("/docs", docs.ServeHTTP)
	r.Get("/docs/assets/*", docs.ServeHTTP)
	api := humachi.New(r, cfg)
	s.Register(api)
	if s.Mount != nil {
		s.Mount(r)
	}
	if s.Tracer == nil {
		return r
	}
	// The route is known once chi has routed the request: observe names
	// the span then.
	return otelhttp.NewHandler(r, "troupe.api", otelhttp.WithTracerProvider(s.Tracer),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }))
}

// Config is the Huma configuration of the API (OpenAPI 3.1 at /openapi.json)
// served at publicURL. Huma's docs page is off: it loads its UI from a CDN,
// so Handler serves /docs from the docsui package's embedded copy instead.
// Every operation needs the bearer scheme, except the probes /healthz and
// /readyz, which Handler serves outside Huma and the document describes.
func Config(publicURL string) huma.Config {
	cfg := huma.DefaultConfig("troupe", "1.0.0")
	cfg.DocsPath = ""
	cfg.Info.Description = "Run LLM agent tasks and multi-agent YAML workflows durably on Temporal."
	cfg.Servers = []*huma.Server{{URL: publicURL}}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "An API key created with `troupe apikey create`. " +
			"A server started with TROUPE_AUTH=none (the default of `troupe dev`) also takes requests without one, as the tenant \"default\"."},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	cfg.AddOperation(probe("healthz", "/healthz", "Liveness", "Answers 200 while the process serves requests.", nil))
	cfg.AddOperation(probe("readyz", "/readyz", "Readiness",
		"Answers 200 when Postgres and Temporal both answer, else 503 with Retry-After, naming what is down (never why).",
		map[string]*huma.Response{"503": {Description: "Postgres or Temporal is down, one line each, e.g. `postgres: unavailable`.",
			Headers: map[string]*huma.Param{"Retry-After": {Schema: &huma.Schema{Type: "integer"}, Description: "Seconds to wait."}},
			Content: map[string]*huma.MediaType{"text/plain": {Schema: &huma.Schema{Type: "string"}}}}}))
	return cfg
}

// probe describes a plain-text probe that anyone may call (no security).
func probe(id, path, summary, description string, errs map[string]*huma.Response) *huma.Operation {
	responses := map[string]*huma.Response{"200": {Description: "OK",
		Content: map[string]*huma.MediaType{"text/plain": {Schema: &huma.Schema{Type: "string"}}}}}
	maps.Copy(responses, errs)
	return &huma.Operation{OperationID: id, Method: http.MethodGet, Path: path, Summary: summary,
		Description: description, Tags: []string{"operations"}, Security: []map[string][]string{}, Responses: responses}
}

// Document returns the OpenAPI document of the API served at publicURL, as
// Handler serves it at /openapi.json, in indented JSON: OpenAPI 3.1, or with
// v30 Huma's downgrade to 3.0.3 for tools that read no 3.1.
func Document(publicURL string, v30 bool) ([]byte, error) {
	api := humachi.New(chi.NewRouter(), Config(publicURL))
	(&Server{}).Register(api)
	var raw []byte
	var err error
	if v30 {
		raw, err = api.OpenAPI().Downgrade()
	} else {
		raw, err = json.Marshal(api.OpenAPI())
	}
	if err != nil {
		return nil, fmt.Errorf("marshal the OpenAPI document: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("indent the OpenAPI document: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// Register adds every /v1 operation to api.
func (s *Server) Register(api huma.API) {
	api.UseMiddleware(limitBody(api), s.authenticate(api), refuseUnstorableText(api))
	s.registerTasks(api)
	s.registerRetry(api)
	s.registerChildren(api)
	s.registerSignals(api)
	s.registerToolCalls(api)
	s.registerDefinitions(api)
	s.registerTools(api)
	s.registerReports(api)
	s.registerExport(api)
	s.registerWorkers(api)
	s.registerStats(api)
	s.registerSchedules(api)
	s.registerKeys(api)
	s.registerBudget(api)
	s.registerEvents(api)
	describeCommonProblems(api.OpenAPI())
}

// describeCommonProblems adds to the document what the middlewares answer
// and Huma does not know of: the Retry-After header of every 503, the
// headers of every 429 (see allowRequest), and the
// 403 of every operation that a reader key may not call (with the schema of
// the 401 every /v1 operation declares).
func describeCommonProblems(doc *huma.OpenAPI) {
	for _, item := range doc.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op == nil || op.Responses["401"] == nil {
				continue // a probe
			}
			op.Responses["503"].Headers = map[string]*huma.Param{"Retry-After": {Description: "Seconds to wait before trying again.", Schema: &huma.Schema{Type: "integer"}}}
			op.Responses["429"].Headers = rateLimitHeaders()
			if !readOnly(op) && op.Responses["403"] == nil {
				forbidden := *op.Responses["401"]
				forbidden.Description = http.StatusText(http.StatusForbidden)
				op.Responses["403"] = &forbidden
			}
		}
	}
}

// eventStreams serves GET /v1/tasks/{id}/events as server-sent events when
// the client asks for text/event-stream, as the stream operation does, and
// lifts the server's read and write deadlines from event streams: a stream
// outlives them (each event sets its own write deadline), and past the read
// deadline the connection's background read would cancel the stream.
func eventStreams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/events") &&
			strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			r.URL.Path += "/stream"
		}
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/events/stream") {
			rc := http.NewResponseController(w)
			// Test recorders have no deadlines (http.ErrNotSupported); a
			// real connection always does.
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
		}
		next.ServeHTTP(w, r)
	})
}

type shutdownKey struct{}

// WithShutdown returns ctx carrying done, a channel closed when the HTTP
// server starts shutting down: the event streams of requests whose context
// derives from it then end, so that a graceful shutdown does not wait for
// them. Set it in http.Server.BaseContext.
func WithShutdown(ctx context.Context, done <-chan struct{}) context.Context {
	return context.WithValue(ctx, shutdownKey{}, done)
}

// ShuttingDown returns the channel set by WithShutdown, or nil (never
// ready) without one.
func ShuttingDown(ctx context.Context) <-chan struct{} {
	done, _ := ctx.Value(shutdownKey{}).(<-chan struct{})
	return done
}

// ready answers 200 when Postgres and Temporal both answer.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	var down []string
	if err := s.Store.Ping(ctx); err != nil {
		down = append(down, "postgres: unavailable")
		s.Logger.WarnContext(ctx, "not ready: postgres", slog.Any("error", err))
	}
	if _, err := s.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		down = append(down, "temporal: unavailable")
		s.Logger.WarnContext(ctx, "not ready: temporal", slog.Any("error", err))
	}
	if len(down) > 0 {
		// What is down, never why: the reasons (addresses, users, errors) are
		// in the server's log, not for anonymous callers.
		w.Header().Set("Retry-After", retryAfter)
		http.Error(w, strings.Join(down, "\n"), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// observe records the duration of each request by route pattern, and names
// the request's span by it: never by the path, which holds ids.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		span := trace.SpanFromContext(r.Context())
		span.SetName(r.Method + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route))
		s.Metrics.ObserveHTTP(r.Method, route, rec.status, time.Since(start))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap returns the wrapped writer, for http.ResponseController and Huma's
// server-sent events (write deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter {
	return r.ResponseWriter
}

// Flush lets server-sent events through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
