package cli

import (
	"context"
	"errors"
	"io"
)

// runServe runs the API alone, against a real Temporal cluster and Postgres.
func runServe(ctx context.Context, cfg config, stderr io.Writer) error {
	if cfg.HashKey == "" {
		return errors.New("TROUPE_HASH_KEY is not set: it keys the hash stored in place of user emails; set it to a long random secret and keep it stable")
	}
	catalog, err := loadCatalog(cfg)
	if err != nil {
		return err
	}
	p, err := openProcess(ctx, cfg, stderr, "troupe-api")
	if err != nil {
		return err
	}
	defer p.Close()
	return p.serveAPI(ctx, catalog)
}
