package bme280

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
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
	// skipP, skipT and skipH make one quantity's data registers read as
	// skipped (0x80000, 0x80000, 0x8000), as after its settings were lost.
	skipP, skipT, skipH bool
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
		case w[0] == regData && len(r) == 8:
			if s.skipP {
				copy(r[0:3], []byte{0x80, 0, 0})
			}
			if s.skipT {
				copy(r[3:6], []byte{0x80, 0, 0})
			}
			if s.skipH {
				copy(r[6:8], []byte{0x80, 0})
			}
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
	w    *drivertest.Worker // set by open
}

func newRig(t *testing.T, snippet string, env sim.Environment) *rig {
	t.Helper()
	r := &rig{host: drivertest.Host(t), chip: sim.NewBME280(env)}
	r.spy = &spyChip{inner: r.chip}
	if err := r.host.AddI2CChip("1", 0x76, r.spy); err != nil {
		t.Fatal(err)
	}
	r.dev = drivertest.Device[*Device](t, New, "attic", snippet)
	return r
}

// open opens the device on a worker, as the agent does.
func (r *rig) open(t *testing.T) {
	t.Helper()
	r.w = drivertest.Open(t, r.dev, r.host)
}

// polled is what one poll reported.
type polled struct {
	states      []drivertest.Report
	unavailable map[string]error
}

// poll polls through w and returns what that poll reported, or its error.
func poll(t *testing.T, w *drivertest.Worker) (polled, error) {
	t.Helper()
	before := len(w.Reports())
	err := w.Poll(t)
	p := polled{unavailable: map[string]error{}}
	for _, r := range w.Reports()[before:] {
		switch r.Kind {
		case "state":
			p.states = append(p.states, r)
		case "unavailable":
			p.unavailable[r.Entity] = r.Err
		default:
			t.Fatalf("a poll reported %+v", r)
		}
	}
	if err != nil && (len(p.states) > 0 || len(p.unavailable) > 0) {
		t.Fatalf("a poll that failed (%v) reported %+v", err, w.Reports()[before:])
	}
	return p, err
}

// values polls and returns the three states, checking that each comes
// once, in order, with its unit, and that nothing is unavailable.
func values(t *testing.T, w *drivertest.Worker) (temp, hum, press float64) {
	t.Helper()
	p, err := poll(t, w)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if len(p.unavailable) > 0 {
		t.Fatalf("unavailable: %v", p.unavailable)
	}
	want := []struct {
		id   string
		unit drivers.Unit
	}{{"temperature", drivers.Celsius}, {"humidity", drivers.Percent}, {"pressure", drivers.HectoPascal}}
	if len(p.states) != len(want) {
		t.Fatalf("got %d states, want %d: %+v", len(p.states), len(want), p.states)
	}
	var v [3]float64
	for i, w := range want {
		s := p.states[i]
		if s.Entity != w.id || s.Value.Kind != drivers.ValueNumber || s.Value.Unit != w.unit {
			t.Fatalf("state %d = %s %v, want a number in %s for %q", i, s.Entity, s.Value, w.unit, w.id)
		}
		v[i] = s.Value.Num
	}
	return v[0], v[1], v[2]
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

func TestPollMatchesEnvironment(t *testing.T) {
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
			temp, hum, press := values(t, r.w)
			if math.Abs(temp-(tt.env.TempC+tt.offset)) > 0.01 || math.Abs(hum-tt.env.Humidity) > 0.05 || math.Abs(press-tt.env.PressureHPa) > 0.02 {
				t.Errorf("%+v with %q, read %d: %.3f °C, %.3f %%, %.4f hPa", tt.env, tt.toml, i, temp, hum, press)
			}
		}
	}
}

