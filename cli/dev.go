package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/troupe-dev/troupe/devserver"
	"github.com/troupe-dev/troupe/store"
	"github.com/troupe-dev/troupe/workflows"
)

// runDev runs everything in one process: an embedded Temporal server with
// its Web UI, Postgres (DATABASE_URL, or a private cluster), a worker and the
// API. Everything stops when ctx ends.
func runDev(ctx context.Context, cfg config, stderr io.Writer) error {
	cfg.Auth = cmp.Or(cfg.Auth, "none")
	cfg.RateKey = cmp.Or(cfg.RateKey, "0")
	cfg.RateTenant = cmp.Or(cfg.RateTenant, "0")
	cfg.TasksPerMinute = cmp.Or(cfg.TasksPerMinute, "0")
	logger := newLogger(cfg, stderr).With("service", "troupe-dev")
	catalog, err := loadCatalog(cfg)
	if err != nil {
		return err
	}
	ln, err := listen(cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", cfg.DataDir, err)
	}
	cfg.FileRoot = cmp.Or(cfg.FileRoot, filepath.Join(cfg.DataDir, "workspace"))
	if err := os.MkdirAll(cfg.FileRoot, 0o755); err != nil {
		return fmt.Errorf("create the file tools' root %s: %w", cfg.FileRoot, err)
	}
	if cfg.HashKey == "" {
		if cfg.HashKey, err = devHashKey(filepath.Join(cfg.DataDir, "hash_key")); err != nil {
			return err
		}
	}

	if cfg.DatabaseURL == "" {
		pg, err := devserver.StartPostgres(ctx, devserver.PostgresConfig{Dir: filepath.Join(cfg.DataDir, "postgres"), Logger: logger})
		if err != nil {
			return fmt.Errorf("start a private PostgreSQL (or set DATABASE_URL): %w", err)
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				logger.Error("stop postgres", "error", err)
			}
		}()
		cfg.DatabaseURL = pg.URL()
		logger.Info("private PostgreSQL started", "url", cfg.DatabaseURL)
	}
	// The embedded Temporal server takes TEMPORAL_ADDRESS before the
	// migrations run, as early as it can, like TROUPE_ADDR above.
	tcfg, err := devTemporalConfig(cfg, logger)
	if err != nil {
		return err
	}
	temporal, err := devserver.StartTemporal(ctx, tcfg)
	if err != nil {
		return fmt.Errorf("start the embedded Temporal server: %w", err)
	}
	defer temporal.Stop()
	cfg.TemporalAddress = temporal.Address()
	cfg.TemporalUI = cmp.Or(cfg.TemporalUI, temporal.UIURL())
	logger.Info("Temporal server started", "address", temporal.Address(), "web_ui", temporal.UIURL(), "namespace", temporal.Namespace())
	if err := store.Migrate(ctx, cfg.DatabaseURL, "up", io.Discard); err != nil {
		return err
	}

	return runWithWorker(ctx, cfg, stderr, "troupe-dev", func(p *process) error {
		return p.serveAPI(ctx, ln, catalog)
	})
}

// devTemporalConfig places the embedded server at TEMPORAL_ADDRESS and its
// Web UI at TROUPE_UI_ADDR, with history in a SQLite file under the data dir.
func devTemporalConfig(cfg config, logger *slog.Logger) (devserver.TemporalConfig, error) {
	host, port, err := splitHostPort(cfg.TemporalAddress)
	if err != nil {
		return devserver.TemporalConfig{}, fmt.Errorf("TEMPORAL_ADDRESS: %w", err)
	}
	tcfg := devserver.TemporalConfig{
		IP: host, Port: port, Namespace: cfg.TemporalNamespace,
		DatabaseFile: filepath.Join(cfg.DataDir, "temporal.db"), Logger: logger,
		SearchAttributes: workflows.SearchAttributes(),
	}
	if cfg.UIAddr != "off" {
		if _, tcfg.UIPort, err = splitHostPort(cfg.UIAddr); err != nil {
			return devserver.TemporalConfig{}, fmt.Errorf("TROUPE_UI_ADDR: %w", err)
		}
	}
	return tcfg, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port of %q is not a number", addr)
	}
	return host, port, nil
}

// devHashKey reads the dev hash key from path, creating a random one on
// first use so user hashes stay stable across restarts.
func devHashKey(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return string(data), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return hex.EncodeToString(key), nil
}
