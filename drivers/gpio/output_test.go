package gpio

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

func outputSrc(extra string) string {
	return "pin = \"GPIO17\"\nmode = \"output\"\n" + extra
}

// relayState returns the relay's latest reported state, failing the test
// if there is none.
func relayState(t *testing.T, w *drivertest.Worker) bool {
	t.Helper()
	v, ok := w.State(EntityRelay)
	if !ok || v.Kind != drivers.ValueBool {
		t.Fatalf("relay state %v (reported %t), want an on/off", v, ok)
	}
	return v.Bool
}

// TestOutputPowerOnNoGlitch checks the start of an output: the line goes
// straight to the power_on level as an output, whatever it was before, and
// never shows another level on the way. A relay that clicks on for a moment
// at start can fire a boiler.
func TestOutputPowerOnNoGlitch(t *testing.T) {
	for _, powerOn := range []string{"off", "on"} {
		for _, inverted := range []bool{false, true} {
			for _, before := range []string{"floating", "pulled up", "pulled down"} {
				name := fmt.Sprintf("power_on=%s/inverted=%t/%s", powerOn, inverted, before)
				t.Run(name, func(t *testing.T) {
					h := newTestHost(t)
					line := h.Line("GPIO17")
					switch before {
					case "pulled up": // GPIO0 to GPIO8 of a Pi start like this
						_ = line.In(gpio.PullUp, gpio.NoEdge)
					case "pulled down":
						_ = line.In(gpio.PullDown, gpio.NoEdge)
					}
					startHistory := len(line.History())
					d := newDevice(t, "door", outputSrc(fmt.Sprintf("power_on = %q\ninverted = %t", powerOn, inverted)))
					w := drivertest.Open(t, d, h)

					on := powerOn == "on"
					want := wantLevel(on, inverted)
					if !line.IsOutput() || line.Level() != want {
						t.Fatalf("after Open: output %t at %v, want output at %v", line.IsOutput(), line.Level(), want)
					}
					changes := line.History()[startHistory:]
					if len(changes) > 1 {
						t.Errorf("Open changed the line %d times (%+v), want at most once", len(changes), changes)
					}
					for _, c := range changes {
						if !c.Output || c.Level != want {
							t.Errorf("Open went through %v (output %t); the line must only ever show %v as an output", c.Level, c.Output, want)
						}
					}
					if got := relayState(t, w); got != on {
						t.Errorf("Open reported %t, want %t", got, on)
					}
					if n := line.Reads(); n != 0 {
						t.Errorf("the driver read the output line %d times; reading an output turns it into an input", n)
					}
				})
			}
		}
	}
}

// TestOutputCommand checks that commands drive the right level, that each
// reports the commanded state, and that the line is never read.
func TestOutputCommand(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		t.Run(fmt.Sprintf("inverted=%t", inverted), func(t *testing.T) {
			h := newTestHost(t)
			line := h.Line("GPIO17")
			d := newDevice(t, "door", outputSrc(fmt.Sprintf("inverted = %t", inverted)))
			w := drivertest.Open(t, d, h)
			cmds := []bool{true, true, false, false, true, false}
			for i, on := range cmds {
				c := command(drivers.ActionOff)
				if on {
					c = command(drivers.ActionOn)
				}
				if err := w.Command(t, EntityRelay, c); err != nil {
					t.Fatalf("command %d: %v: %v", i, c, err)
				}
				if want := wantLevel(on, inverted); line.Level() != want || !line.IsOutput() {
					t.Errorf("command %d: %v: line output %t at %v, want output at %v", i, c, line.IsOutput(), line.Level(), want)
				}
				if r := relayState(t, w); r != on {
					t.Errorf("command %d: %v: reported %t", i, c, r)
				}
			}
			// Every command reports its state, even one that changes
			// nothing: the agent deduplicates, the driver does not.
			if got, want := bools(t, w.States(EntityRelay)), append([]bool{false}, cmds...); !slices.Equal(got, want) {
				t.Errorf("states %v, want %v", got, want)
			}
			for _, c := range line.History() {
				if !c.Output {
					t.Errorf("the line was an input at %v: %+v", c.At, c)
				}
			}
			if n := line.Reads(); n != 0 {
				t.Errorf("the driver read the output line %d times; reading an output turns it into an input", n)
			}
		})
	}
}

