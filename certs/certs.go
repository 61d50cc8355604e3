// Package certs holds troupe's client-certificate identities: how a client
// certificate names its tenant and role (Identity), and the development PKI
// that `troupe certs dev` writes (a CA, a server certificate, client
// certificates).
//
// A client certificate names its tenant and role with a URI SAN
// "urn:troupe:tenant:<tenant>:role:<role>", or else with its subject: the
// organization (O) is the tenant and the organizational unit (OU) the role
// (member when it names none). The role is admin, member or reader.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"
)

// uriPrefix starts the URI SAN that names a tenant and role.
const uriPrefix = "urn:troupe:tenant:"

// Identity is who a client certificate stands for.
type Identity struct {
	Tenant string
	Role   string
	// Name is the certificate's common name and serial number, for audit rows.
	Name string
}

// IdentityOf reads the tenant and role a client certificate names (see the
// package documentation).
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	id := Identity{Name: fmt.Sprintf("%s#%s", cert.Subject.CommonName, cert.SerialNumber.Text(16))}
	for _, u := range cert.URIs {
		rest, ok := strings.CutPrefix(u.String(), uriPrefix)
		if !ok {
			continue
		}
		tenant, role, ok := strings.Cut(rest, ":role:")
		if !ok {
			return Identity{}, fmt.Errorf("the certificate's URI %q names no role (want %s<tenant>:role:<role>)", u, uriPrefix)
		}
		id.Tenant, id.Role = tenant, role
		return id, id.check()
	}
	if len(cert.Subject.Organization) != 1 {
		return Identity{}, errors.New("the certificate names no tenant: give it one organization (O), or a URI " + uriPrefix + "<tenant>:role:<role>")
	}
	id.Tenant, id.Role = cert.Subject.Organization[0], "member"
	if ou := cert.Subject.OrganizationalUnit; len(ou) == 1 {
		id.Role = ou[0]
	} else if len(ou) > 1 {
		return Identity{}, errors.New("the certificate names several roles (OU)")
	}
	return id, id.check()
}

func (id Identity) check() error {
	if id.Tenant == "" {
		return errors.New("the certificate names an empty tenant")
	}
	switch id.Role {
	case "admin", "member", "reader":
		return nil
	}
	return fmt.Errorf("the certificate names the role %q; want admin, member or reader", id.Role)
}

// URI is the URI SAN naming tenant and role.
func URI(tenant, role string) *url.URL {
	u, _ := url.Parse(uriPrefix + tenant + ":role:" + role)
	return u
}

// CA is a certificate authority of the development PKI.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a CA valid for ten years.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads a CA from its PEM certificate and PEM (PKCS #8) key.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("the CA certificate or key is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CA key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok || !cert.IsCA {
		return nil, errors.New("not a CA certificate and key")
	}
	return &CA{Cert: cert, Key: signer}, nil
}

// PEM returns the CA's certificate and key in PEM.
func (ca *CA) PEM() (certPEM, keyPEM []byte, err error) {
	return encode(ca.Cert.Raw, ca.Key)
}

// Server issues a server certificate for hosts (names or IP addresses),
// valid for a year.
func (ca *CA) Server(hosts []string) (certPEM, keyPEM []byte, err error) {
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: hosts[0]}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(tmpl)
}

// Client issues a client certificate named name for tenant and role, valid
// for a year: its subject and URI SAN both name them.
func (ca *CA) Client(name, tenant, role string) (certPEM, keyPEM []byte, err error) {
	id := Identity{Tenant: tenant, Role: role}
	if err := id.check(); err != nil {
		return nil, nil, err
	}
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{tenant}, OrganizationalUnit: []string{role}},
		URIs:        []*url.URL{URI(tenant, role)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (ca *CA) issue(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue certificate: %w", err)
	}
	return encode(der, key)
}

func encode(der []byte, key crypto.Signer) (certPEM, keyPEM []byte, err error) {
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
