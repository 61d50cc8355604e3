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
	ln, err := listen(cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	p, err := openProcess(ctx, cfg, stderr, "troupe-api")
	if err != nil {
		return err
	}
	defer p.Close()
	return p.serveAPI(ctx, ln, catalog)
}

// serveBoth runs a and b until ctx ends or either fails, which stops the other.
func serveBoth(ctx context.Context, a, b func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- a(ctx) }()
	go func() { errc <- b(ctx) }()
	first := <-errc
	cancel()
	return errors.Join(first, <-errc)
}
