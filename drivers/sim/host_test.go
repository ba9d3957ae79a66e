package sim_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
)

// fakeClock is a drivers.Clock that moves only when the test advances it.
type fakeClock struct{ *clockwork.FakeClock }

func newFakeClock() fakeClock {
	return fakeClock{clockwork.NewFakeClockAt(time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC))}
}

func (c fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleepers waits until n goroutines sleep on c.
func (c fakeClock) sleepers(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := c.BlockUntilContext(ctx, n); err != nil {
		t.Fatalf("waiting for %d sleepers on the fake clock: %v", n, err)
	}
}

func newHost(t *testing.T) *sim.Host {
	t.Helper()
	h := sim.NewHost(nil)
	t.Cleanup(func() { h.Close() })
	return h
}

// TestCapabilities checks that drivers reach every capability through the
// drivers functions.
func TestCapabilities(t *testing.T) {
	h := newHost(t)
	if err := h.AddI2CChip("1", 0x76, sim.NewBME280(nil)); err != nil {
		t.Fatal(err)
	}
	if err := h.AddOneWireDevice("w1", "28-0316a2796aff", map[string][]byte{"temperature": []byte("21500\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.AddSerialPeer("/dev/serial0", sim.NewMHZ19(nil)); err != nil {
		t.Fatal(err)
	}
	h.SetFile("/proc/loadavg", []byte("0.10 0.20 0.30 1/100 42\n"))
	uses := []struct {
		name string
		use  func() error
	}{
		{"GPIO", func() error { _, err := drivers.GPIO(h, "GPIO17"); return err }},
		{"PWM", func() error { _, err := drivers.PWM(h, "GPIO18"); return err }},
		{"I2C", func() error { _, err := drivers.I2C(h, "I2C1"); return err }},
		{"OneWire", func() error { _, err := drivers.OneWire(h, "w1"); return err }},
		{"ReadFile", func() error { _, err := drivers.ReadFile(h, "/proc/loadavg"); return err }},
		{"Serial", func() error {
			p, err := drivers.Serial(h, "/dev/serial0", drivers.SerialMode{})
			if err == nil {
				p.Close()
			}
			return err
		}},
		{"SharedSerial", func() error {
			p, err := drivers.SharedSerial(h, "/dev/serial0", drivers.SerialMode{})
			if err == nil {
				p.Close()
			}
			return err
		}},
	}
	for _, u := range uses {
		if err := u.use(); err != nil {
			t.Errorf("%s: %v", u.name, err)
		}
	}
}

func TestI2CBusNames(t *testing.T) {
	h := newHost(t)
	chip := sim.NewBME280(nil)
	if err := h.AddI2CChip("/dev/i2c-1", 0x76, chip); err != nil {
		t.Fatal(err)
	}
	// Every spelling drivers.ParseI2CBus takes reaches the one bus.
	for _, name := range []string{"1", "I2C1", "i2c1", "i2c-1", "/dev/i2c-1"} {
		b, err := h.I2C(name)
		if err != nil {
			t.Errorf("I2C(%q): %v", name, err)
			continue
		}
		id := make([]byte, 1)
		if err := b.Tx(0x76, []byte{0xd0}, id); err != nil || id[0] != 0x60 {
			t.Errorf("I2C(%q): chip id %#x, %v; want 0x60 from the chip on bus 1", name, id[0], err)
		}
		if b.String() != "I2C1" {
			t.Errorf("I2C(%q).String() = %q, want I2C1", name, b.String())
		}
		if h.I2CChip(name, 0x76) != sim.Chip(chip) {
			t.Errorf("I2CChip(%q, 0x76) is not the chip attached", name)
		}
	}
	tests := []struct {
		name string
		want []string
	}{
		{"bus1", []string{`"bus1"`, `"I2C1"`}},
		{"01", []string{`"01"`}},
		{"", []string{`""`}},
		{"2", []string{`"2"`, "attach a chip"}},
		{"mux/0", []string{`"mux/0"`, `device "mux"`}},
	}
	for _, tt := range tests {
		_, err := h.I2C(tt.name)
		if err == nil {
			t.Errorf("I2C(%q) succeeded", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("I2C(%q): error %q does not contain %q", tt.name, err, w)
			}
		}
		if tt.name != "2" {
			if err := h.AddI2CChip(tt.name, 0x40, sim.NewBME280(nil)); err == nil {
				t.Errorf("AddI2CChip(%q) succeeded", tt.name)
			}
		}
	}
}

func TestProvidedLines(t *testing.T) {
	h := newHost(t)
	_, err := h.GPIO("relays/GPA0")
	if err == nil || !strings.Contains(err.Error(), `device "relays"`) {
		t.Fatalf("GPIO(relays/GPA0): err = %v, want one saying device relays provides it", err)
	}
}

func TestReadFile(t *testing.T) {
	h := newHost(t)
	h.SetFile("/proc/loadavg", []byte("0.10 0.20 0.30 1/100 42\n"))
	h.SetFile("/sys/class/thermal/thermal_zone0/temp", []byte("48312\n"))
	h.SetFile("/sys/empty", []byte{})
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr error
	}{
		{name: "a file", path: "/proc/loadavg", want: "0.10 0.20 0.30 1/100 42\n"},
		{name: "nested", path: "/sys/class/thermal/thermal_zone0/temp", want: "48312\n"},
		{name: "empty", path: "/sys/empty", want: ""},
		{name: "cleaned", path: "/sys/class/../class/./thermal//thermal_zone0/temp", want: "48312\n"},
		{name: "missing", path: "/proc/uptime", wantErr: syscall.ENOENT},
		{name: "a directory", path: "/sys/class/thermal", wantErr: syscall.EISDIR},
		{name: "the root of /sys", path: "/sys", wantErr: syscall.EISDIR},
		{name: "outside", path: "/etc/passwd", wantErr: fs.ErrPermission},
		{name: "out by dot-dot", path: "/proc/../etc/passwd", wantErr: fs.ErrPermission},
		{name: "a prefix only", path: "/process", wantErr: fs.ErrPermission},
		{name: "relative", path: "proc/loadavg", wantErr: fs.ErrPermission},
		{name: "empty path", path: "", wantErr: fs.ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := drivers.ReadFile(h, tt.path)
			if tt.wantErr == nil {
				if err != nil || string(got) != tt.want {
					t.Fatalf("ReadFile(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadFile(%q): err = %v, want %v", tt.path, err, tt.wantErr)
			}
			if tt.wantErr == fs.ErrPermission && !strings.Contains(err.Error(), "below /proc") {
				t.Errorf("refusal %q does not say what may be read", err)
			}
			if tt.wantErr == syscall.ENOENT && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("missing file: %v does not match fs.ErrNotExist", err)
			}
		})
	}

	// The host keeps its own copy, and hands out copies.
	content := []byte("1\n")
	h.SetFile("/sys/x", content)
	content[0] = '2'
	b, _ := h.ReadFile("/sys/x")
	b[0] = '3'
	if b, _ := h.ReadFile("/sys/x"); string(b) != "1\n" {
		t.Errorf("the file reads %q after the caller changed its slices, want 1", b)
	}
	h.RemoveFile("/sys/x")
	if _, err := h.ReadFile("/sys/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removed file: err = %v, want fs.ErrNotExist", err)
	}
	h.RemoveFile("/sys/x") // not there: nothing happens
}

