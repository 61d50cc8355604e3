package cli

import (
	"context"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// runWorker runs a Temporal worker alone, with /metrics and /healthz on
// TROUPE_METRICS_ADDR.
func runWorker(ctx context.Context, cfg config, stderr io.Writer) error {
	return runWithWorker(ctx, cfg, stderr, "troupe-worker", func(p *process) error {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
		return serveHTTP(ctx, cfg.MetricsAddr, mux, p.logger)
	})
}
