package gpio

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

func outputSrc(extra string) string {
	return "pin = \"GPIO17\"\nmode = \"output\"\n" + extra
}

// readRelay reads the output device and returns the relay's state.
func readRelay(t *testing.T, d drivers.Device) bool {
	t.Helper()
	rs, err := d.(drivers.Reader).Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(rs) != 1 || rs[0].Entity != EntityRelay || rs[0].Value.Kind != drivers.ValueBool {
		t.Fatalf("Read = %+v, want one on/off reading of %q", rs, EntityRelay)
	}
	return rs[0].Value.Bool
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
						line.In(gpio.PullUp, gpio.NoEdge)
					case "pulled down":
						line.In(gpio.PullDown, gpio.NoEdge)
					}
					startHistory := len(line.History())
					d := newDevice(t, "door", outputSrc(fmt.Sprintf("power_on = %q\ninverted = %t", powerOn, inverted)))
					drivertest.Open(t, d, h)

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
					if got := readRelay(t, d); got != on {
						t.Errorf("Read = %t, want %t", got, on)
					}
					if n := line.Reads(); n != 0 {
						t.Errorf("the driver read the output line %d times; reading an output turns it into an input", n)
					}
				})
			}
		}
	}
}

// TestOutputSet checks that commands drive the right level, that Set and
// Read report the commanded state, and that the line is never read.
func TestOutputSet(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		t.Run(fmt.Sprintf("inverted=%t", inverted), func(t *testing.T) {
			h := newTestHost(t)
			line := h.Line("GPIO17")
			d := newDevice(t, "door", outputSrc(fmt.Sprintf("inverted = %t", inverted)))
			drivertest.Open(t, d, h)
			s := d.(drivers.Setter)
			for i, on := range []bool{true, true, false, false, true, false} {
				got, err := s.Set(context.Background(), EntityRelay, drivers.Bool(on))
				if err != nil {
					t.Fatalf("command %d: Set(%t): %v", i, on, err)
				}
				if !got.Equal(drivers.Bool(on)) {
					t.Errorf("command %d: Set(%t) = %v, want %v", i, on, got, drivers.Bool(on))
				}
				if want := wantLevel(on, inverted); line.Level() != want || !line.IsOutput() {
					t.Errorf("command %d: Set(%t): line output %t at %v, want output at %v", i, on, line.IsOutput(), line.Level(), want)
				}
				if r := readRelay(t, d); r != on {
					t.Errorf("command %d: Read = %t after Set(%t)", i, r, on)
				}
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

func TestOutputSetUnsupported(t *testing.T) {
	h := newTestHost(t)
	line := h.Line("GPIO17")
	d := newDevice(t, "door", outputSrc(`power_on = "on"`))
	drivertest.Open(t, d, h)
	for _, tc := range []struct {
		name   string
		entity string
		v      drivers.Value
	}{
		{"number", EntityRelay, drivers.Num(1, "")},
		{"text", EntityRelay, drivers.Text("ON")},
		{"nothing", EntityRelay, drivers.Value{}},
		{"other entity", "light", drivers.Bool(false)},
		{"input entity", EntityInput, drivers.Bool(false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.(drivers.Setter).Set(context.Background(), tc.entity, tc.v)
			if !errors.Is(err, drivers.ErrUnsupported) {
				t.Fatalf("Set(%q, %v) = %v, %v; want an error wrapping drivers.ErrUnsupported", tc.entity, tc.v, got, err)
			}
			if !strings.HasPrefix(err.Error(), `gpio "door": `) {
				t.Errorf("error %q does not start with the driver and device", err)
			}
			if line.Level() != gpio.High || !readRelay(t, d) {
				t.Errorf("a rejected command changed the relay: line %v, Read %t", line.Level(), readRelay(t, d))
			}
		})
	}
}

func TestOutputNotOpen(t *testing.T) {
	d := newDevice(t, "door", outputSrc(""))
	if _, err := d.(drivers.Reader).Read(context.Background()); err == nil {
		t.Error("Read before Open: no error")
	}
	_, err := d.(drivers.Setter).Set(context.Background(), EntityRelay, drivers.Bool(true))
	if err == nil || errors.Is(err, drivers.ErrUnsupported) {
		t.Errorf("Set before Open: error %v, want one that is not ErrUnsupported (the command is fine, the device is not ready)", err)
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
			drivertest.Open(t, d, h)
			if _, err := d.(drivers.Setter).Set(context.Background(), EntityRelay, drivers.Bool(tc.state)); err != nil {
				t.Fatal(err)
			}
			changes := len(line.History())
			if err := d.Close(); err != nil {
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
			if _, err := d.(drivers.Setter).Set(context.Background(), EntityRelay, drivers.Bool(true)); err == nil {
				t.Error("Set after Close: no error")
			}
			if n := line.Reads(); n != 0 {
				t.Errorf("the driver read the output line %d times", n)
			}
		})
	}
}

// TestOutputReopen checks that reopening after a failure restores the
// commanded state rather than power_on: a hiccup must not switch the relay.
func TestOutputReopen(t *testing.T) {
	h := newTestHost(t)
	line := h.Line("GPIO17")
	d := newDevice(t, "door", outputSrc(`power_on = "off"`))
	drivertest.Open(t, d, h)
	if _, err := d.(drivers.Setter).Set(context.Background(), EntityRelay, drivers.Bool(true)); err != nil {
		t.Fatal(err)
	}
	changes := len(line.History())
	if err := d.Open(context.Background(), h); err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if line.Level() != gpio.High || !readRelay(t, d) || len(line.History()) != changes {
		t.Errorf("reopen: line %v, Read %t, changes %+v; want the relay left on", line.Level(), readRelay(t, d), line.History()[changes:])
	}
}

func TestOutputOpenUnknownLine(t *testing.T) {
	h := newTestHost(t)
	d := newDevice(t, "door", "pin = \"GPIO99\"\nmode = \"output\"")
	err := d.Open(context.Background(), h)
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

func TestOutputOutFails(t *testing.T) {
	h := newTestHost(t)
	fail := true
	h.wrap = func(p gpio.PinIO) gpio.PinIO { return failingOut{p, &fail} }
	d := newDevice(t, "door", outputSrc(`on_exit = "on"`))
	if err := d.Open(context.Background(), h); !errors.Is(err, errBusy) || !strings.HasPrefix(err.Error(), `gpio "door": `) {
		t.Fatalf("Open: error %v, want the line's error, prefixed", err)
	}
	fail = false
	drivertest.Open(t, d, h)
	fail = true
	if _, err := d.(drivers.Setter).Set(context.Background(), EntityRelay, drivers.Bool(true)); !errors.Is(err, errBusy) {
		t.Errorf("Set: error %v, want the line's error", err)
	}
	if readRelay(t, d) {
		t.Error("Read reports ON after a Set that failed")
	}
	if err := d.Close(); !errors.Is(err, errBusy) {
		t.Errorf("Close: error %v, want the line's error from setting on_exit", err)
	}
}

// wantLevel is the level a relay line must show: High for ON, Low for ON
// on an active-low (inverted) board. It is spelled out here rather than
// taken from the driver so that the tests check the driver's mapping.
func wantLevel(on, inverted bool) gpio.Level {
	switch {
	case on && !inverted, !on && inverted:
		return gpio.High
	}
	return gpio.Low
}
