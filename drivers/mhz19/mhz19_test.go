package mhz19

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/serialport"
)

// waitLimit bounds every wait in these tests; it only decides when a test
// gives up, never how fast something must be.
const waitLimit = 10 * time.Second

// co2Knob is a CO2Source a test turns while the sensor runs.
type co2Knob struct{ bits atomic.Uint64 }

func newKnob(ppm float64) *co2Knob {
	k := &co2Knob{}
	k.Set(ppm)
	return k
}

func (k *co2Knob) Set(ppm float64)       { k.bits.Store(math.Float64bits(ppm)) }
func (k *co2Knob) PPM(time.Time) float64 { return math.Float64frombits(k.bits.Load()) }

// openSensor attaches a simulated MH-Z19 at /dev/serial0 of a simulated
// host, over a real pty, and opens a driver on it configured by snippet.
func openSensor(t *testing.T, snippet string, co2 sim.CO2Source) (*Device, *sim.MHZ19) {
	t.Helper()
	h := drivertest.Host(t)
	return openSensorOn(t, h, h, snippet, co2)
}

// openSensorOn is openSensor on board h, with the driver opened through
// host (h itself, or a wrapper of it).
func openSensorOn(t *testing.T, h *sim.Host, host drivers.Host, snippet string, co2 sim.CO2Source) (*Device, *sim.MHZ19) {
	t.Helper()
	peer := sim.NewMHZ19(co2)
	if _, err := h.AddSerialPeer("/dev/serial0", peer); err != nil {
		t.Fatal(err)
	}
	dev, err := New(drivertest.Config(t, "test", snippet))
	if err != nil {
		t.Fatal(err)
	}
	d := dev.(*Device)
	if err := d.Open(context.Background(), host); err != nil {
		t.Fatalf("Open: %v", err)
	}
	// Registered after h.Close, so it runs first: the port closes before
	// the simulation stops.
	t.Cleanup(func() { d.Close() })
	return d, peer
}

// mustRead reads and returns the CO₂ and temperature values.
func mustRead(t *testing.T, d *Device) (ppm, tempC float64) {
	t.Helper()
	rs, err := d.Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return values(t, rs)
}

func values(t *testing.T, rs []drivers.Reading) (ppm, tempC float64) {
	t.Helper()
	if len(rs) != 2 {
		t.Fatalf("Read returned %d readings, want 2: %v", len(rs), rs)
	}
	for _, r := range rs {
		switch {
		case r.Entity == EntityCO2 && r.Value.Kind == drivers.ValueNumber && r.Value.Unit == drivers.PPM:
			ppm = r.Value.Num
		case r.Entity == EntityTemperature && r.Value.Kind == drivers.ValueNumber && r.Value.Unit == drivers.Celsius:
			tempC = r.Value.Num
		default:
			t.Fatalf("unexpected reading %s = %v", r.Entity, r.Value)
		}
	}
	return ppm, tempC
}

func TestReadMatchesSensor(t *testing.T) {
	knob := newKnob(0)
	d, peer := openSensor(t, `port = "/dev/serial0"`, knob)
	tests := []struct {
		ppm, temp         float64
		wantPPM, wantTemp float64
	}{
		{420, 21, 420, 21},
		{873, 23, 873, 23},
		{255, 0, 255, 0},
		{256, -5, 256, -5},       // the high byte carries
		{1234.4, 30.4, 1234, 30}, // the sensor reports whole ppm and °C
		{4999, 45, 4999, 45},
		{7000, 24, 5000, 24}, // saturates at the 5000 ppm range
	}
	for _, tt := range tests {
		knob.Set(tt.ppm)
		peer.SetTemperature(tt.temp)
		ppm, temp := mustRead(t, d)
		if ppm != tt.wantPPM || temp != tt.wantTemp {
			t.Errorf("air %v ppm at %v °C: read %v ppm, %v °C; want %v ppm, %v °C", tt.ppm, tt.temp, ppm, temp, tt.wantPPM, tt.wantTemp)
		}
	}
}

func TestReadStaticCO2(t *testing.T) {
	d, _ := openSensor(t, `port = "/dev/serial0"`, sim.StaticCO2(612))
	for range 3 {
		if ppm, temp := mustRead(t, d); ppm != 612 || temp != 24 {
			t.Fatalf("read %v ppm %v °C, want 612 ppm 24 °C (the simulated sensor's default)", ppm, temp)
		}
	}
}

