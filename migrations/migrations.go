// Package migrations holds the numbered goose SQL migrations of the troupe schema.
//
// goose v3 keeps both directions of a migration in one file, marked with
// "-- +goose Up" and "-- +goose Down"; files are named NNNNN_name.sql.
package migrations

import "embed"

// FS holds the migration files, applied by store.Migrate.
//
//go:embed *.sql
var FS embed.FS
