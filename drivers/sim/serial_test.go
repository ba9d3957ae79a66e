package sim_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
)

// serialEcho is a peer that sends back what it reads, upper-cased. It waits
// out EIO, which the pty's controller reads while no port is open on it.
type serialEcho struct {
	served chan struct{} // closed when Serve returns
	err    error         // what Serve returned
}

func newSerialEcho() *serialEcho { return &serialEcho{served: make(chan struct{})} }

func (e *serialEcho) Serve(ctx context.Context, rw io.ReadWriter) error {
	defer close(e.served)
	buf := make([]byte, 64)
	for {
		n, err := rw.Read(buf)
		if ctx.Err() != nil {
			e.err = ctx.Err()
			return e.err
		}
		if errors.Is(err, syscall.EIO) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			e.err = err
			return err
		}
		if _, err := rw.Write(serialUpper(buf[:n])); err != nil && !errors.Is(err, syscall.EIO) {
			e.err = err
			return err
		}
	}
}

// serialUpper upper-cases ASCII letters and leaves every other byte alone
// (bytes.ToUpper would rewrite bytes that are not UTF-8).
func serialUpper(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// serialNewHost returns a host that is closed when the test ends.
func serialNewHost(t *testing.T) *sim.Host {
	t.Helper()
	h := sim.NewHost(nil)
	t.Cleanup(func() { h.Close() })
	return h
}

func serialOpen(t *testing.T, h *sim.Host, path string) drivers.Port {
	t.Helper()
	p, err := h.Serial(path, drivers.SerialMode{BaudRate: 9600})
	if err != nil {
		t.Fatalf("Serial(%q): %v", path, err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.SetReadTimeout(mhzWait); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSerialRoundTrip(t *testing.T) {
	h := serialNewHost(t)
	pts, err := h.AddSerialPeer("/dev/ttyUSB0", newSerialEcho())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pts, "/dev/pts/") {
		t.Errorf("AddSerialPeer returned %q, want the pty's /dev/pts/N path", pts)
	}
	p := serialOpen(t, h, "/dev/ttyUSB0")
	// Every byte passes unchanged: no CR/LF mapping, no echo, no
	// swallowed control characters, as on a raw serial line.
	msg := []byte("ping\r\n\x00\xff\x03\x11\x13\x7f")
	if _, err := p.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(p, got); err != nil {
		t.Fatalf("read the echo: %v", err)
	}
	if want := []byte("PING\r\n\x00\xff\x03\x11\x13\x7f"); !bytes.Equal(got, want) {
		t.Fatalf("echo % x, want % x", got, want)
	}
}

func TestSerialPortsAreSeparate(t *testing.T) {
	h := serialNewHost(t)
	for _, path := range []string{"/dev/serial0", "/dev/ttyUSB0"} {
		if _, err := h.AddSerialPeer(path, newSerialEcho()); err != nil {
			t.Fatal(err)
		}
	}
	a, b := serialOpen(t, h, "/dev/serial0"), serialOpen(t, h, "/dev/ttyUSB0")
	for _, c := range []struct {
		p   drivers.Port
		msg string
	}{{a, "first"}, {b, "second"}} {
		if _, err := c.p.Write([]byte(c.msg)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		p    drivers.Port
		want string
	}{{a, "FIRST"}, {b, "SECOND"}} {
		got := make([]byte, len(c.want))
		if _, err := io.ReadFull(c.p, got); err != nil || string(got) != c.want {
			t.Fatalf("read %q (%v), want %q", got, err, c.want)
		}
	}
}

func TestSerialReopen(t *testing.T) {
	h := serialNewHost(t)
	if _, err := h.AddSerialPeer("/dev/serial0", newSerialEcho()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p, err := h.Serial("/dev/serial0", drivers.SerialMode{})
		if err != nil {
			t.Fatalf("open %d: %v", i+1, err)
		}
		p.SetReadTimeout(mhzWait)
		p.Write([]byte("again"))
		got := make([]byte, 5)
		_, err = io.ReadFull(p, got)
		p.Close()
		if err != nil || string(got) != "AGAIN" {
			t.Fatalf("open %d: read %q (%v), want AGAIN", i+1, got, err)
		}
	}
}

func TestSerialDuplicatePath(t *testing.T) {
	h := serialNewHost(t)
	if _, err := h.AddSerialPeer("/dev/serial0", newSerialEcho()); err != nil {
		t.Fatal(err)
	}
	_, err := h.AddSerialPeer("/dev/serial0", newSerialEcho())
	if err == nil || !strings.Contains(err.Error(), "/dev/serial0") || !strings.Contains(err.Error(), "already attached") {
		t.Fatalf("second peer on /dev/serial0: err = %v, want an error naming the port", err)
	}
	// The first peer still answers.
	p := serialOpen(t, h, "/dev/serial0")
	p.Write([]byte("x"))
	got := make([]byte, 1)
	if _, err := io.ReadFull(p, got); err != nil || got[0] != 'X' {
		t.Fatalf("first peer after a duplicate: read %q (%v)", got, err)
	}
}

func TestSerialUnknownPath(t *testing.T) {
	h := serialNewHost(t)
	if _, err := h.AddSerialPeer("/dev/serial0", newSerialEcho()); err != nil {
		t.Fatal(err)
	}
	_, err := h.Serial("/dev/ttyUSB3", drivers.SerialMode{})
	if err == nil || !strings.Contains(err.Error(), "/dev/ttyUSB3") || !strings.Contains(err.Error(), "no such port") {
		t.Fatalf("Serial of an empty path: err = %v, want an error naming it", err)
	}
}

func TestSerialBadMode(t *testing.T) {
	h := serialNewHost(t)
	if _, err := h.AddSerialPeer("/dev/serial0", newSerialEcho()); err != nil {
		t.Fatal(err)
	}
	_, err := h.Serial("/dev/serial0", drivers.SerialMode{DataBits: 9})
	if err == nil || !strings.Contains(err.Error(), "data bits 9") {
		t.Fatalf("9 data bits: err = %v, want the mode rejected", err)
	}
}

// TestSerialCloseStopsPeers checks that Host.Close ends every peer's Serve
// and waits for it, whether a driver still holds the port open, has closed
// it, or never opened it.
func TestSerialCloseStopsPeers(t *testing.T) {
	h := sim.NewHost(nil)
	held, released, untouched := newSerialEcho(), newSerialEcho(), newSerialEcho()
	for path, peer := range map[string]*serialEcho{"/dev/held": held, "/dev/released": released, "/dev/untouched": untouched} {
		if _, err := h.AddSerialPeer(path, peer); err != nil {
			t.Fatal(err)
		}
	}
	p, err := h.Serial("/dev/held", drivers.SerialMode{})
	if err != nil {
		t.Fatal(err)
	}
	// Closed only after the check below, so a hang cannot outlive the test.
	t.Cleanup(func() { p.Close() })
	q, err := h.Serial("/dev/released", drivers.SerialMode{})
	if err != nil {
		t.Fatal(err)
	}
	q.Close()

	closed := make(chan struct{})
	go func() {
		h.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(mhzWait):
		t.Fatal("Host.Close did not return: a peer is still blocked reading its pty. " +
			"serialport.OpenPTY calls (*os.File).Fd, which puts the controller in blocking mode, " +
			"so closing it cannot interrupt a pending Read; do its ioctls through SyscallConn().Control instead")
	}
	for name, peer := range map[string]*serialEcho{"held": held, "released": released, "untouched": untouched} {
		select {
		case <-peer.served:
		default:
			t.Errorf("peer on a %s port: Serve had not returned when Close did", name)
			continue
		}
		if !errors.Is(peer.err, context.Canceled) {
			t.Errorf("peer on a %s port: Serve ended with %v, want it to see its context cancelled", name, peer.err)
		}
	}
}
