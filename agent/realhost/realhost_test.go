package realhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/driver"
	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/physic"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/internal/serialport"
)

// namedPin is a line that only has a name; gpio.INVALID fails every other
// call, which these tests never make.
type namedPin struct {
	gpio.PinIO
	n string
}

func (p namedPin) Name() string   { return p.n }
func (p namedPin) String() string { return p.n }

func pins(names ...string) []gpio.PinIO {
	out := make([]gpio.PinIO, len(names))
	for i, n := range names {
		out[i] = namedPin{gpio.INVALID, n}
	}
	return out
}

// fakeRegistry stands in for periph's global registries.
type fakeRegistry struct {
	lines   []gpio.PinIO
	aliases []gpio.PinIO // found by pin, not listed by pins, as in gpioreg
	refs    []*i2creg.Ref
	chips   []ioctlChip
}

func (r fakeRegistry) pin(name string) gpio.PinIO {
	for _, p := range append(r.lines[:len(r.lines):len(r.lines)], r.aliases...) {
		if p.Name() == name {
			return p
		}
	}
	return nil
}
func (r fakeRegistry) pins() []gpio.PinIO   { return r.lines }
func (r fakeRegistry) buses() []*i2creg.Ref { return r.refs }

// chipLine resolves like periph's registry does, over the fake chips.
func (r fakeRegistry) chipLine(p gpio.PinIO) (chipLine, bool) {
	return resolveLine(p, r.chips, isFakeCPUPin)
}

// fakeBus is an I2C bus that notices when two transactions overlap, which
// on real hardware would interleave two devices' bytes on the wire.
type fakeBus struct {
	name     string
	inflight atomic.Int32
	overlaps atomic.Int32
	txs      atomic.Int32
	closes   atomic.Int32
	speed    atomic.Int64
	err      error
}

func (b *fakeBus) String() string { return b.name }

func (b *fakeBus) Tx(addr uint16, w, r []byte) error {
	if b.inflight.Add(1) > 1 {
		b.overlaps.Add(1)
	}
	// Stay inside the transaction long enough for an unserialised
	// caller to walk in.
	for range 20 {
		runtime.Gosched()
	}
	b.txs.Add(1)
	b.inflight.Add(-1)
	return b.err
}

func (b *fakeBus) SetSpeed(f physic.Frequency) error {
	b.speed.Store(int64(f))
	return nil
}

func (b *fakeBus) Close() error {
	b.closes.Add(1)
	return nil
}

