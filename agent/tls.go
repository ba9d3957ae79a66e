package agent

// TLS to the broker: the [mqtt] keys ca_file, cert_file, key_file,
// server_name and insecure_skip_verify. The files are read and checked
// when the configuration is loaded, so -check finds a missing file, a file
// that is not PEM or a key that is not the certificate's, and read again
// at start to build the connection's tls.Config. No message quotes a
// file's content: a key file holds a secret.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/pinion-home/pinion/internal/devconf"
)

// cfgTLSKeys are the [mqtt] keys for TLS, in the order the documentation
// lists them.
var cfgTLSKeys = []string{"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"}

// cfgMaxPEMFile bounds what is read of a certificate or key file: a chain
// of a few certificates is a few KiB.
const cfgMaxPEMFile = 1 << 20

// parseTLS reads the TLS keys of the [mqtt] table into m and checks them
// and their files; m.Broker is already set.
func (p *cfgParser) parseTLS(t devconf.Table, m *MQTTConfig) {
	var set []string // the TLS keys present, in documentation order
	for _, k := range cfgTLSKeys {
		if t.Has(k) {
			set = append(set, k)
		}
	}
	if len(set) == 0 {
		return
	}
	if msg := tlsSchemeProblem(m.Broker, set[0]); msg != "" {
		key := "broker"
		if !t.Has("broker") {
			key = set[0]
		}
		p.Add(t.Path.Key(key), nil, "%s", msg)
	}
	if f, ok := t.Str("ca_file"); ok {
		m.CAFile = cfgPath(p.File, f)
		if _, err := loadCAFile(m.CAFile); err != nil {
			p.Add(t.Path.Key("ca_file"), err, "%v", err)
		}
	}
	cert, hasCert := t.Str("cert_file")
	key, hasKey := t.Str("key_file")
	if hasCert {
		m.CertFile = cfgPath(p.File, cert)
	}
	if hasKey {
		m.KeyFile = cfgPath(p.File, key)
	}
	switch {
	case hasCert && !hasKey && !t.Has("key_file"):
		p.Add(t.Path.Key("cert_file"), nil, "needs key_file: a client certificate is sent with its private key; set key_file to the key's PEM file")
	case hasKey && !hasCert && !t.Has("cert_file"):
		p.Add(t.Path.Key("key_file"), nil, "needs cert_file: a private key is used with its client certificate; set cert_file to the certificate's PEM file")
	case hasCert && hasKey:
		certErr, keyErr := checkKeyPair(m.CertFile, m.KeyFile)
		if certErr != nil {
			p.Add(t.Path.Key("cert_file"), certErr, "%v", certErr)
		}
		if keyErr != nil {
			p.Add(t.Path.Key("key_file"), keyErr, "%v", keyErr)
		}
	}
	if s, ok := t.Str("server_name"); ok {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " /:") {
			p.Add(t.Path.Key("server_name"), nil, "%q is not a host name: write the name the broker's certificate carries, such as \"broker.lan\" (leave it out to use the broker URL's host)", s)
		}
		m.ServerName = s
	}
	if b, ok := t.Bool("insecure_skip_verify"); ok {
		m.InsecureSkipVerify = b
	}
}

// tlsSchemeProblem says what is wrong with using TLS keys (key is the
// first one set) with broker, or "" when broker is an ssl:// URL.
func tlsSchemeProblem(broker, key string) string {
	if broker == "embedded" {
		return fmt.Sprintf("%s is for a TLS broker, but the embedded broker speaks plain MQTT on [mqtt] listen (keep it on loopback): remove the TLS keys, or use an ssl:// broker", key)
	}
	u, err := url.Parse(broker)
	if err != nil || u.Scheme == "ssl" {
		return ""
	}
	host := broker
	if err == nil && u.Host != "" {
		host = u.Hostname() + ":8883"
	}
	return fmt.Sprintf("%q is plain TCP, but %s is set, which is for TLS: use ssl://%s (the broker's TLS port, often 8883), or remove the TLS keys", broker, key, host)
}

// cfgPath resolves a path written in the config file against the file's
// directory.
func cfgPath(configFile, name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(filepath.Dir(configFile), name)
}

// readPEMFile reads a certificate or key file, bounded, and checks that it
// is PEM; what names it in errors ("ca_file").
func readPEMFile(path, what string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("must not be empty: name a PEM file, or leave %s out", what)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", what, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", what, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is not a regular file", what, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, cfgMaxPEMFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", what, err)
	}
	if len(data) > cfgMaxPEMFile {
		return nil, fmt.Errorf("%s %s is larger than %d bytes, which no PEM certificate or key is", what, path, cfgMaxPEMFile)
	}
	if b, _ := pem.Decode(data); b == nil {
		return nil, fmt.Errorf("%s %s is not PEM (text starting with -----BEGIN …): convert it, e.g. openssl x509 -inform der -in it -out it.pem", what, path)
	}
	return data, nil
}

// loadCAFile reads the certificate authorities in a PEM file.
func loadCAFile(path string) (*x509.CertPool, error) {
	data, err := readPEMFile(path, "ca_file")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("ca_file %s: certificate %d cannot be read: %w", path, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("ca_file %s holds no CERTIFICATE block: name the PEM file of the CA that signed the broker's certificate", path)
	}
	return pool, nil
}