func TestPollFollowsChangingEnvironment(t *testing.T) {
	weather := sim.DriftingWeather(3)
	r := newRig(t, "", weather)
	r.open(t)
	before := time.Now()
	temp, hum, press := values(t, r.w)
	after := time.Now()
	// The chip sampled the weather at some time in [before, after], however
	// long a loaded machine made that: the reading must lie within what the
	// weather was over the span, give or take the chip's resolution.
	lo, hi := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}, [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for at := before; ; at = at.Add(50 * time.Millisecond) {
		if at.After(after) {
			at = after
		}
		wt, wh, wp := weather.Sample(at)
		for i, v := range [3]float64{wt, wh, wp} {
			lo[i], hi[i] = min(lo[i], v), max(hi[i], v)
		}
		if at.Equal(after) {
			break
		}
	}
	tol := [3]float64{0.02, 0.05, 0.02}
	for i, v := range [3]float64{temp, hum, press} {
		if v < lo[i]-tol[i] || v > hi[i]+tol[i] {
			t.Errorf("read %.3f °C %.3f %% %.3f hPa; over the poll the weather went from %.3f to %.3f °C, %.3f to %.3f %%, %.3f to %.3f hPa",
				temp, hum, press, lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])
			break
		}
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

func TestPollWaitsTheMeasurementTimeOnTheHostClock(t *testing.T) {
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
		w := drivertest.Open(t, r.dev, h)
		if s := h.clock.take(); len(s) == 0 || s[0] != 2*time.Millisecond {
			t.Errorf("%q: Open slept %v; want 2 ms first, the start-up time after the reset", tt.toml, s)
		}
		r.spy.take()
		values(t, w)
		if s := h.clock.take(); len(s) == 0 || s[0] != tt.want {
			t.Errorf("%q: Poll slept %v; want %v first, the datasheet's maximum measurement time", tt.toml, s, tt.want)
		}
		// The trigger writes ctrl_hum before ctrl_meas, in one transaction.
		writes := r.spy.take()
		want := []byte{0xF2, tt.code, 0xF4, tt.code<<5 | tt.code<<2 | 1}
		if len(writes) == 0 || !bytes.Equal(writes[0], want) {
			t.Errorf("%q: writes of Poll = % x, want the first to be % x", tt.toml, writes, want)
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
			d := drivertest.Device[*Device](t, New, "attic", `bus = "1"`)
			w, err := drivertest.Start(t, d, h)
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
			// The agent closes a device whose Open failed.
			if w != nil {
				if err := w.Close(t); err != nil {
					t.Errorf("Close after a failed Open: %v", err)
				}
			}
			if err := d.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "not open") {
				t.Errorf("Poll after a failed Open and Close: err = %v, want not open", err)
			}
		})
	}
	t.Run("a host without I2C", func(t *testing.T) {
		d := drivertest.Device[*Device](t, New, "attic", "")
		_, err := drivertest.Start(t, d, bareHost{})
		if err == nil || !errors.Is(err, drivers.ErrUnsupported) || !strings.HasPrefix(err.Error(), `bme280 "attic": open: `) {
			t.Fatalf("Open on a host without I2C: err = %v, want an open error wrapping drivers.ErrUnsupported", err)
		}
	})
}

// bareHost is a host with a clock and a logger and no hardware.
type bareHost struct{}

