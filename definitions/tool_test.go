package definitions

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The tool files of issue 6, exactly.
const (
	lookupOrderYAML = `# an HTTP tool
name: lookup_order
description: Look up an order by its id.
input:                      # JSON Schema of the arguments the model must give
  type: object
  required: [order_id]
  properties: {order_id: {type: string}}
http:
  method: POST
  url: http://127.0.0.1:9000/orders/lookup   # scheme and host are fixed here; arguments may only fill path segments and query values, escaped
  headers: {Authorization: "Bearer ${ORDERS_TOKEN}"}   # ${VAR} read by the worker from its environment at call time
  body: {order_id: "{{ args.order_id }}"}
`
	everythingYAML = `# an MCP server: all its tools become available to the agents that are granted them
name: everything
mcp:
  command: [mcp-server-everything, stdio]    # stdio transport (a process the worker starts)
  # url: http://127.0.0.1:3001/mcp           # or Streamable HTTP
`
)

// toolFiles are the files beside f.yaml in the tests of this file.
func toolFiles(src string) map[string][]byte {
	return map[string][]byte{
		"f.yaml":            []byte(src),
		"helper.yaml":       []byte(agentsYAML),
		"summarize.yaml":    []byte("name: summarize\nsystem: Sum up.\n"),
		"lookup_order.yaml": []byte(lookupOrderYAML),
		"everything.yaml":   []byte(everythingYAML),
		"notes.yaml":        []byte("name: notes\nbuiltin: file_write\n"),
	}
}

func TestIssueToolFormsAreAccepted(t *testing.T) {
	t.Parallel()
	cat, err := Validate(nil, toolFiles(`name: clerk
system: You answer questions about orders.
tools: [lookup_order, everything/get-sum]
`))
	require.NoError(t, err)

	lookup := cat.Tools["lookup_order"]
	require.Equal(t, "http", lookup.Kind())
	require.Equal(t, "Look up an order by its id.", lookup.Description)
	require.JSONEq(t, `{"type": "object", "required": ["order_id"], "properties": {"order_id": {"type": "string"}}}`, string(lookup.Input))
	require.Equal(t, &HTTPTool{
		Method:  "POST",
		URL:     "http://127.0.0.1:9000/orders/lookup",
		Headers: map[string]string{"Authorization": "Bearer ${ORDERS_TOKEN}"},
		Body:    json.RawMessage(`{"order_id":"{{ args.order_id }}"}`),
	}, lookup.HTTP)
	require.NoError(t, lookup.ValidateInput(json.RawMessage(`{"order_id": "A-1"}`)))
	require.ErrorContains(t, lookup.ValidateInput(json.RawMessage(`{}`)), "missing property 'order_id'")

	everything := cat.Tools["everything"]
	require.Equal(t, "mcp", everything.Kind())
	require.Equal(t, &MCPServer{Command: []string{"mcp-server-everything", "stdio"}}, everything.MCP)
	require.Nil(t, everything.Input, "an MCP server's tools bring their own schemas")

	clerk := cat.Agents["clerk"]
	require.Equal(t, []Grant{{Tool: "lookup_order"}, {Tool: "everything/get-sum"}}, clerk.Tools)
	require.Zero(t, clerk.MaxTurns, "0 means DefaultMaxTurns")
}

