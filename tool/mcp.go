package tool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/llm"
)

// mcpServer is where the session of one MCP server definition lives.
type mcpServer struct {
	// starting is a one-slot lock held by the caller that starts the
	// session, so concurrent callers wait for it instead of starting more.
	starting chan struct{}
	session  *mcpSession // guarded by Toolbox.mu; nil when there is none
}

// mcpSession is a live session with an MCP server.
type mcpSession struct {
	server  *mcpServer
	name    string // the tool's name, for messages
	cs      *mcp.ClientSession
	secrets *secrets // the values its env or headers resolved
}

// stopWait bounds how long a stopped stdio server's stderr is drained.
const stopWait = 2 * time.Second

// callMCP calls one tool of an MCP server, with the call's key in _meta.
func (b *Toolbox) callMCP(ctx context.Context, c Call) (Result, error) {
	if c.Name == "" {
		return Result{}, permanent(fmt.Sprintf("MCP server %s: no tool named to call", c.Tool.Name))
	}
	s, err := b.session(ctx, c.Tool)
	if err != nil {
		return Result{}, err
	}
	params := &mcp.CallToolParams{Name: c.Name}
	if len(c.Args) > 0 {
		params.Arguments = c.Args // a JSON object, as Call checked
	}
	if c.Key != "" {
		params.Meta = mcp.Meta{MetaIdempotencyKey: c.Key}
	}
	res, err := s.cs.CallTool(ctx, params)
	if err != nil {
		return b.mcpFailure(ctx, s, "call "+c.Name, err, true)
	}
	return s.result(res), nil
}

// List lists the tools of an MCP server (tools/list, every page), each
// with its input schema as Parameters.
func (b *Toolbox) List(ctx context.Context, server *definitions.Tool) ([]llm.ToolSpec, error) {
	if server == nil || server.MCP == nil {
		return nil, permanent("List needs an MCP server")
	}
	s, err := b.session(ctx, server)
	if err != nil {
		return nil, err
	}
	var specs []llm.ToolSpec
	for t, err := range s.cs.Tools(ctx, nil) {
		if err != nil {
			_, err = b.mcpFailure(ctx, s, "list tools", err, false)
			return nil, err
		}
		params, err := json.Marshal(t.InputSchema)
		if err != nil {
			return nil, permanent(fmt.Sprintf("MCP server %s: input schema of %s: %v", server.Name, t.Name, err))
		}
		specs = append(specs, llm.ToolSpec{Name: t.Name, Description: t.Description, Parameters: params})
	}
	return specs, nil
}

// mcpFailure classifies a request that got no result. An error the server
// answered is the model's to see when it is about the call (an unknown
// tool, bad arguments) and permanent otherwise. A lost connection drops the
// session: the retry, with the same key, starts a new one.
func (b *Toolbox) mcpFailure(ctx context.Context, s *mcpSession, op string, err error, forModel bool) (Result, error) {
	var wire *jsonrpc.Error
	switch {
	case ctx.Err() != nil:
		return Result{}, transient(fmt.Sprintf("MCP server %s: %s: %v", s.name, op, ctx.Err()), err)
	case !errors.Is(err, mcp.ErrConnectionClosed) && errors.As(err, &wire):
		msg := s.secrets.redact(wire.Message)
		if forModel && wire.Code != jsonrpc.CodeMethodNotFound {
			return toolError("MCP server %s: %s", s.name, msg), nil
		}
		return Result{}, permanent(fmt.Sprintf("MCP server %s: %s: %s", s.name, op, msg))
	}
	b.drop(s)
	return Result{}, transient(fmt.Sprintf("MCP server %s: %s: the session was lost (%s); the next call starts a new one", s.name, op, s.secrets.redact(err.Error())), err)
}

// session returns the live session of an MCP server, starting one if there
// is none.
func (b *Toolbox) session(ctx context.Context, t *definitions.Tool) (*mcpSession, error) {
	srv, s, err := b.current(t)
	if s != nil || err != nil {
		return s, err
	}
	select {
	case srv.starting <- struct{}{}:
		defer func() { <-srv.starting }()
	case <-ctx.Done():
		return nil, transient(fmt.Sprintf("MCP server %s: wait for its session: %v", t.Name, ctx.Err()), ctx.Err())
	}
	if _, s, err := b.current(t); s != nil || err != nil {
		return s, err // another caller started it meanwhile
	}
	s, err = b.connect(ctx, srv, t)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	closed := b.closed
	if !closed {
		srv.session = s
	}
	b.mu.Unlock()
	if closed {
		_ = s.close()
		return nil, stopping()
	}
	go func() {
		_ = s.cs.Wait()
		b.drop(s)
	}()
	return s, nil
}

// current returns where an MCP server's session lives, and the session if
// it is live.
func (b *Toolbox) current(t *definitions.Tool) (*mcpServer, *mcpSession, error) {
	key := serverKey(t)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, stopping()
	}
	srv := b.servers[key]
	if srv == nil {
		srv = &mcpServer{starting: make(chan struct{}, 1)}
		b.servers[key] = srv
	}
	return srv, srv.session, nil
}

// stopping is the error of calls made once the Toolbox is closed.
func stopping() *Error {
	return transient("the worker is stopping", nil)
}

// serverKey identifies an MCP server definition: its name and a hash of
// how it is reached, so a changed definition gets a session of its own.
func serverKey(t *definitions.Tool) string {
	data, _ := json.Marshal(t.MCP) // plain strings: cannot fail
	sum := sha256.Sum256(data)
	return t.Name + "\x00" + hex.EncodeToString(sum[:])
}

