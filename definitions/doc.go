// Package definitions parses and validates the agent and workflow YAML that
// troupe runs.
//
// A file holds one definition: a workflow when it has a steps key, else an
// agent. Load and Validate check everything a definition can get wrong —
// YAML syntax, unknown fields, types, names, agents, step ids, the order of
// step references, expressions and JSON Schemas — and report each problem
// as file:line:col with a way to fix it. Untrusted YAML is bounded in size,
// tokens, nesting and alias expansion.
//
// Loaded workflows are in their full form and self-contained, so the
// Temporal interpreter can carry one in a workflow input. Expressions and
// templates are checked here in the environment of package expr, which
// evaluates them at run time. docs/workflows.md is the authors' reference.
package definitions