func TestToolFilesDecode(t *testing.T) {
	t.Parallel()
	cat, err := Validate(nil, map[string][]byte{
		"get.yaml": []byte(`
name: get_order
http:
  url: "https://orders.example.com/v1/orders/{{ args.id }}/lines?limit={{ args.limit }}&q=a"
  max_response_bytes: 4096
queue: customer-host.eu_1
approval: required
approval_timeout: 1h
timeout: 30s
retry: {max_attempts: 5, initial_interval: 1s, backoff: 2}
`),
		"remote.yaml": []byte(`
name: remote
description: A Streamable HTTP server.
mcp:
  url: http://127.0.0.1:3001/mcp
  headers: {Authorization: "Bearer ${MCP_TOKEN}", X-Team: 7}
approval: true
`),
		"local.yaml": []byte(`
name: local
mcp:
  command: [npx, -y, "@modelcontextprotocol/server-everything"]
  env: {API_KEY: "${EVERYTHING_KEY}", LEVEL: debug}
approval: none
`),
		"read.yaml": []byte("name: read\nbuiltin: file_read\nqueue: host-a\n"),
	})
	require.NoError(t, err)

	get := cat.Tools["get_order"]
	require.Equal(t, &Tool{
		Name:            "get_order",
		Input:           json.RawMessage(`{"type":"object"}`),
		HTTP:            &HTTPTool{Method: "GET", URL: "https://orders.example.com/v1/orders/{{ args.id }}/lines?limit={{ args.limit }}&q=a", MaxResponseBytes: 4096},
		Queue:           "customer-host.eu_1",
		Approval:        true,
		ApprovalTimeout: Duration(3600e9),
		Timeout:         Duration(30e9),
		Retry:           RetryPolicy{MaxAttempts: 5, InitialInterval: Duration(1e9), Backoff: 2},
		inputSchema:     get.inputSchema,
	}, get, "an HTTP tool without input takes any object; GET is the default method")
	require.NoError(t, get.ValidateInput(json.RawMessage(`{"id": 1}`)))

	require.Equal(t, &MCPServer{URL: "http://127.0.0.1:3001/mcp", Headers: map[string]string{"Authorization": "Bearer ${MCP_TOKEN}", "X-Team": "7"}}, cat.Tools["remote"].MCP)
	require.True(t, cat.Tools["remote"].Approval)
	require.Equal(t, &MCPServer{Command: []string{"npx", "-y", "@modelcontextprotocol/server-everything"}, Env: map[string]string{"API_KEY": "${EVERYTHING_KEY}", "LEVEL": "debug"}}, cat.Tools["local"].MCP)
	require.False(t, cat.Tools["local"].Approval)

	read := cat.Tools["read"]
	require.Equal(t, "builtin", read.Kind())
	require.Equal(t, BuiltinFileRead, read.Builtin)
	require.Equal(t, "host-a", read.Queue)
	require.NotEmpty(t, read.Description, "built-in tools describe themselves to the model")
	require.JSONEq(t, `{"type": "object", "required": ["path"], "properties": {"path": {"type": "string", "description": "The file's path, relative to the root directory."}}, "additionalProperties": false}`, string(read.Input))
	require.NoError(t, read.ValidateInput(json.RawMessage(`{"path": "a.txt"}`)))
	require.ErrorContains(t, read.ValidateInput(json.RawMessage(`{"path": "a.txt", "mode": "x"}`)), "additional properties 'mode' not allowed")
}

func TestGrantForms(t *testing.T) {
	t.Parallel()
	cat, err := Validate(nil, toolFiles(`name: coordinator
system: You delegate.
tools:
  - lookup_order
  - everything/*
  - everything/get-sum
  - agent:summarize
  - {tool: notes, approval: required}
  - tool: agent:helper
    approval: none
max_turns: 25
retry: {max_attempts: 8, max_interval: 1m}
`))
	require.NoError(t, err)
	a := cat.Agents["coordinator"]
	require.Equal(t, RetryPolicy{MaxAttempts: 8, MaxInterval: Duration(time.Minute)}, a.Retry)
	require.Equal(t, []Grant{
		{Tool: "lookup_order"},
		{Tool: "everything/*"},
		{Tool: "everything/get-sum"},
		{Tool: "agent:summarize"},
		{Tool: "notes", Approval: true},
		{Tool: "agent:helper"},
	}, a.Tools)
	require.Equal(t, 25, a.MaxTurns)
	name, ok := a.Tools[3].Agent()
	require.True(t, ok)
	require.Equal(t, "summarize", name)
	server, tool, ok := a.Tools[1].Server()
	require.True(t, ok)
	require.Equal(t, []string{"everything", "*"}, []string{server, tool})
}

