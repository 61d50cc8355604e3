package devserver

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// osUser is the unprivileged user the PostgreSQL binaries run as when the
// process runs as root.
type osUser struct {
	name     string
	uid, gid uint32
}

// postgresUser returns nil when the process does not run as root: the
// binaries then run as the current user. As root, which PostgreSQL refuses,
// it returns the "postgres" system user if there is one, else "nobody".
func postgresUser() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var lookupErr error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			lookupErr = err
			continue
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("uid of user %s: %w", name, err)
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("gid of user %s: %w", name, err)
		}
		return &osUser{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("postgres cannot run as root and no user postgres or nobody exists: %w", lookupErr)
}

// checkCanReach returns an error when u may not enter every parent folder of
// dir, which the server needs to reach its data directory.
func (u *osUser) checkCanReach(dir string) error {
	for parent := filepath.Dir(dir); ; parent = filepath.Dir(parent) {
		info, err := os.Stat(parent)
		if err != nil {
			return fmt.Errorf("postgres dir parent: %w", err)
		}
		if !u.canEnter(info) {
			return fmt.Errorf("postgres runs as user %s (not as root), which cannot enter %s (mode %s): "+
				"choose a postgres dir it can reach, or allow it with chmod o+x %s", u.name, parent, info.Mode().Perm(), parent)
		}
		if parent == filepath.Dir(parent) {
			return nil
		}
	}
}

// canEnter reports whether the mode bits of folder info let u search it.
// Only u's primary group counts: the binaries run without supplementary groups.
func (u *osUser) canEnter(info os.FileInfo) bool {
	perm := info.Mode().Perm()
	st, ok := info.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return true
	case st.Uid == u.uid:
		return perm&0o100 != 0
	case st.Gid == u.gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}
