package mhz19

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
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
// host, over a real pty, and opens a driver on it configured by snippet, on
// a worker as the agent does.
func openSensor(t *testing.T, snippet string, co2 sim.CO2Source) (*Device, *drivertest.Worker, *sim.MHZ19) {
	t.Helper()
	h := drivertest.Host(t)
	return openSensorOn(t, h, h, snippet, co2)
}

// openSensorOn is openSensor on board h, with the driver opened through
// host (h itself, or a wrapper of it).
func openSensorOn(t *testing.T, h *sim.Host, host drivers.Host, snippet string, co2 sim.CO2Source) (*Device, *drivertest.Worker, *sim.MHZ19) {
	t.Helper()
	peer := sim.NewMHZ19(co2)
	if _, err := h.AddSerialPeer("/dev/serial0", peer); err != nil {
		t.Fatal(err)
	}
	d := drivertest.Device[*Device](t, New, "test", snippet)
	// The worker closes the device at the end of the test, before the
	// host made earlier stops the simulation.
	return d, drivertest.Open(t, d, host), peer
}

// poll polls through w and returns the states that poll reported, or its
// error; a poll reports nothing else.
func poll(t *testing.T, w *drivertest.Worker) ([]drivertest.Report, error) {
	t.Helper()
	before := len(w.Reports())
	err := w.Poll(t)
	var states []drivertest.Report
	for _, r := range w.Reports()[before:] {
		switch {
		case r.Kind == "state" && err == nil:
			states = append(states, r)
		case r.Kind == "reopen" && err != nil:
		default:
			t.Fatalf("a poll that returned %v reported %+v", err, r)
		}
	}
	return states, err
}

// mustRead polls and returns the CO₂ and temperature values.
func mustRead(t *testing.T, w *drivertest.Worker) (ppm, tempC float64) {
	t.Helper()
	states, err := poll(t, w)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return values(t, states)
}

// pollErr polls and returns its error, which must not be nil.
func pollErr(t *testing.T, w *drivertest.Worker) error {
	t.Helper()
	_, err := poll(t, w)
	if err == nil {
		t.Fatal("Poll succeeded")
	}
	return err
}

func values(t *testing.T, states []drivertest.Report) (ppm, tempC float64) {
	t.Helper()
	if len(states) != 2 {
		t.Fatalf("Poll reported %d states, want 2: %+v", len(states), states)
	}
	for _, r := range states {
		switch {
		case r.Entity == EntityCO2 && r.Value.Kind == drivers.ValueNumber && r.Value.Unit == drivers.PPM:
			ppm = r.Value.Num
		case r.Entity == EntityTemperature && r.Value.Kind == drivers.ValueNumber && r.Value.Unit == drivers.Celsius:
			tempC = r.Value.Num
		default:
			t.Fatalf("unexpected state %s = %v", r.Entity, r.Value)
		}
	}
	return ppm, tempC
}

func TestPollMatchesSensor(t *testing.T) {
	knob := newKnob(0)
	_, w, peer := openSensor(t, `port = "/dev/serial0"`, knob)
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
		ppm, temp := mustRead(t, w)
		if ppm != tt.wantPPM || temp != tt.wantTemp {
			t.Errorf("air %v ppm at %v °C: read %v ppm, %v °C; want %v ppm, %v °C", tt.ppm, tt.temp, ppm, temp, tt.wantPPM, tt.wantTemp)
		}
	}
}

func TestPollStaticCO2(t *testing.T) {
	_, w, _ := openSensor(t, `port = "/dev/serial0"`, sim.StaticCO2(612))
	for range 3 {
		if ppm, temp := mustRead(t, w); ppm != 612 || temp != 24 {
			t.Fatalf("read %v ppm %v °C, want 612 ppm 24 °C (the simulated sensor's default)", ppm, temp)
		}
	}
}

