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

func pwmSrc(extra string) string {
	return "pin = \"GPIO18\"\nmode = \"pwm\"\n" + extra
}

// wantDuty is the duty cycle that shows brightness b (0 for off), spelled
// out here rather than taken from the driver: b/255 of the full duty,
// rounded, and the rest of it when the line is inverted.
func wantDuty(b int, inverted bool) gpio.Duty {
	d := gpio.Duty(math.Round(float64(b) * float64(gpio.DutyMax) / 255))
	if inverted {
		d = gpio.DutyMax - d
	}
	return d
}

func on(b float64) drivers.Command {
	return drivers.Command{Action: drivers.ActionOn, Value: drivers.Num(b, "")}
}

// TestLightOpen checks the start of a light: one PWM call, at the
// power_on state and the configured frequency, reported as a light state.
func TestLightOpen(t *testing.T) {
	for _, tc := range []struct {
		cfg  string
		duty gpio.Duty
		freq physic.Frequency
		want drivers.Value
	}{
		{"", 0, physic.KiloHertz, drivers.LightState(false, 255)},
		{`power_on = "off"`, 0, physic.KiloHertz, drivers.LightState(false, 255)},
		{`power_on = "on"`, gpio.DutyMax, physic.KiloHertz, drivers.LightState(true, 255)},
		{"inverted = true", gpio.DutyMax, physic.KiloHertz, drivers.LightState(false, 255)},
		{"inverted = true\npower_on = \"on\"", 0, physic.KiloHertz, drivers.LightState(true, 255)},
		{`frequency = "200Hz"`, 0, 200 * physic.Hertz, drivers.LightState(false, 255)},
		{`frequency = "25kHz"`, 0, 25 * physic.KiloHertz, drivers.LightState(false, 255)},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			h := newTestHost(t)
			lines := watchLines(h)
			d := newDevice(t, "strip", pwmSrc(tc.cfg))
			w := drivertest.Open(t, d, h)
			l := lines("GPIO18")
			if got, want := l.PWMs(), []pwmCall{{tc.duty, tc.freq}}; !slices.Equal(got, want) {
				t.Errorf("Open called PWM %v, want %v", got, want)
			}
			if got := h.Line("GPIO18").Duty(); got != tc.duty {
				t.Errorf("the line's duty cycle is %v, want %v", got, tc.duty)
			}
			if v, ok := w.State(EntityLight); !ok || !v.Equal(tc.want) {
				t.Errorf("Open reported %v (%t), want %v", v, ok, tc.want)
			}
			if len(l.Outs()) != 0 || l.Reads() != 0 {
				t.Errorf("the driver called Out %v and read the line %d times; a light only sets its duty cycle", l.Outs(), l.Reads())
			}
		})
	}
}

