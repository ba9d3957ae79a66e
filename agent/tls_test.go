package agent

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/logbuf"
)

// TestTLSConfigKeys checks the [mqtt] TLS keys at config load: every
// problem names the file, line and key and says how to fix it, and none
// quotes a key file.
func TestTLSConfigKeys(t *testing.T) {
	ca := brokertest.NewCA(t, "cfg")
	client := ca.Client(t, "agent")
	other := ca.Client(t, "other")
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.der")
	if err := os.WriteFile(notPEM, []byte{0x30, 0x82, 0x01, 0x0a}, 0o600); err != nil {
		t.Fatal(err)
	}
	keyText, err := os.ReadFile(client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	tests := []struct {
		name string
		mqtt string // the [mqtt] table's lines after its header
		want string // "" for no problem; else in the error, with x.toml:<line>:
	}{
		{"mutual TLS", "broker = \"ssl://b:8883\"\nca_file = " + q(ca.File) + "\ncert_file = " + q(client.CertFile) + "\nkey_file = " + q(client.KeyFile), ""},
		{"ca_file alone", "broker = \"ssl://b:8883\"\nca_file = " + q(ca.File), ""},
		{"server_name", "broker = \"ssl://10.0.0.2:8883\"\nserver_name = \"broker.lan\"", ""},
		{"a missing ca_file", "broker = \"ssl://b:8883\"\nca_file = \"nope.pem\"", "x.toml:5: mqtt.ca_file: cannot read ca_file"},
		{"a ca_file not PEM", "broker = \"ssl://b:8883\"\nca_file = " + q(notPEM), "x.toml:5: mqtt.ca_file: ca_file " + notPEM + " is not PEM"},
		{"a key as ca_file", "broker = \"ssl://b:8883\"\nca_file = " + q(client.KeyFile), "mqtt.ca_file: ca_file " + client.KeyFile + " holds no CERTIFICATE block"},
		{"cert_file without key_file", "broker = \"ssl://b:8883\"\ncert_file = " + q(client.CertFile), "x.toml:5: mqtt.cert_file: needs key_file"},
		{"key_file without cert_file", "broker = \"ssl://b:8883\"\nkey_file = " + q(client.KeyFile), "x.toml:5: mqtt.key_file: needs cert_file"},
		{"a key that is not the certificate's", "broker = \"ssl://b:8883\"\ncert_file = " + q(client.CertFile) + "\nkey_file = " + q(other.KeyFile), "x.toml:6: mqtt.key_file: key_file " + other.KeyFile + " is not the private key of cert_file"},
		{"the key as cert_file", "broker = \"ssl://b:8883\"\ncert_file = " + q(client.KeyFile) + "\nkey_file = " + q(client.KeyFile), "x.toml:5: mqtt.cert_file: cert_file " + client.KeyFile + " holds no CERTIFICATE block"},
		{"the certificate as key_file", "broker = \"ssl://b:8883\"\ncert_file = " + q(client.CertFile) + "\nkey_file = " + q(client.CertFile), "x.toml:6: mqtt.key_file: key_file " + client.CertFile + " holds no PRIVATE KEY block"},
		{"TLS keys with tcp://", "broker = \"tcp://b:1883\"\nca_file = " + q(ca.File), `x.toml:4: mqtt.broker: "tcp://b:1883" is plain TCP, but ca_file is set, which is for TLS: use ssl://b:8883`},
		{"TLS keys with the default broker", "insecure_skip_verify = true", `x.toml:4: mqtt.insecure_skip_verify: "tcp://127.0.0.1:1883" is plain TCP, but insecure_skip_verify is set`},
		{"TLS keys with the embedded broker", "broker = \"embedded\"\nserver_name = \"x\"", "x.toml:4: mqtt.broker: server_name is for a TLS broker, but the embedded broker speaks plain MQTT"},
		{"an empty server_name", "broker = \"ssl://b:8883\"\nserver_name = \"\"", "x.toml:5: mqtt.server_name: \"\" is not a host name"},
		{"insecure_skip_verify not a boolean", "broker = \"ssl://b:8883\"\ninsecure_skip_verify = \"yes\"", "x.toml:5: mqtt.insecure_skip_verify: must be a boolean"},
		{"an empty ca_file", "broker = \"ssl://b:8883\"\nca_file = \"\"", "x.toml:5: mqtt.ca_file: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "[agent]\nid = \"n\"\n[mqtt]\n" + tt.mqtt + "\n"
			cfg, err := ParseConfig(filepath.Join(dir, "x.toml"), []byte(text))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if _, err := cfg.MQTT.tlsConfig(slog.New(slog.DiscardHandler)); err != nil {
					t.Fatalf("tlsConfig: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			msg := strings.ReplaceAll(err.Error(), dir+"/", "")
			want := strings.ReplaceAll(tt.want, dir+"/", "")
			if !strings.Contains(msg, want) {
				t.Errorf("error:\n%s\nwant it to contain\n%s", msg, want)
			}
			for _, line := range strings.Split(string(keyText), "\n") {
				if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(err.Error(), line) {
					t.Errorf("the error quotes the key file:\n%s", err)
				}
			}
		})
	}
}

// TestTLSConfigAtStart checks what start adds to the load: a file gone
// since, a -broker flag that makes the TLS keys pointless, and the
// warning that insecure_skip_verify gives at every start.
func TestTLSConfigAtStart(t *testing.T) {
	ca := brokertest.NewCA(t, "start")
	m := MQTTConfig{Broker: "ssl://b:8883", CAFile: ca.File}
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	conf, err := m.tlsConfig(log)
	if err != nil || conf == nil || conf.RootCAs == nil || conf.InsecureSkipVerify {
		t.Fatalf("tlsConfig = %+v, %v", conf, err)
	}
	if conf, err := (MQTTConfig{Broker: "tcp://b:1883"}).tlsConfig(log); conf != nil || err != nil {
		t.Errorf("plain TCP: tlsConfig = %v, %v; want nil, nil", conf, err)
	}
	if _, err := (MQTTConfig{Broker: "tcp://b:1883", CAFile: ca.File}).tlsConfig(log); err == nil || !strings.Contains(err.Error(), "use ssl://b:8883") {
		t.Errorf("TLS keys and -broker tcp://: %v", err)
	}
	if _, err := (MQTTConfig{Broker: "ssl://b:8883", CAFile: filepath.Join(t.TempDir(), "gone.pem")}).tlsConfig(log); err == nil || !strings.Contains(err.Error(), "cannot read ca_file") {
		t.Errorf("a ca_file gone since the load: %v", err)
	}
	if logs.String() != "" {
		t.Errorf("logged without insecure_skip_verify:\n%s", logs)
	}
	if _, err := (MQTTConfig{Broker: "ssl://b:8883", InsecureSkipVerify: true}).tlsConfig(log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "insecure_skip_verify") {
		t.Errorf("no warning for insecure_skip_verify:\n%s", logs)
	}
}

func TestTLSHint(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("network Error : %w", x509.UnknownAuthorityError{}), "[mqtt] ca_file"},
		{fmt.Errorf("network Error : %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "b"}), "[mqtt] server_name"},
		{x509.CertificateInvalidError{Reason: x509.Expired}, "certificate dates"},
		{errors.New("network Error : remote error: tls: certificate required"), "set [mqtt] cert_file and key_file"},
		{errors.New("remote error: tls: unknown certificate authority"), "check [mqtt] cert_file and key_file"},
		{errors.New("remote error: tls: bad certificate"), "check [mqtt] cert_file and key_file"},
		{errors.New("tls: first record does not look like a TLS handshake"), "TLS port"},
		{errors.New("connection refused"), ""},
		{io.EOF, ""},
	}
	for _, tt := range tests {
		got := tlsHint(tt.err)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("tlsHint(%v) = %q, want it to contain %q", tt.err, got, tt.want)
		}
	}
}
