package agent_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pinion-home/pinion/internal/brokertest"
)

// tlsConfig is a node with one relay, on a broker whose URL and TLS keys
// are filled in.
const tlsConfig = `
[agent]
id = "tlsnode"
hardware = "sim"

[mqtt]
broker = "%%s"
%s

[[device]]
id = "pump"
driver = "gpio"
pin = "GPIO17"
mode = "output"
`

// TestTLS runs the agent against brokers serving TLS with certificates the
// test makes: mutual TLS connects, and each way it can be wrong is
// refused with a hint that names the key to fix.
func TestTLS(t *testing.T) {
	ca := brokertest.NewCA(t, "pinion-test")
	other := brokertest.NewCA(t, "someone-else")
	server := ca.Server(t)
	expired := ca.Issue(t, brokertest.CertOptions{Name: "localhost", IPs: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	wrongName := ca.Issue(t, brokertest.CertOptions{Name: "broker.example", DNSNames: []string{"broker.example"}})
	client := ca.Client(t, "pinion-agent")
	foreignClient := other.Client(t, "pinion-agent")
	mutual := fmt.Sprintf("ca_file = %q\ncert_file = %q\nkey_file = %q", ca.File, client.CertFile, client.KeyFile)

	brokers := []struct {
		name  string
		start func(testing.TB, brokertest.TLSBroker) string
	}{
		{"Mosquitto", brokertest.MosquittoTLS},
		{"embedded", brokertest.EmbeddedTLS},
	}
	tests := []struct {
		name    string
		broker  brokertest.TLSBroker
		keys    string
		want    []string // a log line with all of these
		refused bool
	}{
		{
			name:   "mutual TLS connects",
			broker: brokertest.TLSBroker{CA: ca, Server: server, RequireClientCert: true},
			keys:   mutual,
			want:   []string{"connected", "ssl://"},
		},
		{
			name:   "server_name names the certificate's host",
			broker: brokertest.TLSBroker{CA: ca, Server: wrongName},
			keys:   fmt.Sprintf("ca_file = %q\nserver_name = \"broker.example\"", ca.File),
			want:   []string{"connected", "ssl://"},
		},
		{
			name:    "a wrong CA",
			broker:  brokertest.TLSBroker{CA: ca, Server: server},
			keys:    fmt.Sprintf("ca_file = %q", other.File),
			want:    []string{"cannot connect", "[mqtt] ca_file"},
			refused: true,
		},
		{
			name:    "an expired server certificate",
			broker:  brokertest.TLSBroker{CA: ca, Server: expired},
			keys:    fmt.Sprintf("ca_file = %q", ca.File),
			want:    []string{"cannot connect", "certificate dates"},
			refused: true,
		},
		{
			name:    "a wrong server name",
			broker:  brokertest.TLSBroker{CA: ca, Server: wrongName},
			keys:    fmt.Sprintf("ca_file = %q", ca.File),
			want:    []string{"cannot connect", "[mqtt] server_name"},
			refused: true,
		},
		{
			name:    "no client certificate",
			broker:  brokertest.TLSBroker{CA: ca, Server: server, RequireClientCert: true},
			keys:    fmt.Sprintf("ca_file = %q", ca.File),
			want:    []string{"cannot connect", "cert_file and key_file"},
			refused: true,
		},
		{
			name:    "a client certificate from another CA",
			broker:  brokertest.TLSBroker{CA: ca, Server: server, RequireClientCert: true},
			keys:    fmt.Sprintf("ca_file = %q\ncert_file = %q\nkey_file = %q", ca.File, foreignClient.CertFile, foreignClient.KeyFile),
			want:    []string{"cannot connect", "cert_file and key_file"},
			refused: true,
		},
		{
			name:   "insecure_skip_verify connects and warns",
			broker: brokertest.TLSBroker{CA: ca, Server: server},
			keys:   "insecure_skip_verify = true",
			want:   []string{"level=WARN", "insecure_skip_verify"},
		},
	}
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					url := b.start(t, tt.broker)
					r := start(t, fmt.Sprintf(tlsConfig, tt.keys), url)
					r.waitLog(t, tt.want...)
					if tt.refused {
						if strings.Contains(r.logs.String(), "msg=connected") {
							t.Errorf("the agent connected:\n%s", r.logs.String())
						}
					} else {
						r.waitLog(t, "msg=connected")
					}
					if strings.Contains(r.logs.String(), "PRIVATE KEY") {
						t.Error("the log shows a private key")
					}
				})
			}
		})
	}
}
