package definitions

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
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

	inputSchema *jsonschema.Schema // compiled Input, when loaded from YAML
}

// ValidateInput checks a call's arguments against the tool's Input schema
// (an MCP server has none: its tools bring their own). The error names each
// failing field and rule.
func (t *Tool) ValidateInput(args json.RawMessage) error {
	return validateWith(t.inputSchema, t.Input, args, "arguments")
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

// toolKinds are the keys that make a file a tool, one per kind.
var toolKinds = []string{ToolKindHTTP, ToolKindMCP, ToolKindBuiltin}

// queuePattern is what task queue names look like.
var queuePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// queue decodes the name of a Temporal task queue.
func (d *decoder) queue(v *node) string {
	q := d.str(v, "queue")
	if q != "" && !ValidQueue(q) {
		d.errorf(v.pos, "queue %q may hold only letters, digits, _, . and - (it names a Temporal task queue)", q)
	}
	return q
}

// ValidQueue says whether name may name a task queue: at most 200 letters,
// digits, _, . and -.
func ValidQueue(name string) bool {
	return len(name) <= 200 && queuePattern.MatchString(name)
}

// isTool tells whether a definition file's root is a tool.
func isTool(root *node) bool {
	for _, k := range toolKinds {
		if root.get(k) != nil {
			return true
		}
	}
	return false
}

// tool decodes a tool file.
func (d *decoder) tool(n *node) *Tool {
	t := &Tool{}
	d.fields(n, "tool", map[string]func(*node){
		"name":        func(v *node) { t.Name = d.name(v, "name") },
		"description": func(v *node) { t.Description = d.str(v, "description") },
		"input": func(v *node) {
			t.Input, t.inputSchema = d.objectSchema(v, "input", "a tool's arguments are an object")
		},
		"http":             func(v *node) { t.HTTP = d.httpTool(v) },
		"mcp":              func(v *node) { t.MCP = d.mcpServer(v) },
		"builtin":          func(v *node) { t.Builtin = d.builtin(v) },
		"queue":            func(v *node) { t.Queue = d.queue(v) },
		"approval":         func(v *node) { t.Approval = d.approvalRequired(v) },
		"approval_timeout": func(v *node) { t.ApprovalTimeout = d.duration(v, "approval_timeout") },
		"timeout":          func(v *node) { t.Timeout = d.duration(v, "timeout") },
		"retry":            func(v *node) { t.Retry = d.retry(v) },
	})
	if n.get("name") == nil {
		d.errorf(n.pos, "tool has no name; add one, e.g. name: lookup_order")
	}
	var kinds []string
	for _, e := range n.entries {
		if slices.Contains(toolKinds, e.key) {
			kinds = append(kinds, e.key)
		}
	}
	if len(kinds) > 1 {
		d.errorf(n.pos, "tool has several kinds (%s); a tool has exactly one of http, mcp and builtin", strings.Join(kinds, ", "))
	}
	input := n.get("input")
	switch {
	case input != nil && n.get(ToolKindMCP) != nil:
		d.errorf(input.pos, "input does not apply to an MCP server: each of its tools brings its own schema")
	case input != nil && n.get(ToolKindBuiltin) != nil:
		d.errorf(input.pos, "input of a built-in tool is fixed; remove it")
	case t.Builtin != "":
		t.Input, t.inputSchema = builtinInput(t.Builtin)
		if t.Description == "" {
			t.Description = builtinDescription(t.Builtin)
		}
	case t.HTTP != nil && t.Input == nil:
		t.Input, t.inputSchema = mustSchema(anyObjectInput)
	}
	return t
}

// builtin decodes the name of a built-in tool.
func (d *decoder) builtin(n *node) string {
	s := d.str(n, "builtin")
	if s != BuiltinFileRead && s != BuiltinFileWrite {
		d.errorf(n.pos, "builtin must be one of %s, %s, got %s", BuiltinFileRead, BuiltinFileWrite, shown(n))
		return ""
	}
	return s
}

// The argument schemas of the built-in tools and of HTTP tools that give
// none.
const (
	fileReadInput  = `{"type":"object","required":["path"],"properties":{"path":{"type":"string","description":"The file's path, relative to the root directory."}},"additionalProperties":false}`
	fileWriteInput = `{"type":"object","required":["path","content"],"properties":{"path":{"type":"string","description":"The file's path, relative to the root directory."},"content":{"type":"string","description":"The text to write; it replaces the file's content."}},"additionalProperties":false}`
	anyObjectInput = `{"type":"object"}`
)

// builtinInput is the argument schema of a built-in tool.
func builtinInput(name string) (json.RawMessage, *jsonschema.Schema) {
	if name == BuiltinFileWrite {
		return mustSchema(fileWriteInput)
	}
	return mustSchema(fileReadInput)
}

// builtinDescription is what a built-in tool does, for the model.
func builtinDescription(name string) string {
	if name == BuiltinFileWrite {
		return "Write a text file under the root directory, creating its folders; it replaces any file of that path."
	}
	return "Read a text file under the root directory."
}

// mustSchema compiles a schema written in this package.
func mustSchema(src string) (json.RawMessage, *jsonschema.Schema) {
	sch, err := compileSchema(json.RawMessage(src))
	if err != nil {
		panic("definitions: built-in schema: " + err.Error())
	}
	return json.RawMessage(src), sch
}
