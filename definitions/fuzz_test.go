package definitions

import (
	"encoding/json"
	"errors"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/examples"
)

// FuzzParse feeds arbitrary bytes to Validate: it must never panic, and
// must either accept the source or explain why at a position.
func FuzzParse(f *testing.F) {
	base, err := Load(examples.FS)
	require.NoError(f, err)
	require.NoError(f, fs.WalkDir(examples.FS, ".", func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			data, err := examples.FS.ReadFile(path)
			require.NoError(f, err)
			f.Add(data)
		}
		return err
	}))
	for _, seed := range []string{
		"",
		"name: w\nsteps: [1, 2\n",
		"name: w\nsteps:\n  - id: a\n    agent: summarize\n    prompt: '{{ steps.b.output }} {{ input.'\n",
		"name: a\nsystem: &s x\nprompt: *s\ndescription: !!str 12\n",
		"base: &b {system: x}\nname: a\n<<: *b\n",
		"name: w\nsteps:\n  - loop: {id: l, max_iterations: 2, until: 'iteration > 1', steps: [{map: {id: m, items: '[1]', step: {id: x, agent: chat}}}]}\n",
		"name: w\nsteps:\n  - switch: {id: s, cases: [{when: 'true', steps: [{id: a, approval: {timeout: 1h, on_timeout: approve}}]}]}\n",
		"- - - - - [[[[{{{{",
		"? a\n: b\n",
		"name: w\ninput: {$ref: '#/$defs/x', $defs: {x: {type: object}}}\nsteps: [{id: a, agent: chat}]\n",
		"name: t\nhttp: {method: POST, url: 'http://h/a/{{ args.id }}?q={{ args.q }}', headers: {A: '${B}'}, body: {x: ['{{ args }}']}}\n",
		"name: t\nmcp: {command: [srv, '--x'], env: {K: '${V'}}\napproval: required\n",
		"name: a\ntools: [workspace_read, {tool: workspace_write, approval: required}, agent:chat, srv/*, 'agent:']\nmax_turns: 3\n",
		"name: w\nagents: {a: {tools: [agent:b]}, b: {tools: [agent:a]}}\nsteps:\n  - {id: a, agent: a}\n  - {id: t, tool: workspace_write, args: {path: '{{ steps.a.output.text }}', content: 1.5e300}}\n  - map: {id: m, items: '[1]', step: {id: x, tool: workspace_read, args: {path: '{{ item }}'}}}\n",
		billionLaughs(),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		found, err := Validate(base, map[string][]byte{"f.yaml": data})
		if err != nil {
			var errs Errors
			require.True(t, errors.As(err, &errs), "error %T is not Errors", err)
			for _, e := range errs {
				require.Equal(t, "f.yaml", e.File)
				require.GreaterOrEqual(t, e.Line, 0)
				require.GreaterOrEqual(t, e.Col, 0)
				require.NotEmpty(t, e.Message)
			}
		}
		for _, w := range found.Workflows {
			require.Len(t, w.Hash, 64)
			_, err := json.Marshal(w)
			require.NoError(t, err)
		}
	})
}
