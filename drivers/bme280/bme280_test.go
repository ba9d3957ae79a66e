package bme280

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/drivers/sim"
)

// spyChip sits between the bus and a chip: it records what the driver
// writes and can make the chip look stuck or freshly reset.
type spyChip struct {
	inner sim.Chip

	mu         sync.Mutex
	writes     [][]byte
	stuck      bool // status always reads "measuring"
	resetData  bool // data registers read as after a power-on
	failStatus bool // reads of status NACK
}

func (s *spyChip) Tx(w, r []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, bytes.Clone(w))
	if s.failStatus && len(w) == 1 && w[0] == regStatus {
		return syscall.EREMOTEIO
	}
	if err := s.inner.Tx(w, r); err != nil {
		return err
	}
	if len(w) == 1 && len(r) > 0 {
		switch {
		case w[0] == regStatus && s.stuck:
			r[0] |= statusMeasuring
		case w[0] == regData && s.resetData:
			copy(r, []byte{0x80, 0, 0, 0x80, 0, 0, 0x80, 0})
		}
	}
	return nil
}

// take returns the writes since the last call.
func (s *spyChip) take() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.writes
	s.writes = nil
	return w
}

func (s *spyChip) set(f func(*spyChip)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// idChip answers like a chip that is not a BME280: id at 0xD0, status
// at 0xF3, zero elsewhere.
type idChip struct{ id, status byte }

func (c idChip) Tx(w, r []byte) error {
	clear(r)
	if len(w) == 1 && len(r) > 0 {
		switch w[0] {
		case regChipID:
			r[0] = c.id
		case regStatus:
			r[0] = c.status
		}
	}
	return nil
}

// rig is a device on a simulated board with a BME280 at 0x76 on bus 1.
type rig struct {
	host *sim.Host
	chip *sim.BME280
	spy  *spyChip
	dev  *Device
}

func newRig(t *testing.T, snippet string, env sim.Environment) *rig {
	t.Helper()
	r := &rig{host: drivertest.Host(t), chip: sim.NewBME280(env)}
	r.spy = &spyChip{inner: r.chip}
	if err := r.host.AddI2CChip("1", 0x76, r.spy); err != nil {
		t.Fatal(err)
	}
	d, err := New(drivertest.Config(t, "attic", snippet))
	if err != nil {
		t.Fatal(err)
	}
	r.dev = d
	return r
}

func (r *rig) open(t *testing.T) {
	t.Helper()
	if err := r.dev.Open(context.Background(), r.host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.dev.Close() })
}

// values returns the readings by entity, checking that each has its unit.
func values(t *testing.T, rs []drivers.Reading) (temp, hum, press float64) {
	t.Helper()
	want := []struct {
		id   string
		unit drivers.Unit
	}{{"temperature", drivers.Celsius}, {"humidity", drivers.Percent}, {"pressure", drivers.HectoPascal}}
	if len(rs) != len(want) {
		t.Fatalf("got %d readings, want %d: %v", len(rs), len(want), rs)
	}
	var v [3]float64
	for i, w := range want {
		if rs[i].Entity != w.id || rs[i].Value.Kind != drivers.ValueNumber || rs[i].Value.Unit != w.unit {
			t.Fatalf("reading %d = %s %v, want a number in %s for %q", i, rs[i].Entity, rs[i].Value, w.unit, w.id)
		}
		v[i] = rs[i].Value.Num
	}
	return v[0], v[1], v[2]
}

func TestReadMatchesEnvironment(t *testing.T) {
	var (
		mild = sim.StaticWeather{TempC: 21, Humidity: 50, PressureHPa: 1013.25}
		cold = sim.StaticWeather{TempC: -10.57, Humidity: 85.31, PressureHPa: 960.123}
		hot  = sim.StaticWeather{TempC: 35.26, Humidity: 20.14, PressureHPa: 1040.5}
	)
	tests := []struct {
		env    sim.StaticWeather
		toml   string
		offset float64
	}{
		{env: mild},
		{env: cold},
		{env: hot},
		{env: cold, toml: "oversampling = 16"},
		{env: hot, toml: "oversampling = 2"},
		{env: mild, toml: "oversampling = 4\ntemperature_offset = -1.25", offset: -1.25},
	}
	for _, tt := range tests {
		r := newRig(t, tt.toml, tt.env)
		r.open(t)
		for i := range 2 { // the second read must not depend on state left by the first
			rs, err := r.dev.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			temp, hum, press := values(t, rs)
			if math.Abs(temp-(tt.env.TempC+tt.offset)) > 0.01 || math.Abs(hum-tt.env.Humidity) > 0.05 || math.Abs(press-tt.env.PressureHPa) > 0.02 {
				t.Errorf("%+v with %q, read %d: %.3f °C, %.3f %%, %.4f hPa", tt.env, tt.toml, i, temp, hum, press)
			}
		}
	}
}

