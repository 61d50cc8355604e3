package definitions

import (
	"iter"
	"slices"
)

// Queues lists, sorted and once each, the task queues the catalog's
// definitions name: those of tools, of agents (loaded or local to a
// workflow) and of agent steps.
func (c *Catalog) Queues() []string {
	var named []string
	add := func(q string) {
		if q != "" && !slices.Contains(named, q) {
			named = append(named, q)
		}
	}
	for _, t := range c.Tools {
		add(t.Queue)
	}
	for _, a := range c.Agents {
		add(a.Queue)
	}
	for _, w := range c.Workflows {
		for _, a := range w.Agents {
			add(a.Queue)
		}
		for s := range allSteps(w.Steps) {
			add(s.Queue)
		}
	}
	slices.Sort(named)
	return named
}

// allSteps yields every step of steps, nested ones included.
func allSteps(steps []Step) iter.Seq[*Step] {
	return func(yield func(*Step) bool) {
		var walk func([]Step) bool
		walk = func(steps []Step) bool {
			for i := range steps {
				s := &steps[i]
				if !yield(s) {
					return false
				}
				var inner []Step
				switch {
				case s.Loop != nil:
					inner = s.Loop.Steps
				case s.Parallel != nil:
					inner = s.Parallel.Steps
				case s.Map != nil:
					inner = []Step{s.Map.Step}
				case s.Switch != nil:
					inner = slices.Clone(s.Switch.Default)
					for _, c := range s.Switch.Cases {
						inner = append(inner, c.Steps...)
					}
				}
				if !walk(inner) {
					return false
				}
			}
			return true
		}
		walk(steps)
	}
}