func TestToolset(t *testing.T) {
	t.Parallel()
	files := toolFiles("name: lead\nsystem: L.\ntools: [agent:researcher, lookup_order]\n")
	files["researcher.yaml"] = []byte("name: researcher\nsystem: R.\ntools: [everything/*, agent:writer, agent:lead]\n")
	files["writer.yaml"] = []byte("name: writer\nsystem: W.\ntools: [notes, everything/echo, agent:researcher]\n")
	cat, err := Validate(nil, files)
	require.NoError(t, err)

	tools, agents := cat.Toolset(cat.Agents["lead"])
	require.Equal(t, map[string]*Tool{"lookup_order": cat.Tools["lookup_order"], "everything": cat.Tools["everything"], "notes": cat.Tools["notes"]}, tools)
	require.Equal(t, map[string]*Agent{"researcher": cat.Agents["researcher"], "writer": cat.Agents["writer"], "lead": cat.Agents["lead"]}, agents,
		"agents granted as tools, at any depth, cycles included")

	tools, agents = cat.Toolset(cat.Agents["writer"])
	require.Equal(t, map[string]*Tool{"lookup_order": cat.Tools["lookup_order"], "everything": cat.Tools["everything"], "notes": cat.Tools["notes"]}, tools)
	require.Len(t, agents, 3)

	tools, agents = cat.Toolset(cat.Agents["helper"])
	require.Empty(t, tools)
	require.Empty(t, agents)
	require.NotNil(t, tools)
}