// TestLightCommand dims a light through a sequence of commands and checks
// the duty cycle and the state after each: brightness maps to the duty
// cycle, OFF is a duty cycle of 0 and keeps the brightness, and ON without
// a brightness restores it.
func TestLightCommand(t *testing.T) {
	steps := []struct {
		c      drivers.Command
		bright int // the duty cycle's brightness, 0 for off
		state  drivers.Value
	}{
		{on(128), 128, drivers.LightState(true, 128)},
		{command(drivers.ActionOff), 0, drivers.LightState(false, 128)},
		{command(drivers.ActionOn), 128, drivers.LightState(true, 128)},
		{on(255), 255, drivers.LightState(true, 255)},
		{on(1), 1, drivers.LightState(true, 1)},
		{on(63.6), 64, drivers.LightState(true, 64)}, // rounded
		{on(1.4), 1, drivers.LightState(true, 1)},
		{command(drivers.ActionOff), 0, drivers.LightState(false, 1)},
		{command(drivers.ActionOff), 0, drivers.LightState(false, 1)},
		{on(200), 200, drivers.LightState(true, 200)},
	}
	for _, inverted := range []bool{false, true} {
		t.Run(fmt.Sprintf("inverted=%t", inverted), func(t *testing.T) {
			h := newTestHost(t)
			lines := watchLines(h)
			d := newDevice(t, "strip", pwmSrc(fmt.Sprintf("inverted = %t\nfrequency = \"2kHz\"", inverted)))
			w := drivertest.Open(t, d, h)
			l := lines("GPIO18")
			for i, s := range steps {
				if err := w.Command(t, EntityLight, s.c); err != nil {
					t.Fatalf("step %d: %v: %v", i, s.c, err)
				}
				pwms := l.PWMs()
				want := pwmCall{wantDuty(s.bright, inverted), 2 * physic.KiloHertz}
				if got := pwms[len(pwms)-1]; got != want {
					t.Errorf("step %d: %v: PWM %v, want %v", i, s.c, got, want)
				}
				if got := h.Line("GPIO18").Duty(); got != want.Duty {
					t.Errorf("step %d: %v: the line's duty cycle is %v, want %v", i, s.c, got, want.Duty)
				}
				if v, _ := w.State(EntityLight); !v.Equal(s.state) {
					t.Errorf("step %d: %v: reported %v, want %v", i, s.c, v, s.state)
				}
			}
			if n := len(w.States(EntityLight)); n != len(steps)+1 {
				t.Errorf("%d states for Open and %d commands, want one each", n, len(steps))
			}
			if len(l.Outs()) != 0 || l.Reads() != 0 {
				t.Errorf("the driver called Out %v and read the line %d times", l.Outs(), l.Reads())
			}
		})
	}
}

// TestLightCommandRefused checks commands a light does not take: each is
// an error, and changes neither the line nor the state.
func TestLightCommandRefused(t *testing.T) {
	h := newTestHost(t)
	lines := watchLines(h)
	d := newDevice(t, "strip", pwmSrc(`power_on = "on"`))
	w := drivertest.Open(t, d, h)
	l := lines("GPIO18")
	for _, tc := range []struct {
		name        string
		entity      string
		c           drivers.Command
		unsupported bool
		msg         string
	}{
		{"brightness 0", EntityLight, on(0), false, "brightness 0 is out of range"},
		{"brightness 0.4", EntityLight, on(0.4), false, "brightness 0.4 is out of range"},
		{"brightness 256", EntityLight, on(256), false, "brightness 256 is out of range: it is 1 to 255"},
		{"brightness -1", EntityLight, on(-1), false, "out of range"},
		{"brightness NaN", EntityLight, on(math.NaN()), false, "out of range"},
		{"brightness as text", EntityLight, drivers.Command{Action: drivers.ActionOn, Value: drivers.Text("50")}, true, ""},
		{"press", EntityLight, command(drivers.ActionPress), true, ""},
		{"set", EntityLight, drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(50, "")}, true, ""},
		{"relay entity", EntityRelay, command(drivers.ActionOn), true, "no such entity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The agent never sends these: call the device directly,
			// while its worker is idle.
			err := d.(drivers.Commander).Command(t.Context(), tc.entity, tc.c)
			if err == nil || !strings.HasPrefix(err.Error(), `gpio "strip": `) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Command(%q, %v) = %v, want a prefixed error saying %q", tc.entity, tc.c, err, tc.msg)
			}
			if errors.Is(err, drivers.ErrUnsupported) != tc.unsupported {
				t.Errorf("error %v: wraps ErrUnsupported %t, want %t", err, !tc.unsupported, tc.unsupported)
			}
		})
	}
	if n := len(l.PWMs()); n != 1 {
		t.Errorf("refused commands set the duty cycle: %v", l.PWMs())
	}
	if n := len(w.States(EntityLight)); n != 1 {
		t.Errorf("refused commands reported states: %v", w.States(EntityLight))
	}
}

