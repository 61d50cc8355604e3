package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/troupe-dev/troupe/store"
)

// runMigrate applies, rolls back or reports schema migrations.
func runMigrate(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set")
	}
	command := "up"
	if len(args) > 0 {
		command = args[0]
	}
	if len(args) > 1 || (command != "up" && command != "down" && command != "status") {
		return fmt.Errorf("usage: troupe migrate [up|down|status]")
	}
	return store.Migrate(ctx, cfg.DatabaseURL, command, stdout)
}
