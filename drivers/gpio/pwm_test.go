package gpio

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

// dutyOf is the duty cycle that shows level out of full (a brightness of
// 255, a percentage of 100; 0 for off), spelled out here rather than
// taken from the driver: level/full of the full duty, rounded, and the
// rest of it when the line is inverted.
func dutyOf(level, full int, inverted bool) gpio.Duty {
	d := gpio.Duty(math.Round(float64(level) * float64(gpio.DutyMax) / float64(full)))
	if inverted {
		d = gpio.DutyMax - d
	}
	return d
}

// checkSet checks a PWM line after the driver set it, on the simulated
// board's GPIO18: the driver's last PWM call was want, the line shows its
// duty cycle, and the device reported state for entity.
func checkSet(t *testing.T, what string, h *testHost, w *drivertest.Worker, entity string, state drivers.Value, want pwmCall) {
	t.Helper()
	if got := h.Line("GPIO18").Duty(); got != want.Duty {
		t.Errorf("%s: the line's duty cycle is %v, want %v", what, got, want.Duty)
	}
	if got := h.Line("GPIO18").Frequency(); got != want.Freq {
		t.Errorf("%s: the line's frequency is %v, want %v", what, got, want.Freq)
	}
	if v, ok := w.State(entity); !ok || !v.Equal(state) {
		t.Errorf("%s: reported %v (%t) for %q, want %v", what, v, ok, entity, state)
	}
}

// TestPWMOpen checks the start of a PWM line, a light's or a number's:
// one PWM call, at the power_on state and the configured frequency,
// reported as the entity's state.
func TestPWMOpen(t *testing.T) {
	light, number := pwmSrc, numberSrc
	for _, tc := range []struct {
		src    func(string) string
		cfg    string
		entity string
		duty   gpio.Duty
		freq   physic.Frequency
		want   drivers.Value
	}{
		{light, "", EntityLight, 0, physic.KiloHertz, drivers.LightState(false, 255)},
		{light, `power_on = "off"`, EntityLight, 0, physic.KiloHertz, drivers.LightState(false, 255)},
		{light, `power_on = "on"`, EntityLight, gpio.DutyMax, physic.KiloHertz, drivers.LightState(true, 255)},
		{light, "inverted = true", EntityLight, gpio.DutyMax, physic.KiloHertz, drivers.LightState(false, 255)},
		{light, "inverted = true\npower_on = \"on\"", EntityLight, 0, physic.KiloHertz, drivers.LightState(true, 255)},
		{light, `frequency = "200Hz"`, EntityLight, 0, 200 * physic.Hertz, drivers.LightState(false, 255)},
		{light, `frequency = "25kHz"`, EntityLight, 0, 25 * physic.KiloHertz, drivers.LightState(false, 255)},
		{number, "", EntityDuty, 0, physic.KiloHertz, drivers.Num(0, drivers.Percent)},
		{number, `power_on = "off"`, EntityDuty, 0, physic.KiloHertz, drivers.Num(0, drivers.Percent)},
		{number, `power_on = "on"`, EntityDuty, gpio.DutyMax, physic.KiloHertz, drivers.Num(100, drivers.Percent)},
		{number, "inverted = true", EntityDuty, gpio.DutyMax, physic.KiloHertz, drivers.Num(0, drivers.Percent)},
		{number, "inverted = true\npower_on = \"on\"", EntityDuty, 0, physic.KiloHertz, drivers.Num(100, drivers.Percent)},
		{number, `frequency = "25kHz"`, EntityDuty, 0, 25 * physic.KiloHertz, drivers.Num(0, drivers.Percent)},
	} {
		src := tc.src(tc.cfg)
		t.Run(src, func(t *testing.T) {
			h := newTestHost(t)
			lines := watchLines(h)
			w := drivertest.Open(t, newDevice(t, "strip", src), h)
			l := lines("GPIO18")
			if got, want := l.PWMs(), []pwmCall{{tc.duty, tc.freq}}; !slices.Equal(got, want) {
				t.Errorf("Open called PWM %v, want %v", got, want)
			}
			checkSet(t, "Open", h, w, tc.entity, tc.want, pwmCall{tc.duty, tc.freq})
			checkOnlyPWM(t, l, w, tc.entity, 0)
		})
	}
}

