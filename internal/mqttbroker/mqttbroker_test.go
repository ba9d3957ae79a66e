package mqttbroker

import (
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
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatalf("dial broker: %v", err)
	}
	c.Close()
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