func TestPollCorruptThenRecover(t *testing.T) {
	_, w, peer := openSensor(t, `port = "/dev/serial0"`, sim.StaticCO2(800))
	peer.Corrupt(true)
	err := pollErr(t, w)
	for _, want := range []string{`mhz19 "test": poll: checksum mismatch: got 0x`, ", want 0x", "check the wiring"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if n := len(w.Reopens()); n != 0 {
		t.Errorf("a damaged reply asked for %d reopens; the port is fine", n)
	}
	peer.Corrupt(false)
	if ppm, _ := mustRead(t, w); ppm != 800 {
		t.Fatalf("after recovery read %v ppm, want 800", ppm)
	}
}

func TestPollSilenceThenRecover(t *testing.T) {
	_, w, peer := openSensor(t, `port = "/dev/serial0"`, sim.StaticCO2(650))
	peer.Silence(true)
	err := pollErr(t, w)
	want := `mhz19 "test": poll: no answer within 1s (check wiring TX↔RX and 5V supply)`
	if err.Error() != want {
		t.Fatalf("Poll of a silent sensor: err = %v, want %q", err, want)
	}
	if n := len(w.Reopens()); n != 0 {
		t.Errorf("a silent sensor asked for %d reopens; the port is fine", n)
	}
	peer.Silence(false)
	if ppm, _ := mustRead(t, w); ppm != 650 {
		t.Fatalf("after recovery read %v ppm, want 650", ppm)
	}
}

func TestPollResyncsAfterNoise(t *testing.T) {
	_, w, peer := openSensor(t, `port = "/dev/serial0"`, sim.StaticCO2(1500))
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
		states, err := poll(t, w)
		if err != nil {
			t.Errorf("%s before the reply: %v", tt.name, err)
			continue
		}
		if ppm, _ := values(t, states); ppm != 1500 {
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

// bufferHost is the simulated board, but the serial port it hands out is a
// bufferPort.
type bufferHost struct {
	*sim.Host
	port *bufferPort
}

// Serial implements drivers.SerialHost.
func (h *bufferHost) Serial(path string, mode drivers.SerialMode) (drivers.Port, error) {
	p, err := h.Host.Serial(path, mode)
	if err != nil {
		return nil, err
	}
	h.port.Port = p
	return h.port, nil
}

// bufferPort is a port whose input buffer a test can fill, as bytes that
// arrived before the driver asked: a late reply to an earlier request. It
// records the driver's calls, in order.
type bufferPort struct {
	drivers.Port

	mu      sync.Mutex
	pending []byte
	ops     []string
}

// inject puts b in the input buffer, as if received before the driver's
// next call.
func (p *bufferPort) inject(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, b...)
}

func (p *bufferPort) op(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.ops); n == 0 || p.ops[n-1] != s { // reads in a row are one
		p.ops = append(p.ops, s)
	}
}

// takeOps returns the calls since the last take.
func (p *bufferPort) takeOps() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ops := p.ops
	p.ops = nil
	return ops
}

func (p *bufferPort) ResetInputBuffer() error {
	p.op("reset")
	p.mu.Lock()
	p.pending = nil
	p.mu.Unlock()
	return p.Port.ResetInputBuffer()
}

func (p *bufferPort) Write(b []byte) (int, error) {
	p.op("write")
	return p.Port.Write(b)
}

func (p *bufferPort) Read(b []byte) (int, error) {
	p.op("read")
	p.mu.Lock()
	if len(p.pending) > 0 {
		n := copy(b, p.pending)
		p.pending = p.pending[n:]
		p.mu.Unlock()
		return n, nil
	}
	p.mu.Unlock()
	return p.Port.Read(b)
}

// TestPollDropsStaleReply checks that a reply that arrived after its poll
// gave up (a slow adapter, a sensor answering late) is not taken for the
// next poll's: the driver empties the input buffer before each request.
func TestPollDropsStaleReply(t *testing.T) {
	knob := newKnob(700)
	h := &bufferHost{Host: drivertest.Host(t), port: &bufferPort{}}
	_, w, _ := openSensorOn(t, h.Host, h, `port = "/dev/serial0"`, knob)
	if ppm, _ := mustRead(t, w); ppm != 700 {
		t.Fatalf("read %v ppm, want 700", ppm)
	}
	if got, want := h.port.takeOps(), []string{"reset", "write", "read"}; !slices.Equal(got, want) {
		t.Fatalf("a poll called the port %v, want %v: the input buffer is emptied before the request", got, want)
	}

	// The reply to an earlier request, 1234 ppm at 30 °C, waits in the
	// input buffer.
	h.port.inject(hexFrame("ff 86 04 d2 46 00 00 00 5e"))
	knob.Set(900)
	if ppm, _ := mustRead(t, w); ppm != 900 {
		t.Fatalf("read %v ppm, want 900: a stale reply was taken for the new one", ppm)
	}
}