func TestWorkflowWithToolSteps(t *testing.T) {
	t.Parallel()
	cat, err := Validate(nil, toolFiles(`name: orders
input: {type: object, required: [order], properties: {order: {type: string}}}
agents:
  clerk: {system: C., tools: [everything/*, agent:helper, agent:scout]}
  scout: {system: S., tools: [agent:summarize]}
steps:
  - id: fetch
    tool: lookup_order
    args: {order_id: "{{ input.order }}"}
  - id: sum
    tool: everything/get-sum
    args: {a: 1, b: 2.5, c: -3, d: true, e: null, f: "{{ steps.fetch.output }}"}
  - id: each
    map:
      items: steps.fetch.output.lines
      as: line
      step: {id: save, tool: notes, args: {path: "{{ line.id }}.md", content: "{{ line }}"}}
  - id: answer
    agent: clerk
    prompt: "{{ steps.sum.output }}"
`))
	require.NoError(t, err)
	w := cat.Workflows["orders"]
	require.Equal(t, &ToolStep{Tool: "lookup_order", Args: map[string]string{"order_id": "{{ input.order }}"}}, w.Steps[0].Tool)
	require.Equal(t, "tool", w.Steps[0].Kind())
	require.Equal(t, map[string]string{"a": "{{ 1 }}", "b": "{{ 2.5 }}", "c": "{{ -3 }}", "d": "{{ true }}", "e": "{{ null }}", "f": "{{ steps.fetch.output }}"}, w.Steps[1].Tool.Args,
		"scalars are the expressions that give them")
	require.Equal(t, "tool", w.Steps[2].Map.Step.Kind(), "a map may run a tool step per item")
	require.Equal(t, map[string]*Tool{"lookup_order": cat.Tools["lookup_order"], "everything": cat.Tools["everything"], "notes": cat.Tools["notes"]}, w.Tools)
	require.ElementsMatch(t, []string{"clerk", "scout", "helper", "summarize"}, keys(w.Agents),
		"agents granted as tools join the workflow, at any depth")
	require.Same(t, cat.Agents["summarize"], w.Agents["summarize"])
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestHashCoversTools(t *testing.T) {
	t.Parallel()
	const workflow = "name: w\nagents: {a: {system: A, tools: [everything/*]}}\nsteps:\n  - {id: one, agent: a}\n  - {id: two, tool: lookup_order, args: {order_id: x}}\n"
	hash := func(everything, lookup string) string {
		t.Helper()
		cat, err := Validate(nil, map[string][]byte{"w.yaml": []byte(workflow), "e.yaml": []byte(everything), "l.yaml": []byte(lookup)})
		require.NoError(t, err)
		return cat.Workflows["w"].Hash
	}
	first := hash(everythingYAML, lookupOrderYAML)
	require.Equal(t, first, hash(everythingYAML, lookupOrderYAML))
	require.NotEqual(t, first, hash(strings.Replace(everythingYAML, "stdio]", "stdio, --verbose]", 1), lookupOrderYAML), "a granted tool changed")
	require.NotEqual(t, first, hash(everythingYAML, strings.Replace(lookupOrderYAML, "/orders/lookup", "/orders/find", 1)), "a tool step's tool changed")
}

func TestValidateReportsToolProblemsAtTheirPosition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want string // "line:col: message fragment"
	}{
		// tool files
		{"several kinds", "name: t\nbuiltin: file_read\nmcp: {url: 'http://h/mcp'}\n", "1:1: tool has several kinds (builtin, mcp); a tool has exactly one of http, mcp and builtin"},
		{"unknown field", "name: t\nbuiltin: file_read\nqeue: q\n", `3:1: unknown field "qeue" in tool; did you mean "queue"?`},
		{"no name", "builtin: file_read\n", "1:1: tool has no name; add one, e.g. name: lookup_order"},
		{"agent-like name", "name: agent:x\nbuiltin: file_read\n", `1:7: name "agent:x" must start with a lowercase letter and hold only a-z, 0-9, _ and -`},
		{"same name twice", "name: everything\nbuiltin: file_read\n", `1:7: tool "everything" is also defined at everything.yaml:2:7; names must be unique`},
		{"input on an MCP server", "name: t\ninput: {type: object}\nmcp: {command: [srv]}\n", "2:9: input does not apply to an MCP server"},
		{"input on a built-in", "name: t\nbuiltin: file_read\ninput: {type: object}\n", "3:9: input of a built-in tool is fixed; remove it"},
		{"input not an object", "name: t\ninput: {type: string}\nhttp: {url: 'http://h/'}\n", "2:9: input must describe an object (type: object): a tool's arguments are an object"},
		{"bad method", "name: t\nhttp: {method: FETCH, url: 'http://h/'}\n", `2:16: method must be one of GET, POST, PUT, PATCH, DELETE, got "FETCH"`},
		{"no url", "name: t\nhttp: {method: POST}\n", "2:8: http has no url"},
		{"relative url", "name: t\nhttp:\n  url: /orders\n", `3:8: url "/orders" must be an absolute http or https URL`},
		{"other scheme", "name: t\nhttp:\n  url: ftp://h/x\n", `3:8: url "ftp://h/x" must be an absolute http or https URL`},
		{"url that does not parse", "name: t\nhttp:\n  url: 'http://h/%zz'\n", `3:8: url "http://h/%zz" is not a URL: invalid URL escape "%zz"`},
		{"templated host", "name: t\nhttp:\n  url: 'http://{{ args.host }}/x'\n", "3:16: the scheme and host of url are fixed: {{ }} may only fill path segments and query values"},
		{"templated scheme", "name: t\nhttp:\n  url: '{{ args.s }}://h/x'\n", "3:9: the scheme and host of url are fixed"},
		{"templated port", "name: t\nhttp:\n  url: 'http://h:{{ args.port }}/x'\n", "3:18: the scheme and host of url are fixed"},
		{"templated query name", "name: t\nhttp:\n  url: 'http://h/x?a=1&{{ args.k }}=2'\n", "3:24: {{ }} may fill a query value of url, not a parameter's name"},
		{"templated fragment", "name: t\nhttp:\n  url: 'http://h/x#{{ args.f }}'\n", "3:20: {{ }} may not fill the fragment of url (after #)"},
		{"url template sees args only", "name: t\nhttp:\n  url: 'http://h/{{ input.id }}'\n", `3:21: unknown variable "input"; variables here: args`},
		{"body with GET", "name: t\nhttp:\n  url: 'http://h/'\n  body: {a: 1}\n", "4:10: body needs a method that sends one, e.g. method: POST"},
		{"body template", "name: t\nhttp:\n  method: PUT\n  url: 'http://h/'\n  body: {a: [x, '{{ args.a + }}']}\n", `5:29: invalid expression "args.a +": Syntax error`},
		{"bad header name", "name: t\nhttp:\n  url: 'http://h/'\n  headers: {Bad Header: x}\n", `4:13: headers: "Bad Header" is not an HTTP header name`},
		{"unclosed variable", "name: t\nhttp:\n  url: 'http://h/'\n  headers: {Authorization: 'Bearer ${TOKEN'}\n", "4:36: ${ is never closed by }"},
		{"bad variable name", "name: t\nmcp:\n  command: [srv]\n  env: {KEY: 'x-${1KEY}'}\n", "4:17: ${1KEY} does not name an environment variable"},
		{"bad env name", "name: t\nmcp:\n  command: [srv]\n  env: {MY-KEY: x}\n", `4:9: env: "MY-KEY" is not an environment variable name`},
		{"max_response_bytes below 1", "name: t\nhttp: {url: 'http://h/', max_response_bytes: 0}\n", "2:46: max_response_bytes must be at least 1, got 0"},
		{"command and url", "name: t\nmcp: {command: [srv], url: 'http://h/mcp'}\n", "2:7: mcp has both command and url"},
		{"neither command nor url", "name: t\nmcp: {env: {A: b}}\n", "2:7: mcp has no command or url"},
		{"env with url", "name: t\nmcp:\n  url: http://h/mcp\n  env: {A: b}\n", "4:9: env applies to a server started with command"},
		{"headers with command", "name: t\nmcp:\n  command: [srv]\n  headers: {A: b}\n", "4:13: headers apply to a server reached by url"},
		{"empty command", "name: t\nmcp: {command: []}\n", "2:16: command must start with the program to run"},
		{"MCP url", "name: t\nmcp: {url: 'unix:///tmp/s'}\n", `2:12: url "unix:///tmp/s" must be an absolute http or https URL`},
		{"unknown built-in", "name: t\nbuiltin: file_delete\n", `2:10: builtin must be one of file_read, file_write, got "file_delete"`},
		{"bad queue", "name: t\nbuiltin: file_read\nqueue: my queue\n", `3:8: queue "my queue" may hold only letters, digits, _, . and -`},
		{"bad approval", "name: t\nbuiltin: file_read\napproval: maybe\n", `3:11: approval must be required or none, got "maybe"`},
		{"bad approval_timeout", "name: t\nbuiltin: file_read\napproval_timeout: soon\n", `3:19: approval_timeout: "soon" is not a duration`},
		{"negative timeout", "name: t\nbuiltin: file_read\ntimeout: -1s\n", "3:10: timeout must be positive, got -1s"},
		{"bad retry", "name: t\nbuiltin: file_read\nretry: {attempts: 3}\n", `3:9: unknown field "attempts" in retry; known fields: backoff, initial_interval, max_attempts, max_interval, non_retryable`},

		// grants
		{"tools not a list", "name: a\ntools: lookup_order\n", "2:8: tools must be a list, e.g. tools: [lookup_order, everything/*, agent:summarize], got a string"},
		{"bad tool name", "name: a\ntools: [Lookup]\n", `2:9: "Lookup" is not a tool name`},
		{"empty agent grant", "name: a\ntools: ['agent:']\n", `2:9: "agent:" must name an agent after agent:, e.g. agent:summarize`},
		{"server without name", "name: a\ntools: [/get-sum]\n", `2:9: "/get-sum" must name an MCP server's tool as <server>/<tool>, or all of them as <server>/*`},
		{"grant without tool", "name: a\ntools: [{approval: required}]\n", "2:10: tools item has no tool"},
		{"grant with an unknown field", "name: a\ntools: [{tool: notes, aproval: required}]\n", `2:23: unknown field "aproval" in tools item; did you mean "approval"?`},
		{"grant item of another type", "name: a\ntools: [[notes]]\n", "2:9: a tools item is a name or {tool: NAME, approval: required}, got a list"},
		{"granted twice", "name: a\ntools: [notes, {tool: notes, approval: required}]\n", `2:23: "notes" is granted twice (first at 2:9)`},
		{"unknown tool, close", "name: a\ntools: [lookup_ordr]\n", `2:9: unknown tool "lookup_ordr"; did you mean "lookup_order"?`},
		{"unknown tool, far", "name: a\ntools: [weather]\n", `2:9: unknown tool "weather"; known: everything, lookup_order, notes`},
		{"unknown MCP server", "name: a\ntools: [everythin/*]\n", `2:9: unknown MCP server "everythin"; did you mean "everything"?`},
		{"not an MCP server", "name: a\ntools: [lookup_order/x]\n", `2:9: tool "lookup_order" is not an MCP server: name it alone, without /`},
		{"MCP server granted plainly", "name: a\ntools: [everything]\n", `2:9: "everything" is an MCP server: grant all its tools as everything/* or one of them as everything/<tool>`},
		{"agent granted as a tool without agent:", "name: a\ntools: [summarize]\n", `2:9: unknown tool "summarize"; to grant the agent summarize as a tool, write agent:summarize`},
		{"unknown agent", "name: a\ntools: [agent:sumarize]\n", `2:9: unknown agent "sumarize"; did you mean agent:summarize?`},
		{"grant approval", "name: a\ntools: [{tool: notes, approval: always}]\n", `2:33: approval must be required or none, got "always"`},
		{"max_turns below 1", "name: a\nmax_turns: 0\n", "2:12: max_turns must be at least 1, got 0"},
		{"max_turns above 100", "name: a\nmax_turns: 101\n", "2:12: max_turns must be at most 100, got 101"},
		{"agent retry", "name: a\nretry: {max_attempts: 0}\n", "2:23: max_attempts must be at least 1, got 0"},
		{"grant in a workflow agent", "name: w\nagents: {a: {tools: [agent:b, lookup_ordr]}, b: {}}\nsteps: [{id: one, agent: a}]\n", `2:31: unknown tool "lookup_ordr"; did you mean "lookup_order"?`},

		// tool steps
		{"unknown tool in a step", "name: w\nsteps:\n  - {id: one, tool: lookup_ordr}\n", `3:21: unknown tool "lookup_ordr"; did you mean "lookup_order"?`},
		{"agent in a tool step", "name: w\nsteps:\n  - {id: one, tool: 'agent:helper'}\n", "3:21: a tool step calls a tool; to run agent helper, write an agent step: agent: helper"},
		{"all of a server in a tool step", "name: w\nsteps:\n  - {id: one, tool: everything/*}\n", "3:21: a tool step calls one tool; name it, e.g. everything/<tool>"},
		{"MCP server in a tool step", "name: w\nsteps:\n  - {id: one, tool: everything}\n", `3:21: "everything" is an MCP server; a tool step calls one of its tools: tool: everything/<tool>`},
		{"unknown server in a tool step", "name: w\nsteps:\n  - {id: one, tool: nothing/x}\n", `3:21: unknown MCP server "nothing"; known: everything`},
		{"empty tool", "name: w\nsteps:\n  - {id: one, tool: ''}\n", "3:21: tool must name a tool"},
		{"args on an agent step", "name: w\nsteps:\n  - {id: one, agent: helper, args: {a: b}}\n", "3:37: args belong to tool steps; this is a agent step"},
		{"missing argument", "name: w\nsteps:\n  - {id: one, tool: notes, args: {path: a.md}}\n", `3:35: tool "notes" needs the argument "content"; add it under args`},
		{"missing arguments", "name: w\nsteps:\n  - id: one\n    tool: lookup_order\n", `3:5: tool "lookup_order" needs the argument "order_id"`},
		{"unknown argument", "name: w\nsteps:\n  - id: one\n    tool: notes\n    args: {path: a.md, content: x, contnet: y}\n", `5:36: tool "notes" takes no argument "contnet"; did you mean "content"?`},
		{"argument that is a list", "name: w\nsteps:\n  - id: one\n    tool: everything/add\n    args: {xs: [1, 2]}\n", `5:16: args xs must be a template; write a list or a mapping as an expression`},
		{"argument template reads a later step", "name: w\nsteps:\n  - {id: one, tool: everything/echo, args: {m: '{{ steps.two.output }}'}}\n  - {id: two, agent: helper}\n", `3:52: step "two" runs after step "one" (dependency order)`},
		{"argument template with an unknown variable", "name: w\nsteps:\n  - id: one\n    tool: everything/echo\n    args:\n      m: '{{ inptu.x }}'\n", `6:14: unknown variable "inptu"; did you mean "input"?`},
		{"map item variable outside the map", "name: w\nsteps:\n  - id: m\n    map: {items: '[1]', step: {id: each, tool: everything/echo}}\n  - {id: two, tool: everything/echo, args: {m: '{{ item }}'}}\n", `5:52: unknown variable "item"; variables here: input, steps`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Validate(nil, toolFiles(tt.src))
			require.Error(t, err)
			var errs Errors
			require.True(t, errors.As(err, &errs))
			got := strings.Split(errs.Error(), "\n")
			for _, p := range got {
				if strings.HasPrefix(p, "f.yaml:"+tt.want) {
					return
				}
			}
			require.Failf(t, "problem not reported", "want f.yaml:%s\ngot:\n%s", tt.want, strings.Join(got, "\n"))
		})
	}
}

