package expr

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProgramsAreCompiledOnce(t *testing.T) {
	t.Parallel()
	c := newCompiler(8, 8)
	first, err := c.program("input.count + 1", []string{"input", "steps"})
	require.NoError(t, err)
	again, err := c.program("input.count + 1", []string{"input", "steps"})
	require.NoError(t, err)
	require.Same(t, first, again, "the same expression and variables give the cached program")
	other, err := c.program("input.count + 1", []string{"input"})
	require.NoError(t, err)
	require.NotSame(t, first, other, "other variables give another program")
	require.Equal(t, 2, c.programs.len())
	require.Equal(t, 2, c.envs.len())

	_, err = c.program("input.", []string{"input"})
	require.ErrorContains(t, err, "input.: Syntax error")
	_, err = c.program("input.", []string{"input"})
	require.ErrorContains(t, err, "input.: Syntax error", "a failed compilation is remembered with its error")
}

func TestProgramCacheIsBounded(t *testing.T) {
	t.Parallel()
	c := newCompiler(4, 2)
	for i := range 10 {
		_, err := c.program(fmt.Sprintf("input + %d", i), []string{"input"})
		require.NoError(t, err)
	}
	require.Equal(t, 4, c.programs.len())
	_, kept := c.programs.get(programKey{expr: "input + 9", vars: "input"})
	require.True(t, kept, "the most recent entries are kept")
	_, kept = c.programs.get(programKey{expr: "input + 0", vars: "input"})
	require.False(t, kept, "the least recently used ones are forgotten")
	for _, vars := range [][]string{{"a"}, {"b"}, {"c"}} {
		_, err := c.env(vars)
		require.NoError(t, err)
	}
	require.Equal(t, 2, c.envs.len())
}

func TestEvalIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 50 {
				got, err := Eval(fmt.Sprintf("input.n * %d", j%5), Vars{"input": map[string]any{"n": int64(i)}})
				require.NoError(t, err)
				require.Equal(t, int64(i*(j%5)), got)
			}
		})
	}
	wg.Wait()
}

// BenchmarkEval compares evaluating an expression whose program is cached
// with building its environment and compiling it each time (as every
// evaluation did before the cache).
func BenchmarkEval(b *testing.B) {
	const expr = "has(steps.review) && steps.review.output.score >= 0.8 && input.tags.exists(t, t == 'urgent')"
	vars, err := plainVars(Vars{
		"input":     map[string]any{"tags": []any{"a", "urgent"}},
		"steps":     map[string]any{"review": map[string]any{"output": map[string]any{"score": 0.9}}},
		"iteration": int64(1),
	})
	require.NoError(b, err)
	names := []string{"input", "iteration", "steps"}
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			v, err := eval(expr, vars)
			if err != nil || v != true {
				b.Fatal(v, err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			prg, err := newCompiler(1, 1).compile(expr, names)
			if err != nil {
				b.Fatal(err)
			}
			if out, _, err := prg.Eval(map[string]any(vars)); err != nil || out.Value() != true {
				b.Fatal(out, err)
			}
		}
	})
}