func TestReadCorruptThenRecover(t *testing.T) {
	d, peer := openSensor(t, `port = "/dev/serial0"`, sim.StaticCO2(800))
	peer.Corrupt(true)
	_, err := d.Read(context.Background())
	if err == nil {
		t.Fatal("Read of a corrupted reply succeeded")
	}
	for _, want := range []string{`mhz19 "test": read: checksum mismatch: got 0x`, ", want 0x", "check the wiring"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	peer.Corrupt(false)
	if ppm, _ := mustRead(t, d); ppm != 800 {
		t.Fatalf("after recovery read %v ppm, want 800", ppm)
	}
}

func TestReadSilenceThenRecover(t *testing.T) {
	d, peer := openSensor(t, `port = "/dev/serial0"`, sim.StaticCO2(650))
	peer.Silence(true)
	_, err := d.Read(context.Background())
	want := `mhz19 "test": read: no answer within 1s (check wiring TX↔RX and 5V supply)`
	if err == nil || err.Error() != want {
		t.Fatalf("Read of a silent sensor: err = %v, want %q", err, want)
	}
	peer.Silence(false)
	if ppm, _ := mustRead(t, d); ppm != 650 {
		t.Fatalf("after recovery read %v ppm, want 650", ppm)
	}
}

func TestReadResyncsAfterNoise(t *testing.T) {
	d, peer := openSensor(t, `port = "/dev/serial0"`, sim.StaticCO2(1500))
	tests := []struct {
		name  string
		noise []byte
	}{
		{"bytes without a start byte", []byte{0x00, 0x12, 0x86, 0xfe, 0x7f}},
		{"a stray start byte", []byte{0xff, 0x42}},
		{"half a reply", []byte{0xff, 0x86, 0x01, 0x02}},
		{"a reply to another command", hexFrame("ff 99 01 00 00 00 00 00 66")},
		{"many start bytes", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		peer.Noise(tt.noise)
		rs, err := d.Read(context.Background())
		if err != nil {
			t.Errorf("%s before the reply: %v", tt.name, err)
			continue
		}
		if ppm, _ := values(t, rs); ppm != 1500 {
			t.Errorf("%s before the reply: read %v ppm, want 1500", tt.name, ppm)
		}
	}
}

// TestNoReplyExplains checks what a read that found no reply says, for
// each thing the line may have carried instead.
func TestNoReplyExplains(t *testing.T) {
	tests := []struct {
		name string
		line []byte
		want string
	}{
		{"nothing", nil, "no answer within 1s (check wiring TX↔RX and 5V supply)"},
		{"half a reply", []byte{0xff, 0x86, 0x01}, "incomplete answer within 1s: 3 of 9 bytes (check the wiring and the 5V supply)"},
		{"noise", []byte{0x12, 0x00, 0xfe}, "no answer within 1s: 3 bytes of noise without a 0xff start byte (check the baud rate is 9600"},
		{"damaged reply", hexFrame("ff 86 02 20 00 00 00 00 59"), "checksum mismatch: got 0x59, want 0x58 (frame ff 86 02 20 00 00 00 00 59); noise on the line"},
		{"reply to another command", hexFrame("ff 99 01 00 00 00 00 00 66"), "no answer within 1s, only a reply to another command: command byte 0x99, want 0x86"},
	}
	d := &Device{timeout: replyTimeout}
	for _, tt := range tests {
		var s scanner
		s.add(tt.line)
		if _, ok := s.next(); ok {
			t.Fatalf("%s: the scanner found a reply in % x", tt.name, tt.line)
		}
		if got := d.noReply(&s).Error(); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: %q, want it to start with %q", tt.name, got, tt.want)
		}
	}
}

// TestReadDropsLateReply checks that a reply arriving after its read gave
// up is not taken for the next read's.
func TestReadDropsLateReply(t *testing.T) {
	knob := newKnob(700)
	d, peer := openSensor(t, `port = "/dev/serial0"`, knob)
	d.timeout = 200 * time.Millisecond
	peer.SetResponseDelay(600 * time.Millisecond)
	_, err := d.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Fatalf("Read of a slow sensor: err = %v, want no answer within 200ms", err)
	}
	// Wait until the late reply (700 ppm) is on the line.
	for end := time.Now().Add(waitLimit); peer.Answered() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the simulated sensor never sent its late reply")
		}
	}
	knob.Set(900)
	peer.SetResponseDelay(time.Millisecond)
	d.timeout = replyTimeout
	if ppm, _ := mustRead(t, d); ppm != 900 {
		t.Fatalf("read %v ppm, want 900: a stale reply was taken for the new one", ppm)
	}
}

