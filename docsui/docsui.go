// Package docsui serves the API's documentation page: Stoplight Elements
// from copies of its browser assets embedded in the binary (elements/, see
// its NOTICE; scripts/vendor-docs-ui.sh re-fetches them), so that the page
// works without internet access.
package docsui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"time"
)

//go:embed elements/web-components.min.js elements/styles.min.css
var elements embed.FS

// Script and Stylesheet are the names of the embedded assets the page loads.
const (
	Script     = "web-components.min.js"
	Stylesheet = "styles.min.css"
)

// csp lets the page load only what the API serves itself, as Huma's own
// Elements page does with its CDN.
const csp = "default-src 'none'; base-uri 'none'; connect-src 'self'; form-action 'none'; " +
	"frame-ancestors 'none'; img-src 'self' data:; sandbox allow-same-origin allow-scripts; " +
	"script-src 'self'; style-src 'self' 'unsafe-inline'"

// pageHTML is the template of the page; Handler fills in its URLs.
const pageHTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="referrer" content="no-referrer">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{{.Title}}</title>
    <link rel="stylesheet" href="{{.Stylesheet}}">
    <script src="{{.Script}}"></script>
  </head>
  <body style="height: 100vh;">
    <elements-api apiDescriptionUrl="{{.SpecURL}}" router="hash" layout="sidebar" tryItCredentialsPolicy="same-origin"></elements-api>
  </body>
</html>
`

// asset is an embedded file and the version of its content that its URL
// carries, so that it can be cached for good.
type asset struct {
	content []byte
	version string
}

// Handler serves the docs page at prefix (such as "/docs") and its assets at
// prefix+"/assets/{version}/{name}"; the page shows the OpenAPI document at
// specURL under the given title. Both need no authentication: they hold no
// tenant data. Route prefix and everything below prefix+"/assets/" to it.
// It panics only if the package's embedded files or template are broken,
// which its tests rule out.
func Handler(prefix, title, specURL string) http.Handler {
	assets := map[string]asset{}
	urls := map[string]string{}
	for _, name := range []string{Script, Stylesheet} {
		b, err := elements.ReadFile(path.Join("elements", name))
		if err != nil {
			panic(fmt.Errorf("read docs asset %s: %w", name, err))
		}
		sum := sha256.Sum256(b)
		a := asset{content: b, version: hex.EncodeToString(sum[:8])}
		assets[name] = a
		urls[name] = path.Join(prefix, "assets", a.version, name)
	}
	var html bytes.Buffer
	err := template.Must(template.New("docs").Parse(pageHTML)).Execute(&html, map[string]string{
		"Title": title, "SpecURL": specURL, "Script": urls[Script], "Stylesheet": urls[Stylesheet],
	})
	if err != nil {
		panic(fmt.Errorf("render docs page: %w", err))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", csp)
		// The page is small and names the assets by version: revalidate it.
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(html.Bytes())
	})
	mux.HandleFunc("GET "+prefix+"/assets/{version}/{name}", func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.PathValue("name")]
		if !ok || a.version != r.PathValue("version") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("ETag", `"`+a.version+`"`)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// ServeContent sets the Content-Type from the name's extension.
		http.ServeContent(w, r, r.PathValue("name"), time.Time{}, bytes.NewReader(a.content))
	})
	return mux
}
