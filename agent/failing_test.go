package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/hatest"
	"github.com/pinion-home/pinion/internal/logbuf"
	"github.com/pinion-home/pinion/internal/serialport"
)

// TestHundredFailingDevicesLogBoundedLines runs 100 devices that fail for
// a whole day of a fake clock — half cannot be opened (unplugged), half
// open but every poll fails (a sensor that NACKs) — then recover. Each
// retries about once a minute, 1,440 times; the log holds a few lines per
// device (failures with backoff, one recovery), not one per retry.
func TestHundredFailingDevicesLogBoundedLines(t *testing.T) {
	const (
		devices = 100
		day     = 24 * 60 // steps of a minute
	)
	clock := clockwork.NewFakeClock()
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	pipe := newPipeline(discovery.Node{ID: "n"}, newOutbox(), log)
	host := sim.NewHost(nil)
	fakes := make([]*fakeDev, devices)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			t.Logf("log (first 20,000 bytes):\n%.20000s", logs.String())
		}
	}()
	timers := 0 // what the workers wait on while they fail
	for i := range fakes {
		f := newFake()
		f.unrecorded = true // nobody reads the calls
		if i%2 == 0 {
			f.openErr = errors.New("no such device")
			timers++ // the retry
		} else {
			f.pollErr = syscall.EREMOTEIO
			timers += 2 // the interval's ticker and the retry
		}
		fakes[i] = f
		d := newDevice(DeviceConfig{ID: fmt.Sprintf("dev%03d", i), Driver: "fake", Device: f, Entities: fakeEntities, Interval: time.Minute}, host, pipe, clock, log)
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.run(ctx)
		}()
	}
	// step waits for every worker to wait for its retry, calls between,
	// then moves the clock on a minute: every retry is due.
	step := func(between func()) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer wcancel()
		if err := clock.BlockUntilContext(wctx, timers); err != nil {
			t.Fatalf("the workers did not all wait for their retry: %v", err)
		}
		between()
		clock.Advance(time.Minute)
	}
	for range day {
		step(func() {})
	}
	var failing int
	step(func() {
		failing = strings.Count(logs.String(), "\n")
		for _, f := range fakes {
			f.set(func(f *fakeDev) { f.openErr, f.pollErr = nil, nil })
		}
	})
	waitCount(t, logs, devices, "device works again")
	// The closed devices, open again, wait on their ticker alone.
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := clock.BlockUntilContext(wctx, devices); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(logs.String(), "\n")
	t.Logf("%d devices failing for a day logged %d lines, and %d more as they recovered", devices, failing, lines-failing)

	// Per device: its 1st, 2nd, 3rd, 4th, 8th, …, 1024th failure of about
	// 1,441, "device ready" for those that opened, and one recovery.
	perDevice := 3 + 9 + 1 + 1
	if lines > devices*perDevice {
		t.Errorf("%d lines for %d devices failing a day, want at most %d each", lines, devices, perDevice)
	}
	for i := range fakes {
		id := fmt.Sprintf("device=dev%03d ", i)
		if n := countLines(logs, id, "entities unavailable, retrying"); n != 12 {
			t.Errorf("dev%03d: %d failures logged, want 12 (the 1st to 4th, 8th, …, 1024th)", i, n)
		}
		if n := countLines(logs, id, "device works again", "after_failures=1441", "unavailable_for=24h1m0s"); n != 1 {
			t.Errorf("dev%03d: its recovery after 1,441 failures and a day logged %d times, want once", i, n)
		}
	}
}

// meterChip is a smart plug's I2C chip: register 0 is its relay (written
// to switch it), 1 and 2 its power draw in watts. It can be made to NACK
// every transaction, as one whose cable came loose does, and counts the
// writes to its relay.
type meterChip struct {
	mu     sync.Mutex
	fail   bool
	relay  byte
	power  uint16
	ptr    byte
	writes int
}

func (c *meterChip) Tx(w, r []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return syscall.EREMOTEIO
	}
	if len(w) > 0 {
		c.ptr = w[0]
	}
	if len(w) > 1 && c.ptr == 0 {
		c.relay = w[1]
		c.writes++
	}
	for i := range r {
		switch c.ptr + byte(i) {
		case 0:
			r[i] = c.relay
		case 1:
			r[i] = byte(c.power >> 8)
		case 2:
			r[i] = byte(c.power)
		}
	}
	return nil
}

