package mqttbroker

import (
	"errors"
	"io"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestMaxPacketSize checks that an MQTT 3.1.1 client announcing a packet
// over the limit is disconnected at its header, with one log line, and
// that the broker allocates nothing like the announced size; a packet at
// the limit passes.
func TestMaxPacketSize(t *testing.T) {
	out := newLogSink()
	b, err := StartOptions("127.0.0.1:0", out.warnings(), Options{MaxPacketSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	small := dial(t, b.Addr())
	connect(t, small, "small")
	// A publish of 1023 bytes after its fixed header (mochi counts the
	// body and one byte against the limit) passes:
	// the connection stays, and answers a PINGREQ.
	pub := append([]byte{0x30, 0xff, 0x07, 0, 1, 't'}, make([]byte, 1023-3)...)
	if _, err := small.Write(append(pub, 0xc0, 0)); err != nil {
		t.Fatal(err)
	}
	_ = small.SetReadDeadline(time.Now().Add(wait))
	resp := make([]byte, 2)
	if _, err := io.ReadFull(small, resp); err != nil || resp[0] != 0xd0 {
		t.Fatalf("a packet at the limit: PINGRESP % x, %v", resp, err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	big := dial(t, b.Addr())
	connect(t, big, "big")
	// A PUBLISH announcing 200 MB, and the first of it.
	if _, err := big.Write([]byte{0x30, 0x80, 0x80, 0x80, 0x64, 0, 1, 't'}); err != nil {
		t.Fatal(err)
	}
	_, _ = big.Write(make([]byte, 64<<10))
	_ = big.SetReadDeadline(time.Now().Add(wait))
	// The broker closes the connection: a clean end, or a reset since
	// it left bytes unread; not a timeout.
	if _, err := io.Copy(io.Discard, big); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the broker did not close the connection: %v", err)
	}
	line := waitLog(t, out, "packet too large")
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("the broker allocated %d MB for a packet it refused", grew>>20)
	}
	t.Log(line)
}

// TestDefaultURL checks a plain broker's URL (TLS brokers are tested through brokertest.EmbeddedTLS by the agent's TLS tests).
func TestDefaultURL(t *testing.T) {
	b, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.URL(); got != "tcp://"+b.Addr() {
		t.Errorf("URL() = %q", got)
	}
}
