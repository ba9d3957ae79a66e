package serialport

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

func TestPortOverPTY(t *testing.T) {
	m, path, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := Open(path, drivers.SerialMode{BaudRate: 9600})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// Device to agent.
	if _, err := m.Write([]byte{0xff, 0x86, 0x0a}); err != nil {
		t.Fatal(err)
	}
	if err := p.SetReadTimeout(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3)
	if _, err := io.ReadFull(p, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if got[0] != 0xff || got[1] != 0x86 || got[2] != 0x0a {
		t.Fatalf("read %x, want ff860a: bytes must pass unchanged", got)
	}

	// Agent to device.
	if _, err := p.Write([]byte("\r\nx")); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, 3)
	if _, err := io.ReadFull(m, back); err != nil {
		t.Fatal(err)
	}
	if string(back) != "\r\nx" {
		t.Fatalf("peer read %q, want %q", back, "\r\nx")
	}

	// A timeout is an error, not (0, nil).
	if err := p.SetReadTimeout(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	n, err := p.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing to read: n=%d err=%v, want os.ErrDeadlineExceeded", n, err)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open("/dev/does-not-exist-pinion", drivers.SerialMode{})
	if err == nil {
		t.Fatal("opening a missing port succeeded")
	}
	if want := "/dev/does-not-exist-pinion"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name the port", err)
	}
	m, path, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := Open(path, drivers.SerialMode{StopBits: 3}); err == nil || !strings.Contains(err.Error(), "stop bits") {
		t.Fatalf("3 stop bits: err=%v, want a stop-bits error", err)
	}
}

func TestClosedPortRefusesUse(t *testing.T) {
	m, path, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := Open(path, drivers.SerialMode{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	uses := []struct {
		name string
		use  func() error
	}{
		{"Write", func() error { _, err := p.Write([]byte("x")); return err }},
		{"SetReadTimeout", func() error { return p.SetReadTimeout(time.Second) }},
		{"ResetInputBuffer", p.ResetInputBuffer},
	}
	for _, u := range uses {
		if err := u.use(); !errors.Is(err, fs.ErrClosed) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s after Close: err = %v, want fs.ErrClosed naming the port", u.name, err)
		}
	}
	if _, err := p.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}
}

func TestModeString(t *testing.T) {
	tests := []struct {
		mode drivers.SerialMode
		want string
	}{
		{drivers.SerialMode{}, "9600 8N1"},
		{drivers.SerialMode{BaudRate: 115200, DataBits: 7, Parity: drivers.ParityEven, StopBits: 2}, "115200 7E2"},
		{drivers.SerialMode{Parity: drivers.ParityOdd}, "9600 8O1"},
		{drivers.SerialMode{Parity: 7}, "9600 8?1"},
	}
	for _, tt := range tests {
		if got := ModeString(tt.mode); got != tt.want {
			t.Errorf("ModeString(%+v) = %q, want %q", tt.mode, got, tt.want)
		}
	}
}
