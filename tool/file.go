package tool

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/troupe-dev/troupe/definitions"
)

// MaxFileBytes is the largest file file_read reads.
const MaxFileBytes = 1 << 20

// fileArgs are the arguments of the file tools.
type fileArgs struct {
	Path    *string `json:"path"`
	Content *string `json:"content"`
}

// callFile runs a built-in file tool inside the worker's file root. Every
// refusal is a tool error the model can act on.
func (b *Toolbox) callFile(c Call) (Result, error) {
	if b.fileRoot == "" {
		return toolError("this worker has no file root; start it with --file-root DIR"), nil
	}
	var a fileArgs
	if len(c.Args) > 0 {
		if err := json.Unmarshal(c.Args, &a); err != nil {
			return toolError("the arguments do not fit %s: %v", c.Tool.Builtin, err), nil
		}
	}
	if a.Path == nil {
		return toolError("path is required"), nil
	}
	path := *a.Path
	if problem := pathProblem(path); problem != "" {
		return toolError("%s", problem), nil
	}
	root, err := os.OpenRoot(b.fileRoot)
	if err != nil {
		return Result{}, permanent(fmt.Sprintf("open the file root: %v", err))
	}
	defer root.Close()
	switch c.Tool.Builtin {
	case definitions.BuiltinFileRead:
		return readFile(root, path), nil
	case definitions.BuiltinFileWrite:
		if a.Content == nil {
			return toolError("content is required"), nil
		}
		return writeFile(root, path, *a.Content), nil
	}
	return Result{}, permanent(fmt.Sprintf("tool %s: no built-in tool is named %q", c.Tool.Name, c.Tool.Builtin))
}

// pathProblem explains why a path cannot name a file in the root, or
// gives "". Symbolic links out of the root are refused later, by os.Root.
func pathProblem(path string) string {
	switch {
	case path == "":
		return "path is empty; give a path relative to the workspace, e.g. notes/today.md"
	case filepath.IsAbs(path) || strings.HasPrefix(path, "/"):
		return fmt.Sprintf("path %q is absolute; give a path relative to the workspace", path)
	case !filepath.IsLocal(path):
		return fmt.Sprintf("path %q is outside the workspace", path)
	}
	return ""
}

// readFile reads a text file of at most MaxFileBytes.
func readFile(root *os.Root, path string) Result {
	info, err := root.Stat(path)
	if err != nil {
		return fileError("read", path, err)
	}
	if !info.Mode().IsRegular() {
		return toolError("%q is not a regular file", path)
	}
	f, err := root.Open(path)
	if err != nil {
		return fileError("read", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	switch {
	case err != nil:
		return fileError("read", path, err)
	case len(data) > MaxFileBytes:
		return toolError("%q is larger than %d bytes, the most file_read reads", path, MaxFileBytes)
	case !utf8.Valid(data):
		return toolError("%q is not UTF-8 text; file_read reads text files", path)
	}
	return Result{Content: string(data)}
}

// writeFile writes a file, creating its folders: to a temporary file
// first, renamed over the path, so a reader never sees half of it.
func writeFile(root *os.Root, path, content string) Result {
	dir := filepath.Dir(path)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return fileError("write", path, err)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+"."+rand.Text()[:8]+".tmp")
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fileError("write", path, err)
	}
	_, err = io.WriteString(f, content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, path)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return fileError("write", path, err)
	}
	return Result{Content: fmt.Sprintf("wrote %d bytes to %s", len(content), path)}
}

// escapes is the message of os.Root's refusal of a path that leads out of
// the root (through a symbolic link, as pathProblem refuses the others);
// os does not export its error.
const escapes = "path escapes from parent"

// fileError explains a failed file operation to the model, without the
// worker's own paths.
func fileError(op, path string, err error) Result {
	cause := err // the innermost error, under the path errors
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == escapes {
			return toolError("path %q leads outside the workspace (through a symbolic link)", path)
		}
		switch e := e.(type) {
		case *fs.PathError:
			cause = e.Err
		case *os.LinkError:
			cause = e.Err
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return toolError("%q does not exist", path)
	case errors.Is(err, fs.ErrPermission):
		return toolError("cannot %s %q: permission denied", op, path)
	}
	return toolError("cannot %s %q: %v", op, path, cause)
}
