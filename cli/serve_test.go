package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/devserver"
	"github.com/troupe-dev/troupe/store/storetest"
	"github.com/troupe-dev/troupe/workflows"
)

// freeAddr returns a local address no one listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// httpGet returns the status and body of GET url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestServeWithAPIKeysServesMetricsOnTheirOwnListener(t *testing.T) {
	temporal, err := devserver.StartTemporal(t.Context(), devserver.TemporalConfig{SearchAttributes: workflows.SearchAttributes()})
	require.NoError(t, err)
	t.Cleanup(temporal.Stop)
	apiAddr, metricsAddr := freeAddr(t), freeAddr(t)
	env := map[string]string{
		"DATABASE_URL": storetest.NewDB(t), "TEMPORAL_ADDRESS": temporal.Address(), "TROUPE_HASH_KEY": "k",
		"TROUPE_ADDR": apiAddr, "TROUPE_METRICS_ADDR": metricsAddr, // TROUPE_AUTH unset: apikey
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- Run(ctx, []string{"serve"}, func(k string) string { return env[k] }, io.Discard, &out) }()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + apiAddr + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "the API answers")

	status, _ := httpGet(t, "http://"+apiAddr+"/v1/tasks")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = httpGet(t, "http://"+apiAddr+"/metrics")
	require.Equal(t, http.StatusNotFound, status, "tenants cannot read the metrics on the API")
	status, body := httpGet(t, "http://"+metricsAddr+"/metrics")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `troupe_http_request_duration_seconds_count{method="GET",route="/v1/tasks",status="401"} 1`)

	cancel()
	require.NoError(t, <-done, out.String())
}
