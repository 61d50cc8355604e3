package definitions

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Limits on untrusted YAML. The parser's cost grows faster than linearly
// with the number of tokens and the nesting, so both are checked on the
// token stream before parsing.
const (
	maxFileSize = 1 << 20 // bytes
	maxTokens   = 20000   // YAML tokens, comments aside
	maxDepth    = 50      // nesting of mappings and lists
	maxColumn   = 200     // column of a block-structure token, a cheap bound on block nesting
	maxNodes    = 100000  // values in a document once aliases are expanded
)

// pos is a 1-based position in a file.
type pos struct{ line, col int }

// kind is the type of a YAML value.
type kind uint8

const (
	nullKind kind = iota
	stringKind
	intKind
	floatKind
	boolKind
	mapKind
	listKind
)

// node is a YAML value with its position, aliases and merge keys resolved.
// Nodes reached through an alias are shared, never copied.
type node struct {
	kind    kind
	pos     pos
	str     string // a string's value; the source text of other scalars
	val     any    // a scalar as a Go value: string, int64, uint64, float64, bool or nil
	entries []entry
	items   []*node
	// text is where a string's first character is in the file, when the
	// characters map one to one onto the file; block tells that they span
	// lines indented by text.col-1 columns (a literal block scalar).
	text  *pos
	block bool
}

// entry is a key of a mapping with its value.
type entry struct {
	key   string
	pos   pos
	value *node
}

// get returns the value of key in a mapping, or nil.
func (n *node) get(key string) *node {
	if n == nil {
		return nil
	}
	for _, e := range n.entries {
		if e.key == key {
			return e.value
		}
	}
	return nil
}

