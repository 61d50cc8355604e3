package console

import (
	"github.com/troupe-dev/troupe/definitions"
)

// graph is a workflow's steps laid out for an SVG drawing: each step a box,
// top to bottom in the order they run; loops, maps, parallel blocks and
// switches a box around their own steps, side by side where they branch.
type graph struct {
	Width, Height int
	Boxes         []box
	Lines         []line
}

// box is a step (or a block of steps, Group) at X, Y of size W×H.
type box struct {
	X, Y, W, H int
	Label      string
	Kind       string
	Group      bool
}

// line joins two steps that run one after the other.
type line struct {
	X1, Y1, X2, Y2 int
}

// Sizes of the drawing, in SVG units.
const (
	nodeW   = 180
	nodeH   = 34
	gap     = 22
	pad     = 10
	heading = 22
)

func graphOf(steps []definitions.Step) graph {
	var g graph
	w, h := sizeSeq(steps)
	g.Width, g.Height = w+2*pad, h+2*pad
	g.placeSeq(steps, pad, pad, w)
	return g
}

// branches are the step lists a block runs its steps in: one for a loop or
// a map, one per branch for parallel steps and switch cases; nil for a
// plain step.
func branches(s *definitions.Step) (label string, lists [][]definitions.Step) {
	switch {
	case s.Loop != nil:
		return "loop " + s.ID, [][]definitions.Step{s.Loop.Steps}
	case s.Map != nil:
		return "map " + s.ID + " over " + s.Map.Items, [][]definitions.Step{{s.Map.Step}}
	case s.Parallel != nil:
		for _, p := range s.Parallel.Steps {
			lists = append(lists, []definitions.Step{p})
		}
		return "parallel " + s.ID, lists
	case s.Switch != nil:
		for _, c := range s.Switch.Cases {
			lists = append(lists, c.Steps)
		}
		if len(s.Switch.Default) > 0 {
			lists = append(lists, s.Switch.Default)
		}
		return "switch " + s.ID, lists
	}
	return "", nil
}

func sizeSeq(steps []definitions.Step) (w, h int) {
	for i := range steps {
		sw, sh := sizeStep(&steps[i])
		w = max(w, sw)
		h += sh
		if i > 0 {
			h += gap
		}
	}
	return max(w, nodeW), max(h, nodeH)
}

func sizeStep(s *definitions.Step) (w, h int) {
	_, lists := branches(s)
	if lists == nil {
		return nodeW, nodeH
	}
	for i, steps := range lists {
		lw, lh := sizeSeq(steps)
		w += lw
		if i > 0 {
			w += gap
		}
		h = max(h, lh)
	}
	return w + 2*pad, h + heading + 2*pad
}

// placeSeq places steps top to bottom from y, centred in [x, x+w).
func (g *graph) placeSeq(steps []definitions.Step, x, y, w int) {
	centre := x + w/2
	for i := range steps {
		sw, sh := sizeStep(&steps[i])
		if i > 0 {
			g.Lines = append(g.Lines, line{X1: centre, Y1: y - gap, X2: centre, Y2: y})
		}
		g.placeStep(&steps[i], centre-sw/2, y)
		y += sh + gap
	}
}

func (g *graph) placeStep(s *definitions.Step, x, y int) {
	label, lists := branches(s)
	if lists == nil {
		text := s.ID
		if s.Agent != "" {
			text += " · " + s.Agent
		}
		g.Boxes = append(g.Boxes, box{X: x, Y: y, W: nodeW, H: nodeH, Label: text, Kind: s.Kind()})
		return
	}
	w, h := sizeStep(s)
	g.Boxes = append(g.Boxes, box{X: x, Y: y, W: w, H: h, Label: label, Kind: s.Kind(), Group: true})
	bx := x + pad
	for _, steps := range lists {
		lw, _ := sizeSeq(steps)
		g.placeSeq(steps, bx, y+heading+pad, lw)
		bx += lw + gap
	}
}
