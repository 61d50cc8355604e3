package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/certs"
	"github.com/troupe-dev/troupe/devserver"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

// TestDevMutualTLS serves `troupe dev` with the files of `troupe certs dev`:
// a connection without a client certificate, or with one of another CA,
// never reaches a handler; a valid one acts for the tenant and role it names.
func TestDevMutualTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, Run(t.Context(), []string{"certs", "dev", "--dir", dir,
		"--client", "acme:member", "--client", "acme:reader", "--client", "globex:member"}, os.Getenv, &out, io.Discard))
	require.Contains(t, out.String(), "TROUPE_TLS_CLIENT_CA="+dir+"/ca.pem")
	require.Contains(t, out.String(), "TROUPE_CLIENT_CERT="+dir+"/client-acme-member.pem", "how the first client talks to the API")
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	require.NoError(t, err)

	apiPort, err := devserver.FreePort("127.0.0.1")
	require.NoError(t, err)
	temporalPort, err := devserver.FreePort("127.0.0.1")
	require.NoError(t, err)
	dbURL := storetest.NewEmptyDB(t)
	env := map[string]string{
		"DATABASE_URL": dbURL, "TROUPE_ADDR": fmt.Sprintf("127.0.0.1:%d", apiPort),
		"TEMPORAL_ADDRESS": fmt.Sprintf("127.0.0.1:%d", temporalPort), "TROUPE_UI_ADDR": "off",
		"TROUPE_METRICS_ADDR": "127.0.0.1:0", "TROUPE_DATA_DIR": t.TempDir(), "TROUPE_LOG_LEVEL": "warn",
		"TROUPE_TLS_CERT": filepath.Join(dir, "server.pem"), "TROUPE_TLS_KEY": filepath.Join(dir, "server-key.pem"),
		"TROUPE_TLS_CLIENT_CA": filepath.Join(dir, "ca.pem"),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"dev"}, func(k string) string { return env[k] }, io.Discard, &testWriter{t: t})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("troupe dev did not stop within 30s")
		}
	})

	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(ca))
	client := func(name string) *http.Client {
		cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if name != "" {
			pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
			require.NoError(t, err)
			cfg.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	}
	base := "https://" + env["TROUPE_ADDR"]
	acme, reader, globex := client("client-acme-member"), client("client-acme-reader"), client("client-globex-member")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := acme.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		require.True(t, time.Now().Before(deadline), "troupe dev not ready over TLS: %v", err)
		time.Sleep(200 * time.Millisecond)
	}
	do := func(c *http.Client, method, path, body string, header ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if len(header) == 2 {
			req.Header.Set(header[0], header[1])
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}

	// No certificate, and a certificate of another CA: refused in the handshake.
	_, err = client("").Get(base + "/v1/tasks")
	require.Error(t, err)
	require.Contains(t, err.Error(), "certificate required")
	other, err := certs.NewCA("another CA")
	require.NoError(t, err)
	certPEM, keyPEM, err := other.Client("intruder", "acme", "admin")
	require.NoError(t, err)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	// (sent even though the server names the CAs it accepts)
	intruder := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }}}}
	_, err = intruder.Get(base + "/v1/tasks")
	require.Error(t, err)
	require.Contains(t, err.Error(), "unknown certificate authority")

	// A valid certificate acts for its tenant and role.
	report := `{"events": [{"type": "flow_started", "run_id": "r-1", "flow": "etl"}]}`
	status, body := do(acme, http.MethodPost, "/v1/events", report)
	require.Equal(t, http.StatusOK, status, body)
	taskID := store.ExternalTaskID("acme", "r-1").String()
	require.Contains(t, body, taskID, "the run is acme's")
	status, body = do(acme, http.MethodGet, "/v1/tasks/"+taskID, "")
	require.Equal(t, http.StatusOK, status, body)
	status, _ = do(globex, http.MethodGet, "/v1/tasks/"+taskID, "")
	require.Equal(t, http.StatusNotFound, status, "another tenant's certificate sees nothing")
	status, _ = do(reader, http.MethodGet, "/v1/tasks/"+taskID, "")
	require.Equal(t, http.StatusOK, status)
	status, body = do(reader, http.MethodPost, "/v1/events", report)
	require.Equal(t, http.StatusForbidden, status, body)

	// troupe's own commands present a certificate too.
	command := map[string]string{"TROUPE_API_URL": base, "TROUPE_API_CA": filepath.Join(dir, "ca.pem"),
		"TROUPE_CLIENT_CERT": filepath.Join(dir, "client-acme-member.pem"), "TROUPE_CLIENT_KEY": filepath.Join(dir, "client-acme-member-key.pem")}
	var listed bytes.Buffer
	require.NoError(t, Run(t.Context(), []string{"show", taskID}, func(k string) string { return command[k] }, &listed, io.Discard))
	require.Contains(t, listed.String(), "etl", "acme's run, shown to acme's certificate")
	delete(command, "TROUPE_CLIENT_CERT")
	err = Run(t.Context(), []string{"show", taskID}, func(k string) string { return command[k] }, io.Discard, io.Discard)
	require.ErrorContains(t, err, "TROUPE_CLIENT_CERT and TROUPE_CLIENT_KEY")

	// A key must be of the certificate's tenant.
	st := storeOn(t, dbURL)
	globexKey, _, err := st.CreateAPIKey(t.Context(), store.NewAPIKey{TenantID: "globex", Role: "member", Name: "k"})
	require.NoError(t, err)
	status, body = do(acme, http.MethodGet, "/v1/tasks", "", "Authorization", "Bearer "+globexKey)
	require.Equal(t, http.StatusForbidden, status, body)
	require.Contains(t, body, "another tenant than the client certificate")
}

// storeOn returns a store on the database at dbURL, closed at the end of the test.
func storeOn(t *testing.T, dbURL string) *store.Store {
	t.Helper()
	pool, err := store.Connect(t.Context(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return store.New(pool)
}
