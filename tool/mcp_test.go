package tool_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/llm"
	"github.com/troupe-dev/troupe/tool"
	"github.com/troupe-dev/troupe/tool/tooltest"
)

// mcpServers start the test MCP server over each transport.
var mcpServers = map[string]func(t *testing.T) (*definitions.Tool, *tooltest.CallLog){
	"stdio": func(t *testing.T) (*definitions.Tool, *tooltest.CallLog) {
		server, log := tooltest.StdioServer(t)
		return &definitions.Tool{Name: "testserver", MCP: server}, log
	},
	"http": func(t *testing.T) (*definitions.Tool, *tooltest.CallLog) {
		url, log := tooltest.ServeHTTP(t)
		return &definitions.Tool{Name: "testserver", MCP: &definitions.MCPServer{URL: url}}, log
	},
}

func TestMCP(t *testing.T) {
	for name, start := range mcpServers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			server, log := start(t)
			b := newToolbox(t, tool.Config{})
			ctx := t.Context()
			call := func(name, args, key string) tool.Result {
				t.Helper()
				r, err := b.Call(ctx, tool.Call{Tool: server, Name: name, Args: json.RawMessage(args), Key: key})
				require.NoError(t, err)
				return r
			}

			specs, err := b.List(ctx, server)
			require.NoError(t, err)
			names := make([]string, 0, len(specs))
			for _, s := range specs {
				names = append(names, s.Name)
			}
			require.ElementsMatch(t, []string{"add", "echo", "fail", "record", "slow", "pid", "getenv"}, names)
			add := specs[slices.IndexFunc(specs, func(s llm.ToolSpec) bool { return s.Name == "add" })]
			require.Equal(t, "Add two numbers.", add.Description)
			var schema struct {
				Type       string                     `json:"type"`
				Properties map[string]json.RawMessage `json:"properties"`
			}
			require.NoError(t, json.Unmarshal(add.Parameters, &schema))
			require.Equal(t, "object", schema.Type)
			require.Contains(t, schema.Properties, "a")
			require.Contains(t, schema.Properties, "b")

			require.Equal(t, tool.Result{Content: "5", JSON: json.RawMessage(`{"sum":5}`)}, call("add", `{"a": 2, "b": 3}`, "k-add"))
			require.Equal(t, tool.Result{Content: "hello"}, call("echo", `{"text": "hello"}`, ""))

			r := call("fail", `{}`, "")
			require.True(t, r.IsError)
			require.Contains(t, r.Content, tooltest.FailMessage)

			r = call("nope", `{}`, "")
			require.True(t, r.IsError, "an unknown tool is the model's to fix")
			require.Contains(t, r.Content, `unknown tool "nope"`)

			r = call("add", `{"a": "two", "b": 3}`, "")
			require.True(t, r.IsError, "bad arguments are the model's to fix")

			require.Equal(t, tool.Result{Content: "recorded v1"}, call("record", `{"value": "v1"}`, "key-1"))
			require.Equal(t, tool.Result{Content: "recorded v1"}, call("record", `{"value": "v1"}`, "key-1"))
			require.Equal(t, []string{"key-1", "key-1"}, log.Keys(t, "record"), "the key travels in _meta, the same on a retry")
			records := log.Records(t)
			require.JSONEq(t, `{"value": "v1"}`, string(records[len(records)-1].Args))
			require.Equal(t, []string{"k-add", ""}, log.Keys(t, "add"))

			// A call that outlives its context fails, retryably, and the
			// session stays usable.
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			_, err = b.Call(short, tool.Call{Tool: server, Name: "slow", Args: json.RawMessage(`{"ms": 5000}`)})
			require.True(t, toolError(t, err).Retryable)
			require.Equal(t, tool.Result{Content: "slept 1 ms"}, call("slow", `{"ms": 1}`, ""))
		})
	}
}

