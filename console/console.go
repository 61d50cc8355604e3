// Package console is troupe's web console at /ui/: server-rendered pages
// (html/template) over the API's own operations, so that a page shows what
// the API would answer the same key, with htmx and its server-sent events
// extension (vendored in assets/vendor, see its NOTICE) for the parts that
// change live. It needs no Node at run time or build time.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/store"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// Prefix is where the console is served.
const Prefix = "/ui"

// Subscriber follows task events live: with task uuid.Nil, every task of the
// tenant from now on; else the task's events with ids above after, stored
// then live, the channel closed after its final status event. stream.Hub
// satisfies it.
type Subscriber interface {
	Subscribe(ctx context.Context, tenant string, task uuid.UUID, after int64) (<-chan store.Event, error)
}

// Console serves the web console of an API server.
type Console struct {
	api    *api.Server
	events Subscriber
	pages  map[string]*template.Template
	csrf   *http.CrossOriginProtection
	logger *slog.Logger
}

// New returns the console of s. events feeds the live parts of the pages;
// nil leaves them still (a reload shows what changed).
func New(s *api.Server, events Subscriber) *Console {
	c := &Console{api: s, events: events, logger: s.Logger, pages: map[string]*template.Template{},
		csrf: http.NewCrossOriginProtection()}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/parts.html"))
	pages, _ := fs.Glob(templateFiles, "templates/*.html")
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" || name == "parts" {
			continue
		}
		c.pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFiles, p))
	}
	return c
}

// Routes adds the console's routes to r: compose it into api.Server.Mount.
// Unsafe methods are refused to cross-origin requests
// (http.CrossOriginProtection), on top of the SameSite=Strict cookie.
func (c *Console) Routes(r chi.Router) {
	r.Get(Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
	})
	r.Route(Prefix, func(r chi.Router) {
		r.Use(c.csrf.Handler, securityHeaders)
		r.Get("/assets/*", c.asset)
		r.Get("/login", c.loginPage)
		r.Post("/login", c.login)
		r.Post("/logout", c.logout)
		r.Get("/", c.read("tasks", c.tasksPage))
		r.Get("/live", c.read("tasks", c.tasksLive))
		r.Get("/tasks/{id}", c.read("task", c.taskPage))
		r.Get("/tasks/{id}/live", c.read("task", c.taskLive))
		r.Post("/tasks/{id}/cancel", c.change("cancelTask", c.cancel))
		r.Post("/tasks/{id}/signals/{name}", c.change("signalTask", c.signal))
		r.Post("/tasks/{id}/tool-calls/{call_id}/{decision}", c.change("decideToolCall", c.decideToolCall))
		r.Get("/workflows", c.read("workflows", c.workflowsPage))
		r.Post("/workflows/{name}/run", c.change("createTask", c.runWorkflow))
		r.Get("/costs", c.read("costs", c.costsPage))
		r.Get("/stats", c.read("stats", c.statsPage))
		r.Get("/audit", c.read("audit", c.auditPage))
		r.Get("/users", c.read("users", c.usersPage))
	})
}

// securityHeaders keeps the pages from being framed or sniffed, and loads
// only the console's own scripts and styles.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// asset serves the embedded CSS and vendored scripts.
func (c *Console) asset(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "*")
	if ext := path.Ext(name); (ext != ".css" && ext != ".js") || strings.Contains(name, "..") {
		http.NotFound(w, r) // only the stylesheet and the scripts; no listings
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, assetFiles, "assets/"+name)
}

// handler is a console page or action, run with the context of an
// authenticated caller.
type handler func(w http.ResponseWriter, r *http.Request) error

// read authenticates a page that changes nothing; operation names it in the
// audit rows of refused keys.
func (c *Console) read(operation string, h handler) http.HandlerFunc {
	return c.authed("console."+operation, false, h)
}

// maxForm bounds the body of a console form.
const maxForm = 1 << 20

// change authenticates an action: a reader key is refused with a 403. Its
// form may hold up to maxForm bytes.
func (c *Console) change(operation string, h handler) http.HandlerFunc {
	authed := c.authed("console."+operation, true, h)
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		authed(w, r)
	}
}

// authed runs h for the caller of the console cookie, exactly as the API
// authenticates a bearer key (see api.Server.Authenticate); without a
// cookie, as the API takes a request without a key: its client certificate,
// else the anonymous caller where keys are not required, else to the login
// page.
func (c *Console) authed(operation string, changes bool, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		authorization := ""
		if key := sessionKey(r); key != "" {
			authorization = "Bearer " + key
		}
		ctx, err := c.api.Authenticate(r.Context(), authorization, operation, changes)
		var se huma.StatusError
		if errors.As(err, &se) && se.GetStatus() == http.StatusUnauthorized {
			if authorization != "" {
				clearSession(w, r) // revoked, expired or unknown: ask again
			}
			c.toLogin(w, r)
			return
		}
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if err := h(w, r.WithContext(ctx)); err != nil {
			c.fail(w, r, err)
		}
	}
}

// toLogin sends a browser to the login page, and back here after it.
func (c *Console) toLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.Header.Get("Accept") == "text/event-stream" {
		http.Error(w, "log in first", http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, Prefix+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// fail shows an error page: the problem's status and message (the API's
// operations never put internal details in them), else a 500.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "internal error; the server logs have the details"
	var se huma.StatusError
	if errors.As(err, &se) {
		status, msg = se.GetStatus(), se.Error()
	} else {
		c.logger.ErrorContext(r.Context(), "console request failed", "path", r.URL.Path, "error", err)
	}
	if status == 499 {
		return // the client went away
	}
	c.render(w, r, status, "error", map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": msg})
}

// view is what every page template gets: the page's own data and who looks.
type view struct {
	Title  string
	Nav    string
	Caller api.Caller
	// Login says whether the caller came with a key (and can log out).
	Login bool
	Data  any
}

// CanChange says whether the caller may act (approve, cancel, run): not a reader.
func (v view) CanChange() bool {
	return v.Caller.Role != store.RoleReader
}

// IsAdmin says whether the caller may read the tenant's reports.
func (v view) IsAdmin() bool {
	return v.Caller.Role == store.RoleAdmin
}

// page renders the page template name with data, for the authenticated caller.
func (c *Console) page(w http.ResponseWriter, r *http.Request, name, title string, data any) error {
	c.render(w, r, http.StatusOK, name, viewOf(r, name, title, data))
	return nil
}

func viewOf(r *http.Request, nav, title string, data any) view {
	v := view{Title: title, Nav: nav, Data: data, Login: sessionKey(r) != ""}
	v.Caller, _ = api.CallerOf(r.Context())
	return v
}

// render executes a page template to a buffer first, so that a failure is a
// clean 500 rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	t, ok := c.pages[name]
	if !ok {
		c.logger.ErrorContext(r.Context(), "no console template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if v, isView := data.(view); !isView {
		data = viewOf(r, "", "Error", data)
	} else {
		data = v
	}
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		c.logger.ErrorContext(r.Context(), "render console page", "name", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fragment renders the named template of page name (a part of it) to a string.
func (c *Console) fragment(name, part string, data any) (string, error) {
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, part, data); err != nil {
		return "", fmt.Errorf("render %s of %s: %w", part, name, err)
	}
	return buf.String(), nil
}