func (bareHost) Clock() drivers.Clock { return drivers.SystemClock{} }
func (bareHost) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestOpenOtherAddress(t *testing.T) {
	h := drivertest.Host(t)
	if err := h.AddI2CChip("I2C1", 0x77, sim.NewBME280(sim.StaticWeather{TempC: 19, Humidity: 60, PressureHPa: 1000})); err != nil {
		t.Fatal(err)
	}
	d := drivertest.Device[*Device](t, New, "attic", `address = 0x77`+"\n"+`bus = "/dev/i2c-1"`)
	w := drivertest.Open(t, d, h)
	if temp, _, _ := values(t, w); math.Abs(temp-19) > 0.01 {
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
			values(t, r.w)
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
	values(t, r.w)

	r.chip.Fail(nil) // unplugged
	err := pollErr(t, r.w)
	if !strings.HasPrefix(err.Error(), `bme280 "attic": poll: `) || !errors.Is(err, syscall.EREMOTEIO) {
		t.Fatalf("poll of an unplugged sensor: err = %v, want a poll error wrapping EREMOTEIO", err)
	}
	if err := pollErr(t, r.w); !strings.Contains(err.Error(), "no answer at 0x76") {
		t.Fatalf("second poll of an unplugged sensor: err = %v, want it to look for the chip again", err)
	}
	if n := len(r.w.Reopens()); n != 0 {
		t.Errorf("the driver asked for %d reopens; it finds the chip again by itself", n)
	}

	r.chip.Recover() // plugged back in
	r.spy.take()
	if temp, hum, press := values(t, r.w); math.Abs(temp-23.5) > 0.01 || math.Abs(hum-45) > 0.05 || math.Abs(press-1001) > 0.02 {
		t.Errorf("after recovery: %.2f °C, %.2f %%, %.3f hPa", temp, hum, press)
	}
	if w := r.spy.take(); !isSetup(w) {
		t.Errorf("after recovery the driver wrote % x; want it to check the id, reset and recalibrate first", w)
	}

	values(t, r.w)
	if w := r.spy.take(); len(w) == 0 || w[0][0] != regCtrlHum {
		t.Errorf("a poll after a good poll began with % x, want the measurement trigger, not a new setup", w)
	}
}

func TestPollErrors(t *testing.T) {
	tests := []struct {
		name  string
		fault func(*spyChip)
		want  string
	}{
		{name: "measurement never ends", fault: func(s *spyChip) { s.stuck = true }, want: "wait for measurement: the chip stays busy"},
		{name: "status NACK", fault: func(s *spyChip) { s.failStatus = true }, want: "wait for measurement: read status"},
		{name: "power lost", fault: func(s *spyChip) { s.resetData = true }, want: "reset values"},
		{name: "temperature skipped", fault: func(s *spyChip) { s.skipT = true }, want: "skipped the temperature measurement"},
		{name: "everything skipped", fault: func(s *spyChip) { s.skipT, s.skipH, s.skipP = true, true, true }, want: "reset values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "", nil)
			r.open(t)
			r.spy.set(tt.fault)
			err := pollErr(t, r.w)
			if !strings.HasPrefix(err.Error(), `bme280 "attic": poll: `) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a poll error about %q", err, tt.want)
			}
			r.spy.set(func(s *spyChip) {
				s.stuck, s.failStatus, s.resetData = false, false, false
				s.skipP, s.skipT, s.skipH = false, false, false
			})
			values(t, r.w)
			if w := r.spy.take(); !isSetup(w) {
				t.Errorf("after a failed poll the driver wrote % x; want a fresh setup first", w)
			}
		})
	}
}

// TestPollSkippedQuantity checks that a quantity the chip skipped is
// reported unavailable on its own, the others still reported, and that
// the next poll sets the chip up afresh.
func TestPollSkippedQuantity(t *testing.T) {
	env := sim.StaticWeather{TempC: 20, Humidity: 40, PressureHPa: 990}
	tests := []struct {
		name    string
		fault   func(*spyChip)
		skipped []string
		read    []string
	}{
		{"humidity", func(s *spyChip) { s.skipH = true }, []string{"humidity"}, []string{"temperature", "pressure"}},
		{"pressure", func(s *spyChip) { s.skipP = true }, []string{"pressure"}, []string{"temperature", "humidity"}},
		{"both", func(s *spyChip) { s.skipH, s.skipP = true, true }, []string{"humidity", "pressure"}, []string{"temperature"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "", env)
			r.open(t)
			r.spy.set(tt.fault)
			p, err := poll(t, r.w)
			if err != nil {
				t.Fatalf("Poll: %v; a skipped quantity is no failure of the others", err)
			}
			var read []string
			for _, s := range p.states {
				read = append(read, s.Entity)
			}
			if !slices.Equal(read, tt.read) {
				t.Errorf("read %v, want %v", read, tt.read)
			}
			if v := p.states[0].Value; math.Abs(v.Num-20) > 0.01 {
				t.Errorf("temperature %v, want 20 °C", v)
			}
			for _, id := range tt.skipped {
				err := p.unavailable[id]
				if err == nil || !strings.HasPrefix(err.Error(), `bme280 "attic": poll: `) || !strings.Contains(err.Error(), "skipped the "+id+" measurement") {
					t.Errorf("%s unavailable with %v, want the skipped measurement", id, err)
				}
			}
			if len(p.unavailable) != len(tt.skipped) {
				t.Errorf("unavailable %v, want %v", p.unavailable, tt.skipped)
			}

			r.spy.set(func(s *spyChip) { s.skipH, s.skipP = false, false })
			r.spy.take()
			values(t, r.w)
			if w := r.spy.take(); !isSetup(w) {
				t.Errorf("after a skipped measurement the driver wrote % x; want a fresh setup first", w)
			}
			for _, id := range tt.skipped {
				if err := r.w.Unavailable(id); err != nil {
					t.Errorf("%s still unavailable after a state: %v", id, err)
				}
			}
		})
	}
}