// TestPWMNoPWM checks a host without PWM: Open says so, for a light and a
// number alike.
func TestPWMNoPWM(t *testing.T) {
	for _, src := range []string{pwmSrc(""), numberSrc("")} {
		t.Run(src, func(t *testing.T) {
			_, err := drivertest.Start(t, newDevice(t, "strip", src), newPinHost())
			if !errors.Is(err, drivers.ErrUnsupported) || !strings.HasPrefix(err.Error(), `gpio "strip": `) || !strings.Contains(err.Error(), "GPIO18") {
				t.Errorf("Open on a host without PWM: error %v, want a prefixed one naming the line and wrapping ErrUnsupported", err)
			}
		})
	}
}

// refusal is a command that a device refuses with an error that starts
// with the driver and the device and says msg, and that wraps
// drivers.ErrUnsupported if unsupported.
type refusal struct {
	name        string
	entity      string
	c           drivers.Command
	unsupported bool
	msg         string
}

// checkRefused opens device id of src on GPIO18 of the simulated board,
// sends it each command of rs, and checks that it refuses them, and that
// the refused commands changed neither the line nor the state of entity
// since Open. It returns the device's worker.
func checkRefused(t *testing.T, id, src, entity string, rs []refusal) *drivertest.Worker {
	t.Helper()
	h := newTestHost(t)
	lines := watchLines(h)
	d := newDevice(t, id, src)
	w := drivertest.Open(t, d, h)
	l := lines("GPIO18")
	prefix := fmt.Sprintf("gpio %q: ", id)
	for _, tc := range rs {
		t.Run(tc.name, func(t *testing.T) {
			// The agent never sends these: call the device directly,
			// while its worker is idle.
			err := d.(drivers.Commander).Command(t.Context(), tc.entity, tc.c)
			if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Command(%q, %v) = %v, want an error starting %q and saying %q", tc.entity, tc.c, err, prefix, tc.msg)
			}
			if errors.Is(err, drivers.ErrUnsupported) != tc.unsupported {
				t.Errorf("error %v: wraps ErrUnsupported %t, want %t", err, !tc.unsupported, tc.unsupported)
			}
		})
	}
	if n := len(l.PWMs()); n != 1 {
		t.Errorf("refused commands set the duty cycle: %v", l.PWMs())
	}
	if n := len(w.States(entity)); n != 1 {
		t.Errorf("refused commands reported states: %v", w.States(entity))
	}
	return w
}

// checkOnlyPWM checks a PWM line that the driver opened and then set with
// n commands: it reported one state for each, for entity alone, and only
// ever set the line's duty cycle, with no Out and no read.
func checkOnlyPWM(t *testing.T, l *watched, w *drivertest.Worker, entity string, n int) {
	t.Helper()
	if got := len(w.States(entity)); got != n+1 || len(w.Reports()) != n+1 {
		t.Errorf("%d states for Open and %d commands, want one each: %v", got, n, w.Reports())
	}
	if len(l.Outs()) != 0 || l.Reads() != 0 {
		t.Errorf("the driver called Out %v and read the line %d times; a PWM line only sets its duty cycle", l.Outs(), l.Reads())
	}
}

// closeLeaves closes the device open on w, and checks that Close called
// PWM calls times and left the line at duty.
func closeLeaves(t *testing.T, h *testHost, l *watched, w *drivertest.Worker, calls int, duty gpio.Duty) {
	t.Helper()
	before := len(l.PWMs())
	if err := w.Close(t); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := len(l.PWMs()) - before; n != calls {
		t.Errorf("Close called PWM %d times (%v), want %d", n, l.PWMs()[before:], calls)
	}
	if got := h.Line("GPIO18").Duty(); got != duty {
		t.Errorf("after Close the duty cycle is %v, want %v", got, duty)
	}
}

// startFailing makes device id of src on a board whose GPIO18 refuses PWM
// while *fail, which it sets, and checks that Open fails with the line's
// error.
func startFailing(t *testing.T, id, src string) (*testHost, drivers.Device, *bool) {
	t.Helper()
	h := newTestHost(t)
	fail := true
	h.wrapPWM = func(p gpio.PinOut) gpio.PinOut { return failingOut{p.(gpio.PinIO), &fail} }
	d := newDevice(t, id, src)
	if _, err := drivertest.Start(t, d, h); !errors.Is(err, errBusy) || !strings.HasPrefix(err.Error(), fmt.Sprintf("gpio %q: ", id)) {
		t.Fatalf("Open: error %v, want the line's error, prefixed", err)
	}
	return h, d, &fail
}
