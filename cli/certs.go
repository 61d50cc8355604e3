package cli

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/troupe-dev/troupe/certs"
)

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// runCerts writes a development PKI for mTLS: `troupe certs dev [--dir DIR]
// [--host H]... [--client TENANT:ROLE]...`. An existing CA in DIR is kept,
// so certificates issued later still chain to the one the server trusts.
func runCerts(cfg config, args []string, stdout io.Writer) error {
	const usage = "usage: troupe certs dev [--dir DIR] [--host HOST ...] [--client TENANT:ROLE ...]"
	if len(args) < 1 || args[0] != "dev" {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("certs dev", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", filepath.Join(cfg.DataDir, "certs"), "where to write the files")
	var hosts, clients stringList
	fs.Var(&hosts, "host", "a name or address of the server certificate (default: localhost, 127.0.0.1, ::1)")
	fs.Var(&clients, "client", "a client certificate for TENANT:ROLE (default: default:admin)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return errors.New(usage)
	}
	if len(hosts) == 0 {
		hosts = stringList{"localhost", "127.0.0.1", "::1"}
	}
	if len(clients) == 0 {
		clients = stringList{"default:admin"}
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	ca, err := devCA(*dir)
	if err != nil {
		return err
	}
	write := func(name string, certPEM, keyPEM []byte) error {
		if err := os.WriteFile(filepath.Join(*dir, name+".pem"), certPEM, 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(*dir, name+"-key.pem"), keyPEM, 0o600)
	}
	certPEM, keyPEM, err := ca.Server(hosts)
	if err != nil {
		return err
	}
	if err := write("server", certPEM, keyPEM); err != nil {
		return err
	}
	var first string // the first client's files, without .pem
	for _, c := range clients {
		tenant, role, ok := strings.Cut(c, ":")
		if !ok {
			return fmt.Errorf("--client %q: want TENANT:ROLE, e.g. acme:member", c)
		}
		name := "client-" + tenant + "-" + role
		if certPEM, keyPEM, err = ca.Client(name, tenant, role); err != nil {
			return fmt.Errorf("--client %q: %w", c, err)
		}
		if err := write(name, certPEM, keyPEM); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "client %s:%s  %s/%s.pem  %s/%s-key.pem\n", tenant, role, *dir, name, *dir, name)
		first = cmp.Or(first, filepath.Join(*dir, name))
	}
	fmt.Fprintf(stdout, "\nserve the API with them:\n  TROUPE_TLS_CERT=%[1]s/server.pem TROUPE_TLS_KEY=%[1]s/server-key.pem TROUPE_TLS_CLIENT_CA=%[1]s/ca.pem\n", *dir)
	fmt.Fprintf(stdout, "and run troupe's commands against it (curl: --cacert, --cert, --key):\n  TROUPE_API_CA=%s/ca.pem TROUPE_CLIENT_CERT=%[2]s.pem TROUPE_CLIENT_KEY=%[2]s-key.pem\n", *dir, first)
	return nil
}

// devCA reads the CA of dir, or makes and writes one.
func devCA(dir string) (*certs.CA, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	certPEM, err1 := os.ReadFile(certFile)
	keyPEM, err2 := os.ReadFile(keyFile)
	if err1 == nil && err2 == nil {
		return certs.LoadCA(certPEM, keyPEM)
	}
	ca, err := certs.NewCA("troupe development CA")
	if err != nil {
		return nil, err
	}
	if certPEM, keyPEM, err = ca.PEM(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	return ca, os.WriteFile(keyFile, keyPEM, 0o600)
}