func TestReadCancelled(t *testing.T) {
	d, peer := openSensor(t, `port = "/dev/serial0"`, sim.StaticCO2(500))
	peer.Silence(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := d.Read(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled context: err = %v, want context.Canceled", err)
	}
	peer.Silence(false)
	if ppm, _ := mustRead(t, d); ppm != 500 {
		t.Fatalf("read %v ppm after a cancelled read, want 500", ppm)
	}
}

func TestSetupCommandsReachSensor(t *testing.T) {
	tests := []struct {
		name      string
		snippet   string
		wantCmds  []string // hex frames, in order, before the first read
		wantABC   bool
		wantRange int
	}{
		{"leave the sensor alone", ``, nil, true, 5000},
		{"abc off", `abc = false`, []string{"ff 01 79 00 00 00 00 00 86"}, false, 5000},
		{"abc on", `abc = true`, []string{"ff 01 79 a0 00 00 00 00 e6"}, true, 5000},
		{"range 2000", `range = 2000`, []string{"ff 01 99 00 00 00 07 d0 8f"}, true, 2000},
		{"both", "abc = false\nrange = 10000", []string{"ff 01 79 00 00 00 00 00 86", "ff 01 99 00 00 00 27 10 2f"}, false, 10000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, peer := openSensor(t, "port = \"/dev/serial0\"\n"+tt.snippet, sim.StaticCO2(3000))
			// The sensor handles requests in order, so once the read is
			// answered every setup command has been taken.
			ppm, _ := mustRead(t, d)
			var got []string
			for _, c := range peer.Commands() {
				got = append(got, fmt.Sprintf("% x", c.Frame))
			}
			want := append(append([]string(nil), tt.wantCmds...), "ff 01 86 00 00 00 00 00 79")
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("sensor saw:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if peer.ABC() != tt.wantABC || peer.Range() != tt.wantRange {
				t.Errorf("sensor has ABC %v range %d, want %v %d", peer.ABC(), peer.Range(), tt.wantABC, tt.wantRange)
			}
			if wantPPM := float64(min(3000, tt.wantRange)); ppm != wantPPM {
				t.Errorf("read %v ppm, want %v within the range", ppm, wantPPM)
			}
		})
	}
}

// slowLineHost is the simulated board, but the serial port it hands out
// is a slowLinePort.
type slowLineHost struct {
	*sim.Host

	mu   sync.Mutex
	port *slowLinePort
}

// Serial implements drivers.Host.
func (h *slowLineHost) Serial(path string, mode drivers.SerialMode) (drivers.Port, error) {
	p, err := h.Host.Serial(path, mode)
	if err != nil {
		return nil, err
	}
	sp := &slowLinePort{Port: p, holding: true}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.port = sp
	return sp, nil
}

// seen returns the bytes the driver has read from the port.
func (h *slowLineHost) seen() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.port == nil {
		return nil
	}
	return h.port.seenBytes()
}

// slowLinePort gives a pty a real line's timing. At 9600 baud the setup
// commands that Open writes are still leaving the UART when Read empties
// the input buffer, so on real hardware their acknowledgements arrive after
// that, in the middle of the read; a pty delivers the commands at once, and
// the sensor's acknowledgements would usually be emptied away instead. So
// the port holds back what the driver writes until it first empties its
// input buffer or reads, and records every byte the driver reads.
type slowLinePort struct {
	drivers.Port

	mu      sync.Mutex
	holding bool
	held    []byte
	seen    []byte
}

func (p *slowLinePort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.holding {
		p.held = append(p.held, b...)
		return len(b), nil
	}
	return p.Port.Write(b)
}

// release sends what was held back, once.
func (p *slowLinePort) release() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.holding {
		return nil
	}
	p.holding = false
	_, err := p.Port.Write(p.held)
	p.held = nil
	return err
}

func (p *slowLinePort) ResetInputBuffer() error {
	if err := p.Port.ResetInputBuffer(); err != nil {
		return err
	}
	return p.release()
}

func (p *slowLinePort) Read(b []byte) (int, error) {
	if err := p.release(); err != nil {
		return 0, err
	}
	n, err := p.Port.Read(b)
	p.mu.Lock()
	p.seen = append(p.seen, b[:n]...)
	p.mu.Unlock()
	return n, err
}

