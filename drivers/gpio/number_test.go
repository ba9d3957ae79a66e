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

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

func numberSrc(extra string) string {
	return pwmSrc("show_as = \"number\"\n" + extra)
}

// setTo is the command that sets a number to v, as the agent sends it.
func setTo(v float64) drivers.Command {
	return drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(v, drivers.Percent)}
}

func percent(p float64) drivers.Value { return drivers.Num(p, drivers.Percent) }

// TestNumberCommand sets a number through a sequence of values and checks
// the duty cycle and the state after each: a percentage maps linearly to
// the duty cycle, rounded to a whole percent, and the line goes through
// exactly those duty cycles.
func TestNumberCommand(t *testing.T) {
	steps := []struct {
		set  float64
		want int // the percentage set and reported
	}{
		{40, 40},
		{0, 0},
		{100, 100},
		{33.3, 33}, // rounded to the step
		{66.6, 67},
		{99.5, 100},
		{0.4, 0},
		{50, 50},
		{50, 50}, // the same again: set and reported again
		{1, 1},
	}
	for _, inverted := range []bool{false, true} {
		t.Run(fmt.Sprintf("inverted=%t", inverted), func(t *testing.T) {
			h := newTestHost(t)
			lines := watchLines(h)
			w := drivertest.Open(t, newDevice(t, "fan", numberSrc(fmt.Sprintf("inverted = %t\nfrequency = \"25kHz\"", inverted))), h)
			l := lines("GPIO18")
			wantDuties := []gpio.Duty{dutyOf(0, 100, inverted)}
			for i, s := range steps {
				c := setTo(s.set)
				if err := w.Command(t, EntityDuty, c); err != nil {
					t.Fatalf("step %d: %v: %v", i, c, err)
				}
				want := pwmCall{dutyOf(s.want, 100, inverted), 25 * physic.KiloHertz}
				checkSet(t, fmt.Sprintf("step %d: %v", i, c), h, w, EntityDuty, percent(float64(s.want)), want)
				if d := wantDuties[len(wantDuties)-1]; d != want.Duty {
					wantDuties = append(wantDuties, want.Duty)
				}
			}
			// The line went through each duty cycle, at one frequency, and
			// nothing else: no glitch on the way.
			var duties []gpio.Duty
			for _, c := range h.Line("GPIO18").History() {
				if !c.PWM || c.Frequency != 25*physic.KiloHertz {
					t.Errorf("the line changed to %+v, want PWM at 25kHz only", c)
				}
				duties = append(duties, c.Duty)
			}
			if !slices.Equal(duties, wantDuties) {
				t.Errorf("the line went through duty cycles %v, want %v", duties, wantDuties)
			}
			checkOnlyPWM(t, l, w, EntityDuty, len(steps))
		})
	}
}

// TestNumberCommandRefused checks commands a number does not take: each
// is an error, and changes neither the line nor the state.
func TestNumberCommandRefused(t *testing.T) {
	w := checkRefused(t, "fan", numberSrc(`power_on = "on"`), EntityDuty, []refusal{
		{"-1", EntityDuty, setTo(-1), false, `-1 % is out of range: it is 0 to 100`},
		{"-0.4", EntityDuty, setTo(-0.4), false, `-0.4 % is out of range`},
		{"100.4", EntityDuty, setTo(100.4), false, `100.4 % is out of range`},
		{"255", EntityDuty, setTo(255), false, `255 % is out of range: it is 0 to 100`},
		{"NaN", EntityDuty, setTo(math.NaN()), false, "out of range"},
		{"+Inf", EntityDuty, setTo(math.Inf(1)), false, "out of range"},
		{"-Inf", EntityDuty, setTo(math.Inf(-1)), false, "out of range"},
		{"text", EntityDuty, drivers.Command{Action: drivers.ActionSet, Value: drivers.Text("50")}, true, ""},
		{"no value", EntityDuty, command(drivers.ActionSet), true, ""},
		{"on", EntityDuty, command(drivers.ActionOn), true, ""},
		{"off", EntityDuty, command(drivers.ActionOff), true, ""},
		{"on with a brightness", EntityDuty, on(128), true, ""},
		{"press", EntityDuty, command(drivers.ActionPress), true, ""},
		{"light entity", EntityLight, setTo(50), true, `no such entity (this device has "duty")`},
	})
	if v, _ := w.State(EntityDuty); !v.Equal(percent(100)) {
		t.Errorf("after refused commands the state is %v, want power_on's 100 %%", v)
	}
}