func (c *meterChip) setFail(fail bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = fail
}

func (c *meterChip) relayWrites() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// testMeter is the driver of a smart plug on I2C bus 1 at 0x40: a relay and
// the power it passes, polled, as a driver of such a chip is written.
type testMeter struct {
	bus i2c.Bus
	out drivers.Output
}

func init() {
	drivers.Register(drivers.Driver{
		Name:        "test-meter",
		Description: "a smart plug on I2C for the agent's failing-hardware tests",
		New: func(cfg drivers.Config) (drivers.Device, error) {
			var c struct{}
			if err := cfg.Decode(&c); err != nil {
				return nil, err
			}
			return &testMeter{}, nil
		},
	})
}

func (m *testMeter) Info() drivers.Info { return drivers.Info{Model: "test meter"} }
func (m *testMeter) Entities() []drivers.Entity {
	return []drivers.Entity{
		{ID: "relay", Spec: drivers.Switch{}},
		{ID: "power", Name: "Power", Spec: drivers.Sensor{Class: drivers.ClassPower, Unit: drivers.Watt, State: drivers.StateMeasurement}},
	}
}

func (m *testMeter) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	bus, err := drivers.I2C(h, "1")
	if err != nil {
		return fmt.Errorf("test-meter: open: %w", err)
	}
	m.bus, m.out = bus, out
	return m.read()
}

// read reads the relay and the power and reports them.
func (m *testMeter) read() error {
	var r [3]byte
	if err := m.bus.Tx(0x40, []byte{0}, r[:]); err != nil {
		return fmt.Errorf("test-meter: read: %w", err)
	}
	m.out.State("relay", drivers.Bool(r[0] != 0))
	m.out.State("power", drivers.Num(float64(uint16(r[1])<<8|uint16(r[2])), drivers.Watt))
	return nil
}

func (m *testMeter) Poll(ctx context.Context) error { return m.read() }

func (m *testMeter) Command(ctx context.Context, entity string, c drivers.Command) error {
	v := byte(0)
	if c.Action == drivers.ActionOn {
		v = 1
	}
	if err := m.bus.Tx(0x40, []byte{0, v}, nil); err != nil {
		return fmt.Errorf("test-meter: switch: %w", err)
	}
	return m.read()
}

func (m *testMeter) Close() error { return nil }

const meterConfig = `
[agent]
id = "garage"
hardware = "sim"

[mqtt]
broker = "%s"

[[device]]
id = "plug"
driver = "test-meter"
interval = "10s"
`

func TestFailingSensorEmbedded(t *testing.T) { failingSensor(t, brokertest.Embedded(t)) }

func TestFailingSensorMosquitto(t *testing.T) { failingSensor(t, brokertest.Mosquitto(t)) }

// failingSensor runs the agent, on a fake clock, with a smart plug whose
// chip stops answering, and Home Assistant's double watching: its entities
// go unavailable in Home Assistant, a command meanwhile is refused and not
// run later, and they come back on their own when the chip answers again.
func failingSensor(t *testing.T, url string) {
	ha := hatest.New(t, url)
	cfg, err := ParseConfig("test.toml", []byte(fmt.Sprintf(meterConfig, url)))
	if err != nil {
		t.Fatal(err)
	}
	host := sim.NewHost(nil)
	defer host.Close()
	chip := &meterChip{power: 1200}
	if err := host.AddI2CChip("1", 0x40, chip); err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClock()
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, host, log, clock) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(testWait):
			t.Error("the agent did not stop")
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	}()
	const relay, power = "pinion:garage:plug:relay", "pinion:garage:plug:power"
	if err := ha.WaitState(relay, "OFF", testWait); err != nil {
		t.Fatal(err)
	}
	if err := ha.WaitState(power, "1200", testWait); err != nil {
		t.Fatal(err)
	}
	// until moves the fake clock on an interval at a time until Home
	// Assistant sees the entity's availability become want: the poll that
	// notices, or the retry that works, is due within one.
	until := func(id string, want bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			clock.Advance(10 * time.Second)
			if ha.WaitAvailable(id, want, 200*time.Millisecond) == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Home Assistant never saw %s available=%v", id, want)
			}
		}
	}

	chip.setFail(true)
	until(power, false)
	if e, _ := ha.Entity(relay); e.Available {
		t.Error("the relay stayed available in Home Assistant while its chip fails")
	}
	if err := ha.Command(relay, "ON"); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, "device unavailable; command dropped, not run later", "device=plug", "entity=relay", "topic=pinion/garage/plug/relay/set", "remote I/O error")

	chip.setFail(false)
	until(power, true)
	until(relay, true)
	waitLog(t, logs, "device works again", "device=plug", "after_failures=")
	// Polls go on; the refused ON never runs.
	clock.Advance(10 * time.Second)
	if err := ha.WaitState(relay, "OFF", testWait); err != nil {
		t.Fatal(err)
	}
	if n := chip.relayWrites(); n != 0 {
		t.Fatalf("the relay was written %d times: the command refused while the chip failed ran later", n)
	}
	if err := ha.Command(relay, "ON"); err != nil {
		t.Fatal(err)
	}
	if err := ha.WaitState(relay, "ON", testWait); err != nil {
		t.Fatalf("a command after the recovery: %v", err)
	}
	if n := chip.relayWrites(); n != 1 {
		t.Errorf("the relay was written %d times, want once", n)
	}
}

