package gpio

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

// TestOutputPowerOnRestore checks power_on = "restore": the output starts
// as the host remembers it, asking before the line is touched, and the
// line is requested at that level directly. A line the previous run left
// on (on_exit = "keep") is never driven to the other level in between, so
// a restart does not cycle the relay; anything unknown starts off.
func TestOutputPowerOnRestore(t *testing.T) {
	tests := []struct {
		name       string
		remembered *drivers.Value
		fail       error
		want       bool
	}{
		{"remembered on", ptr(drivers.Bool(true)), nil, true},
		{"remembered off", ptr(drivers.Bool(false)), nil, false},
		{"nothing known", nil, nil, false},
		{"store failed", nil, errors.New("disk on fire"), false},
		{"not an on/off", ptr(drivers.Num(1, "")), nil, false},
	}
	for _, tt := range tests {
		for _, inverted := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/inverted=%t", tt.name, inverted), func(t *testing.T) {
				sim := drivertest.Host(t)
				line := sim.Line("GPIO17")
				// The previous run left the line driving the remembered
				// state (on_exit = "keep"); the kernel kept it.
				if tt.remembered != nil && tt.remembered.Kind == drivers.ValueBool {
					if err := line.Out(wantLevel(tt.remembered.Bool, inverted)); err != nil {
						t.Fatal(err)
					}
				}
				h := drivertest.NewStateHost(sim)
				if tt.remembered != nil {
					h.Set(EntityRelay, *tt.remembered)
				}
				if tt.fail != nil {
					h.Fail(tt.fail)
				}
				before := len(line.History())
				d := newDevice(t, "pump", outputSrc(fmt.Sprintf("power_on = \"restore\"\ninverted = %t\non_exit = \"keep\"", inverted)))
				w := drivertest.Open(t, d, h)

				want := wantLevel(tt.want, inverted)
				if !line.IsOutput() || line.Level() != want {
					t.Fatalf("after Open: output %t at %v, want output at %v", line.IsOutput(), line.Level(), want)
				}
				for _, c := range line.History()[before:] {
					if c.Level != want {
						t.Errorf("Open drove the line through %v; it must only ever show %v (history %+v)", c.Level, want, line.History()[before:])
					}
				}
				if got := relayState(t, w); got != tt.want {
					t.Errorf("Open reported %t, want %t", got, tt.want)
				}
				if got := h.Asked(); !slices.Equal(got, []string{EntityRelay}) {
					t.Errorf("asked the host for %q, want [relay] (which also marks it to be remembered)", got)
				}
			})
		}
	}
}

// TestOutputRestoreNeedsStateHost checks that power_on = "restore" on a
// host that remembers nothing starts off, as the safe state, and says why.
func TestOutputRestoreNeedsStateHost(t *testing.T) {
	h := newTestHost(t)
	line := h.Line("GPIO17")
	d := newDevice(t, "pump", outputSrc(`power_on = "restore"`))
	w := drivertest.Open(t, d, h)
	if line.Level() != gpio.Low || relayState(t, w) {
		t.Errorf("line %v, reported %t; want off", line.Level(), relayState(t, w))
	}
	if h.logs.count("last state is not known") != 1 {
		t.Errorf("want one warning that the last state is not known")
	}
}

// TestOutputReopenIgnoresRestore checks that a reopen after a failure
// restores the last commanded state, not the remembered one: the host
// is asked once, at the first Open.
func TestOutputReopenIgnoresRestore(t *testing.T) {
	sim := drivertest.Host(t)
	h := drivertest.NewStateHost(sim)
	h.Set(EntityRelay, drivers.Bool(true))
	d := newDevice(t, "pump", outputSrc(`power_on = "restore"`))
	w := drivertest.Open(t, d, h)
	if err := w.Command(t, EntityRelay, command(drivers.ActionOff)); err != nil {
		t.Fatal(err)
	}
	w.Close(t)
	w = drivertest.Open(t, d, h)
	if relayState(t, w) || sim.Line("GPIO17").Level() != gpio.Low {
		t.Errorf("a reopen restored the remembered ON; want the last commanded OFF")
	}
	if n := len(h.Asked()); n != 1 {
		t.Errorf("the host was asked %d times, want once", n)
	}
}

// TestPWMPowerOnRestore checks power_on = "restore" for a PWM light and
// number: the duty cycle is set once, to the remembered level.
func TestPWMPowerOnRestore(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		entity   string
		v        drivers.Value
		wantDuty gpio.Duty
	}{
		{"light on at 128", `show_as = "light"`, EntityLight, drivers.LightState(true, 128), gpio.Duty((128*int64(gpio.DutyMax) + 127) / 255)},
		{"light off", `show_as = "light"`, EntityLight, drivers.LightState(false, 128), 0},
		{"light junk", `show_as = "light"`, EntityLight, drivers.Bool(true), 0},
		{"number 40", `show_as = "number"`, EntityDuty, drivers.Num(40, drivers.Percent), gpio.Duty((40*int64(gpio.DutyMax) + 50) / 100)},
		{"number out of range", `show_as = "number"`, EntityDuty, drivers.Num(400, drivers.Percent), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := drivertest.Host(t)
			h := drivertest.NewStateHost(sim)
			h.Set(tt.entity, tt.v)
			line := sim.Line("GPIO18")
			before := len(line.History())
			d := newDevice(t, "strip", "pin = \"GPIO18\"\nmode = \"pwm\"\npower_on = \"restore\"\n"+tt.src)
			drivertest.Open(t, d, h)
			if got := line.Duty(); got != tt.wantDuty {
				t.Errorf("duty %v, want %v", got, tt.wantDuty)
			}
			if n := len(line.History()) - before; n > 1 {
				t.Errorf("Open changed the line %d times, want at most once: %+v", n, line.History()[before:])
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestCloseReportsExitState checks that a state on_exit sets is reported
// before Close returns, so that the agent remembers it for power_on =
// "restore" (the next start keeps a pump that on_exit = "off" switched
// off, off); on_exit = "keep" reports nothing, since nothing changes.
func TestCloseReportsExitState(t *testing.T) {
	tests := []struct {
		name, src, entity string
		set               drivers.Command
		want              drivers.Value
	}{
		{"output off", outputSrc(`on_exit = "off"`), EntityRelay, command(drivers.ActionOn), drivers.Bool(false)},
		{"output on", outputSrc(`on_exit = "on"`), EntityRelay, command(drivers.ActionOff), drivers.Bool(true)},
		{"output keep", outputSrc(`on_exit = "keep"`), EntityRelay, command(drivers.ActionOn), drivers.Bool(true)},
		{"light off", pwmSrc("show_as = \"light\"\non_exit = \"off\""), EntityLight, command(drivers.ActionOn), drivers.LightState(false, maxBrightness)},
		{"number off", pwmSrc("show_as = \"number\"\non_exit = \"off\""), EntityDuty, drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(40, drivers.Percent)}, drivers.Num(0, drivers.Percent)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := drivertest.Open(t, newDevice(t, "dev", tt.src), drivertest.Host(t))
			if err := w.Command(t, tt.entity, tt.set); err != nil {
				t.Fatal(err)
			}
			n := len(w.Reports())
			if err := w.Close(t); err != nil {
				t.Fatal(err)
			}
			if got, _ := w.State(tt.entity); !got.Equal(tt.want) {
				t.Errorf("after Close the last state is %v, want %v", got, tt.want)
			}
			if tt.name == "output keep" && len(w.Reports()) != n {
				t.Errorf("on_exit = \"keep\" reported at Close: %v", w.Reports()[n:])
			}
		})
	}
}
