package console_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/api"
	"github.com/troupe-dev/troupe/console"
	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/examples"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/store/storetest"
)

// bundle is what a console test works with: the API with its console,
// served over HTTP, with keys required.
type bundle struct {
	url   string
	store *store.Store
	// keys of tenant acme (admin, reader) and globex (admin).
	acmeAdmin, acmeReader, globexAdmin string
}

func setup(t *testing.T, events console.Subscriber) *bundle {
	t.Helper()
	catalog, err := definitions.Load(examples.FS)
	require.NoError(t, err)
	pool, err := store.Connect(t.Context(), storetest.NewDB(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	st := store.New(pool)
	srv := &api.Server{Store: st, Catalog: catalog, TaskQueue: "troupe", Namespace: "default",
		DefaultModel: "mock", HashKey: []byte("test-key"), RequireAuth: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv.Mount = console.New(srv, events).Routes
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	b := &bundle{url: ts.URL, store: st}
	key := func(tenant, role string) string {
		k, _, err := st.CreateAPIKey(t.Context(), store.NewAPIKey{TenantID: tenant, Role: role, Name: "console test"})
		require.NoError(t, err)
		return k
	}
	b.acmeAdmin, b.acmeReader, b.globexAdmin = key("acme", store.RoleAdmin), key("acme", store.RoleReader), key("globex", store.RoleAdmin)
	return b
}

// task creates a task of tenant with output, ended completed.
func (b *bundle) task(t *testing.T, tenant, email string, output any) uuid.UUID {
	t.Helper()
	raw, err := json.Marshal(output)
	require.NoError(t, err)
	srv := &api.Server{HashKey: []byte("test-key")}
	tk, _, err := b.store.CreateTask(t.Context(), store.NewTask{TenantID: tenant, Type: "chat", Model: "mock",
		UserIDHash: srv.UserHash(tenant, email), Input: json.RawMessage(`{"prompt":"hi"}`), Actor: "test"})
	require.NoError(t, err)
	require.NoError(t, b.store.FinishTask(t.Context(), tk.ID, "", store.StatusCompleted, raw, ""))
	return tk.ID
}

// browser is a client with a cookie jar that does not follow redirects.
func (b *bundle) browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login logs c in with key and returns the response of the login.
func (b *bundle) login(t *testing.T, c *http.Client, key string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url+"/ui/login", strings.NewReader(url.Values{"key": {key}, "next": {"/ui/"}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, header ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestLoginCookieAndLogout(t *testing.T) {
	b := setup(t, nil)
	c := b.browser(t)

	code, _ := get(t, c, b.url+"/ui/")
	require.Equal(t, http.StatusSeeOther, code, "without a key: to the login page")

	bad := b.login(t, c, "trp_not_a_key")
	require.Equal(t, http.StatusUnauthorized, bad.StatusCode)

	resp := b.login(t, c, b.acmeAdmin)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/ui/", resp.Header.Get("Location"))
	cookies := resp.Cookies()
	require.Len(t, cookies, 1)
	ck := cookies[0]
	require.True(t, ck.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	require.False(t, ck.Secure, "plain HTTP: no Secure flag, or the browser would drop it")
	require.Equal(t, "/ui/", ck.Path)

	code, body := get(t, c, b.url+"/ui/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "acme · admin")

	require.Equal(t, http.StatusSeeOther, post(t, c, b.url+"/ui/logout", nil))
	code, _ = get(t, c, b.url+"/ui/")
	require.Equal(t, http.StatusSeeOther, code, "logged out")
}

func TestCookieIsSecureBehindTLS(t *testing.T) {
	b := setup(t, nil)
	req, err := http.NewRequest(http.MethodPost, b.url+"/ui/login", strings.NewReader(url.Values{"key": {b.acmeAdmin}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := b.browser(t).Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Len(t, resp.Cookies(), 1)
	require.True(t, resp.Cookies()[0].Secure)
}

func TestEveryPageShowsOnlyTheTenantsRows(t *testing.T) {
	b := setup(t, nil)
	mine := b.task(t, "acme", "ann@example.com", map[string]string{"text": "acme's answer"})
	theirs := b.task(t, "globex", "ann@example.com", map[string]string{"text": "globex's secret"})
	c := b.browser(t)
	b.login(t, c, b.acmeAdmin)

	code, body := get(t, c, b.url+"/ui/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, mine.String())
	require.NotContains(t, body, theirs.String())

	code, body = get(t, c, b.url+"/ui/tasks/"+mine.String())
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "acme's answer")
	code, body = get(t, c, b.url+"/ui/tasks/"+theirs.String())
	require.Equal(t, http.StatusNotFound, code)
	require.NotContains(t, body, "globex")
	code, _ = get(t, c, b.url+"/ui/tasks/not-a-uuid")
	require.Equal(t, http.StatusNotFound, code)

	code, body = get(t, c, b.url+"/ui/users?email=ann@example.com")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, mine.String())
	require.NotContains(t, body, theirs.String())

	code, body = get(t, c, b.url+"/ui/audit")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, mine.String()[:8])
	require.NotContains(t, body, theirs.String()[:8])

	code, body = get(t, c, b.url+"/ui/costs")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "<svg")
	require.Contains(t, body, ">1</td>", "acme's one task")
	require.NotContains(t, body, ">2</td>", "globex's task is not counted")

	code, body = get(t, c, b.url+"/ui/workflows")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "approval_publish")
	require.Contains(t, body, `name="in.brief"`)
}

func TestReaderSeesButCannotAct(t *testing.T) {
	b := setup(t, nil)
	id := b.task(t, "acme", "", map[string]string{"text": "done"})
	c := b.browser(t)
	b.login(t, c, b.acmeReader)

	code, body := get(t, c, b.url+"/ui/tasks/"+id.String())
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "acme · reader")
	require.NotContains(t, body, `href="/ui/costs"`, "the admin pages are not offered")
	code, _ = get(t, c, b.url+"/ui/costs")
	require.Equal(t, http.StatusForbidden, code, "as GET /v1/costs")
	code, body = get(t, c, b.url+"/ui/workflows")
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, body, `type="submit">Run`)

	for _, path := range []string{"/cancel", "/signals/publish_ok", "/tool-calls/call_1/approve"} {
		require.Equal(t, http.StatusForbidden, post(t, c, b.url+"/ui/tasks/"+id.String()+path, url.Values{"approved": {"true"}}), path)
	}
	require.Equal(t, http.StatusForbidden, post(t, c, b.url+"/ui/workflows/approval_publish/run", url.Values{"in.brief": {"x"}}))
	n, _, err := b.store.ListTasks(t.Context(), store.TaskFilter{TenantID: "acme"})
	require.NoError(t, err)
	require.Len(t, n, 1, "the reader started nothing")
	rows, _, err := b.store.ListAudit(t.Context(), store.AuditFilter{TenantID: "acme", EventType: "task_signaled"})
	require.NoError(t, err)
	require.Empty(t, rows, "nothing was signaled")
}

func TestCrossSitePostIsRefused(t *testing.T) {
	b := setup(t, nil)
	id := b.task(t, "acme", "", map[string]string{"text": "done"})
	c := b.browser(t)
	b.login(t, c, b.acmeAdmin)
	u := b.url + "/ui/tasks/" + id.String() + "/cancel"
	require.Equal(t, http.StatusForbidden, post(t, c, u, nil, "Sec-Fetch-Site", "cross-site"))
	require.Equal(t, http.StatusForbidden, post(t, c, u, nil, "Origin", "https://evil.example"))
	// The same request from the console itself reaches the operation: the
	// task has ended, which is a 409.
	require.Equal(t, http.StatusConflict, post(t, c, u, nil, "Sec-Fetch-Site", "same-origin"))
	rows, _, err := b.store.ListAudit(t.Context(), store.AuditFilter{TenantID: "acme", EventType: "task_cancel_requested"})
	require.NoError(t, err)
	require.Empty(t, rows)
}

func TestHostileOutputIsEscaped(t *testing.T) {
	b := setup(t, nil)
	text := b.task(t, "acme", "", map[string]string{"text": "# Title\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2)) **bold** <b onclick=alert(5)>b</b>"})
	obj := b.task(t, "acme", "", map[string]string{"a": "<script>alert(3)</script>", "b": "<img src=x onerror=alert(4)>"})
	c := b.browser(t)
	b.login(t, c, b.acmeAdmin)

	_, body := get(t, c, b.url+"/ui/tasks/"+text.String())
	require.NotContains(t, body, "<script>alert")
	require.NotContains(t, body, "javascript:alert")
	require.NotContains(t, body, "onclick")
	require.Contains(t, body, "<strong>bold</strong>", "the text is rendered as Markdown")
	require.Contains(t, body, "<h1>Title</h1>")

	_, body = get(t, c, b.url+"/ui/tasks/"+obj.String())
	require.NotContains(t, body, "<script>alert")
	require.NotContains(t, body, "<img src=x")
	require.Contains(t, body, "&lt;script&gt;alert(3)")
}

// feed is a Subscriber that hands out one channel per call.
type feed struct {
	subs chan subscription
}

type subscription struct {
	tenant string
	task   uuid.UUID
	events chan store.Event
}

func (f *feed) Subscribe(_ context.Context, tenant string, task uuid.UUID, _ int64) (<-chan store.Event, error) {
	s := subscription{tenant: tenant, task: task, events: make(chan store.Event, 16)}
	f.subs <- s
	return s.events, nil
}

func TestTaskPageStreamsDeltasAndEnds(t *testing.T) {
	f := &feed{subs: make(chan subscription, 1)}
	b := setup(t, f)
	id := b.task(t, "acme", "", map[string]string{"text": "final"})
	c := b.browser(t)
	b.login(t, c, b.acmeAdmin)

	resp, err := c.Get(b.url + "/ui/tasks/" + id.String() + "/live")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	sub := <-f.subs
	require.Equal(t, "acme", sub.tenant)
	require.Equal(t, id, sub.task)
	delta := func(attempt, seq int, text string) store.Event {
		raw, _ := json.Marshal(map[string]any{"call_key": "k1", "attempt": attempt, "seq": seq, "text": text})
		return store.Event{TaskID: id, Kind: "llm.delta", Payload: raw, At: time.Now()}
	}
	sub.events <- delta(1, 0, "Hel")
	sub.events <- delta(1, 1, "lo <b>")
	sub.events <- delta(2, 0, "Bonjour")
	sub.events <- delta(2, 1, " <i>monde")
	close(sub.events)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), "event: stream\ndata: ")
	require.Contains(t, string(body), "Bonjour &lt;i&gt;monde", "the second attempt starts over, escaped")
	require.NotContains(t, string(body), "HelBonjour")
	require.True(t, strings.HasSuffix(string(body), "event: done\ndata: \n\n"), "the stream says it is done")

	// Another tenant's task is a 404 before any stream.
	other := b.task(t, "globex", "", map[string]string{"text": "x"})
	code, _ := get(t, c, b.url+"/ui/tasks/"+other.String()+"/live")
	require.Equal(t, http.StatusNotFound, code)
}

func TestTaskListStreamsNewRowsAndStatusChanges(t *testing.T) {
	f := &feed{subs: make(chan subscription, 1)}
	b := setup(t, f)
	c := b.browser(t)
	b.login(t, c, b.acmeAdmin)
	code, body := get(t, c, b.url+"/ui/?type=chat")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `sse-connect="/ui/live?type=chat"`)

	resp, err := c.Get(b.url + "/ui/live?type=chat")
	require.NoError(t, err)
	defer resp.Body.Close()
	sub := <-f.subs
	require.Equal(t, "acme", sub.tenant)
	require.Equal(t, uuid.Nil, sub.task, "all the tenant's tasks")
	created := func(typ string) uuid.UUID {
		tk, _, err := b.store.CreateTask(t.Context(), store.NewTask{TenantID: "acme", Type: typ, Input: json.RawMessage(`{}`), Actor: "test"})
		require.NoError(t, err)
		sub.events <- store.Event{TaskID: tk.ID, Kind: "created"}
		return tk.ID
	}
	chat, other := created("chat"), created("summarize")
	require.NoError(t, b.store.FinishTask(t.Context(), chat, "", store.StatusCompleted, json.RawMessage(`{"text":"ok"}`), ""))
	time.Sleep(100 * time.Millisecond) // a batch of its own
	sub.events <- store.Event{TaskID: chat, Kind: "completed"}
	close(sub.events)
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	stream := string(raw)
	require.Contains(t, stream, "event: task-new\ndata: <tr id=\"task-"+chat.String()+"\"")
	require.NotContains(t, stream, other.String(), "the filter shows no summarize task")
	require.Contains(t, stream, "event: task-"+chat.String()+"\n")
	require.Contains(t, stream, "s-completed")
}

func TestReportedRunsShowBesideTasksWithTheirLog(t *testing.T) {
	b := setup(t, nil)
	events := `{"events": [
		{"type": "flow_started", "run_id": "nightly-1", "flow": "nightly_etl"},
		{"type": "task_started", "run_id": "nightly-1", "flow": "nightly_etl", "task": "extract"},
		{"type": "task_log", "run_id": "nightly-1", "flow": "nightly_etl", "task": "extract", "level": "warn", "message": "source <slow>"}
	]}`
	req, err := http.NewRequest(http.MethodPost, b.url+"/v1/events", strings.NewReader(events))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+b.acmeAdmin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var out struct {
		Runs []struct {
			TaskID string `json:"task_id"`
		} `json:"runs"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	_ = resp.Body.Close()
	require.Len(t, out.Runs, 1)
	c := b.browser(t)
	b.login(t, c, b.acmeAdmin)

	_, body := get(t, c, b.url+"/ui/?source=external")
	require.Contains(t, body, out.Runs[0].TaskID)
	require.Contains(t, body, `<span class="tag"`)
	_, body = get(t, c, b.url+"/ui/?source=troupe")
	require.NotContains(t, body, out.Runs[0].TaskID)

	code, body := get(t, c, b.url+"/ui/tasks/"+out.Runs[0].TaskID)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "source &lt;slow&gt;")
	require.Contains(t, body, "reported from outside")
	require.NotContains(t, body, `id="cancel"`, "troupe cannot cancel a reported run")
	require.Contains(t, body, "extract", "its node on the timeline")
}