func TestReadFollowsChangingEnvironment(t *testing.T) {
	r := newRig(t, "", sim.DriftingWeather(3))
	r.open(t)
	rs, err := r.dev.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	temp, hum, press := values(t, rs)
	// The chip sampled the weather some time between before and after.
	wt, wh, wp := sim.DriftingWeather(3).Sample(time.Now())
	if math.Abs(temp-wt) > 0.05 || math.Abs(hum-wh) > 0.1 || math.Abs(press-wp) > 0.05 {
		t.Errorf("read %.2f °C %.2f %% %.3f hPa; the weather is %.2f °C %.2f %% %.3f hPa", temp, hum, press, wt, wh, wp)
	}
}

// recordingClock sleeps for real but remembers what it was asked.
type recordingClock struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (c *recordingClock) Now() time.Time { return time.Now() }

func (c *recordingClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return drivers.SystemClock{}.Sleep(ctx, d)
}

func (c *recordingClock) take() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sleeps
	c.sleeps = nil
	return s
}

// clockHost is the simulated board with a clock the test watches.
type clockHost struct {
	*sim.Host
	clock *recordingClock
}

func (h clockHost) Clock() drivers.Clock { return h.clock }

func TestReadWaitsTheMeasurementTimeOnTheHostClock(t *testing.T) {
	for _, tt := range []struct {
		toml string
		code byte // osrs code in the registers
		want time.Duration
	}{
		{"", 1, 9300 * time.Microsecond},
		{"oversampling = 2", 2, 16200 * time.Microsecond},
		{"oversampling = 16", 5, 112800 * time.Microsecond},
	} {
		r := newRig(t, tt.toml, nil)
		h := clockHost{Host: r.host, clock: &recordingClock{}}
		if err := r.dev.Open(context.Background(), h); err != nil {
			t.Fatal(err)
		}
		if s := h.clock.take(); len(s) == 0 || s[0] != 2*time.Millisecond {
			t.Errorf("%q: Open slept %v; want 2 ms first, the start-up time after the reset", tt.toml, s)
		}
		r.spy.take()
		if _, err := r.dev.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s := h.clock.take(); len(s) == 0 || s[0] != tt.want {
			t.Errorf("%q: Read slept %v; want %v first, the datasheet's maximum measurement time", tt.toml, s, tt.want)
		}
		// The trigger writes ctrl_hum before ctrl_meas, in one transaction.
		writes := r.spy.take()
		want := []byte{0xF2, tt.code, 0xF4, tt.code<<5 | tt.code<<2 | 1}
		if len(writes) == 0 || !bytes.Equal(writes[0], want) {
			t.Errorf("%q: writes of Read = % x, want the first to be % x", tt.toml, writes, want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name   string
		bus    string
		addr   uint16
		chip   sim.Chip
		want   []string
		wantIs error
	}{
		{name: "no chip at the address", bus: "1", addr: 0x77, chip: sim.NewBME280(nil),
			want: []string{"no answer at 0x76 on I2C bus 1", "0x77"}, wantIs: syscall.EREMOTEIO},
		{name: "no such bus", bus: "2", addr: 0x76, chip: sim.NewBME280(nil),
			want: []string{`"1"`}},
		{name: "BMP280", bus: "1", addr: 0x76, chip: idChip{id: 0x58},
			want: []string{"BMP280", "0x58", "no humidity", "0x76"}},
		{name: "BMP280 sample", bus: "1", addr: 0x76, chip: idChip{id: 0x56},
			want: []string{"BMP280", "0x56"}},
		{name: "BME680", bus: "1", addr: 0x76, chip: idChip{id: 0x61},
			want: []string{"BME680", "0x61"}},
		{name: "another chip", bus: "1", addr: 0x76, chip: idChip{id: 0x55},
			want: []string{"id 0x55", "0x76 on I2C bus 1", "is the BME280 at 0x77"}},
		{name: "blank calibration", bus: "1", addr: 0x76, chip: idChip{id: 0x60},
			want: []string{"calibration", "blank"}},
		{name: "stuck copying calibration", bus: "1", addr: 0x76, chip: idChip{id: 0x60, status: 0x01},
			want: []string{"after reset", "busy", "0x01"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := drivertest.Host(t)
			if err := h.AddI2CChip(tt.bus, tt.addr, tt.chip); err != nil {
				t.Fatal(err)
			}
			d, err := New(drivertest.Config(t, "attic", `bus = "1"`))
			if err != nil {
				t.Fatal(err)
			}
			err = d.Open(context.Background(), h)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `bme280 "attic": open: `) {
				t.Errorf("error %q lacks the driver, device and step", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %v", msg, tt.wantIs)
			}
			if _, err := d.Read(context.Background()); err == nil {
				t.Error("Read succeeded after a failed Open")
			}
		})
	}
}

func TestOpenOtherAddress(t *testing.T) {
	h := drivertest.Host(t)
	if err := h.AddI2CChip("I2C1", 0x77, sim.NewBME280(sim.StaticWeather{TempC: 19, Humidity: 60, PressureHPa: 1000})); err != nil {
		t.Fatal(err)
	}
	d, err := New(drivertest.Config(t, "attic", `address = 0x77`+"\n"+`bus = "/dev/i2c-1"`))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Open(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	rs, err := d.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if temp, _, _ := values(t, rs); math.Abs(temp-19) > 0.01 {
		t.Errorf("temperature %.2f, want 19", temp)
	}
}

// TestOpenResetsWhatAnotherProgramLeft checks that Open's soft reset
// clears the settings another program may have left in the chip: an IIR
// filter would smooth and delay every reading, and a chip left in normal
// mode keeps measuring on its own.
func TestOpenResetsWhatAnotherProgramLeft(t *testing.T) {
	const regConfig = 0xF5 // t_sb[7:5], filter[4:2]; the driver never writes it
	tests := []struct {
		name string
		left []byte // register, value pairs written before Open
	}{
		// t_sb 1 s, IIR filter 16; humidity ×16.
		{"filter and standby in sleep mode", []byte{regConfig, 0xB0, regCtrlHum, 0x05}},
		// config first, as the chip ignores it in normal mode; then
		// temperature and pressure ×16 in normal mode.
		{"measuring in normal mode", []byte{regConfig, 0xA0, regCtrlHum, 0x05, regCtrlMeas, 0xB7}},
	}
	// ctrl returns ctrl_hum, ctrl_meas and config.
	ctrl := func(t *testing.T, c sim.Chip) []byte {
		t.Helper()
		b := make([]byte, 4) // 0xF2-0xF5, status at 0xF3 in between
		if err := c.Tx([]byte{regCtrlHum}, b); err != nil {
			t.Fatal(err)
		}
		return []byte{b[0], b[2], b[3]}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "", nil)
			if err := r.chip.Tx(tt.left, nil); err != nil {
				t.Fatal(err)
			}
			want := map[byte]byte{regCtrlMeas: 0}
			for i := 0; i < len(tt.left); i += 2 {
				want[tt.left[i]] = tt.left[i+1]
			}
			if got := ctrl(t, r.chip); !bytes.Equal(got, []byte{want[regCtrlHum], want[regCtrlMeas], want[regConfig]}) {
				t.Fatalf("before Open: ctrl_hum, ctrl_meas, config = % x, want what was written (% x); the test cannot tell whether Open clears them", got, tt.left)
			}
			r.open(t)
			// The datasheet's reset values (5.4.2-5.4.6): all zero, sleep mode.
			if got := ctrl(t, r.chip); !bytes.Equal(got, []byte{0, 0, 0}) {
				t.Errorf("after Open: ctrl_hum, ctrl_meas, config = % x, want 00 00 00: the soft reset did not clear what was left", got)
			}
			if _, err := r.dev.Read(context.Background()); err != nil {
				t.Fatal(err)
			}
			// A read sets its oversampling and the chip goes back to sleep;
			// neither the filter nor normal mode comes back.
			if got := ctrl(t, r.chip); got[0] != 0x01 || got[1]&0x03 != 0 || got[2] != 0 {
				t.Errorf("after a read: ctrl_hum, ctrl_meas, config = % x, want 01, sleep mode and 00", got)
			}
		})
	}
}