// checkKeyPair checks the client certificate and key files, and that the
// key is the certificate's: certErr is about the certificate file, keyErr
// about the key file (a key that does not match is the key's problem).
func checkKeyPair(certFile, keyFile string) (certErr, keyErr error) {
	_, certErr, keyErr = loadKeyPair(certFile, keyFile)
	return certErr, keyErr
}

// loadKeyPair loads the client certificate and key. Errors never quote the
// key file: crypto/tls's own words name only PEM block types.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error, error) {
	certPEM, certErr := readPEMFile(certFile, "cert_file")
	keyPEM, keyErr := readPEMFile(keyFile, "key_file")
	if certErr == nil {
		if !hasBlock(certPEM, "CERTIFICATE") {
			certErr = fmt.Errorf("cert_file %s holds no CERTIFICATE block: name the PEM file of the agent's client certificate", certFile)
		}
	}
	if keyErr == nil && !hasKeyBlock(keyPEM) {
		keyErr = fmt.Errorf("key_file %s holds no PRIVATE KEY block: name the PEM file of the client certificate's private key", keyFile)
	}
	if certErr != nil || keyErr != nil {
		return tls.Certificate{}, certErr, keyErr
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return tls.Certificate{}, nil, fmt.Errorf("key_file %s is not the private key of cert_file %s: name the key made with that certificate", keyFile, certFile)
		}
		return tls.Certificate{}, nil, fmt.Errorf("cert_file %s and key_file %s cannot be used together: %w", certFile, keyFile, err)
	}
	return pair, nil, nil
}

func hasBlock(data []byte, typ string) bool {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return false
		}
		if b.Type == typ {
			return true
		}
	}
}

func hasKeyBlock(data []byte) bool {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return false
		}
		if b.Type == "PRIVATE KEY" || strings.HasSuffix(b.Type, " PRIVATE KEY") {
			return true
		}
	}
}

// usesTLS reports whether the TLS keys are set.
func (m MQTTConfig) usesTLS() bool {
	return m.CAFile != "" || m.CertFile != "" || m.KeyFile != "" || m.ServerName != "" || m.InsecureSkipVerify
}

// tlsConfig builds the TLS configuration for the broker from the files,
// read again (they may have changed since the configuration was loaded),
// or nil for a plain TCP broker without TLS keys. An ssl:// broker without
// them is verified against the system's certificate authorities. log
// gets the warning that insecure_skip_verify asks for, at every start.
func (m MQTTConfig) tlsConfig(log *slog.Logger) (*tls.Config, error) {
	if m.usesTLS() {
		if msg := tlsSchemeProblem(m.Broker, "a TLS key ([mqtt] ca_file, cert_file, key_file, server_name or insecure_skip_verify)"); msg != "" {
			return nil, errors.New("mqtt: " + msg)
		}
	}
	if !strings.HasPrefix(m.Broker, "ssl://") {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: m.ServerName}
	if m.CAFile != "" {
		pool, err := loadCAFile(m.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
		conf.RootCAs = pool
	}
	if m.CertFile != "" || m.KeyFile != "" {
		pair, certErr, keyErr := loadKeyPair(m.CertFile, m.KeyFile)
		if err := errors.Join(certErr, keyErr); err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	if m.InsecureSkipVerify {
		conf.InsecureSkipVerify = true
		log.Warn("TLS certificate verification is off ([mqtt] insecure_skip_verify = true): anyone on the network path can pose as the broker and switch the devices; set ca_file to the broker's CA instead", "broker", redact(m.Broker))
	}
	return conf, nil
}

// tlsHint says which key to fix for a TLS failure, or "" for an error that
// is not one. Failures found by the agent (the broker's certificate) come
// as x509 errors; those found by the broker (the agent's certificate)
// come as the alert it sent, "remote error: tls: …".
func tlsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	msg := err.Error()
	switch {
	case errors.As(err, &unknown):
		return "the broker's certificate is not signed by a CA the agent trusts: set [mqtt] ca_file to the PEM file of the CA that signed it"
	case errors.As(err, &host):
		return "the broker's certificate is not for this name: set [mqtt] server_name to a name the certificate carries, or use that name as the broker URL's host"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "the broker's certificate has expired or is not valid yet: check the broker's certificate dates (and this machine's clock)"
	case errors.As(err, &invalid):
		return "the broker's certificate cannot be used: check the broker's certificate, and [mqtt] ca_file"
	case strings.Contains(msg, "remote error: tls: certificate required"):
		return "the broker requires a client certificate: set [mqtt] cert_file and key_file"
	case strings.Contains(msg, "remote error: tls: bad certificate"),
		strings.Contains(msg, "remote error: tls: unknown certificate authority"),
		strings.Contains(msg, "remote error: tls: unknown certificate"),
		strings.Contains(msg, "remote error: tls: expired certificate"),
		strings.Contains(msg, "remote error: tls: unsupported certificate"),
		strings.Contains(msg, "remote error: tls: revoked certificate"):
		return "the broker refused the agent's client certificate: check [mqtt] cert_file and key_file (signed by a CA the broker trusts, within its dates)"
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "the broker does not speak TLS on that port: use its TLS port (often 8883) in the ssl:// URL, or tcp:// for plain MQTT"
	case strings.Contains(msg, "remote error: tls:"):
		return "the broker refused the TLS connection: check the broker's TLS settings and [mqtt] ca_file, cert_file and key_file"
	}
	return ""
}