func TestPollCancelled(t *testing.T) {
	d, w, peer := openSensor(t, `port = "/dev/serial0"`, sim.StaticCO2(500))
	peer.Silence(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Called directly: the worker is idle between calls.
	if err := d.Poll(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll with a cancelled context: err = %v, want context.Canceled", err)
	}
	peer.Silence(false)
	if ppm, _ := mustRead(t, w); ppm != 500 {
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
			_, w, peer := openSensor(t, "port = \"/dev/serial0\"\n"+tt.snippet, sim.StaticCO2(3000))
			// The sensor handles requests in order, so once the read is
			// answered every setup command has been taken.
			ppm, _ := mustRead(t, w)
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

// Serial implements drivers.SerialHost.
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
			_, w, peer := openSensorOn(t, h.Host, host, snippet, sim.StaticCO2(3000))
			if !tt.slow {
				// Both acknowledgements are on the line before the read.
				for end := time.Now().Add(waitLimit); peer.Answered() < len(acks); time.Sleep(time.Millisecond) {
					if time.Now().After(end) {
						t.Fatalf("the sensor acknowledged %d setup commands, want %d", peer.Answered(), len(acks))
					}
				}
			}

			for i := range 2 {
				ppm, temp := mustRead(t, w)
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
	d := drivertest.Device[*Device](t, New, "kitchen", `port = "/dev/ttyUSB7"`)
	w, err := drivertest.Start(t, d, h)
	if err == nil || !strings.HasPrefix(err.Error(), `mhz19 "kitchen": open: `) || !strings.Contains(err.Error(), "/dev/ttyUSB7") {
		t.Fatalf("Open of a port with nothing attached: err = %v, want an error naming the device and the port", err)
	}
	// The agent closes a device whose Open failed, and retries Open later;
	// the driver does not try the port on its own in between.
	if w != nil {
		if err := w.Close(t); err != nil {
			t.Fatalf("Close after a failed Open: %v", err)
		}
		if n := len(w.Reopens()); n != 0 {
			t.Errorf("a failed Open asked for %d reopens; the agent retries Open by itself", n)
		}
	}
	if err := d.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), `mhz19 "kitchen": poll: the device is not open`) {
		t.Fatalf("Poll after a failed Open: err = %v, want not open", err)
	}

	t.Run("a host without serial ports", func(t *testing.T) {
		d := drivertest.Device[*Device](t, New, "kitchen", `port = "/dev/ttyUSB7"`)
		_, err := drivertest.Start(t, d, bareHost{})
		if err == nil || !errors.Is(err, drivers.ErrUnsupported) || !strings.HasPrefix(err.Error(), `mhz19 "kitchen": open: `) {
			t.Fatalf("Open on a host without serial ports: err = %v, want an open error wrapping drivers.ErrUnsupported", err)
		}
	})
}

// bareHost is a host with a clock and a logger and no hardware.
type bareHost struct{}

func (bareHost) Clock() drivers.Clock { return drivers.SystemClock{} }
func (bareHost) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestPollAfterClose(t *testing.T) {
	d, w, _ := openSensor(t, `port = "/dev/serial0"`, sim.StaticCO2(500))
	if err := w.Close(t); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := d.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), `mhz19 "test": poll: the device is not open`) {
		t.Fatalf("Poll after Close: err = %v", err)
	}
}

