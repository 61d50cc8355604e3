package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// apiClient is a minimal JSON client of the troupe API, for the commands
// that talk to a running API (TROUPE_API_URL, TROUPE_API_KEY; over mutual
// TLS, TROUPE_API_CA, TROUPE_CLIENT_CERT and TROUPE_CLIENT_KEY).
type apiClient struct {
	base string
	key  string
	http *http.Client
	err  error // of its TLS settings, answered by every request
}

// newAPIClient returns a client of the API cfg names; timeout bounds each
// whole request (0: none, for streams).
func newAPIClient(cfg config, timeout time.Duration) *apiClient {
	c := &apiClient{base: strings.TrimRight(cfg.APIURL, "/"), key: cfg.APIKey, http: &http.Client{Timeout: timeout}}
	tlsConfig, err := cfg.clientTLSConfig()
	if tlsConfig != nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = tlsConfig
		c.http.Transport = transport
	}
	c.err = err
	return c
}

// do sends in as JSON (nil: no body) and decodes the JSON answer into out.
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return json.Unmarshal(data, out)
}

// send sends in as JSON (nil: no body) and returns the response when its
// status is 2xx; any other status is an error carrying the problem's detail.
// The caller closes the body.
func (c *apiClient) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	if c.err != nil {
		return nil, c.err
	}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (is `troupe dev` or `troupe serve` running? set TROUPE_API_URL)", method, path, err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var problem struct {
		Detail string `json:"detail"`
		Errors []struct {
			Message  string `json:"message"`
			Location string `json:"location"`
		} `json:"errors"`
	}
	msg := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &problem) == nil && problem.Detail != "" {
		msg = problem.Detail
		for _, e := range problem.Errors {
			msg += "\n  " + e.Location + ": " + e.Message
		}
	}
	return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
}