func TestOutputCommandUnsupported(t *testing.T) {
	h := newTestHost(t)
	line := h.Line("GPIO17")
	d := newDevice(t, "door", outputSrc(`power_on = "on"`))
	w := drivertest.Open(t, d, h)
	for _, tc := range []struct {
		name   string
		entity string
		c      drivers.Command
	}{
		{"press", EntityRelay, command(drivers.ActionPress)},
		{"set", EntityRelay, drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(1, "")}},
		{"open", EntityRelay, command(drivers.ActionOpen)},
		{"no action", EntityRelay, drivers.Command{}},
		{"other entity", "light", command(drivers.ActionOff)},
		{"input entity", EntityInput, command(drivers.ActionOff)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The agent never sends these: call the device directly,
			// while its worker is idle.
			err := d.(drivers.Commander).Command(t.Context(), tc.entity, tc.c)
			if !errors.Is(err, drivers.ErrUnsupported) {
				t.Fatalf("Command(%q, %v) = %v; want an error wrapping drivers.ErrUnsupported", tc.entity, tc.c, err)
			}
			if !strings.HasPrefix(err.Error(), `gpio "door": `) {
				t.Errorf("error %q does not start with the driver and device", err)
			}
			if line.Level() != gpio.High || len(w.States(EntityRelay)) != 1 {
				t.Errorf("a rejected command changed the relay: line %v, states %v", line.Level(), w.States(EntityRelay))
			}
		})
	}
}

