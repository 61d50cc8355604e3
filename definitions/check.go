package definitions

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	"github.com/troupe-dev/troupe/expr"
)

// scope is what an expression sees where it is evaluated.
type scope struct {
	vars  []string          // variable names, sorted
	done  map[string]bool   // steps certainly finished
	maybe map[string]string // steps perhaps finished → why only perhaps
}

// agentScope is the scope of an agent's prompt: its input only.
func agentScope() scope { return scope{vars: []string{"input"}} }

// clone copies a scope so that it can be extended.
func (sc scope) clone() scope {
	out := scope{vars: sc.vars, done: maps.Clone(sc.done), maybe: maps.Clone(sc.maybe)}
	if out.done == nil {
		out.done = map[string]bool{}
	}
	if out.maybe == nil {
		out.maybe = map[string]string{}
	}
	return out
}

// withVar returns the scope with one more variable.
func (sc scope) withVar(name string) scope {
	out := sc.clone()
	out.vars = slices.Sorted(slices.Values(append(slices.Clone(sc.vars), name)))
	out.vars = slices.Compact(out.vars)
	return out
}

// finish records that a step has finished.
func (sc scope) finish(id string) {
	sc.done[id] = true
	delete(sc.maybe, id)
}

// refCheck judges a use of steps.<id> in an expression (test: inside has();
// guarded: the expression also tests it with has()) and says what is wrong
// with it, or "".
type refCheck func(id string, test, guarded bool) string

// exprRefs are the names an expression uses.
type exprRefs struct {
	free   []celRef        // variables
	steps  []celRef        // steps.<id>, steps["<id>"]
	guards map[string]bool // ids tested with has(steps.<id>) or "<id>" in steps
}

// celRef is a use of a name at an expression node.
type celRef struct {
	name string
	id   int64
	test bool
}

// collect walks an expression, skipping names bound by comprehensions.
func (r *exprRefs) collect(e celast.Expr, bound []string) {
	switch e.Kind() {
	case celast.IdentKind:
		if !slices.Contains(bound, e.AsIdent()) {
			r.free = append(r.free, celRef{name: e.AsIdent(), id: e.ID()})
		}
	case celast.SelectKind:
		sel := e.AsSelect()
		if isSteps(sel.Operand(), bound) {
			r.steps = append(r.steps, celRef{name: sel.FieldName(), id: sel.Operand().ID(), test: sel.IsTestOnly()})
			if sel.IsTestOnly() {
				r.guards[sel.FieldName()] = true
			}
		}
		r.collect(sel.Operand(), bound)
	case celast.CallKind:
		call := e.AsCall()
		args := call.Args()
		switch {
		case call.FunctionName() == operators.Index && len(args) == 2 && isSteps(args[0], bound):
			if id, ok := stringLiteral(args[1]); ok {
				r.steps = append(r.steps, celRef{name: id, id: args[0].ID()})
			}
		case call.FunctionName() == operators.In && len(args) == 2 && isSteps(args[1], bound):
			if id, ok := stringLiteral(args[0]); ok {
				r.steps = append(r.steps, celRef{name: id, id: args[0].ID(), test: true})
				r.guards[id] = true
			}
		}
		if call.IsMemberFunction() {
			r.collect(call.Target(), bound)
		}
		for _, arg := range args {
			r.collect(arg, bound)
		}
	case celast.ListKind:
		for _, el := range e.AsList().Elements() {
			r.collect(el, bound)
		}
	case celast.MapKind:
		for _, entry := range e.AsMap().Entries() {
			r.collect(entry.AsMapEntry().Key(), bound)
			r.collect(entry.AsMapEntry().Value(), bound)
		}
	case celast.StructKind:
		for _, field := range e.AsStruct().Fields() {
			r.collect(field.AsStructField().Value(), bound)
		}
	case celast.ComprehensionKind:
		c := e.AsComprehension()
		r.collect(c.IterRange(), bound)
		r.collect(c.AccuInit(), bound)
		inner := append(slices.Clone(bound), c.IterVar(), c.AccuVar())
		if c.HasIterVar2() {
			inner = append(inner, c.IterVar2())
		}
		r.collect(c.LoopCondition(), inner)
		r.collect(c.LoopStep(), inner)
		r.collect(c.Result(), inner)
	}
}

