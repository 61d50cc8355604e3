// Package migrations holds the numbered goose SQL migrations of the troupe schema.
//
// goose v3 keeps both directions of a migration in one file, marked with
// "-- +goose Up" and "-- +goose Down"; files are named NNNNN_name.sql.
//
// Migrations run as the role that owns the tables (troupe migrate); troupe
// serve and troupe worker connect as a member of the group role AppRole,
// created by 00005_app_role.sql. The rules for a new migration:
//
//   - Run it as the same owner role as the earlier ones: the default
//     privileges of 00005 then give AppRole SELECT, INSERT, UPDATE and DELETE
//     on the tables it creates, and USAGE and SELECT on their sequences. New
//     columns of existing tables need nothing.
//   - An append-only table (like audit_logs) revokes UPDATE and DELETE from
//     AppRole in the same migration; a table the application must not see at
//     all revokes everything.
//   - Be additive: a binary one version behind must keep working against the
//     new schema during a rolling upgrade (troupe serve and worker accept a
//     newer schema, and refuse an older one).
package migrations

import "embed"

// AppRole is the NOLOGIN group role granted what the application needs and
// nothing more: it may read and write every table but only read and append
// to audit_logs, and may not alter, truncate or drop anything.
const AppRole = "troupe_app"

// FS holds the migration files, applied by store.Migrate.
//
//go:embed *.sql
var FS embed.FS