// realDevice returns the one device of a config with the id "dev" and a
// simulated board with its hardware attached.
func realDevice(t *testing.T, table string) (DeviceConfig, *sim.Host) {
	t.Helper()
	cfg, err := ParseConfig("test.toml", []byte("[agent]\nid = \"n\"\nhardware = \"sim\"\n\n[mqtt]\nbroker = \"tcp://127.0.0.1:1883\"\n\n[[device]]\nid = \"dev\"\n"+table))
	if err != nil {
		t.Fatal(err)
	}
	host := sim.NewHost(nil)
	t.Cleanup(func() { host.Close() })
	if err := PopulateSim(host, cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Devices[0], host
}

// TestFailingBME280 unplugs a BME280 (the simulated chip NACKs every
// byte): the poll fails, the device goes unavailable, the poll is retried
// with backoff and works again when the chip answers.
func TestFailingBME280(t *testing.T) {
	dc, host := realDevice(t, "driver = \"bme280\"\nbus = \"1\"\naddress = 0x76\ninterval = \"1m\"\n")
	chip := host.I2CChip("1", 0x76).(*sim.BME280)
	h := newHarnessFor(t, dc, host)
	h.waitPayload(h.status(), "online")
	h.waitFor("a temperature", func() bool { return len(h.payloads(h.state("temperature"))) > 0 })

	chip.Fail(nil)
	h.advance(time.Minute)
	h.waitPayload(h.status(), "offline")
	waitLog(t, h.logs, "poll failed; entities unavailable, retrying", "remote I/O error", "failures=1")
	h.advanceN(retryIn(t, h.logs, "poll failed", 1)+time.Millisecond, 2)
	waitLog(t, h.logs, "poll failed", "failures=2")

	chip.Recover()
	h.advanceN(retryIn(t, h.logs, "poll failed", 2)+time.Millisecond, 2)
	h.waitPayload(h.status(), "online")
	waitLog(t, h.logs, "device works again", "after_failures=2")
}

// flakyGPIO is a simulated board whose GPIO writes fail while broken, as
// the kernel's do when a line's chip goes away.
type flakyGPIO struct {
	*sim.Host
	broken atomic.Bool
}

func (h *flakyGPIO) GPIO(name string) (gpio.PinIO, error) {
	p, err := h.Host.GPIO(name)
	if err != nil {
		return nil, err
	}
	return flakyPin{p, &h.broken}, nil
}

type flakyPin struct {
	gpio.PinIO
	broken *atomic.Bool
}

func (p flakyPin) Out(l gpio.Level) error {
	if p.broken.Load() {
		return fmt.Errorf("%s: set value: %w", p.Name(), syscall.EIO)
	}
	return p.PinIO.Out(l)
}

// TestFailingGPIOWrite fails the write of a relay's line: the command
// fails, the device (which has no Poll) is closed and opened again with
// backoff, a command meanwhile is refused and never runs, and the relay
// works again on its own.
func TestFailingGPIOWrite(t *testing.T) {
	dc, base := realDevice(t, "driver = \"gpio\"\npin = \"GPIO17\"\nmode = \"output\"\n")
	host := &flakyGPIO{Host: base}
	line := base.Line("GPIO17")
	h := newHarnessFor(t, dc, host)
	h.waitPayload(h.status(), "online")
	h.waitPayload(h.state("relay"), "OFF")

	host.broken.Store(true)
	h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}})
	h.waitPayload(h.status(), "offline")
	waitLog(t, h.logs, "command failed; entities unavailable, retrying", "entity=relay", "command=ON", "topic=test", "input/output error")
	h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}})
	waitLog(t, h.logs, "device unavailable; command dropped, not run later", "entity=relay")

	host.broken.Store(false)
	h.advance(retryIn(t, h.logs, "command failed", 1) + time.Millisecond)
	h.waitPayload(h.status(), "online")
	waitLog(t, h.logs, "device works again", "after_failures=1")
	if line.Level() != gpio.Low {
		t.Fatal("the relay's line is High: a refused ON ran")
	}
	h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}})
	h.waitPayload(h.state("relay"), "ON")
	if line.Level() != gpio.High {
		t.Error("the relay's line is Low after an ON that worked")
	}
}