func TestEntities(t *testing.T) {
	d := drivertest.Device[*Device](t, New, "x", `port = "/dev/serial0"`)
	want := []drivers.Entity{
		{ID: "co2", Name: "CO2",
			Spec: drivers.Sensor{Class: "carbon_dioxide", Unit: "ppm", State: drivers.StateMeasurement, Precision: 0}},
		{ID: "temperature", Name: "Internal temperature", Diagnostic: true,
			Spec: drivers.Sensor{Class: "temperature", Unit: "°C", State: drivers.StateMeasurement, Precision: 0}},
	}
	if es := d.Entities(); !slices.Equal(es, want) {
		t.Fatalf("Entities() = %+v\nwant %+v", es, want)
	}
	if _, ok := drivers.Device(d).(drivers.Commander); ok {
		t.Error("the device is a Commander; the sensor takes no commands (abc and range are configuration)")
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

// Serial implements drivers.SerialHost.
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
	d := drivertest.Device[*Device](t, New, "attic", "port = \"/dev/ttyUSB0\"\nabc = false")
	w := drivertest.Open(t, d, h)
	if ppm, _ := mustRead(t, w); ppm != 555 {
		t.Fatalf("read %v ppm, want 555", ppm)
	}

	h.unplug()
	err := pollErr(t, w)
	if !strings.HasPrefix(err.Error(), `mhz19 "attic": poll: `) || !strings.Contains(err.Error(), "the port is reopened") {
		t.Fatalf("Poll with the adapter unplugged: err = %v, want a port error that promises a reopen", err)
	}
	reopens := w.Reopens()
	if len(reopens) != 1 || reopens[0] == nil || !strings.Contains(reopens[0].Error(), "/dev/ttyUSB0") {
		t.Fatalf("the driver asked for reopens %v, want one naming the port", reopens)
	}
	// Until the agent reopens it, the device says why it cannot read, and
	// asks no more.
	if err := pollErr(t, w); !strings.Contains(err.Error(), "closed until the device is reopened") {
		t.Fatalf("Poll after the port failed: err = %v, want it to wait for the reopen", err)
	}
	if n := len(w.Reopens()); n != 1 {
		t.Errorf("%d reopens asked for, want still 1", n)
	}

	// The agent closes the device and opens it again, with backoff: still
	// unplugged, Open fails and the device is closed again.
	if err := w.Close(t); err != nil {
		t.Fatalf("Close after the port vanished: %v", err)
	}
	w2, err := drivertest.Start(t, d, h)
	if err == nil || !strings.Contains(err.Error(), `mhz19 "attic": open: serial /dev/ttyUSB0: open: `) {
		t.Fatalf("Open while still unplugged: err = %v, want an open error naming the port", err)
	}
	if w2 != nil {
		if err := w2.Close(t); err != nil {
			t.Fatalf("Close after a failed Open: %v", err)
		}
	}

	peer := h.plug(sim.StaticCO2(777))
	w3 := drivertest.Open(t, d, h)
	if ppm, _ := mustRead(t, w3); ppm != 777 {
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

// failingPort is a serial port whose operations fail with the errors set,
// and whose reads otherwise time out, after the read timeout as a real
// port's do.
type failingPort struct {
	readErr, writeErr, resetErr error
	timeout                     time.Duration
}

func (p *failingPort) Read([]byte) (int, error) {
	if p.readErr != nil {
		return 0, p.readErr
	}
	time.Sleep(p.timeout) // the line stays silent for the read timeout
	return 0, fmt.Errorf("serial: read: %w", os.ErrDeadlineExceeded)
}

func (p *failingPort) Write(b []byte) (int, error) {
	if p.writeErr != nil {
		return 0, p.writeErr
	}
	return len(b), nil
}

func (p *failingPort) Close() error                         { return nil }
func (p *failingPort) SetReadTimeout(d time.Duration) error { p.timeout = d; return nil }
func (p *failingPort) ResetInputBuffer() error              { return p.resetErr }

// portHost hands out a failingPort. Its serial port goes bad only after
// Open, as an unplugged adapter's would.
type portHost struct {
	*sim.Host
	port *failingPort
}

// Serial implements drivers.SerialHost.
func (h portHost) Serial(string, drivers.SerialMode) (drivers.Port, error) { return h.port, nil }

// TestPortFailuresAskForReopen checks which failures of a poll ask the
// agent to reopen the device: those of the port itself, not a sensor that
// does not answer.
func TestPortFailuresAskForReopen(t *testing.T) {
	tests := []struct {
		name   string
		fail   func(p *failingPort)
		reopen bool
		want   string
	}{
		{"read EIO (USB adapter unplugged)", func(p *failingPort) { p.readErr = fmt.Errorf("serial /dev/ttyUSB0: read: %w", unix.EIO) }, true, "input/output error"},
		{"write ENXIO", func(p *failingPort) { p.writeErr = fmt.Errorf("serial /dev/ttyUSB0: write: %w", unix.ENXIO) }, true, "no such device or address"},
		{"closed port", func(p *failingPort) { p.readErr = os.ErrClosed }, true, "file already closed"},
		{"input buffer", func(p *failingPort) { p.resetErr = unix.EIO }, true, "reset input buffer"},
		{"no answer", func(*failingPort) {}, false, "no answer within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := &failingPort{}
			d := drivertest.Device[*Device](t, New, "attic", `port = "/dev/ttyUSB0"`)
			d.timeout = 50 * time.Millisecond
			w := drivertest.Open(t, d, portHost{drivertest.Host(t), port})
			tt.fail(port) // before the call, which the worker takes through a channel
			err := pollErr(t, w)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
			reopens := w.Reopens()
			if tt.reopen != (len(reopens) == 1) || len(reopens) > 1 {
				t.Fatalf("reopens asked for: %v; want a reopen: %t", reopens, tt.reopen)
			}
			if tt.reopen && reopens[0].Error() != err.Error() {
				t.Errorf("reopen asked with %v, want Poll's error %v", reopens[0], err)
			}
		})
	}
}

// TestSimModel checks the driver against the model the simulated host
// attaches for its claims, as the demo does.
func TestSimModel(t *testing.T) {
	h := drivertest.Host(t)
	d := drivertest.Device[*Device](t, New, "air", `port = "/dev/ttyAMA0"`)
	if err := sim.Attach(h, "mhz19", d.Claims(), 3); err != nil {
		t.Fatal(err)
	}
	ppm, temp := mustRead(t, drivertest.Open(t, d, h))
	if ppm < 300 || ppm > 5000 || temp < -10 || temp > 60 {
		t.Errorf("read %v ppm at %v °C from the simulated model; want plausible room air", ppm, temp)
	}
}
