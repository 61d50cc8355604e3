// Package definitions parses and validates the agent, tool and workflow
// YAML that troupe runs.
//
// A file holds one definition: a workflow when it has a steps key, a tool
// when it has an http, mcp or builtin key, else an agent. Load and Validate
// check everything a definition can get wrong — YAML syntax, unknown
// fields, types, names, agents, tools and the grants of tools to agents,
// step ids, the order of step references, expressions, templates and JSON
// Schemas — and report each problem as file:line:col with a way to fix it.
// Untrusted YAML is bounded in size, tokens, nesting and alias expansion.
//
// Loaded workflows are in their full form and self-contained (they carry
// the agents and tools they may use), so the Temporal interpreter can carry
// one in a workflow input; Catalog.Toolset gives the same for an agent run
// as a task. Expressions and templates are checked here in the environment
// of package expr, which evaluates them at run time. docs/workflows.md is
// the authors' reference.
package definitions