func (p *slowLinePort) seenBytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.seen)
}

// TestSetupAcknowledgementsAreNotReadings checks that the sensor's replies
// to the setup commands, which real units send although the datasheet says
// they do not, never pass for a reading: taken as one, the range's
// acknowledgement (ff 99 01 00 …) would read 256 ppm at -40 °C.
func TestSetupAcknowledgementsAreNotReadings(t *testing.T) {
	const snippet = "port = \"/dev/serial0\"\nabc = false\nrange = 2000"
	acks := []string{"ff 79 01 00 00 00 00 00 86", "ff 99 01 00 00 00 00 00 66"}
	tests := []struct {
		name string
		// slow holds the setup commands back until the read empties its
		// input buffer, so that their acknowledgements arrive during it.
		slow bool
	}{
		{"acknowledged before the read", false},
		{"acknowledged during the read", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &slowLineHost{Host: drivertest.Host(t)}
			var host drivers.Host = h
			if !tt.slow {
				host = h.Host
			}
			d, peer := openSensorOn(t, h.Host, host, snippet, sim.StaticCO2(3000))
			if !tt.slow {
				// Both acknowledgements are on the line before the read.
				for end := time.Now().Add(waitLimit); peer.Answered() < len(acks); time.Sleep(time.Millisecond) {
					if time.Now().After(end) {
						t.Fatalf("the sensor acknowledged %d setup commands, want %d", peer.Answered(), len(acks))
					}
				}
			}

			for i := range 2 {
				ppm, temp := mustRead(t, d)
				if ppm != 2000 || temp != 24 {
					t.Fatalf("read %d: %v ppm at %v °C, want 2000 ppm (3000 saturated at the range) at 24 °C", i+1, ppm, temp)
				}
			}
			if tt.slow {
				// The driver did see the acknowledgements, and skipped them.
				want := strings.Join(acks, " ") + " ff 86 07 d0 40"
				if got := fmt.Sprintf("% x", h.seen()); !strings.HasPrefix(got, want) {
					t.Errorf("the driver read %s; want it to start with both acknowledgements, then the reading: %s", got, want)
				}
			}
			var got []byte
			for _, c := range peer.Commands() {
				got = append(got, c.Code)
			}
			if want := []byte{0x79, 0x99, 0x86, 0x86}; !bytes.Equal(got, want) {
				t.Errorf("the sensor saw commands % x, want % x", got, want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	h := drivertest.Host(t)
	dev, err := New(drivertest.Config(t, "kitchen", `port = "/dev/ttyUSB7"`))
	if err != nil {
		t.Fatal(err)
	}
	err = dev.Open(context.Background(), h)
	if err == nil || !strings.Contains(err.Error(), `mhz19 "kitchen": open: `) || !strings.Contains(err.Error(), "/dev/ttyUSB7") {
		t.Fatalf("Open of a port with nothing attached: err = %v, want an error naming the device and the port", err)
	}
	// The agent retries Open; a Read in between tries the port again too.
	if _, err := dev.(drivers.Reader).Read(context.Background()); err == nil || !strings.Contains(err.Error(), `mhz19 "kitchen": read: reopen: `) || !strings.Contains(err.Error(), "/dev/ttyUSB7") {
		t.Fatalf("Read after a failed Open: err = %v, want a reopen error naming the port", err)
	}
}

func TestReadAfterClose(t *testing.T) {
	d, _ := openSensor(t, `port = "/dev/serial0"`, sim.StaticCO2(500))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := d.Read(context.Background()); err == nil || !strings.Contains(err.Error(), `mhz19 "test": read: the device is not open`) {
		t.Fatalf("Read after Close: err = %v", err)
	}
}

func TestEntities(t *testing.T) {
	dev, err := New(drivertest.Config(t, "x", `port = "/dev/serial0"`))
	if err != nil {
		t.Fatal(err)
	}
	es := dev.Entities()
	want := []drivers.Entity{
		{ID: "co2", Name: "CO2", Kind: drivers.KindSensor, Class: "carbon_dioxide", Unit: "ppm",
			State: drivers.StateMeasurement, Precision: 0},
		{ID: "temperature", Name: "Internal temperature", Kind: drivers.KindSensor, Class: "temperature",
			Unit: "°C", State: drivers.StateMeasurement, Precision: 0, Diagnostic: true},
	}
	if len(es) != len(want) {
		t.Fatalf("Entities() = %+v, want %+v", es, want)
	}
	for i := range want {
		if es[i] != want[i] {
			t.Errorf("entity %d = %+v, want %+v", i, es[i], want[i])
		}
	}
}

// plugHost is a host whose serial port can be unplugged and plugged back,
// like a USB serial adapter: unplugging closes the pty's controller, so the
// driver's port sees the kernel's hang-up (go.bug.st/serial's PortClosed),
// and while unplugged the port cannot be opened.
type plugHost struct {
	*sim.Host // clock, logger, GPIO and I2C

	t      *testing.T
	mu     sync.Mutex
	ctl    *os.File
	pts    string
	peer   *sim.MHZ19
	stop   context.CancelFunc
	served chan struct{}
	opens  int
}

func newPlugHost(t *testing.T) *plugHost {
	h := &plugHost{Host: sim.NewHost(nil), t: t}
	t.Cleanup(func() {
		h.unplug()
		h.Host.Close()
	})
	return h
}

// plug attaches a fresh sensor on a new pty.
func (h *plugHost) plug(co2 sim.CO2Source) *sim.MHZ19 {
	h.t.Helper()
	ctl, pts := openPollablePTY(h.t)
	ctx, cancel := context.WithCancel(context.Background())
	peer := sim.NewMHZ19(co2)
	served := make(chan struct{})
	go func() {
		defer close(served)
		peer.Serve(ctx, ctl)
	}()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ctl, h.pts, h.peer, h.stop, h.served = ctl, pts, peer, cancel, served
	return peer
}

// unplug takes the adapter away.
func (h *plugHost) unplug() {
	h.mu.Lock()
	ctl, stop, served := h.ctl, h.stop, h.served
	h.ctl, h.pts = nil, ""
	h.mu.Unlock()
	if ctl == nil {
		return
	}
	stop()
	ctl.Close()
	select {
	case <-served:
	case <-time.After(waitLimit):
		h.t.Error("the simulated sensor did not stop when its pty closed")
	}
}

// Serial implements drivers.Host.
func (h *plugHost) Serial(path string, mode drivers.SerialMode) (drivers.Port, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.opens++
	if h.ctl == nil {
		return nil, fmt.Errorf("serial %s: open: no such file or directory (unplugged)", path)
	}
	return serialport.Open(h.pts, mode)
}

func (h *plugHost) Opens() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.opens
}

// openPollablePTY opens a pty whose controller is in Go's poller, so that
// closing it interrupts the simulated sensor's pending Read, as pulling a
// cable would. It duplicates the controller's descriptor in non-blocking
// mode, whatever mode serialport.OpenPTY left it in.
func openPollablePTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, pts, err := serialport.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(m.Fd()))
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), pts
}

