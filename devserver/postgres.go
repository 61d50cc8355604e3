package devserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// postgresDatabase is the database StartPostgres creates for troupe.
	postgresDatabase = "troupe"
	// postgresSuperuser is the superuser initdb creates; trust auth, no password.
	postgresSuperuser = "postgres"
	// postgresIP is the only address the private cluster listens on.
	postgresIP = "127.0.0.1"
	// pgCtlWaitSeconds bounds pg_ctl's wait for start and stop.
	pgCtlWaitSeconds = "60"
	// troupeConf holds the settings rewritten at every start.
	troupeConf = "troupe.conf"
	// duplicateDatabase is the SQLSTATE of CREATE DATABASE on an existing name.
	duplicateDatabase = "42P04"
)

// ErrNoPostgres reports that no PostgreSQL binaries were found on the machine.
var ErrNoPostgres = errors.New("no PostgreSQL binaries found (initdb, pg_ctl, postgres): install PostgreSQL (e.g. apt-get install postgresql) or set DATABASE_URL")

// PostgresConfig configures a private PostgreSQL cluster.
type PostgresConfig struct {
	// Dir holds the cluster: data/ (the data directory), postgres.log and the
	// unix socket. It is created if missing, and a cluster in it is reused.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free port.
	Port int
	// Logger receives progress messages; default slog.Default().
	Logger *slog.Logger
}

func (c PostgresConfig) withDefaults() PostgresConfig {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c PostgresConfig) validate() error {
	if c.Dir == "" {
		return errors.New("postgres dir is required")
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("postgres port %d out of range", c.Port)
	}
	return nil
}

// Postgres is a running private PostgreSQL cluster. Its server processes are
// detached from the caller (pg_ctl daemonizes them), so they outlive a
// process that exits without calling Stop.
type Postgres struct {
	bin     string
	dir     string
	dataDir string
	port    int
	user    *osUser
	logger  *slog.Logger

	stopOnce sync.Once
	stopErr  error
}

// StartPostgres starts the private cluster in cfg.Dir, creating it with
// initdb on first use, and returns once database "troupe" accepts
// connections. A server left running from the same Dir (after a crash) is
// stopped first. When the process runs as root, which PostgreSQL refuses,
// the binaries run as the "postgres" system user, else as "nobody"; Dir and
// its parent folders must then be reachable by that user.
func StartPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("postgres dir: %w", err)
	}
	bin, err := FindPostgresBin()
	if err != nil {
		return nil, err
	}
	user, err := postgresUser()
	if err != nil {
		return nil, err
	}
	p := &Postgres{
		bin:     bin,
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		port:    cfg.Port,
		user:    user,
		logger:  cfg.Logger,
	}
	if err := p.prepareDir(); err != nil {
		return nil, err
	}
	if err := p.initIfNeeded(ctx); err != nil {
		return nil, err
	}
	if err := p.stopLeftover(ctx); err != nil {
		return nil, err
	}
	if p.port == 0 {
		if p.port, err = FreePort(postgresIP); err != nil {
			return nil, err
		}
	}
	if err := p.writeConf(); err != nil {
		return nil, err
	}
	if out, err := p.run(ctx, "pg_ctl", "start", "-D", p.dataDir, "-l", p.logFile(), "-w", "-t", pgCtlWaitSeconds); err != nil {
		err = fmt.Errorf("start postgres: %w: %s\n%s", err, out, p.logTail())
		// A server too slow to start is still starting: do not leave it behind.
		_ = p.Stop()
		return nil, err
	}
	if err := p.createDatabase(ctx); err != nil {
		if stopErr := p.Stop(); stopErr != nil {
			p.logger.Error("stop postgres after failed start", slog.Any("error", stopErr))
		}
		return nil, err
	}
	p.logger.Info("postgres started", slog.String("dir", dir), slog.Int("port", p.port))
	return p, nil
}

