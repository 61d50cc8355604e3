package tooltest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/tool"
)

// Record is one tools/call a test server received.
type Record struct {
	Tool string          `json:"tool"`
	Key  string          `json:"key"` // the idempotency key from _meta, "" if none
	Args json.RawMessage `json:"args,omitempty"`
}

// CallLog records the calls a test server receives as JSON lines in a
// file, so a server running in another process (over stdio) can write it
// and the test read it.
type CallLog struct {
	path string
	mu   sync.Mutex // one write at a time from this process
}

// NewCallLog returns an empty log in a temporary directory of the test.
func NewCallLog(t testing.TB) *CallLog {
	path := filepath.Join(t.TempDir(), "mcp-calls.jsonl")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	return &CallLog{path: path}
}

// Path is the log's file.
func (l *CallLog) Path() string { return l.path }

// Records returns the calls recorded so far, in order.
func (l *CallLog) Records(t testing.TB) []Record {
	f, err := os.Open(l.path)
	require.NoError(t, err)
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r Record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), "line %q", sc.Text())
		out = append(out, r)
	}
	require.NoError(t, sc.Err())
	return out
}

// Keys returns the idempotency keys of the recorded calls of a tool, in
// order.
func (l *CallLog) Keys(t testing.TB, tool string) []string {
	var keys []string
	for _, r := range l.Records(t) {
		if r.Tool == tool {
			keys = append(keys, r.Key)
		}
	}
	return keys
}

// add appends a record.
func (l *CallLog) add(r Record) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	return errors.Join(err, f.Close())
}

// middleware records each tools/call before the server handles it.
func (l *CallLog) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if call, ok := req.(*mcp.CallToolRequest); ok {
			key, _ := call.Params.Meta[tool.MetaIdempotencyKey].(string)
			if err := l.add(Record{Tool: call.Params.Name, Key: key, Args: call.Params.Arguments}); err != nil {
				return nil, fmt.Errorf("tooltest: record the call: %w", err)
			}
		}
		return next(ctx, method, req)
	}
}