// isSteps tells whether e is the steps variable.
func isSteps(e celast.Expr, bound []string) bool {
	return e.Kind() == celast.IdentKind && e.AsIdent() == "steps" && !slices.Contains(bound, "steps")
}

func stringLiteral(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// checkTemplate checks the expressions of a template held by node n.
func (d *decoder) checkTemplate(n *node, tmpl string, sc scope, check refCheck) {
	segs, err := expr.ParseTemplate(tmpl)
	var te *expr.TemplateError
	if errors.As(err, &te) {
		d.errorf(n.posAt(te.Offset), "template: %s (write a literal {{ as {{ \"{{\" }})", te.Msg)
		return
	}
	for _, seg := range segs {
		if seg.Expr {
			d.checkExpr(n, seg.Text, seg.Offset, sc, check, nil)
		}
	}
}

// checkExpr checks a CEL expression, code, that starts at offset in the
// string of node n: that it compiles, uses only the variables of the scope,
// reads only steps that have finished, and, when want is set, gives that
// type.
func (d *decoder) checkExpr(n *node, code string, offset int, sc scope, check refCheck, want *cel.Type) {
	env, err := expr.Env(sc.vars)
	if err != nil {
		d.errorf(n.pos, "%v", err)
		return
	}
	at := func(line, col int) pos { return n.posAt(offset + exprOffset(code, line, col)) }
	ast, iss := env.Parse(code)
	if iss.Err() != nil {
		e := iss.Errors()[0]
		d.errorf(at(e.Location.Line(), e.Location.Column()), "invalid expression %q: %s", code, expr.Message(e))
		return
	}
	refs := &exprRefs{guards: map[string]bool{}}
	refs.collect(ast.NativeRep().Expr(), nil)
	info := ast.NativeRep().SourceInfo()
	atNode := func(id int64) pos {
		loc := info.GetStartLocation(id)
		return at(loc.Line(), loc.Column())
	}
	bad := map[string]bool{}
	for _, f := range refs.free {
		if slices.Contains(sc.vars, f.name) || bad[f.name] {
			continue
		}
		bad[f.name] = true
		msg := fmt.Sprintf("unknown variable %q; variables here: %s", f.name, strings.Join(sc.vars, ", "))
		if s := closest(f.name, sc.vars); s != "" {
			msg = fmt.Sprintf("unknown variable %q; did you mean %q?", f.name, s)
		}
		d.errorf(atNode(f.id), "%s", msg)
	}
	for _, r := range refs.steps {
		if check == nil {
			break // no steps here: the variable itself was reported
		}
		if bad["steps."+r.name] {
			continue
		}
		if msg := check(r.name, r.test, refs.guards[r.name]); msg != "" {
			bad["steps."+r.name] = true
			d.errorf(atNode(r.id), "%s", msg)
		}
	}
	if len(bad) > 0 {
		return
	}
	checked, iss := env.Check(ast)
	if iss.Err() != nil {
		e := iss.Errors()[0]
		d.errorf(at(e.Location.Line(), e.Location.Column()), "invalid expression %q: %s", code, expr.Message(e))
		return
	}
	if out := checked.OutputType(); want != nil && out.Kind() != types.DynKind && !want.IsAssignableType(out) {
		d.errorf(n.pos, "expression %q gives %s; %s is needed here", code, out, want)
	}
}

// exprOffset converts a CEL location (1-based line, 0-based column in code
// points) into a byte offset in expr.
func exprOffset(expr string, line, col int) int {
	off := 0
	for ; line > 1; line-- {
		nl := strings.IndexByte(expr[off:], '\n')
		if nl < 0 {
			break
		}
		off += nl + 1
	}
	for ; col > 0 && off < len(expr); col-- {
		_, size := utf8.DecodeRuneInString(expr[off:])
		off += size
	}
	return off
}
