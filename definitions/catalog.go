package definitions

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Catalog is the set of loaded definitions, by name. Agents, workflows and
// tools each have names of their own.
type Catalog struct {
	Agents    map[string]*Agent
	Workflows map[string]*Workflow
	Tools     map[string]*Tool
}

// Load loads every .yaml and .yml file under fsys, at any depth (names
// starting with a dot are skipped). Its error lists every problem of every
// file, as Errors; the catalog is nil then.
func Load(fsys fs.FS) (*Catalog, error) {
	return load(fsys, "")
}

// LoadDir loads the definitions under a directory, as Load does; problems
// name files by their path under dir.
func LoadDir(dir string) (*Catalog, error) {
	return load(os.DirFS(dir), dir)
}

func load(fsys fs.FS, dir string) (*Catalog, error) {
	files := map[string][]byte{}
	var errs Errors
	// The walk function records every error and never stops the walk, so
	// WalkDir itself returns nil.
	_ = fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		name := p
		if dir != "" {
			name = filepath.Join(dir, filepath.FromSlash(p))
		}
		switch {
		case err != nil:
			errs = append(errs, Error{File: name, Message: err.Error()})
			return nil
		case p != "." && strings.HasPrefix(e.Name(), "."):
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		case e.IsDir() || (path.Ext(p) != ".yaml" && path.Ext(p) != ".yml"):
			return nil
		}
		data, err := readLimited(fsys, p)
		if err != nil {
			errs = append(errs, Error{File: name, Message: err.Error()})
			return nil
		}
		files[name] = data
		return nil
	})
	cat, err := Validate(nil, files)
	var found Errors
	errors.As(err, &found)
	if err := append(errs, found...).err(); err != nil {
		return nil, err
	}
	return cat, nil
}

// readLimited reads a file, but no more than one byte past the size limit.
func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return data, nil
}

// Validate checks YAML sources, by file name, against a base catalog whose
// agents and tools the sources may use (a source may redefine a base
// definition: it is how an edited file is checked). It returns the
// definitions of the sources that have no problem, and the problems of the
// others as Errors. Base may be nil.
func Validate(base *Catalog, files map[string][]byte) (*Catalog, error) {
	v := &validation{
		known: &known{
			agents:       map[string]*Agent{},
			tools:        map[string]*Tool{},
			brokenAgents: map[string]string{},
			brokenTools:  map[string]string{},
		},
		names: map[string]Error{},
		found: &Catalog{Agents: map[string]*Agent{}, Workflows: map[string]*Workflow{}, Tools: map[string]*Tool{}},
	}
	if base != nil {
		maps.Copy(v.known.agents, base.Agents)
		maps.Copy(v.known.tools, base.Tools)
	}
	for _, file := range slices.Sorted(maps.Keys(files)) {
		v.file(file, files[file])
	}
	// Grants are resolved once every agent and tool is known, then
	// workflows are linked.
	v.resolveAgents()
	for _, p := range v.workflows {
		link(p.d, p.w, p.src, v.known)
		if len(p.d.errs) > 0 {
			v.errs = append(v.errs, p.d.errs...)
			continue
		}
		v.found.Workflows[p.w.Name] = p.w
	}
	return v.found, v.errs.err()
}

// validation is the state of one Validate call.
type validation struct {
	errs      Errors
	known     *known           // agents and tools the sources may name
	names     map[string]Error // "agent x", "workflow x", "tool x" → where it is defined
	agents    []*pendingAgent
	workflows []*pendingWorkflow
	found     *Catalog
}

// pendingAgent is a decoded agent waiting for its grants to be resolved.
type pendingAgent struct {
	d      *decoder
	a      *Agent
	broken bool
}

// pendingWorkflow is a decoded workflow waiting for every agent to be known.
type pendingWorkflow struct {
	d   *decoder
	w   *Workflow
	src *wfSource
}

// file decodes one source. A tool is complete at once; an agent waits for
// its grants to be resolved and a workflow to be linked.
func (v *validation) file(file string, data []byte) {
	d := &decoder{file: file}
	root, err := parseYAML(data)
	if err != nil {
		var p *problem
		if !errors.As(err, &p) {
			p = &problem{msg: err.Error()}
		}
		d.errorf(p.pos, "%s", p.msg)
		v.errs = append(v.errs, d.errs...)
		return
	}
	switch {
	case root.kind != mapKind:
		d.errorf(root.pos, "a definition is a mapping: an agent (name, system, prompt...), a tool (name, http, mcp or builtin...) or a workflow (name, steps...); got %s", root.describe())
	case root.get("steps") != nil:
		if v.claim(d, "workflow", root.get("name")) {
			w, src := d.workflow(root)
			v.workflows = append(v.workflows, &pendingWorkflow{d: d, w: w, src: src})
			return
		}
	case isTool(root):
		if v.claim(d, "tool", root.get("name")) {
			v.tool(d, d.tool(root))
		}
	default:
		if v.claim(d, "agent", root.get("name")) {
			a := &Agent{}
			d.agent(root, a, false)
			v.agents = append(v.agents, &pendingAgent{d: d, a: a})
			if len(d.errs) == 0 {
				v.known.agents[a.Name] = a
			}
			return // its problems are collected once its grants are resolved
		}
	}
	v.errs = append(v.errs, d.errs...)
}

// tool records a decoded tool.
func (v *validation) tool(d *decoder, t *Tool) {
	if len(d.errs) > 0 {
		v.known.brokenTools[t.Name] = d.file
		delete(v.known.tools, t.Name)
		return
	}
	v.known.tools[t.Name] = t
	v.found.Tools[t.Name] = t
}

// resolveAgents checks the grants of the agents of the sources. An agent
// with a problem cannot be used, so the agents that grant it have one too.
func (v *validation) resolveAgents() {
	for _, p := range v.agents {
		if len(p.d.errs) == 0 {
			v.known.checkGrants(p.d, p.a, agentSet{files: v.known.agents})
		}
	}
	for {
		broke := false
		for _, p := range v.agents {
			if !p.broken && len(p.d.errs) > 0 {
				p.broken, broke = true, true
				v.known.brokenAgents[p.a.Name] = p.d.file
				delete(v.known.agents, p.a.Name)
			}
		}
		if !broke {
			break
		}
		for _, p := range v.agents {
			if !p.broken {
				v.known.checkGrantedAgents(p.d, p.a, agentSet{files: v.known.agents})
			}
		}
	}
	for _, p := range v.agents {
		v.errs = append(v.errs, p.d.errs...)
		if !p.broken {
			v.found.Agents[p.a.Name] = p.a
		}
	}
}

// claim records where a definition's name is defined, and reports a name
// defined twice.
func (v *validation) claim(d *decoder, what string, name *node) bool {
	if name == nil || name.kind != stringKind {
		return true // reported when decoded
	}
	key := what + " " + name.str
	if first, dup := v.names[key]; dup {
		d.errorf(name.pos, "%s %q is also defined at %s:%d:%d; names must be unique", what, name.str, first.File, first.Line, first.Col)
		return false
	}
	v.names[key] = Error{File: d.file, Line: name.pos.line, Col: name.pos.col}
	return true
}
