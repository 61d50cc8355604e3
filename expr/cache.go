package expr

import (
	"container/list"
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
)

// costLimit bounds the work of one evaluation (about one unit per
// operation), so a definition cannot make a worker spin.
const costLimit = 1_000_000

// Bounds of the compilation caches.
const (
	maxPrograms = 2048
	maxEnvs     = 256
)

// programs is the process's compiler. It is the package's one piece of
// shared state, on purpose: a memo of pure compilation, which never changes
// what an evaluation gives, and which every caller (workflow code
// included) benefits from without wiring.
var programs = newCompiler(maxPrograms, maxEnvs)

// compiler builds environments and programs, and keeps the most recently
// used ones.
type compiler struct {
	envs     *lru[string, compiled[*cel.Env]]
	programs *lru[programKey, compiled[cel.Program]]
}

// programKey identifies a program: its expression and the sorted names of
// the variables it sees.
type programKey struct {
	expr, vars string
}

// compiled is the outcome of a compilation, kept whether it failed or not:
// both are deterministic.
type compiled[T any] struct {
	value T
	err   error
}

func newCompiler(programs, envs int) *compiler {
	return &compiler{envs: newLRU[string, compiled[*cel.Env]](envs), programs: newLRU[programKey, compiled[cel.Program]](programs)}
}

// env returns the environment of a sorted set of variable names.
func (c *compiler) env(names []string) (*cel.Env, error) {
	key := strings.Join(names, ",")
	if e, ok := c.envs.get(key); ok {
		return e.value, e.err
	}
	env, err := newEnv(names)
	c.envs.put(key, compiled[*cel.Env]{env, err})
	return env, err
}

// program returns expr compiled for a sorted set of variable names.
func (c *compiler) program(expr string, names []string) (cel.Program, error) {
	key := programKey{expr: expr, vars: strings.Join(names, ",")}
	if p, ok := c.programs.get(key); ok {
		return p.value, p.err
	}
	prg, err := c.compile(expr, names)
	c.programs.put(key, compiled[cel.Program]{prg, err})
	return prg, err
}

// compile compiles expr for a sorted set of variable names, without
// looking at the program cache.
func (c *compiler) compile(expr string, names []string) (cel.Program, error) {
	env, err := c.env(names)
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(expr)
	if err := iss.Err(); err != nil {
		return nil, fmt.Errorf("%s: %s", expr, Message(iss.Errors()[0]))
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", expr, err)
	}
	return prg, nil
}

// lru is a bounded map, safe for concurrent use, that forgets its least
// recently used entry when full.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	size  int
	order *list.List // of *lruEntry[K, V], most recently used first
	items map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key   K
	value V
}

func newLRU[K comparable, V any](size int) *lru[K, V] {
	return &lru[K, V]{size: size, order: list.New(), items: map[K]*list.Element{}}
}

// get returns the value of a key and marks it used.
func (c *lru[K, V]) get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry[K, V]).value, true
}

// put stores the value of a key, forgetting the least recently used entry
// when the cache is full.
func (c *lru[K, V]) put(key K, value V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value.(*lruEntry[K, V]).value = value
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry[K, V]{key: key, value: value})
	if c.order.Len() > c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*lruEntry[K, V]).key)
	}
}

// len is the number of entries.
func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