// URL returns the connection URL of database "troupe".
func (p *Postgres) URL() string { return p.databaseURL(postgresDatabase) }

// Stop shuts the cluster down (pg_ctl stop -m fast) and waits until every
// server process has exited. It is safe to call more than once.
func (p *Postgres) Stop() error {
	p.stopOnce.Do(func() {
		// Stop must work even when the caller's context is already canceled.
		if err := p.pgCtlStop(context.Background()); err != nil {
			p.stopErr = fmt.Errorf("stop postgres: %w", err)
		}
	})
	return p.stopErr
}

// FindPostgresBin returns the folder holding initdb, pg_ctl and postgres: the
// one of pg_ctl on PATH (symlinks resolved), else the highest version under
// /usr/lib/postgresql/*/bin. It returns ErrNoPostgres when there is none.
func FindPostgresBin() (string, error) {
	if pgCtl, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(pgCtl); err == nil && hasPostgresBinaries(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	dirs, err := filepath.Glob("/usr/lib/postgresql/*/bin")
	if err != nil {
		return "", fmt.Errorf("find postgres binaries: %w", err)
	}
	slices.SortFunc(dirs, byVersionDesc)
	for _, d := range dirs {
		if hasPostgresBinaries(d) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

// hasPostgresBinaries reports whether dir holds executable initdb, pg_ctl and postgres.
func hasPostgresBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// byVersionDesc orders /usr/lib/postgresql/VERSION/bin folders highest version first.
func byVersionDesc(a, b string) int {
	return slices.Compare(versionOf(b), versionOf(a))
}

// versionOf returns the numeric parts of the version folder in
// /usr/lib/postgresql/VERSION/bin, e.g. [9 6] or [16].
func versionOf(binDir string) []int {
	var parts []int
	for _, s := range strings.Split(filepath.Base(filepath.Dir(binDir)), ".") {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil
		}
		parts = append(parts, n)
	}
	return parts
}

// prepareDir creates Dir and, when running as another user, hands it over
// and checks that user can reach it.
func (p *Postgres) prepareDir() error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return fmt.Errorf("create postgres dir: %w", err)
	}
	if p.user == nil {
		return nil
	}
	if err := os.Chown(p.dir, int(p.user.uid), int(p.user.gid)); err != nil {
		return fmt.Errorf("give postgres dir to user %s: %w", p.user.name, err)
	}
	return p.user.checkCanReach(p.dir)
}