// plugSerial is a simulated board whose serial port is a USB adapter that
// can be unplugged and plugged back: unplugging closes the controller of
// the pseudo-terminal the driver has open, so its reads fail as the
// kernel's do when the adapter goes, and while unplugged the port cannot be
// opened.
type plugSerial struct {
	*sim.Host
	t *testing.T

	mu     sync.Mutex
	ctl    *os.File
	pts    string
	stop   context.CancelFunc
	served chan struct{}
}

// plug attaches a fresh MH-Z19 reading ppm on a new pseudo-terminal.
func (h *plugSerial) plug(ppm float64) {
	h.t.Helper()
	m, pts, err := serialport.OpenPTY()
	if err != nil {
		h.t.Fatal(err)
	}
	// The controller, in Go's poller, so that closing it interrupts the
	// sensor's pending Read as pulling the cable would.
	fd, err := unix.Dup(int(m.Fd()))
	m.Close()
	if err != nil {
		h.t.Fatal(err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		h.t.Fatal(err)
	}
	ctl := os.NewFile(uintptr(fd), "/dev/ptmx")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	peer := sim.NewMHZ19(sim.StaticCO2(ppm))
	go func() {
		defer close(served)
		peer.Serve(ctx, ctl)
	}()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ctl, h.pts, h.stop, h.served = ctl, pts, cancel, served
}

// unplug takes the adapter away.
func (h *plugSerial) unplug() {
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
	case <-time.After(testWait):
		h.t.Error("the simulated sensor did not stop when its pty closed")
	}
}

// Serial implements drivers.SerialHost.
func (h *plugSerial) Serial(path string, mode drivers.SerialMode) (drivers.Port, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctl == nil {
		return nil, fmt.Errorf("serial %s: open: no such file or directory (unplugged)", path)
	}
	return serialport.Open(h.pts, mode)
}

// TestUnpluggedSerialSensor unplugs an MH-Z19's USB adapter: the driver
// asks to be reopened, the device goes unavailable and is opened again
// with backoff while the port is missing, and it works again on its own
// once the adapter is back.
func TestUnpluggedSerialSensor(t *testing.T) {
	cfg, err := ParseConfig("test.toml", []byte("[agent]\nid = \"n\"\nhardware = \"sim\"\n\n[mqtt]\nbroker = \"tcp://127.0.0.1:1883\"\n\n[[device]]\nid = \"dev\"\ndriver = \"mhz19\"\nport = \"/dev/ttyUSB0\"\nabc = false\ninterval = \"1m\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	host := &plugSerial{Host: sim.NewHost(nil), t: t}
	t.Cleanup(func() {
		host.unplug()
		host.Host.Close()
	})
	host.plug(555)
	h := newHarnessFor(t, cfg.Devices[0], host)
	h.waitPayload(h.state("co2"), "555")
	h.waitPayload(h.status(), "online")

	host.unplug()
	h.advance(time.Minute) // the poll finds the port gone
	h.waitPayload(h.status(), "offline")
	waitLog(t, h.logs, "device failed; entities unavailable, retrying", "/dev/ttyUSB0", "failures=1")
	h.advance(retryIn(t, h.logs, "device failed", 1) + time.Millisecond)
	waitLog(t, h.logs, "device failed", "unplugged", "failures=2")

	host.plug(777)
	h.advance(retryIn(t, h.logs, "device failed", 2) + time.Millisecond)
	h.waitPayload(h.state("co2"), "777")
	h.waitPayload(h.status(), "online")
	waitLog(t, h.logs, "device works again", "after_failures=2")
}