// drop forgets a session if it is still the server's, and closes it.
func (b *Toolbox) drop(s *mcpSession) {
	b.mu.Lock()
	current := s.server.session == s
	if current {
		s.server.session = nil
	}
	b.mu.Unlock()
	if current {
		b.logger.Info("MCP session ended", "tool", s.name)
		_ = s.close()
	}
}

// close ends the session; for a stdio server, this stops its process.
func (s *mcpSession) close() error {
	if err := s.cs.Close(); err != nil {
		return fmt.Errorf("close MCP server %s: %w", s.name, err)
	}
	return nil
}

// connect starts a session with an MCP server.
func (b *Toolbox) connect(ctx context.Context, srv *mcpServer, t *definitions.Tool) (*mcpSession, error) {
	sec := &secrets{getenv: b.getenv}
	transport, err := b.transport(t, sec)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cs, err := b.mcp.Connect(ctx, transport, nil)
	if err != nil {
		msg := fmt.Sprintf("MCP server %s: start a session: %s", t.Name, sec.redact(err.Error()))
		if errors.Is(err, exec.ErrNotFound) {
			return nil, permanent(msg)
		}
		return nil, transient(msg, err)
	}
	b.logger.InfoContext(ctx, "MCP session started", "tool", t.Name, "duration", time.Since(start))
	return &mcpSession{server: srv, name: t.Name, cs: cs, secrets: sec}, nil
}

// transport is how to reach an MCP server: its command, run with the
// worker's environment plus the definition's env, or its URL, with the
// definition's headers.
func (b *Toolbox) transport(t *definitions.Tool, sec *secrets) (mcp.Transport, error) {
	m := t.MCP
	if len(m.Command) > 0 {
		cmd := exec.Command(m.Command[0], m.Command[1:]...)
		cmd.Env = os.Environ()
		for _, name := range slices.Sorted(maps.Keys(m.Env)) {
			v, err := sec.resolve(m.Env[name], fmt.Sprintf("MCP server %s: env %s", t.Name, name))
			if err != nil {
				return nil, err
			}
			cmd.Env = append(cmd.Env, name+"="+v)
		}
		cmd.Stderr = &stderrLog{logger: b.logger, tool: t.Name, secrets: sec}
		cmd.WaitDelay = stopWait
		return &mcp.CommandTransport{Command: cmd}, nil
	}
	if m.URL == "" {
		return nil, permanent(fmt.Sprintf("MCP server %s has no command or url", t.Name))
	}
	header := http.Header{}
	for name, v := range m.Headers {
		v, err := sec.resolve(v, fmt.Sprintf("MCP server %s: header %s", t.Name, name))
		if err != nil {
			return nil, err
		}
		header.Set(name, v)
	}
	client := *b.http
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = &headerTransport{base: base, header: header}
	return &mcp.StreamableClientTransport{Endpoint: m.URL, HTTPClient: &client, DisableStandaloneSSE: true}, nil
}

// headerTransport adds headers to every request.
type headerTransport struct {
	base   http.RoundTripper
	header http.Header
}

// RoundTrip sends the request with the headers added.
func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for name, values := range t.header {
		r.Header[name] = values
	}
	return t.base.RoundTrip(r)
}

// stderrLog logs what a stdio MCP server writes on its stderr, a line at
// a time, with secrets redacted.
type stderrLog struct {
	logger  *slog.Logger
	tool    string
	secrets *secrets
	line    []byte
}

// maxStderrLine is where a long stderr line is cut into log records.
const maxStderrLine = 4096

// Write logs each complete line of p.
func (w *stderrLog) Write(p []byte) (int, error) {
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 && len(w.line) < maxStderrLine {
			return len(p), nil
		}
		if i < 0 {
			i = len(w.line)
		}
		w.logger.Info("MCP server stderr", "tool", w.tool, "line", w.secrets.redact(string(bytes.TrimRight(w.line[:i], "\r"))))
		w.line = w.line[min(i+1, len(w.line)):]
	}
}

// result converts an MCP tool result.
func (s *mcpSession) result(res *mcp.CallToolResult) Result {
	parts := make([]string, 0, len(res.Content))
	for _, c := range res.Content {
		parts = append(parts, describe(c))
	}
	r := Result{Content: s.secrets.redact(strings.Join(parts, "\n")), IsError: res.IsError}
	if res.StructuredContent != nil {
		if data, err := json.Marshal(res.StructuredContent); err == nil {
			r.JSON = s.secrets.redactJSON(data)
		}
	}
	if r.Content == "" && r.JSON != nil {
		r.Content = string(r.JSON)
	}
	return r
}

// describe is the text of a content item: the text itself, or a short
// description of what is not text.
func describe(c mcp.Content) string {
	switch c := c.(type) {
	case *mcp.TextContent:
		return c.Text
	case *mcp.ImageContent:
		return fmt.Sprintf("[image: %s, %d bytes]", c.MIMEType, len(c.Data))
	case *mcp.AudioContent:
		return fmt.Sprintf("[audio: %s, %d bytes]", c.MIMEType, len(c.Data))
	case *mcp.ResourceLink:
		return fmt.Sprintf("[resource link: %s]", c.URI)
	case *mcp.EmbeddedResource:
		if c.Resource == nil {
			return "[resource]"
		}
		if c.Resource.Text != "" {
			return c.Resource.Text
		}
		return fmt.Sprintf("[resource: %s, %s, %d bytes]", c.Resource.URI, c.Resource.MIMEType, len(c.Resource.Blob))
	}
	return fmt.Sprintf("[%T content]", c)
}