// initIfNeeded runs initdb unless the data directory holds a cluster.
func (p *Postgres) initIfNeeded(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(p.dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	p.logger.Info("creating postgres cluster", slog.String("dir", p.dataDir))
	out, err := p.run(ctx, "initdb",
		"-D", p.dataDir,
		"-U", postgresSuperuser,
		"--auth=trust",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync",
	)
	if err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	return nil
}

// stopLeftover stops a server still running from this data directory, e.g.
// after the process that started it was killed.
func (p *Postgres) stopLeftover(ctx context.Context) error {
	if _, err := p.run(ctx, "pg_ctl", "status", "-D", p.dataDir); err != nil {
		// pg_ctl status exits non-zero when no server runs.
		return nil
	}
	p.logger.Warn("stopping postgres left running from an earlier start", slog.String("dir", p.dataDir))
	if err := p.pgCtlStop(ctx); err != nil {
		return fmt.Errorf("stop leftover postgres: %w", err)
	}
	return nil
}

// pgCtlStop stops the server with pg_ctl stop -m fast, then waits for its
// postmaster to exit: pg_ctl returns once the pid file is gone, a moment
// before the process itself.
func (p *Postgres) pgCtlStop(ctx context.Context) error {
	pid := p.postmasterPID()
	if out, err := p.run(ctx, "pg_ctl", "stop", "-D", p.dataDir, "-m", "fast", "-w", "-t", pgCtlWaitSeconds); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); pid > 0 && processRunning(pid); {
		if time.Now().After(deadline) {
			return fmt.Errorf("postmaster %d still running 10s after pg_ctl stop", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// postmasterPID reads the server's pid from postmaster.pid; 0 when none.
func (p *Postgres) postmasterPID() int {
	data, err := os.ReadFile(filepath.Join(p.dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// processRunning reports whether process pid exists and has not exited. An
// exited server waits as a zombie until init reaps it, which may take a while.
func processRunning(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	stat := string(data)
	end := strings.LastIndex(stat, ") ")
	if end < 0 || end+2 >= len(stat) {
		return false
	}
	state := stat[end+2]
	return state != 'Z' && state != 'X'
}

// writeConf writes the settings of this start to troupe.conf and makes sure
// postgresql.conf includes it. Settings in a file, rather than on the
// pg_ctl command line (which goes through a shell), survive any path.
func (p *Postgres) writeConf() error {
	conf := fmt.Sprintf("# Written by troupe at every start: edits are lost.\n"+
		"listen_addresses = %s\nport = %d\nunix_socket_directories = %s\n",
		confString(postgresIP), p.port, confString(p.dir))
	if err := p.writeOwnedFile(filepath.Join(p.dataDir, troupeConf), []byte(conf)); err != nil {
		return err
	}
	mainConf := filepath.Join(p.dataDir, "postgresql.conf")
	data, err := os.ReadFile(mainConf)
	if err != nil {
		return fmt.Errorf("read postgresql.conf: %w", err)
	}
	include := fmt.Sprintf("include_if_exists = %s\n", confString(troupeConf))
	if bytes.Contains(data, []byte(include)) {
		return nil
	}
	if !bytes.HasSuffix(data, []byte("\n")) {
		data = append(data, '\n')
	}
	return p.writeOwnedFile(mainConf, append(data, include...))
}

// writeOwnedFile writes a file the server user owns and only it can read.
func (p *Postgres) writeOwnedFile(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if p.user == nil {
		return nil
	}
	if err := os.Chown(path, int(p.user.uid), int(p.user.gid)); err != nil {
		return fmt.Errorf("give %s to user %s: %w", filepath.Base(path), p.user.name, err)
	}
	return nil
}

// confString quotes s as a postgresql.conf string value.
func confString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// createDatabase waits until the server accepts connections and creates
// database "troupe" unless it exists.
func (p *Postgres) createDatabase(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var conn *pgx.Conn
	if err := poll(ctx, func() error {
		var err error
		conn, err = pgx.Connect(ctx, p.databaseURL("postgres"))
		return err
	}); err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	_, err := conn.Exec(ctx, "CREATE DATABASE "+postgresDatabase)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == duplicateDatabase {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", postgresDatabase, err)
	}
	return nil
}

func (p *Postgres) databaseURL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(postgresSuperuser),
		Host:     net.JoinHostPort(postgresIP, strconv.Itoa(p.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

func (p *Postgres) logFile() string { return filepath.Join(p.dir, "postgres.log") }

// logTail returns the end of the server log, for error messages.
func (p *Postgres) logTail() string {
	const size = 2048
	f, err := os.Open(p.logFile())
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	if info, err := f.Stat(); err == nil && info.Size() > size {
		if _, err := f.Seek(-size, io.SeekEnd); err != nil {
			return ""
		}
	}
	data, _ := io.ReadAll(f)
	return "postgres.log: ...\n" + string(data)
}

// run runs one of the PostgreSQL binaries as the server user, in Dir, and
// returns its combined output. (pg_ctl start puts the server in a session of
// its own, so a Ctrl-C meant for the caller does not reach it: the caller
// stops it in order with Stop.)
func (p *Postgres) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	if p.user != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: p.user.uid, Gid: p.user.gid}}
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	p.logger.Debug("postgres command", slog.String("command", name), slog.Any("args", args), slog.String("output", out.String()))
	return strings.TrimSpace(out.String()), err
}
