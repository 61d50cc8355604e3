package definitions

import (
	"encoding/json"
	"strings"
)

// Tool is a tool agents may be granted and tool steps may call: an HTTP
// endpoint, an MCP server (whose tools are discovered at run time) or a
// built-in file tool. Exactly one of HTTP, MCP and Builtin is set.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Input is the JSON Schema (an object) of the arguments the model must
	// give. MCP servers have none: each of their tools brings its own.
	Input   json.RawMessage `json:"input,omitempty"`
	HTTP    *HTTPTool       `json:"http,omitempty"`
	MCP     *MCPServer      `json:"mcp,omitempty"`
	Builtin string          `json:"builtin,omitempty"` // BuiltinFileRead or BuiltinFileWrite
	// Queue is the Temporal task queue whose workers run the tool's calls
	// (`troupe worker --tool-queue NAME`); empty means the task's own.
	Queue string `json:"queue,omitempty"`
	// Approval makes every call wait for a person's decision first.
	Approval bool `json:"approval,omitempty"`
	// ApprovalTimeout bounds that wait; zero waits for ever. A call whose
	// wait times out is rejected.
	ApprovalTimeout Duration `json:"approval_timeout,omitempty"`
	// Timeout bounds one attempt of a call (start to close).
	Timeout Duration    `json:"timeout,omitempty"`
	Retry   RetryPolicy `json:"retry"`
}

// Kinds of tools, as Tool.Kind names them.
const (
	ToolKindHTTP    = "http"
	ToolKindMCP     = "mcp"
	ToolKindBuiltin = "builtin"
)

// The built-in tools: read and write files under the root directory given
// to the worker that runs them.
const (
	BuiltinFileRead  = "file_read"
	BuiltinFileWrite = "file_write"
)

// Kind names the tool's kind: "http", "mcp" or "builtin".
func (t *Tool) Kind() string {
	switch {
	case t.HTTP != nil:
		return ToolKindHTTP
	case t.MCP != nil:
		return ToolKindMCP
	case t.Builtin != "":
		return ToolKindBuiltin
	}
	return ""
}

// HTTPTool calls an HTTP endpoint. The URL's scheme and host are fixed in
// the definition; templates ({{ args.x }}) may only fill path segments and
// query values, which are escaped. Header values and body strings may name
// environment variables of the worker as ${VAR}, resolved at call time.
type HTTPTool struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	// Body is a JSON value whose strings are templates over args; a string
	// that is a single {{ expression }} takes the expression's value.
	Body json.RawMessage `json:"body,omitempty"`
	// MaxResponseBytes caps the response read; 0 means the default (1 MiB).
	MaxResponseBytes int64 `json:"max_response_bytes,omitempty"`
}

// MCPServer is a Model Context Protocol server: a command the worker starts
// (stdio transport) or a Streamable HTTP URL. Env values and Headers may
// name environment variables of the worker as ${VAR}.
type MCPServer struct {
	Command []string          `json:"command,omitempty"`
	URL     string            `json:"url,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// Grant is one entry of an agent's tools: a tool by name ("lookup_order"),
// one tool of an MCP server ("everything/get-sum"), all of a server's tools
// ("everything/*") or another agent run as a tool ("agent:summarize").
type Grant struct {
	Tool string `json:"tool"`
	// Approval makes calls through this grant wait for a person's decision,
	// even when the tool itself does not ask for it.
	Approval bool `json:"approval,omitempty"`
}

// AgentPrefix marks a grant of an agent as a tool.
const AgentPrefix = "agent:"

// Agent returns the name of the agent a grant runs as a tool, if it does.
func (g Grant) Agent() (string, bool) {
	return strings.CutPrefix(g.Tool, AgentPrefix)
}

// Server splits a grant of MCP tools into the server's name and the tool's
// ("*" for all of them); ok is false for other grants.
func (g Grant) Server() (server, tool string, ok bool) {
	return strings.Cut(g.Tool, "/")
}

// ToolStep calls a tool directly, with no LLM involved. Args maps argument
// names to templates over the workflow's variables (input, steps, the map
// item); a template that is a single {{ expression }} takes its value.
// Its output is the tool's result: the JSON value it answered, else
// {"text": "..."}.
type ToolStep struct {
	// Tool names a tool, or an MCP server's tool as "server/tool".
	Tool string            `json:"tool"`
	Args map[string]string `json:"args,omitempty"`
}
