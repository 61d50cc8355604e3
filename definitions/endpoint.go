package definitions

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/troupe-dev/troupe/expr"
)

// HTTP methods a tool may use.
var httpMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

var (
	// headerNamePattern is what HTTP header names look like (RFC 9110 tokens).
	headerNamePattern = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	// envNamePattern is what environment variable names look like.
	envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// argsScope is the scope of an HTTP tool's templates: the call's arguments.
func argsScope() scope { return scope{vars: []string{"args"}} }

// httpTool decodes an http block.
func (d *decoder) httpTool(n *node) *HTTPTool {
	h := &HTTPTool{}
	if !d.fields(n, "http", map[string]func(*node){
		"method": func(v *node) { h.Method = d.oneOf(v, "method", httpMethods...) },
		"url": func(v *node) {
			if h.URL = d.str(v, "url"); v.kind == stringKind {
				d.templateURL(v, h.URL)
			}
		},
		"headers": func(v *node) { h.Headers = d.secretMap(v, "headers", headerNamePattern, "an HTTP header name") },
		"body":    func(v *node) { h.Body = d.body(v) },
		"max_response_bytes": func(v *node) {
			h.MaxResponseBytes = int64(d.integer(v, "max_response_bytes", 1))
		},
	}) {
		return nil
	}
	h.Method = cmp.Or(h.Method, httpMethods[0])
	d.require(n, "http", "url", "the endpoint, e.g. url: http://127.0.0.1:9000/orders/{{ args.order_id }}")
	if body := n.get("body"); body != nil && h.Method == "GET" {
		d.errorf(body.pos, "body needs a method that sends one, e.g. method: POST (GET sends none)")
	}
	return h
}

// templateURL checks an HTTP tool's URL: absolute http or https, with
// templates over args only in path segments and query values, so that the
// arguments can never change the scheme or the host.
func (d *decoder) templateURL(n *node, raw string) {
	d.checkTemplate(n, raw, argsScope(), nil)
	segs, err := expr.ParseTemplate(raw)
	if err != nil {
		return // reported by checkTemplate
	}
	// The skeleton is the URL with each {{ }} replaced by a placeholder;
	// holes are where the placeholders are in it, and where their {{ are in
	// the raw URL.
	var skeleton strings.Builder
	type hole struct{ at, raw int }
	var holes []hole
	for _, seg := range segs {
		if !seg.Expr {
			skeleton.WriteString(seg.Text)
			continue
		}
		holes = append(holes, hole{at: skeleton.Len(), raw: strings.LastIndex(raw[:seg.Offset], "{{")})
		skeleton.WriteString("x")
	}
	sk := skeleton.String()
	if scheme := strings.Index(sk, "://"); scheme >= 0 && len(holes) > 0 {
		authority := scheme + len("://")
		pathStart := len(sk)
		if i := strings.IndexAny(sk[authority:], "/?#"); i >= 0 {
			pathStart = authority + i
		}
		query, fragment := strings.IndexByte(sk, '?'), strings.IndexByte(sk, '#')
		before := len(d.errs)
		for _, h := range holes {
			var msg string
			switch {
			case h.at < pathStart:
				msg = "the scheme and host of url are fixed: {{ }} may only fill path segments and query values"
			case fragment >= 0 && h.at > fragment:
				msg = "{{ }} may not fill the fragment of url (after #)"
			case query >= 0 && h.at > query:
				param := sk[query+1 : h.at]
				param = param[strings.LastIndexAny(param, "&;")+1:]
				if !strings.Contains(param, "=") {
					msg = "{{ }} may fill a query value of url, not a parameter's name"
				}
			}
			if msg != "" {
				d.errorf(n.posAt(h.raw), "%s", msg)
			}
		}
		if len(d.errs) > before {
			return
		}
	}
	if msg := urlProblem(sk); msg != "" {
		d.errorf(n.pos, "url %s", msg)
	}
}

// urlProblem explains why a URL is not an absolute http or https URL, or
// gives "".
func urlProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not a URL: %v", raw, errors.Unwrap(err))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Sprintf("%q must be an absolute http or https URL, e.g. http://127.0.0.1:9000/orders", raw)
	}
	return ""
}

