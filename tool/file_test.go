package tool_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/troupe-dev/troupe/definitions"
	"github.com/troupe-dev/troupe/tool"
)

var (
	fileRead  = &definitions.Tool{Name: "file_read", Builtin: definitions.BuiltinFileRead}
	fileWrite = &definitions.Tool{Name: "file_write", Builtin: definitions.BuiltinFileWrite}
)

// fileCall calls a file tool with arguments given as a map; it fails the
// test on an error, as file tools answer every refusal as a tool error.
func fileCall(t *testing.T, b *tool.Toolbox, def *definitions.Tool, args map[string]string) tool.Result {
	t.Helper()
	raw, err := json.Marshal(args)
	require.NoError(t, err)
	r, err := b.Call(t.Context(), tool.Call{Tool: def, Args: raw})
	require.NoError(t, err)
	return r
}

func TestFileWriteRead(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	b := newToolbox(t, tool.Config{FileRoot: root})

	r := fileCall(t, b, fileWrite, map[string]string{"path": "notes/2024/today.md", "content": "héllo\n"})
	require.Equal(t, tool.Result{Content: "wrote 7 bytes to notes/2024/today.md"}, r)
	data, err := os.ReadFile(filepath.Join(root, "notes", "2024", "today.md"))
	require.NoError(t, err)
	require.Equal(t, "héllo\n", string(data))
	require.Equal(t, tool.Result{Content: "héllo\n"}, fileCall(t, b, fileRead, map[string]string{"path": "notes/2024/today.md"}))

	// A write replaces the file and leaves no temporary file behind.
	fileCall(t, b, fileWrite, map[string]string{"path": "notes/2024/today.md", "content": "v2"})
	require.Equal(t, tool.Result{Content: "v2"}, fileCall(t, b, fileRead, map[string]string{"path": "./notes/../notes/2024/today.md"}))
	entries, err := os.ReadDir(filepath.Join(root, "notes", "2024"))
	require.NoError(t, err)
	require.Len(t, entries, 1)

	require.Equal(t, tool.Result{Content: "wrote 0 bytes to empty.txt"}, fileCall(t, b, fileWrite, map[string]string{"path": "empty.txt", "content": ""}))
}

func TestFileRefusals(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o600))
	root := t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "out")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(root, "secret-link.txt")))
	require.NoError(t, os.WriteFile(filepath.Join(root, "big.txt"), []byte(strings.Repeat("x", tool.MaxFileBytes+1)), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "binary.bin"), []byte{0xff, 0xfe, 0x00}, 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(root, "dir"), 0o755))
	b := newToolbox(t, tool.Config{FileRoot: root})

	for _, tc := range []struct {
		def  *definitions.Tool
		args map[string]string
		want string
	}{
		{fileRead, map[string]string{"path": "../x"}, `path "../x" is outside the workspace`},
		{fileWrite, map[string]string{"path": "a/../../x", "content": "x"}, `path "a/../../x" is outside the workspace`},
		{fileRead, map[string]string{"path": "/etc/passwd"}, `path "/etc/passwd" is absolute; give a path relative to the workspace`},
		{fileWrite, map[string]string{"path": filepath.Join(outside, "new.txt"), "content": "x"}, `is absolute`},
		{fileRead, map[string]string{"path": "out/secret.txt"}, `path "out/secret.txt" leads outside the workspace (through a symbolic link)`},
		{fileRead, map[string]string{"path": "secret-link.txt"}, `path "secret-link.txt" leads outside the workspace (through a symbolic link)`},
		{fileWrite, map[string]string{"path": "out/new.txt", "content": "x"}, `path "out/new.txt" leads outside the workspace (through a symbolic link)`},
		{fileWrite, map[string]string{"path": "out/deeper/new.txt", "content": "x"}, `leads outside the workspace`},
		{fileRead, map[string]string{"path": "missing.txt"}, `"missing.txt" does not exist`},
		{fileRead, map[string]string{"path": "big.txt"}, `"big.txt" is larger than 1048576 bytes, the most file_read reads`},
		{fileRead, map[string]string{"path": "binary.bin"}, `"binary.bin" is not UTF-8 text; file_read reads text files`},
		{fileRead, map[string]string{"path": "dir"}, `"dir" is not a regular file`},
		{fileWrite, map[string]string{"path": "dir", "content": "x"}, `cannot write "dir"`},
		{fileRead, map[string]string{"path": ""}, `path is empty`},
		{fileRead, map[string]string{}, `path is required`},
		{fileWrite, map[string]string{"path": "x.txt"}, `content is required`},
	} {
		r := fileCall(t, b, tc.def, tc.args)
		require.True(t, r.IsError, "%v", tc.args)
		require.Contains(t, r.Content, tc.want, "%v", tc.args)
		require.NotContains(t, r.Content, root, "the worker's own paths stay hidden")
	}

	// Nothing was written outside, and the secret was never read.
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	_, err = os.Stat(filepath.Join(root, "x.txt"))
	require.ErrorIs(t, err, os.ErrNotExist)

	// A link that stays inside the root is followed.
	require.NoError(t, os.WriteFile(filepath.Join(root, "dir", "in.txt"), []byte("inside"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join("dir", "in.txt"), filepath.Join(root, "in-link.txt")))
	require.Equal(t, tool.Result{Content: "inside"}, fileCall(t, b, fileRead, map[string]string{"path": "in-link.txt"}))
}

func TestFileNoRoot(t *testing.T) {
	t.Parallel()
	b := newToolbox(t, tool.Config{})
	for _, def := range []*definitions.Tool{fileRead, fileWrite} {
		r := fileCall(t, b, def, map[string]string{"path": "x.txt", "content": "x"})
		require.Equal(t, tool.Result{Content: "this worker has no file root; start it with --file-root DIR", IsError: true}, r)
	}

	missing := newToolbox(t, tool.Config{FileRoot: filepath.Join(t.TempDir(), "gone")})
	_, err := missing.Call(t.Context(), tool.Call{Tool: fileRead, Args: json.RawMessage(`{"path": "x"}`)})
	require.False(t, toolError(t, err).Retryable, "a file root that does not exist is the worker's misconfiguration")
}
