// Package devserver runs the embedded development stack: a Temporal server on
// SQLite with its Web UI, and a private PostgreSQL cluster started from the
// PostgreSQL binaries found on the machine.
//
// It is imported by `troupe dev` and by end-to-end tests only; production
// deployments use a real Temporal cluster and a managed Postgres.
package devserver
