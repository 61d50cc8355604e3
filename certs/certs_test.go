package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIdentityOf(t *testing.T) {
	uri := func(s string) []*url.URL { u, _ := url.Parse(s); return []*url.URL{u} }
	for name, c := range map[string]struct {
		cert *x509.Certificate
		want Identity
		err  string
	}{
		"uri wins over subject": {cert: &x509.Certificate{URIs: uri("urn:troupe:tenant:acme:role:reader"), Subject: pkix.Name{Organization: []string{"globex"}}},
			want: Identity{Tenant: "acme", Role: "reader"}},
		"subject, default role": {cert: &x509.Certificate{Subject: pkix.Name{Organization: []string{"acme"}}}, want: Identity{Tenant: "acme", Role: "member"}},
		"subject with a role":   {cert: &x509.Certificate{Subject: pkix.Name{Organization: []string{"acme"}, OrganizationalUnit: []string{"admin"}}}, want: Identity{Tenant: "acme", Role: "admin"}},
		"no tenant":             {cert: &x509.Certificate{Subject: pkix.Name{CommonName: "x"}}, err: "names no tenant"},
		"unknown role":          {cert: &x509.Certificate{Subject: pkix.Name{Organization: []string{"acme"}, OrganizationalUnit: []string{"root"}}}, err: `role "root"`},
		"uri without role":      {cert: &x509.Certificate{URIs: uri("urn:troupe:tenant:acme")}, err: "names no role"},
		"two organizations":     {cert: &x509.Certificate{Subject: pkix.Name{Organization: []string{"a", "b"}}}, err: "names no tenant"},
	} {
		c.cert.SerialNumber = big.NewInt(7)
		got, err := IdentityOf(c.cert)
		if c.err != "" {
			require.ErrorContains(t, err, c.err, name)
			continue
		}
		require.NoError(t, err, name)
		require.Equal(t, c.want.Tenant, got.Tenant, name)
		require.Equal(t, c.want.Role, got.Role, name)
	}
}

func TestIssuedClientCertificateNamesItsIdentity(t *testing.T) {
	ca, err := NewCA("test CA")
	require.NoError(t, err)
	certPEM, keyPEM, err := ca.PEM()
	require.NoError(t, err)
	again, err := LoadCA(certPEM, keyPEM)
	require.NoError(t, err)
	clientPEM, _, err := again.Client("ci", "acme", "member")
	require.NoError(t, err)
	block, _ := pem.Decode(clientPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err, "a reloaded CA issues certificates that chain to it")
	id, err := IdentityOf(cert)
	require.NoError(t, err)
	require.Equal(t, "acme", id.Tenant)
	require.Equal(t, "member", id.Role)
	_, _, err = ca.Client("x", "acme", "owner")
	require.ErrorContains(t, err, "owner")
}