// TestLightOnExit checks what Close leaves on the line, and that opening
// again restores the commanded state, not power_on.
func TestLightOnExit(t *testing.T) {
	for _, tc := range []struct {
		onExit string
		duty   gpio.Duty // after Close, from brightness 100
		calls  int       // PWM calls by Close
	}{
		{"keep", wantDuty(100, false), 0},
		{"off", 0, 1},
		{"on", wantDuty(100, false), 1},
	} {
		t.Run(tc.onExit, func(t *testing.T) {
			h := newTestHost(t)
			lines := watchLines(h)
			d := newDevice(t, "strip", pwmSrc(fmt.Sprintf("on_exit = %q", tc.onExit)))
			w := drivertest.Open(t, d, h)
			l := lines("GPIO18")
			if err := w.Command(t, EntityLight, on(100)); err != nil {
				t.Fatal(err)
			}
			if tc.onExit == "on" {
				if err := w.Command(t, EntityLight, command(drivers.ActionOff)); err != nil {
					t.Fatal(err)
				}
			}
			before := len(l.PWMs())
			if err := w.Close(t); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if n := len(l.PWMs()) - before; n != tc.calls {
				t.Errorf("Close called PWM %d times (%v), want %d", n, l.PWMs()[before:], tc.calls)
			}
			if got := h.Line("GPIO18").Duty(); got != tc.duty {
				t.Errorf("after Close the duty cycle is %v, want %v", got, tc.duty)
			}
			// Reopening restores what the light was left at.
			w = drivertest.Open(t, d, h)
			pwms := l.PWMs()
			if got := pwms[len(pwms)-1]; got.Duty != tc.duty {
				t.Errorf("reopen: PWM %v, want duty %v", got, tc.duty)
			}
			if v, _ := w.State(EntityLight); !v.Equal(drivers.LightState(tc.duty != 0, 100)) {
				t.Errorf("reopen reported %v, want %v", v, drivers.LightState(tc.duty != 0, 100))
			}
		})
	}
}

// TestLightPWMFails checks a line that refuses PWM: Open fails with its
// error, and so does a command, which then reports nothing.
func TestLightPWMFails(t *testing.T) {
	h := newTestHost(t)
	fail := true
	h.wrapPWM = func(p gpio.PinOut) gpio.PinOut { return failingOut{p.(gpio.PinIO), &fail} }
	d := newDevice(t, "strip", pwmSrc(""))
	if _, err := drivertest.Start(t, d, h); !errors.Is(err, errBusy) || !strings.HasPrefix(err.Error(), `gpio "strip": `) {
		t.Fatalf("Open: error %v, want the line's error, prefixed", err)
	}
	fail = false
	w := drivertest.Open(t, d, h)
	fail = true
	if err := w.Command(t, EntityLight, on(10)); !errors.Is(err, errBusy) {
		t.Errorf("Command: error %v, want the line's error", err)
	}
	if n := len(w.States(EntityLight)); n != 1 {
		t.Errorf("a failed command reported a state: %v", w.States(EntityLight))
	}
	if err := w.Command(t, EntityLight, command(drivers.ActionOn)); !errors.Is(err, errBusy) {
		t.Errorf("Command: error %v, want the line's error", err)
	}
	fail = false
	if err := w.Command(t, EntityLight, command(drivers.ActionOn)); err != nil {
		t.Fatal(err)
	}
	// The failed ON 10 did not change the brightness that ON restores.
	if v, _ := w.State(EntityLight); !v.Equal(drivers.LightState(true, 255)) {
		t.Errorf("ON after failed commands reported %v, want full brightness", v)
	}
}

// TestLightNoPWM checks a host without PWM: Open says so.
func TestLightNoPWM(t *testing.T) {
	d := newDevice(t, "strip", pwmSrc(""))
	_, err := drivertest.Start(t, d, newPinHost())
	if !errors.Is(err, drivers.ErrUnsupported) || !strings.HasPrefix(err.Error(), `gpio "strip": `) || !strings.Contains(err.Error(), "GPIO18") {
		t.Errorf("Open on a host without PWM: error %v, want a prefixed one naming the line and wrapping ErrUnsupported", err)
	}
}