// TestNumberOnExit checks what Close leaves on the line, and that opening
// again restores the last value, not power_on.
func TestNumberOnExit(t *testing.T) {
	for _, tc := range []struct {
		onExit string
		left   int // the percentage Close leaves, from 40
		calls  int // PWM calls by Close
	}{
		{"keep", 40, 0},
		{"off", 0, 1},
		{"on", 100, 1},
	} {
		for _, inverted := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/inverted=%t", tc.onExit, inverted), func(t *testing.T) {
				h := newTestHost(t)
				lines := watchLines(h)
				// power_on = "on" starts at 100 %; a reopen must not go back
				// there.
				d := newDevice(t, "fan", numberSrc(fmt.Sprintf("on_exit = %q\npower_on = \"on\"\ninverted = %t", tc.onExit, inverted)))
				w := drivertest.Open(t, d, h)
				l := lines("GPIO18")
				if err := w.Command(t, EntityDuty, setTo(40)); err != nil {
					t.Fatal(err)
				}
				want := pwmCall{dutyOf(tc.left, 100, inverted), physic.KiloHertz}
				closeLeaves(t, h, l, w, tc.calls, want.Duty)
				// Reopening restores what the number was left at, and says so.
				w = drivertest.Open(t, d, h)
				if got := l.PWMs()[len(l.PWMs())-1]; got != want {
					t.Errorf("reopen: PWM %v, want %v", got, want)
				}
				checkSet(t, "reopen", h, w, EntityDuty, percent(float64(tc.left)), want)
			})
		}
	}
}

// TestNumberPWMFails checks a line that refuses PWM: Open fails with its
// error, and so does a command, which then reports nothing and changes
// nothing that a reopen restores.
func TestNumberPWMFails(t *testing.T) {
	h, d, fail := startFailing(t, "fan", numberSrc(""))
	*fail = false
	w := drivertest.Open(t, d, h)
	if err := w.Command(t, EntityDuty, setTo(30)); err != nil {
		t.Fatal(err)
	}
	*fail = true
	err := w.Command(t, EntityDuty, setTo(80))
	if !errors.Is(err, errBusy) || !strings.HasPrefix(err.Error(), `gpio "fan": duty: `) {
		t.Errorf("Command: error %v, want the line's error, prefixed with the device and entity", err)
	}
	if got := w.States(EntityDuty); !slices.EqualFunc(got, []drivers.Value{percent(0), percent(30)}, drivers.Value.Equal) {
		t.Errorf("a failed command reported a state: %v", got)
	}
	*fail = false
	if err := w.Close(t); err != nil {
		t.Fatal(err)
	}
	// The failed 80 % changed nothing: a reopen restores 30 %.
	w = drivertest.Open(t, d, h)
	checkSet(t, "reopen after a failed command", h, w, EntityDuty, percent(30), pwmCall{dutyOf(30, 100, false), physic.KiloHertz})
}

// TestNumberPayloads drives a number as Home Assistant does, through the
// agent's grammar for its entity: a payload becomes a command, and the
// state the number reports becomes the payload Home Assistant shows. A
// payload out of range never reaches the driver.
func TestNumberPayloads(t *testing.T) {
	h := newTestHost(t)
	d := newDevice(t, "fan", numberSrc(""))
	e := d.Entities()[0]
	w := drivertest.Open(t, d, h)
	for _, tc := range []struct {
		payload string
		state   string // "" for a payload the agent refuses
	}{
		{"40", "40"},
		{"0", "0"},
		{"100", "100"},
		{"33.3", "33"},
		{"66.6", "67"},
		{"1e1", "10"},
		{"101", ""},
		{"-1", ""},
		{"ON", ""},
		{"50%", ""},
	} {
		c, err := discovery.ParseCommand(e, []byte(tc.payload))
		if tc.state == "" {
			if err == nil {
				t.Errorf("payload %q: the agent would send %v, want it refused", tc.payload, c)
			}
			continue
		}
		if err != nil || c.Toggle {
			t.Fatalf("payload %q: %+v, %v; want a command", tc.payload, c, err)
		}
		if err := w.Command(t, EntityDuty, c.Command); err != nil {
			t.Fatalf("payload %q: %v", tc.payload, err)
		}
		v, _ := w.State(EntityDuty)
		p, err := discovery.StatePayload(e, v)
		if err != nil || string(p) != tc.state {
			t.Errorf("payload %q: state %v published as %q (%v), want %q", tc.payload, v, p, err, tc.state)
		}
		want := dutyOf(int(math.Round(c.Value.Num)), 100, false)
		if got := h.Line("GPIO18").Duty(); got != want {
			t.Errorf("payload %q: duty cycle %v, want %v", tc.payload, got, want)
		}
	}
}
