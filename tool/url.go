package tool

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/troupe-dev/troupe/expr"
)

// renderURL renders an HTTP tool's URL over the arguments. Its scheme and
// host come from the definition only: each {{ }} may fill a path segment
// or a query value, and its value is escaped for that place. As a second
// guard, the rendered URL must have the definition's scheme, user and host.
//
// problem explains to the model why its arguments do not fit (a failing
// template, a "." or ".." path segment); err is a definition no call can
// use.
func renderURL(raw string, vars expr.Vars) (target, problem string, err error) {
	segs, perr := expr.ParseTemplate(raw)
	if perr != nil {
		return "", "", permanent(fmt.Sprintf("url: %v", perr))
	}
	var b strings.Builder
	// fixed is the URL up to its first {{ }}: scheme, host and more.
	fixed, holes := "", false
	for _, seg := range segs {
		if !seg.Expr {
			b.WriteString(seg.Text)
			continue
		}
		sofar := b.String()
		if !holes {
			fixed, holes = sofar, true
		}
		switch {
		case !pastHost(sofar):
			return "", "", permanent("url: {{ }} may not fill the scheme or host")
		case strings.Contains(sofar, "#"):
			return "", "", permanent("url: {{ }} may not fill the fragment")
		}
		v, err := renderExpr(seg.Text, vars)
		if err != nil {
			return "", fmt.Sprintf("the arguments do not fit the url: %v", err), nil
		}
		if strings.Contains(sofar, "?") {
			b.WriteString(url.QueryEscape(v))
		} else {
			b.WriteString(url.PathEscape(v))
		}
	}
	target = b.String()
	if !holes {
		fixed = target
	}
	want, err := url.Parse(fixed)
	if err != nil {
		return "", "", permanent(fmt.Sprintf("url: %v", err))
	}
	got, err := url.Parse(target)
	if err != nil {
		return "", fmt.Sprintf("the arguments make the url invalid: %v", err), nil
	}
	if got.Scheme != want.Scheme || got.Host != want.Host || got.User.String() != want.User.String() {
		return "", "", permanent("url: the rendered url does not keep the definition's scheme and host")
	}
	for seg := range strings.SplitSeq(got.EscapedPath(), "/") {
		if seg == "." || seg == ".." {
			return "", fmt.Sprintf("the url's path %q holds a %q segment; give a value that names a path segment, not a way out of it", got.EscapedPath(), seg), nil
		}
	}
	return target, "", nil
}

// pastHost tells whether the start of a URL already holds all of its
// scheme and host: something after "://" ends the authority.
func pastHost(start string) bool {
	i := strings.Index(start, "://")
	return i >= 0 && strings.ContainsAny(start[i+len("://"):], "/?#")
}