func TestPollCanceled(t *testing.T) {
	r := newRig(t, "oversampling = 16", nil)
	r.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Called directly: the worker is idle between calls.
	if err := r.dev.Poll(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	r.spy.take()
	values(t, r.w)
	if w := r.spy.take(); len(w) == 0 || w[0][0] != regCtrlHum {
		t.Errorf("a cancellation made the next poll start with % x; the sensor did not fail, so no new setup is needed", w)
	}
}

func TestPollBeforeOpenAndAfterClose(t *testing.T) {
	r := newRig(t, "", nil)
	if err := r.dev.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Errorf("Poll before Open: err = %v", err)
	}
	r.open(t)
	if err := r.w.Close(t); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Errorf("Poll after Close: err = %v", err)
	}
	// Opening again works: the agent reopens devices after a failure.
	r.open(t)
	r.spy.take()
	values(t, r.w)
}

// TestSimModel checks the driver against the model the simulated host
// attaches for its claims, as the demo does.
func TestSimModel(t *testing.T) {
	h := drivertest.Host(t)
	d := drivertest.Device[*Device](t, New, "attic", `bus = "I2C3"`+"\naddress = 0x77")
	if err := sim.Attach(h, "bme280", d.Claims(), 7); err != nil {
		t.Fatal(err)
	}
	temp, hum, press := values(t, drivertest.Open(t, d, h))
	if temp < -40 || temp > 85 || hum < 0 || hum > 100 || press < 300 || press > 1100 {
		t.Errorf("read %.2f °C %.2f %% %.2f hPa from the simulated model; want values within the chip's range", temp, hum, press)
	}
}

func TestRegistered(t *testing.T) {
	drivertest.Registered[*Device](t, "bme280", SampleConfig, "")
	drv, ok := drivers.Lookup("bme280")
	if !ok {
		t.Fatal("bme280 is not registered")
	}
	if drv.DefaultInterval != time.Minute {
		t.Errorf("DefaultInterval = %v, want 1m", drv.DefaultInterval)
	}
	if drv.Description == "" || strings.Contains(drv.Description, "\n") {
		t.Errorf("Description = %q, want one line", drv.Description)
	}
	dev, err := drv.New(drivertest.Config(t, "attic", ""))
	if err != nil {
		t.Fatal(err)
	}
	if info := dev.Info(); info != (drivers.Info{Manufacturer: "Bosch", Model: "BME280"}) {
		t.Errorf("Info() = %+v", info)
	}
	sensor := func(class string, unit drivers.Unit) drivers.Sensor {
		return drivers.Sensor{Class: class, Unit: unit, State: drivers.StateMeasurement, Precision: 1}
	}
	want := []drivers.Entity{
		{ID: "temperature", Name: "Temperature", Spec: sensor(drivers.ClassTemperature, drivers.Celsius)},
		{ID: "humidity", Name: "Humidity", Spec: sensor(drivers.ClassHumidity, drivers.Percent)},
		{ID: "pressure", Name: "Pressure", Spec: sensor(drivers.ClassPressure, drivers.HectoPascal)},
	}
	if got := dev.Entities(); !slices.Equal(got, want) {
		t.Errorf("Entities() = %+v\nwant %+v", got, want)
	}
	if _, ok := dev.(drivers.Poller); !ok {
		t.Error("the device is not a Poller")
	}
	if _, ok := dev.(drivers.Commander); ok {
		t.Error("the device is a Commander; a BME280 takes no commands")
	}
}
