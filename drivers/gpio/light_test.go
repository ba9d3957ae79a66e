package gpio

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

func pwmSrc(extra string) string {
	return "pin = \"GPIO18\"\nmode = \"pwm\"\n" + extra
}

// wantDuty is the duty cycle that shows brightness b (0 for off).
func wantDuty(b int, inverted bool) gpio.Duty {
	return dutyOf(b, 255, inverted)
}

func on(b float64) drivers.Command {
	return drivers.Command{Action: drivers.ActionOn, Value: drivers.Num(b, "")}
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
				checkSet(t, fmt.Sprintf("step %d: %v", i, s.c), h, w, EntityLight, s.state, pwmCall{wantDuty(s.bright, inverted), 2 * physic.KiloHertz})
			}
			checkOnlyPWM(t, l, w, EntityLight, len(steps))
		})
	}
}

// TestLightCommandRefused checks commands a light does not take: each is
// an error, and changes neither the line nor the state.
func TestLightCommandRefused(t *testing.T) {
	checkRefused(t, "strip", pwmSrc(`power_on = "on"`), EntityLight, []refusal{
		{"brightness 0", EntityLight, on(0), false, "brightness 0 is out of range"},
		{"brightness 0.4", EntityLight, on(0.4), false, "brightness 0.4 is out of range"},
		{"brightness 256", EntityLight, on(256), false, "brightness 256 is out of range: it is 1 to 255"},
		{"brightness -1", EntityLight, on(-1), false, "out of range"},
		{"brightness NaN", EntityLight, on(math.NaN()), false, "out of range"},
		{"brightness as text", EntityLight, drivers.Command{Action: drivers.ActionOn, Value: drivers.Text("50")}, true, ""},
		{"press", EntityLight, command(drivers.ActionPress), true, ""},
		{"set", EntityLight, drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(50, "")}, true, ""},
		{"relay entity", EntityRelay, command(drivers.ActionOn), true, "no such entity"},
	})
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
			closeLeaves(t, h, l, w, tc.calls, tc.duty)
			// Reopening restores what the light was left at.
			w = drivertest.Open(t, d, h)
			checkSet(t, "reopen", h, w, EntityLight, drivers.LightState(tc.duty != 0, 100), pwmCall{tc.duty, physic.KiloHertz})
		})
	}
}

// TestLightPWMFails checks a line that refuses PWM: Open fails with its
// error, and so does a command, which then reports nothing.
func TestLightPWMFails(t *testing.T) {
	h, d, fail := startFailing(t, "strip", pwmSrc(""))
	*fail = false
	w := drivertest.Open(t, d, h)
	*fail = true
	if err := w.Command(t, EntityLight, on(10)); !errors.Is(err, errBusy) {
		t.Errorf("Command: error %v, want the line's error", err)
	}
	if n := len(w.States(EntityLight)); n != 1 {
		t.Errorf("a failed command reported a state: %v", w.States(EntityLight))
	}
	if err := w.Command(t, EntityLight, command(drivers.ActionOn)); !errors.Is(err, errBusy) {
		t.Errorf("Command: error %v, want the line's error", err)
	}
	*fail = false
	if err := w.Command(t, EntityLight, command(drivers.ActionOn)); err != nil {
		t.Fatal(err)
	}
	// The failed ON 10 did not change the brightness that ON restores.
	if v, _ := w.State(EntityLight); !v.Equal(drivers.LightState(true, 255)) {
		t.Errorf("ON after failed commands reported %v, want full brightness", v)
	}
}
