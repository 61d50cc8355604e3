package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// markdown renders model answers. goldmark drops raw HTML unless told
// otherwise (html.WithUnsafe is not set), and leaves out links to
// dangerous URLs (javascript:), so what a model writes cannot script the
// page.
var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

// funcs are the helpers of the console's templates.
var funcs = template.FuncMap{
	"usd": func(v float64) string {
		if v == 0 {
			return "$0"
		}
		if v < 0.01 {
			return fmt.Sprintf("$%.5f", v)
		}
		return fmt.Sprintf("$%.2f", v)
	},
	"num": func(n int64) string {
		s := fmt.Sprint(n)
		var b strings.Builder
		for i, r := range s {
			if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
				b.WriteByte(',')
			}
			b.WriteRune(r)
		}
		return b.String()
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"dur":      shortDuration,
	"msDur":    func(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond },
	"taskTime": taskDuration,
	"pretty": func(raw json.RawMessage) string {
		var out bytes.Buffer
		if json.Indent(&out, raw, "", "  ") != nil {
			return string(raw)
		}
		return out.String()
	},
	"markdown": renderMarkdown,
	// output renders a task's output: {"text": ...} as Markdown, anything
	// else as pretty JSON.
	"outputText": func(raw json.RawMessage) string {
		var o map[string]any
		if json.Unmarshal(raw, &o) != nil || len(o) != 1 {
			return ""
		}
		text, _ := o["text"].(string)
		return text
	},
	"pct":   func(v float64) string { return fmt.Sprintf("%.2f%%", v) },
	"short": func(s string) string { return strings.SplitN(s, "-", 2)[0] },
	"first": func(n int, s string) string {
		r := []rune(s)
		if len(r) <= n {
			return s
		}
		return string(r[:n]) + "…"
	},
	"chartW": func() int { return chartWidth },
	"add":    func(a, b int) int { return a + b },
	"barX":   func() int { return chartLabelW },
	"barX2":  func() int { return chartLabelW + chartBarW + 30 },
	"halfW":  func(w int) int { return w / 2 },
}

// renderMarkdown renders text as Markdown, raw HTML dropped.
func renderMarkdown(text string) template.HTML {
	var out bytes.Buffer
	if err := markdown.Convert([]byte(text), &out); err != nil {
		return template.HTML(template.HTMLEscapeString(text)) //nolint:gosec // escaped
	}
	return template.HTML(out.String()) //nolint:gosec // goldmark without WithUnsafe: raw HTML is dropped
}

// shortDuration prints a duration for people: 850ms, 12.3s, 4m05s.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// taskDuration is how long a task ran (so far), or "" before it started.
func taskDuration(started, finished *time.Time) string {
	if started == nil {
		return ""
	}
	end := time.Now()
	if finished != nil {
		end = *finished
	}
	return shortDuration(end.Sub(*started))
}

// sorted returns s sorted.
func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
