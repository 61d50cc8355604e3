// Package tooltest provides real MCP servers for tests, built with the
// official Go SDK: over Streamable HTTP on httptest, or over stdio by
// re-executing the test binary (call MaybeServeStdio first in TestMain).
// Every tools/call they receive is recorded, with its idempotency key, in a
// CallLog the test reads.
package tooltest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/definitions"
)

// The environment variables that make the test binary serve over stdio,
// and name the file its CallLog appends to.
const (
	StdioEnv = "TROUPE_TOOLTEST_MCP_STDIO"
	LogEnv   = "TROUPE_TOOLTEST_MCP_LOG"
)

// Tool names of the test server.
const (
	ToolAdd    = "add"    // {a, b numbers} → the sum, as text and structured {"sum": n}
	ToolEcho   = "echo"   // {text} → the text
	ToolFail   = "fail"   // {} → a tool error (isError)
	ToolRecord = "record" // {value} → "recorded VALUE"
	ToolSlow   = "slow"   // {ms} → sleeps, or stops when the call is cancelled
	ToolPID    = "pid"    // {} → the server's process id
	ToolGetenv = "getenv" // {name} → the server's environment variable
)

// FailMessage is the text of the fail tool's error.
const FailMessage = "failed on purpose"

type addArgs struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

type addOut struct {
	Sum float64 `json:"sum"`
}

type echoArgs struct {
	Text string `json:"text"`
}

type recordArgs struct {
	Value string `json:"value"`
}

type slowArgs struct {
	MS int `json:"ms" jsonschema:"how long to sleep, in milliseconds"`
}

type getenvArgs struct {
	Name string `json:"name"`
}

type noArgs struct{}

// NewMCPServer returns the test MCP server. Each tools/call it receives is
// recorded in log (nil records nothing) before the tool runs.
func NewMCPServer(log *CallLog) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "troupe-tooltest", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: ToolAdd, Description: "Add two numbers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addArgs) (*mcp.CallToolResult, addOut, error) {
			sum := in.A + in.B
			text := strconv.FormatFloat(sum, 'g', -1, 64)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, addOut{Sum: sum}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: ToolEcho, Description: "Answer the text given."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			return text(in.Text), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: ToolFail, Description: "Fail, as a tool error."},
		func(context.Context, *mcp.CallToolRequest, noArgs) (*mcp.CallToolResult, any, error) {
			return nil, nil, fmt.Errorf("%s", FailMessage)
		})
	mcp.AddTool(s, &mcp.Tool{Name: ToolRecord, Description: "Record a value."},
		func(_ context.Context, _ *mcp.CallToolRequest, in recordArgs) (*mcp.CallToolResult, any, error) {
			return text("recorded " + in.Value), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: ToolSlow, Description: "Sleep for a while."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in slowArgs) (*mcp.CallToolResult, any, error) {
			select {
			case <-time.After(time.Duration(in.MS) * time.Millisecond):
				return text(fmt.Sprintf("slept %d ms", in.MS)), nil, nil
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		})
	mcp.AddTool(s, &mcp.Tool{Name: ToolPID, Description: "Tell the server's process id."},
		func(context.Context, *mcp.CallToolRequest, noArgs) (*mcp.CallToolResult, any, error) {
			return text(strconv.Itoa(os.Getpid())), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: ToolGetenv, Description: "Tell an environment variable of the server."},
		func(_ context.Context, _ *mcp.CallToolRequest, in getenvArgs) (*mcp.CallToolResult, any, error) {
			return text(os.Getenv(in.Name)), nil, nil
		})
	if log != nil {
		s.AddReceivingMiddleware(log.middleware)
	}
	return s
}

// text is a result holding one text.
func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// ServeHTTP serves the test server over Streamable HTTP on httptest until
// the test ends, and returns its URL and call log.
func ServeHTTP(t testing.TB) (url string, log *CallLog) {
	log = NewCallLog(t)
	srv := NewMCPServer(log)
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts.URL, log
}

// MaybeServeStdio serves the test server over stdio and exits when the
// environment asks for it (StdioEnv set, as StdioServer does); otherwise
// it returns at once. Call it first in TestMain.
func MaybeServeStdio() {
	if os.Getenv(StdioEnv) == "" {
		return
	}
	var log *CallLog
	if path := os.Getenv(LogEnv); path != "" {
		log = &CallLog{path: path}
	}
	if err := NewMCPServer(log).Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, "tooltest: serve over stdio:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// StdioServer returns an MCP server definition that runs the test binary
// as the test server over stdio (its TestMain must call MaybeServeStdio),
// and the log of the calls it receives.
func StdioServer(t testing.TB) (*definitions.MCPServer, *CallLog) {
	exe, err := os.Executable()
	require.NoError(t, err)
	log := NewCallLog(t)
	return &definitions.MCPServer{
		Command: []string{exe},
		Env:     map[string]string{StdioEnv: "1", LogEnv: log.Path()},
	}, log
}