func TestBrokenDefinitionsCannotBeGranted(t *testing.T) {
	t.Parallel()
	_, err := Validate(nil, map[string][]byte{
		"broken_tool.yaml": []byte("name: broken_tool\nbuiltin: file_move\n"),
		"a.yaml":           []byte("name: a\ntools: [broken_tool]\n"),
		"b.yaml":           []byte("name: b\ntools: [agent:a]\n"),
		"c.yaml":           []byte("name: c\ntools: [agent:b]\n"),
		"w.yaml":           []byte("name: w\nsteps:\n  - {id: one, agent: c}\n  - {id: two, tool: broken_tool}\n"),
	})
	require.EqualError(t, err, `a.yaml:2:9: tool "broken_tool" cannot be used: its definition in broken_tool.yaml has problems
b.yaml:2:9: agent "a" cannot be used: its definition in a.yaml has problems
broken_tool.yaml:2:10: builtin must be one of file_read, file_write, got "file_move"
c.yaml:2:9: agent "b" cannot be used: its definition in b.yaml has problems
w.yaml:3:22: agent "c" cannot be used: its definition in c.yaml has problems
w.yaml:4:21: tool "broken_tool" cannot be used: its definition in broken_tool.yaml has problems`)
}

func TestValidateUsesTheBaseCatalogsTools(t *testing.T) {
	t.Parallel()
	base, err := Validate(nil, map[string][]byte{"lookup_order.yaml": []byte(lookupOrderYAML), "everything.yaml": []byte(everythingYAML)})
	require.NoError(t, err)
	found, err := Validate(base, map[string][]byte{
		"a.yaml": []byte("name: a\ntools: [lookup_order, everything/*]\n"),
		"w.yaml": []byte("name: w\nsteps: [{id: one, tool: lookup_order, args: {order_id: x}}]\n"),
	})
	require.NoError(t, err)
	require.Empty(t, found.Tools, "only the definitions of the sources are returned")
	require.Same(t, base.Tools["lookup_order"], found.Workflows["w"].Tools["lookup_order"])
}

func TestFallbackModels(t *testing.T) {
	t.Parallel()
	cat, err := Validate(nil, toolFiles("name: resilient\nsystem: S.\nfallback_models: [gpt-4o-mini, mock]\n"))
	require.NoError(t, err)
	require.Equal(t, []string{"gpt-4o-mini", "mock"}, cat.Agents["resilient"].FallbackModels)
	for src, want := range map[string]string{
		"name: a\nfallback_models: gpt-4o\n":             "2:18: fallback_models must be a list of strings, got a string",
		"name: a\nfallback_models: [gpt-4o, '']\n":       "2:27: a fallback model needs a name",
		"name: a\nfallback_models: [a, b, c, d, e, f]\n": "2:18: fallback_models lists 6 models; at most 5",
	} {
		_, err := Validate(nil, toolFiles(src))
		require.ErrorContains(t, err, want, src)
	}
}