func TestMCPStdioSessionReusedAndRestarted(t *testing.T) {
	t.Parallel()
	server, _ := tooltest.StdioServer(t)
	def := &definitions.Tool{Name: "testserver", MCP: server}
	b := newToolbox(t, tool.Config{})
	ctx := t.Context()
	pid := func() (int, error) {
		r, err := b.Call(ctx, tool.Call{Tool: def, Name: "pid"})
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(r.Content)
	}

	// Concurrent first callers share one server process.
	pids := make([]int, 8)
	var wg sync.WaitGroup
	for i := range pids {
		wg.Go(func() {
			p, err := pid()
			require.NoError(t, err)
			pids[i] = p
		})
	}
	wg.Wait()
	first := pids[0]
	require.Equal(t, slices.Repeat([]int{first}, len(pids)), pids)
	p, err := pid()
	require.NoError(t, err)
	require.Equal(t, first, p, "the session is reused across calls")

	// A killed server is restarted by a later call; a call that meets the
	// dying session fails retryably.
	require.NoError(t, syscall.Kill(first, syscall.SIGKILL))
	p, err = pid()
	if err != nil {
		require.True(t, toolError(t, err).Retryable)
		p, err = pid() // the dead session was dropped by the failed call
	}
	require.NoError(t, err)
	require.NotEqual(t, first, p, "a new server process")

	second := p
	require.NoError(t, b.Close())
	require.Eventually(t, func() bool { return syscall.Kill(second, 0) != nil }, 10*time.Second, 20*time.Millisecond)
	_, err = b.Call(ctx, tool.Call{Tool: def, Name: "pid"})
	require.True(t, toolError(t, err).Retryable, "a stopping worker's calls are retried elsewhere")
}

func TestMCPStdioEnv(t *testing.T) {
	t.Parallel()
	server, _ := tooltest.StdioServer(t)
	server.Env["PLAIN"] = "hello"
	server.Env["TOKEN"] = "${TEST_MCP_TOKEN}"
	def := &definitions.Tool{Name: "testserver", MCP: server}
	ctx := t.Context()
	getenv := func(b *tool.Toolbox, name string) (tool.Result, error) {
		return b.Call(ctx, tool.Call{Tool: def, Name: "getenv", Args: json.RawMessage(`{"name": "` + name + `"}`)})
	}

	b := newToolbox(t, tool.Config{Getenv: env(map[string]string{"TEST_MCP_TOKEN": "s3cret-mcp-token"})})
	r, err := getenv(b, "PLAIN")
	require.NoError(t, err)
	require.Equal(t, "hello", r.Content)
	r, err = getenv(b, "TOKEN")
	require.NoError(t, err)
	require.Equal(t, "[redacted]", r.Content, "the server got the secret, and what it answers never shows it")
	r, err = getenv(b, "PATH")
	require.NoError(t, err)
	require.NotEmpty(t, r.Content, "the server inherits the worker's environment")

	missing := newToolbox(t, tool.Config{Getenv: env(nil)})
	_, err = getenv(missing, "TOKEN")
	te := toolError(t, err)
	require.False(t, te.Retryable)
	require.Contains(t, te.Message, "TEST_MCP_TOKEN")
}

func TestMCPStdioCommandNotFound(t *testing.T) {
	t.Parallel()
	def := &definitions.Tool{Name: "ghost", MCP: &definitions.MCPServer{Command: []string{"troupe-no-such-mcp-server"}}}
	b := newToolbox(t, tool.Config{})
	_, err := b.Call(t.Context(), tool.Call{Tool: def, Name: "x"})
	te := toolError(t, err)
	require.False(t, te.Retryable)
	require.Contains(t, te.Message, "troupe-no-such-mcp-server")
}

func TestMCPHTTPHeadersAndSessionReuse(t *testing.T) {
	t.Parallel()
	log := tooltest.NewCallLog(t)
	srv := tooltest.NewMCPServer(log)
	var starts atomic.Int32 // initialize requests: the stateful server answers server/discover with a fallback to them
	var apiKeys sync.Map
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiKeys.Store(r.Header.Get("X-Api-Key"), true)
		body, _ := io.ReadAll(r.Body)
		var msg struct{ Method string }
		if json.Unmarshal(body, &msg) == nil && msg.Method == "initialize" {
			starts.Add(1)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	def := &definitions.Tool{Name: "remote", MCP: &definitions.MCPServer{
		URL:     ts.URL,
		Headers: map[string]string{"X-Api-Key": "${TEST_MCP_API_KEY}"},
	}}
	b := newToolbox(t, tool.Config{Getenv: env(map[string]string{"TEST_MCP_API_KEY": "api-key-123456"})})
	for i := range 3 {
		r, err := b.Call(t.Context(), tool.Call{Tool: def, Name: "echo", Args: json.RawMessage(`{"text": "hi"}`), Key: "k" + strconv.Itoa(i)})
		require.NoError(t, err)
		require.Equal(t, "hi", r.Content)
	}
	require.EqualValues(t, 1, starts.Load(), "one session for three calls")
	keys := []string{}
	apiKeys.Range(func(k, _ any) bool { keys = append(keys, k.(string)); return true })
	require.Equal(t, []string{"api-key-123456"}, keys, "every request carries the resolved header")
	require.Equal(t, []string{"k0", "k1", "k2"}, log.Keys(t, "echo"))
}
