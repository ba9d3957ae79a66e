package brokertest

// TLS for tests: a certificate authority made by the test (crypto/x509),
// the certificates it issues, and brokers that serve TLS with them:
// Mosquitto with a TLS listener, and the embedded broker.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pinion-home/pinion/internal/mqttbroker"
)

// CA is a certificate authority that a test made, with its certificate
// written as a PEM file.
type CA struct {
	// File is the CA's certificate, PEM: what [mqtt] ca_file and
	// Mosquitto's cafile name.
	File string
	// Pool holds the CA's certificate.
	Pool *x509.CertPool

	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// Cert is a certificate a CA issued, with its key, both written as PEM
// files.
type Cert struct {
	// CertFile and KeyFile are the certificate and its private key, PEM.
	CertFile, KeyFile string
	// TLS is the pair for a tls.Config.
	TLS tls.Certificate
}

// CertOptions say what a certificate is for.
type CertOptions struct {
	// Name is its common name, and its DNS name unless DNSNames is set.
	Name string
	// DNSNames and IPs are the names it is valid for; a server
	// certificate for the brokers here carries 127.0.0.1 or "localhost".
	DNSNames []string
	IPs      []net.IP
	// Client makes it a client certificate (for mutual TLS) rather than
	// a server's.
	Client bool
	// NotBefore and NotAfter are its dates: by default from an hour ago
	// for a day.
	NotBefore, NotAfter time.Time
}

// NewCA makes a certificate authority whose files live in the test's
// temporary directory.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{dir: t.TempDir(), cert: cert, key: key, Pool: x509.NewCertPool()}
	ca.Pool.AddCert(cert)
	ca.File = writePEM(t, ca.dir, name+"-ca.pem", "CERTIFICATE", der)
	return ca
}

// Issue makes a certificate signed by the CA.
func (ca *CA) Issue(t testing.TB, o CertOptions) *Cert {
	t.Helper()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: o.Name},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPs,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if o.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = now.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = now.Add(24 * time.Hour)
	}
	if len(o.DNSNames) == 0 && len(o.IPs) == 0 && !o.Client {
		tmpl.DNSNames = []string{o.Name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("issue certificate %s: %v", o.Name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cert{
		CertFile: writePEM(t, ca.dir, o.Name+"-"+serialString(tmpl)+".pem", "CERTIFICATE", der),
		KeyFile:  writePEM(t, ca.dir, o.Name+"-"+serialString(tmpl)+"-key.pem", "PRIVATE KEY", keyDER),
	}
	c.TLS, err = tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Server issues a certificate for a broker on 127.0.0.1 (also named
// "localhost").
func (ca *CA) Server(t testing.TB) *Cert {
	t.Helper()
	return ca.Issue(t, CertOptions{Name: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
}

// Client issues a client certificate.
func (ca *CA) Client(t testing.TB, name string) *Cert {
	t.Helper()
	return ca.Issue(t, CertOptions{Name: name, Client: true})
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func serialString(c *x509.Certificate) string { return c.SerialNumber.Text(36) }

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TLSBroker is how a test broker serves TLS.
type TLSBroker struct {
	// CA is the authority the broker's clients are checked against
	// (mutual TLS) and, usually, the one that issued Server.
	CA *CA
	// Server is the broker's certificate.
	Server *Cert
	// RequireClientCert makes the broker refuse clients without a
	// certificate issued by CA.
	RequireClientCert bool
}

// EmbeddedTLS starts the embedded broker with a TLS listener on a free
// loopback port and returns its ssl:// URL; it stops when the test ends.
func EmbeddedTLS(t testing.TB, b TLSBroker) string {
	t.Helper()
	conf := &tls.Config{Certificates: []tls.Certificate{b.Server.TLS}, MinVersion: tls.VersionTLS12}
	if b.RequireClientCert {
		conf.ClientAuth = tls.RequireAndVerifyClientCert
		conf.ClientCAs = b.CA.Pool
	}
	br, err := mqttbroker.StartOptions("127.0.0.1:0", nil, mqttbroker.Options{TLS: conf})
	if err != nil {
		t.Fatalf("start embedded TLS broker: %v", err)
	}
	t.Cleanup(func() { _ = br.Close() })
	return br.URL()
}

// MosquittoTLS starts a mosquitto process with one TLS listener on a free
// loopback port and returns its ssl:// URL; it is killed when the test
// ends. Without the binary the test is skipped, or fails as Mosquitto's
// does.
func MosquittoTLS(t testing.TB, b TLSBroker) string {
	t.Helper()
	body := fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate %t\n", b.CA.File, b.Server.CertFile, b.Server.KeyFile, b.RequireClientCert)
	return "ssl://" + startMosquitto(t, body).addr
}

// MosquittoConf starts a mosquitto process whose one listener, on a free
// loopback port, has the settings in listenerConf (mosquitto.conf lines,
// such as "message_size_limit 0"), and returns its host:port; it is
// killed when the test ends.
func MosquittoConf(t testing.TB, listenerConf string) string {
	t.Helper()
	return startMosquitto(t, listenerConf).addr
}