// body decodes an HTTP tool's body: any value, whose strings are templates
// over args.
func (d *decoder) body(n *node) json.RawMessage {
	if n.kind == nullKind {
		return nil
	}
	d.eachString(n, func(s *node) { d.checkTemplate(s, s.str, argsScope(), nil) })
	raw, err := json.Marshal(n.plain())
	if err != nil {
		d.errorf(n.pos, "body holds a value JSON cannot represent: %v", err)
		return nil
	}
	return raw
}

// eachString calls fn for each string value in n, at any depth.
func (d *decoder) eachString(n *node, fn func(*node)) {
	switch n.kind {
	case stringKind:
		fn(n)
	case mapKind:
		for _, e := range n.entries {
			d.eachString(e.value, fn)
		}
	case listKind:
		for _, item := range n.items {
			d.eachString(item, fn)
		}
	}
}

// mcpServer decodes an mcp block.
func (d *decoder) mcpServer(n *node) *MCPServer {
	m := &MCPServer{}
	if !d.fields(n, "mcp", map[string]func(*node){
		"command": func(v *node) { m.Command = d.command(v) },
		"url": func(v *node) {
			if m.URL = d.str(v, "url"); v.kind == stringKind {
				if msg := urlProblem(m.URL); msg != "" {
					d.errorf(v.pos, "url %s", msg)
				}
			}
		},
		"env":     func(v *node) { m.Env = d.secretMap(v, "env", envNamePattern, "an environment variable name") },
		"headers": func(v *node) { m.Headers = d.secretMap(v, "headers", headerNamePattern, "an HTTP header name") },
	}) {
		return nil
	}
	command, u := n.get("command"), n.get("url")
	switch {
	case command != nil && u != nil:
		d.errorf(n.pos, "mcp has both command and url; a server is either started by the worker (command) or reached over HTTP (url)")
	case command == nil && u == nil:
		d.errorf(n.pos, "mcp has no command or url; add command: [mcp-server-everything, stdio] or url: http://127.0.0.1:3001/mcp")
	case u != nil && n.get("env") != nil:
		d.errorf(n.get("env").pos, "env applies to a server started with command; a server reached by url has its own environment")
	case command != nil && n.get("headers") != nil:
		d.errorf(n.get("headers").pos, "headers apply to a server reached by url, not to one started with command")
	}
	return m
}

// command decodes an MCP server's command: the program, then its
// arguments.
func (d *decoder) command(n *node) []string {
	cmd := d.stringList(n, "command")
	if n.kind == listKind && (len(cmd) == 0 || cmd[0] == "") {
		d.errorf(n.pos, "command must start with the program to run, e.g. command: [mcp-server-everything, stdio]")
	}
	return cmd
}

// secretMap decodes a mapping of names to strings that may name
// environment variables of the worker as ${VAR}.
func (d *decoder) secretMap(n *node, field string, names *regexp.Regexp, what string) map[string]string {
	if n.kind == nullKind || !d.mapping(n, field) {
		return nil
	}
	out := make(map[string]string, len(n.entries))
	for _, e := range n.entries {
		if !names.MatchString(e.key) {
			d.errorf(e.pos, "%s: %q is not %s", field, e.key, what)
		}
		v := d.text(e.value, field+" "+e.key)
		d.checkEnvRefs(e.value, v)
		out[e.key] = v
	}
	return out
}

// checkEnvRefs checks the ${VAR} references of a string held by node n.
func (d *decoder) checkEnvRefs(n *node, s string) {
	for off := 0; ; {
		i := strings.Index(s[off:], "${")
		if i < 0 {
			return
		}
		start := off + i
		end := strings.IndexByte(s[start:], '}')
		if end < 0 {
			d.errorf(n.posAt(start), "${ is never closed by }; write ${VAR}")
			return
		}
		if name := s[start+2 : start+end]; !envNamePattern.MatchString(name) {
			d.errorf(n.posAt(start), "${%s} does not name an environment variable (letters, digits and _, not starting with a digit)", name)
		}
		off = start + end + 1
	}
}