// isSetup reports whether writes begin like the driver's setup: chip id,
// reset, then both calibration blocks.
func isSetup(writes [][]byte) bool {
	var regs []byte
	for _, w := range writes {
		regs = append(regs, w[0])
	}
	i := bytes.Index(regs, []byte{regChipID, regReset})
	return i == 0 && bytes.Contains(regs, []byte{regCalibTP, regCalibH})
}

func TestNACKThenRecovery(t *testing.T) {
	env := sim.StaticWeather{TempC: 23.5, Humidity: 45, PressureHPa: 1001}
	r := newRig(t, "", env)
	r.open(t)
	if _, err := r.dev.Read(context.Background()); err != nil {
		t.Fatal(err)
	}

	r.chip.Fail(nil) // unplugged
	_, err := r.dev.Read(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), `bme280 "attic": read: `) || !errors.Is(err, syscall.EREMOTEIO) {
		t.Fatalf("read of an unplugged sensor: err = %v, want a read error wrapping EREMOTEIO", err)
	}
	_, err = r.dev.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no answer at 0x76") {
		t.Fatalf("second read of an unplugged sensor: err = %v, want it to look for the chip again", err)
	}

	r.chip.Recover() // plugged back in
	r.spy.take()
	rs, err := r.dev.Read(context.Background())
	if err != nil {
		t.Fatalf("read after the sensor came back: %v", err)
	}
	if temp, hum, press := values(t, rs); math.Abs(temp-23.5) > 0.01 || math.Abs(hum-45) > 0.05 || math.Abs(press-1001) > 0.02 {
		t.Errorf("after recovery: %.2f °C, %.2f %%, %.3f hPa", temp, hum, press)
	}
	if w := r.spy.take(); !isSetup(w) {
		t.Errorf("after recovery the driver wrote % x; want it to check the id, reset and recalibrate first", w)
	}

	if _, err := r.dev.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := r.spy.take(); len(w) == 0 || w[0][0] != regCtrlHum {
		t.Errorf("a read after a good read began with % x, want the measurement trigger, not a new setup", w)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name  string
		fault func(*spyChip)
		want  string
	}{
		{name: "measurement never ends", fault: func(s *spyChip) { s.stuck = true }, want: "wait for measurement: the chip stays busy"},
		{name: "status NACK", fault: func(s *spyChip) { s.failStatus = true }, want: "wait for measurement: read status"},
		{name: "power lost", fault: func(s *spyChip) { s.resetData = true }, want: "reset values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "", nil)
			r.open(t)
			r.spy.set(tt.fault)
			_, err := r.dev.Read(context.Background())
			if err == nil || !strings.HasPrefix(err.Error(), `bme280 "attic": read: `) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a read error about %q", err, tt.want)
			}
			r.spy.set(func(s *spyChip) { s.stuck, s.failStatus, s.resetData = false, false, false })
			if _, err := r.dev.Read(context.Background()); err != nil {
				t.Fatalf("read after the fault cleared: %v", err)
			}
			if w := r.spy.take(); !isSetup(w) {
				t.Errorf("after a failed read the driver wrote % x; want a fresh setup first", w)
			}
		})
	}
}