func TestSetFileRefuses(t *testing.T) {
	tests := []struct {
		name, path, want string
	}{
		{"outside", "/etc/hostname", "/proc and /sys"},
		{"relative", "sys/x", "absolute"},
		{"the root", "/proc", "directory"},
		{"over a directory", "/sys/class", "directory"},
		{"under a file", "/proc/loadavg/x", "/proc/loadavg is a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			h.SetFile("/sys/class/x", []byte("1"))
			h.SetFile("/proc/loadavg", []byte("1"))
			defer func() {
				r := recover()
				if r == nil {
					t.Fatalf("SetFile(%q) did not panic", tt.path)
				}
				if s, _ := r.(string); !strings.Contains(s, tt.want) || !strings.Contains(s, tt.path) {
					t.Fatalf("SetFile(%q) panicked with %v, want it to name the path and say %q", tt.path, r, tt.want)
				}
			}()
			h.SetFile(tt.path, []byte("x"))
		})
	}
}

// FuzzReadFile checks the path rule with an oracle: a path reads a file
// exactly when, cleaned, it is one of the files set, and it is refused
// exactly when, cleaned, it is not below /proc or /sys.
func FuzzReadFile(f *testing.F) {
	for _, s := range []string{"/proc/loadavg", "/proc/../etc/passwd", "/sys/a/b", "proc", "/sys/./a//b/", "/", "//proc/loadavg", "/proc\x00/x"} {
		f.Add(s)
	}
	h := sim.NewHost(nil)
	defer h.Close()
	set := map[string]bool{"/proc/loadavg": true, "/sys/a/b": true}
	for p := range set {
		h.SetFile(p, []byte(p))
	}
	f.Fuzz(func(t *testing.T, name string) {
		b, err := h.ReadFile(name)
		clean := path.Clean(name)
		below := strings.HasPrefix(name, "/") && (clean == "/proc" || clean == "/sys" || strings.HasPrefix(clean, "/proc/") || strings.HasPrefix(clean, "/sys/"))
		switch {
		case set[clean] && below:
			if err != nil || string(b) != clean {
				t.Fatalf("ReadFile(%q) = %q, %v; want the file %s", name, b, err, clean)
			}
		case !below:
			if !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("ReadFile(%q): err = %v, want it refused", name, err)
			}
		default:
			if err == nil || errors.Is(err, fs.ErrPermission) {
				t.Fatalf("ReadFile(%q) = %q, %v; want a not-found or directory error", name, b, err)
			}
		}
	})
}

