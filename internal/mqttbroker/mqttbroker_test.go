package mqttbroker

import (
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"net"
	"strings"
	"testing"
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