func TestReadCanceled(t *testing.T) {
	r := newRig(t, "oversampling = 16", nil)
	r.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.dev.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	r.spy.take()
	if _, err := r.dev.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := r.spy.take(); len(w) == 0 || w[0][0] != regCtrlHum {
		t.Errorf("a cancellation made the next read start with % x; the sensor did not fail, so no new setup is needed", w)
	}
}

func TestReadBeforeOpenAndAfterClose(t *testing.T) {
	r := newRig(t, "", nil)
	if _, err := r.dev.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Errorf("Read before Open: err = %v", err)
	}
	r.open(t)
	if err := r.dev.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.dev.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Errorf("Read after Close: err = %v", err)
	}
	// Opening again works: the agent reopens devices after a restart.
	r.open(t)
	if _, err := r.dev.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestDescription(t *testing.T) {
	f, ok := drivers.Lookup("bme280")
	if !ok {
		t.Fatal("bme280 is not registered")
	}
	dev, err := f(drivertest.Config(t, "attic", ""))
	if err != nil {
		t.Fatal(err)
	}
	if info := dev.Info(); info != (drivers.Info{Manufacturer: "Bosch", Model: "BME280"}) {
		t.Errorf("Info() = %+v", info)
	}
	want := []drivers.Entity{
		{ID: "temperature", Name: "Temperature", Kind: drivers.KindSensor, Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1},
		{ID: "humidity", Name: "Humidity", Kind: drivers.KindSensor, Class: drivers.ClassHumidity, Unit: drivers.Percent, State: drivers.StateMeasurement, Precision: 1},
		{ID: "pressure", Name: "Pressure", Kind: drivers.KindSensor, Class: drivers.ClassPressure, Unit: drivers.HectoPascal, State: drivers.StateMeasurement, Precision: 1},
	}
	got := dev.Entities()
	if len(got) != len(want) {
		t.Fatalf("Entities() = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entity %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, ok := dev.(drivers.Reader); !ok {
		t.Error("the device is not a Reader")
	}
}