func TestOneWire(t *testing.T) {
	h := newHost(t)
	if _, err := drivers.OneWire(h, "w1"); err == nil || !strings.Contains(err.Error(), "AddOneWireDevice") {
		t.Fatalf("OneWire before any device: err = %v, want one saying to add a device", err)
	}
	const a, b = "28-0316a2796aff", "10-000802b4c8a1"
	if err := h.AddOneWireDevice("w1", a, map[string][]byte{"temperature": []byte("21500\n"), "w1_slave": []byte("... t=21500\n")}); err != nil {
		t.Fatal(err)
	}
	if err := h.AddOneWireDevice("w1", b, nil); err != nil {
		t.Fatal(err)
	}
	bus, err := drivers.OneWire(h, "w1")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := bus.Devices()
	if err != nil || !slices.Equal(ids, []string{b, a}) {
		t.Fatalf("Devices() = %v, %v; want [%s %s], sorted", ids, err, b, a)
	}
	got, err := bus.Read(a, "temperature")
	if err != nil || string(got) != "21500\n" {
		t.Fatalf("Read(temperature) = %q, %v", got, err)
	}
	// The same attribute, as the kernel's sysfs file.
	if got, err := h.ReadFile("/sys/bus/w1/devices/" + a + "/temperature"); err != nil || string(got) != "21500\n" {
		t.Fatalf("ReadFile of the attribute = %q, %v", got, err)
	}
	if _, err := h.ReadFile("/sys/bus/w1/devices/" + a); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("ReadFile of the device's directory: err = %v, want EISDIR", err)
	}
	if err := h.SetOneWireAttr("w1", a, "temperature", []byte("22000\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := bus.Read(a, "temperature"); string(got) != "22000\n" {
		t.Errorf("after SetOneWireAttr: %q, want 22000", got)
	}
	if err := h.SetOneWireAttr("w1", a, "temperature", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Read(a, "temperature"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "/sys/bus/w1/devices/"+a+"/temperature") {
		t.Errorf("removed attribute: err = %v, want not found naming the sysfs file", err)
	}
	if err := h.RemoveOneWireDevice("w1", a); err != nil {
		t.Fatal(err)
	}
	if ids, _ := bus.Devices(); !slices.Equal(ids, []string{b}) {
		t.Errorf("after unplugging %s: Devices() = %v", a, ids)
	}
	if _, err := bus.Read(a, "w1_slave"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unplugged device: err = %v, want not found", err)
	}

	errs := []struct {
		name string
		do   func() error
		want string
	}{
		{"another bus", func() error { _, err := h.OneWire("w2"); return err }, `"w1"`},
		{"a provided bus", func() error { _, err := h.OneWire("hub/0"); return err }, `device "hub"`},
		{"add on another bus", func() error { return h.AddOneWireDevice("w2", a, nil) }, `"w1"`},
		{"bad id", func() error { return h.AddOneWireDevice("w1", "28-XYZ", nil) }, "28-0316a2796aff"},
		{"upper-case id", func() error { return h.AddOneWireDevice("w1", "28-0316A2796AFF", nil) }, "lower-case"},
		{"duplicate", func() error { return h.AddOneWireDevice("w1", b, nil) }, "already"},
		{"bad attribute", func() error { return h.AddOneWireDevice("w1", a, map[string][]byte{"../x": nil}) }, "slashes"},
		{"set on a missing device", func() error { return h.SetOneWireAttr("w1", a, "temperature", []byte("1")) }, "no device"},
		{"remove a missing device", func() error { return h.RemoveOneWireDevice("w1", a) }, "no device"},
		{"read a path", func() error { _, err := bus.Read(b, "../"+b+"/x"); return err }, "slashes"},
		{"read an empty id", func() error { _, err := bus.Read("", "temperature"); return err }, "slashes"},
	}
	for _, e := range errs {
		if err := e.do(); err == nil || !strings.Contains(err.Error(), e.want) {
			t.Errorf("%s: err = %v, want one containing %q", e.name, err, e.want)
		}
	}
}

// TestSharedSerial runs two devices on one simulated line: both reach the
// peer, each with its own transactions.
func TestSharedSerial(t *testing.T) {
	h := newHost(t)
	if _, err := h.AddSerialPeer("/dev/ttyUSB0", newSerialEcho()); err != nil {
		t.Fatal(err)
	}
	a, err := h.SharedSerial("/dev/ttyUSB0", drivers.SerialMode{BaudRate: 19200, Parity: drivers.ParityEven})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := h.SharedSerial("/dev/ttyUSB0", drivers.SerialMode{BaudRate: 19200, Parity: drivers.ParityEven})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := h.SharedSerial("/dev/ttyUSB0", drivers.SerialMode{}); err == nil || !strings.Contains(err.Error(), "19200 8E1") {
		t.Fatalf("a third device with another mode: err = %v, want the modes named", err)
	}
	for _, c := range []struct {
		p   drivers.SharedPort
		msg string
	}{{a, "unit 1"}, {b, "unit 2"}, {a, "unit 1 again"}} {
		err := c.p.Transact(context.Background(), func(p drivers.Port) error {
			if err := p.SetReadTimeout(deadline); err != nil {
				return err
			}
			if _, err := p.Write([]byte(c.msg)); err != nil {
				return err
			}
			got := make([]byte, len(c.msg))
			if _, err := io.ReadFull(p, got); err != nil {
				return err
			}
			if want := bytes.ToUpper([]byte(c.msg)); !bytes.Equal(got, want) {
				t.Errorf("%s got %q, want %q", c.msg, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", c.msg, err)
		}
	}
	if _, err := h.SharedSerial("/dev/ttyUSB9", drivers.SerialMode{}); err == nil || !strings.Contains(err.Error(), "no such port") {
		t.Fatalf("a line with no peer: err = %v", err)
	}
}

// TestSharedSerialAfterClose checks that closing the host ends its shared
// lines.
func TestSharedSerialAfterClose(t *testing.T) {
	h := sim.NewHost(nil)
	if _, err := h.AddSerialPeer("/dev/ttyUSB0", newSerialEcho()); err != nil {
		t.Fatal(err)
	}
	p, err := h.SharedSerial("/dev/ttyUSB0", drivers.SerialMode{})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Transact(context.Background(), func(drivers.Port) error { return nil }); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Transact after the host closed: err = %v", err)
	}
	if _, err := h.SharedSerial("/dev/ttyUSB0", drivers.SerialMode{}); err == nil {
		t.Fatal("SharedSerial after the host closed succeeded")
	}
}

func TestSetClock(t *testing.T) {
	h := newHost(t)
	if _, ok := h.Clock().(drivers.SystemClock); !ok {
		t.Fatalf("a new host's clock is %T, want the wall clock", h.Clock())
	}
	clk := newFakeClock()
	h.SetClock(clk)
	if h.Clock() != drivers.Clock(clk) {
		t.Fatal("Clock() is not the clock set")
	}

	// Line changes are timed by the host's clock.
	l := h.Line("GPIO5")
	if err := l.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	if at := l.History()[0].At; !at.Equal(clk.Now()) {
		t.Errorf("change at %v, want the fake clock's %v", at, clk.Now())
	}

	// Toggle waits on the host's clock.
	door := h.Line("GPIO22")
	if err := door.In(gpio.PullUp, gpio.NoEdge); err != nil {
		t.Fatal(err)
	}
	if err := h.Toggle("GPIO22", time.Minute); err != nil {
		t.Fatal(err)
	}
	for i, want := range []gpio.Level{gpio.Low, gpio.High, gpio.Low} {
		clk.sleepers(t, 1)
		clk.Advance(time.Minute)
		clk.sleepers(t, 1) // toggled, and asleep again
		if got := door.Level(); got != want {
			t.Fatalf("after %d minutes the door reads %v, want %v", i+1, got, want)
		}
	}
	hist := door.History()[1:] // after the pull-up's
	if len(hist) != 3 || !hist[0].At.Equal(clk.Now().Add(-2*time.Minute)) || !hist[2].At.Equal(clk.Now()) {
		t.Errorf("door history %+v, want 3 toggles a minute apart, the last at %v", hist, clk.Now())
	}

	h.SetClock(nil)
	if _, ok := h.Clock().(drivers.SystemClock); !ok {
		t.Errorf("SetClock(nil) left %T, want the wall clock back", h.Clock())
	}
}

func TestUseMachineFiles(t *testing.T) {
	h := newHost(t)
	if _, err := h.ReadFile("/proc/loadavg"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("before UseMachineFiles: err = %v, want no such file on the simulated machine", err)
	}
	h.UseMachineFiles()
	b, err := h.ReadFile("/proc/loadavg")
	if err != nil || len(bytes.Fields(b)) != 5 {
		t.Fatalf("/proc/loadavg of this machine = %q, %v; want its five fields", b, err)
	}
	h.SetFile("/proc/loadavg", []byte("9.99 9.99 9.99 1/1 1\n"))
	if b, _ := h.ReadFile("/proc/loadavg"); string(b) != "9.99 9.99 9.99 1/1 1\n" {
		t.Errorf("a file set wins over the machine's: read %q", b)
	}
	if _, err := h.ReadFile("/proc/self/root/etc/hostname"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("/proc/self/root/etc/hostname: err = %v, want it refused: the link leads out of /proc", err)
	}
	if _, err := h.ReadFile("/proc/no-such-file-pinion"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file this machine lacks: err = %v, want fs.ErrNotExist", err)
	}
}