// at returns the value at a path of mapping keys and list indexes, or the
// deepest value found along it.
func (n *node) at(path []string) *node {
	for _, key := range path {
		next := n.get(key)
		if i, err := strconv.Atoi(key); err == nil && n.kind == listKind && i >= 0 && i < len(n.items) {
			next = n.items[i]
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

// describe names the kind of a value for error messages.
func (n *node) describe() string {
	switch n.kind {
	case stringKind:
		return "a string"
	case intKind, floatKind:
		return "a number"
	case boolKind:
		return "a boolean"
	case mapKind:
		return "a mapping"
	case listKind:
		return "a list"
	}
	return "null"
}

// posAt returns the position in the file of the byte at offset in a
// string's value, or the string's own position when its characters do not
// map onto the file (escapes, folding).
func (n *node) posAt(offset int) pos {
	if n.text == nil || offset < 0 || offset > len(n.str) {
		return n.pos
	}
	before := n.str[:offset]
	if !n.block {
		return pos{n.text.line, n.text.col + utf8.RuneCountInString(before)}
	}
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return pos{n.text.line + strings.Count(before, "\n"), n.text.col + utf8.RuneCountInString(before[lineStart:])}
}

// plain returns the value as plain Go data (map[string]any, []any, string,
// int64, uint64, float64, bool, nil), as encoding/json would marshal it.
func (n *node) plain() any {
	switch n.kind {
	case mapKind:
		m := make(map[string]any, len(n.entries))
		for _, e := range n.entries {
			m[e.key] = e.value.plain()
		}
		return m
	case listKind:
		l := make([]any, len(n.items))
		for i, item := range n.items {
			l[i] = item.plain()
		}
		return l
	}
	return n.val
}

// problem is an error at a position, before the file name is known.
type problem struct {
	pos pos
	msg string
}

func (p *problem) Error() string { return p.msg }

// parseYAML parses one YAML document into a node tree, refusing input over
// the limits.
func parseYAML(src []byte) (root *node, err error) {
	if len(src) > maxFileSize {
		return nil, &problem{msg: fmt.Sprintf("file is %d bytes; the limit is %d (1 MiB)", len(src), maxFileSize)}
	}
	// The parser is third-party code fed untrusted input: a panic in it is
	// reported as a problem of the file rather than taking the process down.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &problem{msg: fmt.Sprintf("the YAML parser failed on this file: %v", r)}
		}
	}()
	tokens := lexer.Tokenize(string(src))
	if err := checkTokens(tokens); err != nil {
		return nil, err
	}
	file, err := parser.Parse(tokens, 0)
	if err != nil {
		return nil, syntaxProblem(err)
	}
	var docs []*ast.DocumentNode
	for _, doc := range file.Docs {
		if doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	switch {
	case len(docs) == 0:
		return nil, &problem{msg: "file holds no definition"}
	case len(docs) > 1:
		return nil, &problem{pos: astPos(docs[1].Body), msg: "a file holds one definition; this is a second YAML document (split it into its own file)"}
	}
	b := &builder{anchors: map[string]*node{}, sizes: map[*node]int{}}
	return b.build(docs[0].Body, 1)
}

// checkTokens refuses token streams too long or too deeply nested to parse
// safely.
func checkTokens(tokens token.Tokens) error {
	count, flow, line := 0, 0, 0
	for _, tk := range tokens {
		if tk.Type == token.CommentType {
			continue
		}
		count++
		if count > maxTokens {
			return &problem{pos: tokenPos(tk), msg: fmt.Sprintf("file has more than %d YAML tokens; split it into smaller definitions", maxTokens)}
		}
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
			if flow > maxDepth {
				return &problem{pos: tokenPos(tk), msg: fmt.Sprintf("values are nested more than %d levels deep", maxDepth)}
			}
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		}
		structural := tk.Position.Line != line || tk.Type == token.SequenceEntryType || tk.Type == token.MappingKeyType
		if flow == 0 && structural && tk.Position.Column > maxColumn {
			return &problem{pos: tokenPos(tk), msg: fmt.Sprintf("values are nested too deep (indented past column %d)", maxColumn)}
		}
		line = tk.Position.Line
	}
	return nil
}

// syntaxProblem converts a parser error, without formatting its source
// excerpt (slow on long lines).
func syntaxProblem(err error) error {
	var yerr yaml.Error
	if errors.As(err, &yerr) {
		return &problem{pos: tokenPos(yerr.GetToken()), msg: "YAML syntax: " + yerr.GetMessage()}
	}
	return &problem{msg: "YAML syntax: " + err.Error()}
}

// astPos is where an AST node starts: for a block mapping, its first key
// (its token is the first colon).
func astPos(an ast.Node) pos {
	if m, ok := an.(*ast.MappingNode); ok && len(m.Values) > 0 {
		return tokenPos(m.Values[0].Key.GetToken())
	}
	return tokenPos(an.GetToken())
}

func tokenPos(tk *token.Token) pos {
	if tk == nil || tk.Position == nil {
		return pos{}
	}
	return pos{tk.Position.Line, tk.Position.Column}
}

// builder converts the parser's AST into nodes, resolving anchors and
// counting values so that alias bombs are refused.
type builder struct {
	anchors map[string]*node
	sizes   map[*node]int // expanded size of each anchored value
	nodes   int           // values built so far, aliases counted at their expanded size
}

// build converts an AST node at the given nesting depth.
func (b *builder) build(an ast.Node, depth int) (*node, error) {
	at := tokenPos(an.GetToken())
	if depth > maxDepth {
		return nil, &problem{pos: at, msg: fmt.Sprintf("values are nested more than %d levels deep", maxDepth)}
	}
	b.nodes++
	if b.nodes > maxNodes {
		return nil, &problem{pos: at, msg: fmt.Sprintf("document has more than %d values once aliases are expanded", maxNodes)}
	}
	switch v := an.(type) {
	case *ast.NullNode:
		return &node{kind: nullKind, pos: at, str: v.GetToken().Value}, nil
	case *ast.StringNode:
		n := &node{kind: stringKind, pos: at, str: v.Value, val: v.Value}
		if !strings.Contains(v.Value, "\n") && strings.TrimSpace(v.Token.Origin) == quoted(v.Value, v.Token.Type) {
			text := at
			if v.Token.Type != token.StringType {
				text.col++
			}
			n.text = &text
		}
		return n, nil
	case *ast.LiteralNode:
		return literal(v, at), nil
	case *ast.IntegerNode:
		return &node{kind: intKind, pos: at, str: v.Token.Value, val: v.Value}, nil
	case *ast.FloatNode:
		return &node{kind: floatKind, pos: at, str: v.Token.Value, val: v.Value}, nil
	case *ast.InfinityNode:
		return &node{kind: floatKind, pos: at, str: v.Token.Value, val: v.Value}, nil
	case *ast.NanNode:
		return &node{kind: floatKind, pos: at, str: v.Token.Value, val: v.GetValue()}, nil
	case *ast.BoolNode:
		return &node{kind: boolKind, pos: at, str: v.Token.Value, val: v.Value}, nil
	case *ast.MappingNode:
		return b.mapping(v.Values, at, depth)
	case *ast.MappingValueNode:
		return b.mapping([]*ast.MappingValueNode{v}, at, depth)
	case *ast.SequenceNode:
		n := &node{kind: listKind, pos: at, items: make([]*node, 0, len(v.Values))}
		for _, item := range v.Values {
			child, err := b.build(item, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, child)
		}
		return n, nil
	case *ast.AnchorNode:
		before := b.nodes
		n, err := b.build(v.Value, depth)
		if err != nil {
			return nil, err
		}
		// The anchored value is counted again at each alias: remember its size.
		b.anchors[v.Name.GetToken().Value] = n
		b.sizes[n] = b.nodes - before
		return n, nil
	case *ast.AliasNode:
		name := v.Value.GetToken().Value
		n, ok := b.anchors[name]
		if !ok {
			return nil, &problem{pos: at, msg: fmt.Sprintf("alias *%s refers to no anchor &%s defined before it", name, name)}
		}
		b.nodes += b.sizes[n]
		if b.nodes > maxNodes {
			return nil, &problem{pos: at, msg: fmt.Sprintf("document has more than %d values once aliases are expanded", maxNodes)}
		}
		return n, nil
	case *ast.TagNode:
		return b.tagged(v, depth)
	}
	return nil, &problem{pos: at, msg: fmt.Sprintf("unsupported YAML construct (%s)", an.Type())}
}

// mapping converts the entries of a mapping, applying merge keys (<<):
// merged entries never override the mapping's own.
func (b *builder) mapping(values []*ast.MappingValueNode, at pos, depth int) (*node, error) {
	n := &node{kind: mapKind, pos: at, entries: make([]entry, 0, len(values))}
	if len(values) > 0 {
		n.pos = tokenPos(values[0].Key.GetToken())
	}
	seen := map[string]bool{}
	var merged []entry
	for _, mv := range values {
		value, err := b.build(mv.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			more, err := mergeEntries(value)
			if err != nil {
				return nil, err
			}
			merged = append(merged, more...)
			continue
		}
		key, err := b.build(mv.Key, depth+1)
		if err != nil {
			return nil, err
		}
		if key.kind == mapKind || key.kind == listKind {
			return nil, &problem{pos: key.pos, msg: "a mapping key must be a plain value, not " + key.describe()}
		}
		if seen[key.str] {
			return nil, &problem{pos: key.pos, msg: fmt.Sprintf("key %q appears twice in this mapping", key.str)}
		}
		seen[key.str] = true
		n.entries = append(n.entries, entry{key: key.str, pos: key.pos, value: value})
	}
	for _, e := range merged {
		if !seen[e.key] {
			seen[e.key] = true
			n.entries = append(n.entries, e)
		}
	}
	return n, nil
}

// mergeEntries returns the entries a merge key brings: those of a mapping,
// or of each mapping of a list, earlier ones first.
func mergeEntries(value *node) ([]entry, error) {
	switch value.kind {
	case mapKind:
		return value.entries, nil
	case listKind:
		var all []entry
		for _, item := range value.items {
			if item.kind != mapKind {
				return nil, &problem{pos: item.pos, msg: "a merge key (<<) takes a mapping or a list of mappings"}
			}
			all = append(all, item.entries...)
		}
		return all, nil
	}
	return nil, &problem{pos: value.pos, msg: "a merge key (<<) takes a mapping or a list of mappings"}
}

// tagged converts a value with a tag: the standard tags are accepted, !!str
// turns a scalar into a string, and other tags are refused.
func (b *builder) tagged(v *ast.TagNode, depth int) (*node, error) {
	n, err := b.build(v.Value, depth)
	if err != nil {
		return nil, err
	}
	switch tag := v.Start.Value; tag {
	case "!!str":
		if n.kind == mapKind || n.kind == listKind {
			return nil, &problem{pos: n.pos, msg: "!!str applies to plain values only"}
		}
		if n.kind != stringKind {
			return &node{kind: stringKind, pos: n.pos, str: n.str, val: n.str}, nil
		}
		return n, nil
	case "!!map", "!!seq", "!!int", "!!float", "!!bool", "!!null":
		return n, nil
	default:
		return nil, &problem{pos: tokenPos(v.Start), msg: fmt.Sprintf("unsupported tag %s; only the standard tags (!!str, !!int, ...) are allowed", tag)}
	}
}

// literal converts a block scalar. A literal one (|) keeps its lines, so
// positions inside it can be found: its text starts on the line after the
// indicator, at the indentation of its first non-empty line.
func literal(v *ast.LiteralNode, at pos) *node {
	n := &node{kind: stringKind, pos: at, str: v.Value.Value, val: v.Value.Value}
	if v.Start.Type != token.LiteralType {
		return n
	}
	for line := range strings.Lines(v.Value.Token.Origin) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		n.text, n.block = &pos{at.line + 1, indent + 1}, true
		break
	}
	return n
}

// quoted returns how a one-line string of the given token type is written
// when it needs no escapes.
func quoted(s string, typ token.Type) string {
	switch typ {
	case token.SingleQuoteType:
		return "'" + s + "'"
	case token.DoubleQuoteType:
		return `"` + s + `"`
	}
	return s
}
