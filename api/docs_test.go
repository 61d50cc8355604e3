package api

import (
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// docsGet fetches srv's path and returns the response with its body read.
func docsGet(t *testing.T, srv *httptest.Server, path string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// pageURLs returns every URL the HTML page names in a src, href or
// apiDescriptionUrl attribute.
func pageURLs(t *testing.T, page []byte) []string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(page)))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	var urls []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return urls
		}
		require.NoError(t, err)
		if el, ok := tok.(xml.StartElement); ok {
			for _, a := range el.Attr {
				switch strings.ToLower(a.Name.Local) {
				case "src", "href", "apidescriptionurl":
					urls = append(urls, a.Value)
				}
			}
		}
	}
}

// TestDocsServedLocally checks that /docs works without internet: the page
// loads the vendored Stoplight Elements from the API itself, anonymously
// even where API keys are required, and names no other host.
func TestDocsServedLocally(t *testing.T) {
	t.Parallel()
	s := &Server{RequireAuth: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	resp, page := docsGet(t, srv, "/docs", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(page))
	require.NotContains(t, string(page), "://", "the page names no other host")
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")

	urls := pageURLs(t, page)
	require.Len(t, urls, 3, "stylesheet, script and OpenAPI document: %s", page)
	want := map[string]string{
		"web-components.min.js": "text/javascript; charset=utf-8",
		"styles.min.css":        "text/css; charset=utf-8",
		"openapi.json":          "application/openapi+json",
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		require.NoError(t, err, raw)
		require.True(t, u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/"), "not a local URL: %s", raw)
		resp, body := docsGet(t, srv, raw, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, raw)
		name := path.Base(u.Path)
		require.Contains(t, want, name, raw)
		require.Equal(t, want[name], resp.Header.Get("Content-Type"), raw)
		delete(want, name)
		if name == "openapi.json" {
			continue
		}
		vendored, err := os.ReadFile("../docsui/elements/" + name)
		require.NoError(t, err)
		require.Equal(t, vendored, body, "%s is the vendored file", raw)
		require.Equal(t, "public, max-age=31536000, immutable", resp.Header.Get("Cache-Control"), raw)

		resp, _ = docsGet(t, srv, raw, http.Header{"If-None-Match": {resp.Header.Get("ETag")}})
		require.Equal(t, http.StatusNotModified, resp.StatusCode, raw)
		// Another version of the asset is not served under this one's name.
		resp, _ = docsGet(t, srv, path.Join(path.Dir(path.Dir(u.Path)), "0123456789abcdef", name), nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, raw)
	}
	require.Empty(t, want, "the page loads all of them")
}