func TestReopenAfterPortVanishes(t *testing.T) {
	h := newPlugHost(t)
	h.plug(sim.StaticCO2(555))
	dev, err := New(drivertest.Config(t, "attic", "port = \"/dev/ttyUSB0\"\nabc = false"))
	if err != nil {
		t.Fatal(err)
	}
	d := dev.(*Device)
	if err := d.Open(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if ppm, _ := mustRead(t, d); ppm != 555 {
		t.Fatalf("read %v ppm, want 555", ppm)
	}

	h.unplug()
	_, err = d.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), `mhz19 "attic": read: `) || !strings.Contains(err.Error(), "the next read reopens the port") {
		t.Fatalf("Read with the adapter unplugged: err = %v, want a port error that promises a reopen", err)
	}
	_, err = d.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), `mhz19 "attic": read: reopen: serial /dev/ttyUSB0: open: `) {
		t.Fatalf("Read while still unplugged: err = %v, want a reopen error naming the port", err)
	}

	peer := h.plug(sim.StaticCO2(777))
	if ppm, _ := mustRead(t, d); ppm != 777 {
		t.Fatalf("after replugging read %v ppm, want 777", ppm)
	}
	if got := h.Opens(); got != 3 {
		t.Errorf("host opened the port %d times, want 3 (Open, failed reopen, reopen)", got)
	}
	// A replugged sensor may have been power-cycled elsewhere: the setup
	// commands are sent again.
	if peer.ABC() {
		t.Error("the reopened sensor did not get the abc = false command again")
	}
}
