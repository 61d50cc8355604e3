// Package tool holds the tool clients troupe calls from activities, the
// counterpart of llm/ for tools: HTTP endpoints, MCP servers (one session
// per server, shared by calls and restarted when it dies) and the built-in
// file tools confined to a root directory.
//
// It has no Temporal dependency. A failure a retry may fix is an *Error
// with Retryable set (the activity layer turns it into a Temporal error);
// a failure the model should see and react to is a Result with IsError set.
package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/troupe-dev/troupe/definitions"
)

// Config configures a Toolbox.
type Config struct {
	// Getenv resolves the ${VAR} references of HTTP headers and body
	// strings and of MCP servers' env and headers, at call time. nil means
	// os.Getenv. An empty value counts as missing.
	Getenv func(string) string
	// FileRoot is the root directory of the built-in file tools; "" means
	// this worker runs none.
	FileRoot string
	// HTTPClient sends the requests of HTTP tools and Streamable HTTP MCP
	// servers; nil means a default client. Its redirects are never followed
	// (the host of a tool is fixed by its definition).
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Call is one call of a tool.
type Call struct {
	Tool *definitions.Tool
	// Name is, for an MCP server, the name of the server's tool to call;
	// it is ignored for other tools.
	Name string
	// Args are the arguments, a JSON object (empty means {}).
	Args json.RawMessage
	// Key is the call's idempotency key, stable across retries of the same
	// call: HTTP tools send it as Idempotency-Key, MCP calls in _meta.
	Key string
}

// Result is what a tool answered.
type Result struct {
	// Content is what the model sees: the text of the answer (the JSON text
	// for a JSON answer), or what went wrong for a tool error.
	Content string `json:"content"`
	// JSON is the answer as a JSON value when it is one (a JSON response, an
	// MCP structuredContent), else nil.
	JSON json.RawMessage `json:"json,omitempty"`
	// IsError marks a tool error, fed back to the model.
	IsError bool `json:"is_error,omitempty"`
}

// MetaIdempotencyKey is the _meta key under which MCP calls carry their
// idempotency key.
const MetaIdempotencyKey = "troupe/idempotency_key"

// Toolbox calls tools. It keeps one session per MCP server, shared by
// concurrent callers; Close ends them. It is safe for concurrent use.
type Toolbox struct {
	getenv   func(string) string
	fileRoot string
	http     *http.Client
	logger   *slog.Logger
	mcp      *mcp.Client

	mu      sync.Mutex
	servers map[string]*mcpServer // by serverKey
	closed  bool
}

// New returns a Toolbox.
func New(cfg Config) *Toolbox {
	b := &Toolbox{
		getenv:   cfg.Getenv,
		fileRoot: cfg.FileRoot,
		logger:   cfg.Logger,
		servers:  map[string]*mcpServer{},
	}
	if b.getenv == nil {
		b.getenv = os.Getenv
	}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	client := http.Client{}
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	b.http = &client
	b.mcp = mcp.NewClient(&mcp.Implementation{Name: "troupe", Version: version()}, &mcp.ClientOptions{Logger: b.logger})
	return b
}

// version is the version of the troupe binary, told to MCP servers.
func version() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}

// Call calls a tool. The error, when there is one, is an *Error; a failure
// the model should see is a Result with IsError set instead.
func (b *Toolbox) Call(ctx context.Context, c Call) (Result, error) {
	if c.Tool == nil {
		return Result{}, permanent("no tool to call")
	}
	args, problem := parseArgs(c.Args)
	if problem != "" {
		return toolError("%s", problem), nil
	}
	switch c.Tool.Kind() {
	case definitions.ToolKindHTTP:
		return b.callHTTP(ctx, c, args)
	case definitions.ToolKindMCP:
		return b.callMCP(ctx, c)
	case definitions.ToolKindBuiltin:
		return b.callFile(c)
	}
	return Result{}, permanent(fmt.Sprintf("tool %q has no http, mcp or builtin", c.Tool.Name))
}

// Close ends the MCP sessions and stops the stdio servers. Calls made after
// it fail with a retryable error.
func (b *Toolbox) Close() error {
	b.mu.Lock()
	b.closed = true
	var sessions []*mcpSession
	for _, s := range b.servers {
		if s.session != nil {
			sessions = append(sessions, s.session)
			s.session = nil
		}
	}
	b.mu.Unlock()
	var errs []error
	for _, s := range sessions {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
}

// parseArgs decodes a call's arguments, which must be a JSON object; it
// explains the problem to the model when they are not.
func parseArgs(raw json.RawMessage) (map[string]any, string) {
	if len(raw) == 0 {
		return map[string]any{}, ""
	}
	var args map[string]any
	if err := json.Unmarshal(raw, &args); err != nil || args == nil {
		return nil, "the arguments are not a JSON object"
	}
	return args, ""
}

// toolError is a tool error the model sees.
func toolError(format string, a ...any) Result {
	return Result{Content: fmt.Sprintf(format, a...), IsError: true}
}
