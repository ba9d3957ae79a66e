package mqttbroker

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pinion-home/pinion/internal/logbuf"
)

func TestStartPicksPortAndReleasesIt(t *testing.T) {
	b, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(b.Addr(), ":0") {
		t.Fatalf("Addr() = %s, want the real port", b.Addr())
	}
	// A full MQTT session, connected and cleanly disconnected, so Close does
	// not race the broker still setting up a half-open connection.
	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("probe"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to the broker: %v", tok.Error())
	}
	c.Disconnect(100)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", b.Addr()); err == nil {
		c.Close()
		t.Fatal("broker still accepts connections after Close")
	}
}

func TestStartBusyAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Start(l.Addr().String(), nil)
	if err == nil || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("Start on a busy address: err=%v, want an error naming it", err)
	}
}

// A connection the broker closed itself is not worth a warning: a clean
// shutdown with Home Assistant still connected printed one per client.
// The error is the real one a read on a closed socket returns.
func TestListenerLogDropsConnectionsTheBrokerClosed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	server.Close()
	_, readErr := server.Read(make([]byte, 1))
	if readErr == nil {
		t.Fatal("read on a closed connection succeeded")
	}

	var out logbuf.Buffer
	log := slog.New(listenerLog{slog.NewTextHandler(&out, nil)}).With("listener", "tcp")
	log.Warn("", "error", readErr)
	if got := out.String(); got != "" {
		t.Fatalf("the broker's own close was logged: %s", got)
	}
	log.Warn("", "error", net.UnknownNetworkError("bogus"))
	if got := out.String(); !strings.Contains(got, `msg="client connection ended with an error"`) || !strings.Contains(got, "bogus") {
		t.Fatalf("another error was logged as %q, want a message and the error", got)
	}
}

// A client that breaks the protocol is still reported, with a message,
// through the logger Start was given.
func TestStartLogsProtocolViolations(t *testing.T) {
	var out logbuf.Buffer
	b, err := Start("127.0.0.1:0", slog.New(slog.NewTextHandler(&out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A PUBLISH before any CONNECT: the first packet must be CONNECT.
	if _, err := c.Write([]byte{0x30, 0x03, 0x00, 0x01, 'x'}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "client connection ended with an error") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning for a connection that sent PUBLISH first; log:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