func TestOutputNotOpen(t *testing.T) {
	d := newDevice(t, "door", outputSrc(""))
	err := d.(drivers.Commander).Command(context.Background(), EntityRelay, command(drivers.ActionOn))
	if err == nil || errors.Is(err, drivers.ErrUnsupported) || !strings.HasPrefix(err.Error(), `gpio "door": `) {
		t.Errorf("Command before Open: error %v, want a prefixed one that is not ErrUnsupported (the command is fine, the device is not ready)", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close before Open: %v", err)
	}
}

// TestOutputOnExit checks what Close leaves on the line. keep must leave
// it alone, so that restarting the agent never cycles the relay.
func TestOutputOnExit(t *testing.T) {
	for _, tc := range []struct {
		onExit   string
		inverted bool
		state    bool // commanded before Close
		want     bool // relay state after Close
	}{
		{"keep", false, true, true},
		{"keep", false, false, false},
		{"keep", true, true, true},
		{"off", false, true, false},
		{"off", true, true, false},
		{"on", false, false, true},
		{"on", true, false, true},
		{"on", true, true, true},
	} {
		t.Run(fmt.Sprintf("%s/inverted=%t/from=%t", tc.onExit, tc.inverted, tc.state), func(t *testing.T) {
			h := newTestHost(t)
			line := h.Line("GPIO17")
			d := newDevice(t, "door", outputSrc(fmt.Sprintf("on_exit = %q\ninverted = %t", tc.onExit, tc.inverted)))
			w := drivertest.Open(t, d, h)
			c := command(drivers.ActionOff)
			if tc.state {
				c = command(drivers.ActionOn)
			}
			if err := w.Command(t, EntityRelay, c); err != nil {
				t.Fatal(err)
			}
			changes := len(line.History())
			if err := w.Close(t); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if want := wantLevel(tc.want, tc.inverted); line.Level() != want || !line.IsOutput() {
				t.Errorf("after Close: line output %t at %v, want output at %v", line.IsOutput(), line.Level(), want)
			}
			if tc.onExit == "keep" && len(line.History()) != changes {
				t.Errorf("on_exit = keep changed the line: %+v", line.History()[changes:])
			}
			if err := d.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := d.(drivers.Commander).Command(context.Background(), EntityRelay, command(drivers.ActionOn)); err == nil {
				t.Error("Command after Close: no error")
			}
			if n := line.Reads(); n != 0 {
				t.Errorf("the driver read the output line %d times", n)
			}
		})
	}
}

// TestOutputReopen checks that opening again after a Close (the agent
// reopens a device after a failure) restores the commanded state rather
// than power_on: a hiccup must not switch the relay.
func TestOutputReopen(t *testing.T) {
	h := newTestHost(t)
	line := h.Line("GPIO17")
	d := newDevice(t, "door", outputSrc(`power_on = "off"`))
	w := drivertest.Open(t, d, h)
	if err := w.Command(t, EntityRelay, command(drivers.ActionOn)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(t); err != nil {
		t.Fatal(err)
	}
	changes := len(line.History())
	w = drivertest.Open(t, d, h)
	if line.Level() != gpio.High || !relayState(t, w) || len(line.History()) != changes {
		t.Errorf("reopen: line %v, reported %v, changes %+v; want the relay left on", line.Level(), w.States(EntityRelay), line.History()[changes:])
	}
}

func TestOutputOpenUnknownLine(t *testing.T) {
	h := newTestHost(t)
	d := newDevice(t, "door", "pin = \"GPIO99\"\nmode = \"output\"")
	_, err := drivertest.Start(t, d, h)
	if err == nil || !strings.HasPrefix(err.Error(), `gpio "door": `) || !strings.Contains(err.Error(), "GPIO99") {
		t.Errorf("Open on a missing line: error %v, want one naming the device and the line", err)
	}
}

// failingOut is a line whose driver refuses Out, as a line busy in another
// process does.
type failingOut struct {
	gpio.PinIO
	fail *bool
}

var errBusy = errors.New("line busy")

func (p failingOut) Out(l gpio.Level) error {
	if *p.fail {
		return errBusy
	}
	return p.PinIO.Out(l)
}

func (p failingOut) PWM(d gpio.Duty, f physic.Frequency) error {
	if *p.fail {
		return errBusy
	}
	return p.PinIO.PWM(d, f)
}

func TestOutputOutFails(t *testing.T) {
	h := newTestHost(t)
	fail := true
	h.wrap = func(p gpio.PinIO) gpio.PinIO { return failingOut{p, &fail} }
	d := newDevice(t, "door", outputSrc(`on_exit = "on"`))
	if _, err := drivertest.Start(t, d, h); !errors.Is(err, errBusy) || !strings.HasPrefix(err.Error(), `gpio "door": `) {
		t.Fatalf("Open: error %v, want the line's error, prefixed", err)
	}
	fail = false
	w := drivertest.Open(t, d, h)
	fail = true
	if err := w.Command(t, EntityRelay, command(drivers.ActionOn)); !errors.Is(err, errBusy) {
		t.Errorf("Command: error %v, want the line's error", err)
	}
	if got := bools(t, w.States(EntityRelay)); !slices.Equal(got, []bool{false}) {
		t.Errorf("states %v after a command that failed, want only the OFF of Open", got)
	}
	if err := w.Close(t); !errors.Is(err, errBusy) {
		t.Errorf("Close: error %v, want the line's error from setting on_exit", err)
	}
}

// TestOutputProvidedLine drives a line that another device provides
// ("relays/GPA0"): the driver asks the host for it by that name and
// claims it so.
func TestOutputProvidedLine(t *testing.T) {
	h := newTestHost(t)
	h.provided = map[string]string{"relays/GPA0": "GPIO5"}
	line := h.Line("GPIO5")
	d := newDevice(t, "pump", "pin = \"relays/GPA0\"\nmode = \"output\"\ninverted = true")
	if got, want := d.(drivers.Claimer).Claims(), []drivers.Resource{drivers.GPIOLine("relays/GPA0")}; !slices.Equal(got, want) || got[0].Provider() != "relays" {
		t.Errorf("Claims() = %v, want %v, provided by relays", got, want)
	}
	w := drivertest.Open(t, d, h)
	if err := w.Command(t, EntityRelay, command(drivers.ActionOn)); err != nil {
		t.Fatal(err)
	}
	if !line.IsOutput() || line.Level() != gpio.Low {
		t.Errorf("line output %t at %v, want an output at Low (ON, inverted)", line.IsOutput(), line.Level())
	}
}