// busRefs registers fake buses under periph's sysfs names and aliases, and
// counts how often each is opened.
func busRefs(opens *atomic.Int32, buses map[int]*fakeBus) []*i2creg.Ref {
	var refs []*i2creg.Ref
	for n, b := range buses {
		refs = append(refs, &i2creg.Ref{
			Name:    fmt.Sprintf("/dev/i2c-%d", n),
			Aliases: []string{fmt.Sprintf("I2C%d", n)},
			Number:  n,
			Open: func() (i2c.BusCloser, error) {
				opens.Add(1)
				return b, nil
			},
		})
	}
	return refs
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestI2CSharedBusIsSerialised(t *testing.T) {
	var opens atomic.Int32
	b1, b3 := &fakeBus{name: "I2C1"}, &fakeBus{name: "I2C3"}
	h := newHost(discard(), fakeRegistry{refs: busRefs(&opens, map[int]*fakeBus{1: b1, 3: b3})}, nil)
	defer h.Close()

	// Devices name the bus in every way drivers.ParseI2CBus takes.
	names := []string{"1", "I2C1", "/dev/i2c-1", "i2c1", "i2c-1", "1", "I2C1"}
	const txs = 100
	var wg sync.WaitGroup
	errs := make(chan error, len(names)+1)
	for _, name := range names {
		bus, err := h.I2C(name)
		if err != nil {
			t.Fatalf("I2C(%q): %v", name, err)
		}
		wg.Go(func() {
			for range txs {
				if err := bus.Tx(0x76, []byte{0xd0}, make([]byte, 1)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// A device on another bus is not held up by bus 1's lock, and its
	// transactions are not counted there.
	other, err := h.I2C("3")
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		for range txs {
			if err := other.Tx(0x40, []byte{1}, nil); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Tx: %v", err)
	}
	if n := b1.overlaps.Load(); n != 0 {
		t.Fatalf("%d transactions on bus 1 overlapped; the host must serialise them", n)
	}
	if got, want := b1.txs.Load(), int32(len(names)*txs); got != want {
		t.Fatalf("bus 1 saw %d transactions, want %d", got, want)
	}
	if got := b3.txs.Load(); got != txs {
		t.Fatalf("bus 3 saw %d transactions, want %d", got, txs)
	}
	if got := opens.Load(); got != 2 {
		t.Fatalf("buses opened %d times, want once each (2)", got)
	}
	if got := other.String(); got != "I2C3" {
		t.Fatalf("String() = %q, want I2C3", got)
	}
}

func TestI2CCloseBelongsToHost(t *testing.T) {
	var opens atomic.Int32
	b := &fakeBus{name: "I2C1"}
	h := newHost(discard(), fakeRegistry{refs: busRefs(&opens, map[int]*fakeBus{1: b})}, nil)
	bus, err := h.I2C("1")
	if err != nil {
		t.Fatal(err)
	}
	// A driver that closes what it was given must not close the bus under
	// its neighbours.
	c, ok := bus.(io.Closer)
	if !ok {
		t.Fatal("the host's bus has no Close: a driver written for periph's BusCloser would find none")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("driver-side Close: %v", err)
	}
	if err := bus.Tx(0x76, []byte{0}, nil); err != nil {
		t.Fatalf("Tx after a driver closed its handle: %v", err)
	}
	if err := bus.SetSpeed(400 * physic.KiloHertz); err != nil {
		t.Fatal(err)
	}
	if got := physic.Frequency(b.speed.Load()); got != 400*physic.KiloHertz {
		t.Fatalf("speed %s, want 400kHz passed to the bus", got)
	}
	if n := b.closes.Load(); n != 0 {
		t.Fatalf("bus closed %d times by a driver's Close", n)
	}

	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := b.closes.Load(); n != 1 {
		t.Fatalf("bus closed %d times by the host, want 1", n)
	}
	if err := bus.Tx(0x76, []byte{0}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Tx after host Close: %v, want ErrClosed", err)
	}
	if err := bus.SetSpeed(physic.KiloHertz); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetSpeed after host Close: %v, want ErrClosed", err)
	}
	if _, err := h.I2C("1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("I2C after host Close: %v, want ErrClosed", err)
	}
	if _, err := h.GPIO("GPIO17"); !errors.Is(err, ErrClosed) {
		t.Fatalf("GPIO after host Close: %v, want ErrClosed", err)
	}
}

func TestI2CErrors(t *testing.T) {
	nack := errors.New("sysfs-i2c: remote I/O error")
	var opens atomic.Int32
	withBuses := fakeRegistry{refs: busRefs(&opens, map[int]*fakeBus{1: {name: "I2C1", err: nack}})}
	denied := fakeRegistry{refs: []*i2creg.Ref{{Name: "/dev/i2c-1", Number: 1, Open: func() (i2c.BusCloser, error) {
		return nil, errors.New("sysfs-i2c: open /dev/i2c-1: permission denied")
	}}}}
	tests := []struct {
		name string
		reg  fakeRegistry
		bus  string
		want []string
	}{
		{"bad name", withBuses, "bus1", []string{`"bus1"`, `"I2C1"`}},
		{"leading zero", withBuses, "01", []string{`"01"`}},
		{"provided", withBuses, "mux/1", []string{`"mux/1"`, `device "mux"`, "agent"}},
		{"missing bus", withBuses, "I2C4", []string{`"I2C4"`, "bus 4 not found", "/dev/i2c-1", "raspi-config"}},
		{"no buses", fakeRegistry{}, "1", []string{"no I2C buses", "raspi-config"}},
		{"open fails", denied, "1", []string{"permission denied", "i2c group"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(discard(), tt.reg, nil)
			defer h.Close()
			_, err := h.I2C(tt.bus)
			if err == nil {
				t.Fatal("I2C succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	t.Run("transaction fails", func(t *testing.T) {
		h := newHost(discard(), withBuses, nil)
		defer h.Close()
		bus, err := h.I2C("1")
		if err != nil {
			t.Fatal(err)
		}
		err = bus.Tx(0x76, []byte{0xd0}, make([]byte, 1))
		if !errors.Is(err, nack) || !strings.Contains(err.Error(), "0x76") || !strings.Contains(err.Error(), "I2C1") {
			t.Fatalf("err = %v, want the bus's error wrapped with the bus and the address", err)
		}
	})
}

func TestGPIO(t *testing.T) {
	var many []string
	for i := range 30 {
		many = append(many, fmt.Sprintf("GPIO%d", i))
	}
	pi := fakeRegistry{lines: pins(append([]string{"ID_SDA", "SDA1"}, many...)...)}
	tests := []struct {
		name string
		reg  fakeRegistry
		line string
		want []string // substrings of the error; nil for success
	}{
		{name: "by name", reg: pi, line: "GPIO17"},
		{name: "other name", reg: pi, line: "ID_SDA"},
		{name: "bare number", reg: pi, line: "17", want: []string{`"17"`, `"GPIO17"`, "ambiguous"}},
		{name: "empty", reg: pi, line: "", want: []string{"no line name", `"GPIO17"`}},
		{name: "wrong case", reg: pi, line: "gpio17", want: []string{`"gpio17"`, `did you mean "GPIO17"`}},
		{name: "unknown", reg: pi, line: "GPIO99",
			want: []string{`"GPIO99"`, "GPIO0, GPIO1, GPIO2, GPIO3, GPIO4, GPIO5, GPIO6, GPIO7, … (32 in all)", "gpioinfo"}},
		{name: "unknown on a small chip", reg: fakeRegistry{lines: pins("LED", "GPIO10", "GPIO2")}, line: "GPIO3",
			want: []string{"include GPIO2, GPIO10, LED;", "gpioinfo"}},
		{name: "no lines", reg: fakeRegistry{}, line: "GPIO17", want: []string{"no GPIO lines", "gpio group", "gpioinfo"}},
		{name: "provided", reg: pi, line: "relays/GPA0", want: []string{`"relays/GPA0"`, `device "relays"`, "agent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(discard(), tt.reg, nil)
			defer h.Close()
			p, err := h.GPIO(tt.line)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if p.Name() != tt.line {
					t.Fatalf("GPIO(%q) returned line %q", tt.line, p.Name())
				}
				return
			}
			if err == nil {
				t.Fatalf("GPIO(%q) succeeded", tt.line)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

type fakeDriver string

func (d fakeDriver) String() string          { return string(d) }
func (d fakeDriver) Prerequisites() []string { return nil }
func (d fakeDriver) After() []string         { return nil }
func (d fakeDriver) Init() (bool, error)     { return true, nil }

func TestLogState(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logState(log, &driverreg.State{
		Loaded:  []driver.Impl{fakeDriver("ioctl-gpio")},
		Skipped: []driverreg.DriverFailure{{D: fakeDriver("sysfs-spi"), Err: errors.New("no SPI port found")}},
		Failed:  []driverreg.DriverFailure{{D: fakeDriver("rpi"), Err: errors.New("rpi: unknown hardware version")}},
	})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=DEBUG msg="periph driver loaded" driver=ioctl-gpio`,
		`level=DEBUG msg="periph driver skipped" driver=sysfs-spi reason="no SPI port found"`,
		`level=WARN msg="periph driver failed; the hardware it serves is unavailable" driver=rpi err="rpi: unknown hardware version"`,
	}
	if len(lines) != len(want) {
		t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %s\nwant it to contain %s", i, lines[i], w)
		}
	}
}

// TestNewOnThisMachine runs the real periph initialisation. On a machine
// without GPIO chips or I2C buses (CI, a VM) New must still succeed, and
// asking for hardware gives the error that tells the user why.
func TestNewOnThisMachine(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := New(log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer h.Close()
	if !strings.Contains(buf.String(), "periph driver") {
		t.Errorf("New logged nothing about periph's drivers:\n%s", buf.String())
	}

	_, err = h.GPIO("GPIO17")
	switch {
	case len(gpioreg.All()) == 0:
		if err == nil || !strings.Contains(err.Error(), "no GPIO lines") || !strings.Contains(err.Error(), "gpioinfo") {
			t.Errorf("GPIO17 on a machine without lines: err = %v, want the no-lines hint", err)
		}
	case gpioreg.ByName("GPIO17") != nil && err != nil:
		t.Errorf("GPIO17 is registered but GPIO failed: %v", err)
	}
	_, err = h.I2C("1")
	if len(i2creg.All()) == 0 && (err == nil || !strings.Contains(err.Error(), "no I2C buses")) {
		t.Errorf("I2C 1 on a machine without buses: err = %v, want the no-buses hint", err)
	}

	if _, err := h.ReadFile("/proc/loadavg"); err != nil {
		t.Errorf("ReadFile(/proc/loadavg): %v", err)
	}
	if _, err := os.Stat("/sys/bus/w1/devices"); err != nil {
		if _, err := h.OneWire("w1"); err == nil || !strings.Contains(err.Error(), "dtoverlay=w1-gpio") {
			t.Errorf("OneWire on a machine without w1: err = %v, want the overlay hint", err)
		}
	}
	if m, _ := filepath.Glob("/sys/class/pwm/pwmchip*"); len(m) == 0 {
		if _, err := h.PWM("GPIO18"); err == nil || !strings.Contains(err.Error(), "no PWM controller") {
			t.Errorf("PWM on a machine without PWM: err = %v, want the no-controller hint", err)
		}
	}

	if h.Logger() != log {
		t.Error("Logger() is not the logger New was given")
	}
	if _, ok := h.Clock().(drivers.SystemClock); !ok {
		t.Errorf("Clock() = %T, want drivers.SystemClock", h.Clock())
	}
}

func TestSerialOverPTY(t *testing.T) {
	peer, path, err := serialport.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	h := newHost(discard(), fakeRegistry{}, nil)
	p, err := h.Serial(path, drivers.SerialMode{BaudRate: 9600})
	if err != nil {
		t.Fatalf("Serial(%s): %v", path, err)
	}
	if err := p.SetReadTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write([]byte{0xff, 0x01, 0x86}); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3)
	if _, err := io.ReadFull(p, got); err != nil || !bytes.Equal(got, []byte{0xff, 0x01, 0x86}) {
		t.Fatalf("read %x, %v; want ff0186", got, err)
	}
	if _, err := p.Write([]byte("PING\n")); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, 5)
	if _, err := io.ReadFull(peer, back); err != nil || string(back) != "PING\n" {
		t.Fatalf("peer read %q, %v; want PING", back, err)
	}

	// The host closes a port its driver left open, and the port refuses
	// to write to the closed descriptor afterwards.
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after host Close: %v, want ErrClosed", err)
	}
	if _, err := p.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read after host Close succeeded")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("driver Close after host Close: %v", err)
	}
	if _, err := h.Serial(path, drivers.SerialMode{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serial after host Close: %v, want ErrClosed", err)
	}
}

func TestSerialReleasedByDriver(t *testing.T) {
	peer, path, err := serialport.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	h := newHost(discard(), fakeRegistry{}, nil)
	defer h.Close()

	// A driver reopening its port after every failure must not make the
	// host hold on to every port it ever opened.
	for range 3 {
		p, err := h.Serial(path, drivers.SerialMode{})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	h.mu.Lock()
	n := len(h.ports)
	h.mu.Unlock()
	if n != 0 {
		t.Fatalf("host tracks %d ports after the driver closed them all", n)
	}
}

func TestSerialErrors(t *testing.T) {
	h := newHost(discard(), fakeRegistry{}, nil)
	defer h.Close()
	if _, err := h.Serial("", drivers.SerialMode{}); err == nil || !strings.Contains(err.Error(), "/dev/serial0") {
		t.Fatalf("empty path: err = %v, want one showing an example path", err)
	}
	const missing = "/dev/ttyPINION-missing"
	if _, err := os.Stat(missing); err == nil {
		t.Fatalf("%s exists on this machine; the test needs it not to", missing)
	}
	_, err := h.Serial(missing, drivers.SerialMode{})
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing port: err = %v, want one naming %s", err, missing)
	}
}

// TestSharedSerial runs two devices' transactions on one line over a
// pseudo-terminal whose far end echoes, then closes the host under them.
func TestSharedSerial(t *testing.T) {
	peer, path, err := serialport.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	go func() { _, _ = io.Copy(peer, peer) }()

	h := newHost(discard(), fakeRegistry{}, nil)
	mode := drivers.SerialMode{BaudRate: 19200, Parity: drivers.ParityEven}
	a, err := drivers.SharedSerial(h, path, mode)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.SharedSerial(path, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.SharedSerial(path, drivers.SerialMode{}); err == nil || !strings.Contains(err.Error(), "19200 8E1") {
		t.Fatalf("a device asking for another mode: err = %v, want both modes named", err)
	}
	for _, c := range []struct {
		p   drivers.SharedPort
		msg string
	}{{a, "unit 1"}, {b, "unit 2"}} {
		err := c.p.Transact(context.Background(), func(p drivers.Port) error {
			if err := p.SetReadTimeout(5 * time.Second); err != nil {
				return err
			}
			if _, err := p.Write([]byte(c.msg)); err != nil {
				return err
			}
			got := make([]byte, len(c.msg))
			if _, err := io.ReadFull(p, got); err != nil {
				return err
			}
			if string(got) != c.msg {
				return fmt.Errorf("read %q, want %q", got, c.msg)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", c.msg, err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Transact(context.Background(), func(drivers.Port) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Transact after host Close: %v, want ErrClosed", err)
	}
	if _, err := h.SharedSerial(path, mode); !errors.Is(err, ErrClosed) {
		t.Fatalf("SharedSerial after host Close: %v, want ErrClosed", err)
	}
}
