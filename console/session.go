package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// cookieName is the cookie holding the API key a person logged in with.
const cookieName = "troupe_console_key"

// sessionKey returns the API key of the request's console cookie, or "".
func sessionKey(r *http.Request) string {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return ""
	}
	return ck.Value
}

// sessionCookie is the console cookie holding key ("" with maxAge -1
// removes it): never readable by scripts, never sent by another site's
// request, and only over TLS when the console is served over TLS.
func sessionCookie(r *http.Request, key string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: cookieName, Value: key, Path: Prefix + "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
	}
}

// clearSession removes the console cookie.
func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, sessionCookie(r, "", -1))
}

type loginData struct {
	Next    string
	Message string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", viewOf(r, "login", "Log in", loginData{Next: safeNext(r.URL.Query().Get("next"))}))
}

// login checks the posted key as the API would check it (a read), and keeps
// it in the console cookie.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	key := strings.TrimSpace(r.PostFormValue("key"))
	next := safeNext(r.PostFormValue("next"))
	var refused string
	_, err := c.api.Authenticate(r.Context(), "Bearer "+key, "console.login", false)
	var se huma.StatusError
	switch {
	case key == "":
		refused = "Paste an API key (create one with `troupe apikey create`)."
	case errors.As(err, &se) && se.GetStatus() == http.StatusUnauthorized:
		refused = se.Error()
	case err != nil:
		c.fail(w, r, err)
		return
	}
	if refused != "" {
		c.render(w, r, http.StatusUnauthorized, "login", viewOf(r, "login", "Log in", loginData{Next: next, Message: refused}))
		return
	}
	// A browser session: no Max-Age, gone when the browser closes.
	http.SetCookie(w, sessionCookie(r, key, 0))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	clearSession(w, r)
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}

// safeNext keeps a redirect after login inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		return Prefix + "/"
	}
	return next
}
