package gpio

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

const testPulse = 500 * time.Millisecond

func pulseSrc(extra string) string {
	return "pin = \"GPIO23\"\nmode = \"output\"\npulse = \"500ms\"\n" + extra
}

var press = drivers.Command{Action: drivers.ActionPress}

// outsUntil waits until the driver has called Out n times on l.
func outsUntil(t *testing.T, l *watched, n int, what string) {
	t.Helper()
	l.until(t, what, func(l *watched) bool { return len(l.Outs()) >= n })
}

// TestPulse presses the button twice, one pulse after the other, and
// checks each pulse: the line on at the press, for exactly the pulse on the
// host's clock, off after it; off from Open on; never read; and nothing
// reported, since a button has no state.
func TestPulse(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		t.Run(fmt.Sprintf("inverted=%t", inverted), func(t *testing.T) {
			h := newTestHost(t)
			clk := newStepClock()
			h.clock = clk
			lines := watchLines(h)
			sl := h.Line("GPIO23")
			_ = sl.In(gpio.PullUp, gpio.NoEdge) // whatever the line was, Open makes it an output at off
			before := len(sl.History())
			d := newDevice(t, "gate", pulseSrc(fmt.Sprintf("inverted = %t", inverted)))
			w := drivertest.Open(t, d, h)
			l := lines("GPIO23")
			off, on := wantLevel(false, inverted), wantLevel(true, inverted)
			if !sl.IsOutput() || sl.Level() != off || !slices.Equal(l.Outs(), []gpio.Level{off}) {
				t.Fatalf("after Open: output %t at %v, Outs %v; want one Out(%v)", sl.IsOutput(), sl.Level(), l.Outs(), off)
			}
			for i := range 2 {
				if err := w.Command(t, EntityPulse, press); err != nil {
					t.Fatalf("press %d: %v", i, err)
				}
				if sl.Level() != on {
					t.Fatalf("press %d: line at %v, want %v", i, sl.Level(), on)
				}
				clk.asleep(t, testPulse)
				if sl.Level() != on {
					t.Fatalf("press %d: the line went %v before the pulse was over", i, sl.Level())
				}
				clk.release(t)
				outsUntil(t, l, 3+2*i, fmt.Sprintf("the end of pulse %d", i))
			}
			if want := []gpio.Level{off, on, off, on, off}; !slices.Equal(l.Outs(), want) || sl.Level() != off {
				t.Errorf("Outs %v, line at %v; want %v", l.Outs(), sl.Level(), want)
			}
			for _, c := range sl.History()[before:] {
				if !c.Output {
					t.Errorf("the line was an input at %v: %+v", c.At, c)
				}
			}
			if n := l.Reads(); n != 0 {
				t.Errorf("the driver read the output line %d times", n)
			}
			if r := w.Reports(); len(r) != 0 {
				t.Errorf("a button reported %+v; it has no state", r)
			}
		})
	}
}

// TestPulsePressDuringPulse checks the choice the driver makes for a press
// while a pulse is under way: it is ignored (and logged), so the pulse ends
// when it was due, after exactly one pulse length; it is not extended.
func TestPulsePressDuringPulse(t *testing.T) {
	h := newTestHost(t)
	clk := newStepClock()
	h.clock = clk
	lines := watchLines(h)
	d := newDevice(t, "gate", pulseSrc(""))
	w := drivertest.Open(t, d, h)
	l := lines("GPIO23")
	if err := w.Command(t, EntityPulse, press); err != nil {
		t.Fatal(err)
	}
	clk.asleep(t, testPulse)
	for i := range 2 {
		if err := w.Command(t, EntityPulse, press); err != nil {
			t.Errorf("press %d during the pulse: %v, want it ignored without an error", i, err)
		}
	}
	clk.release(t)
	// A driver that extended the pulse would sleep again before switching
	// off; this one switches off now, and this wait would time out.
	outsUntil(t, l, 3, "the end of the pulse, one pulse length after the first press")
	if want := []gpio.Level{gpio.Low, gpio.High, gpio.Low}; !slices.Equal(l.Outs(), want) {
		t.Errorf("Outs %v, want %v: one pulse", l.Outs(), want)
	}
	if n := h.logs.count("press ignored"); n != 2 {
		t.Errorf("%d presses were logged as ignored, want 2", n)
	}
	// After the pulse, a press makes a new one.
	if err := w.Command(t, EntityPulse, press); err != nil {
		t.Fatal(err)
	}
	clk.asleep(t, testPulse)
	clk.release(t)
	outsUntil(t, l, 5, "the end of the second pulse")
}

// TestPulseClose closes the device during a pulse and at rest: the line is
// left off either way, and at rest Close leaves it alone. Opening again
// starts at rest, and the pulse of the earlier opening ends nothing.
func TestPulseClose(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		for _, during := range []bool{true, false} {
			t.Run(fmt.Sprintf("inverted=%t/during_pulse=%t", inverted, during), func(t *testing.T) {
				h := newTestHost(t)
				clk := newStepClock()
				h.clock = clk
				lines := watchLines(h)
				sl := h.Line("GPIO23")
				d := newDevice(t, "gate", pulseSrc(fmt.Sprintf("inverted = %t", inverted)))
				w := drivertest.Open(t, d, h)
				l := lines("GPIO23")
				off, on := wantLevel(false, inverted), wantLevel(true, inverted)
				want := []gpio.Level{off}
				if during {
					if err := w.Command(t, EntityPulse, press); err != nil {
						t.Fatal(err)
					}
					clk.asleep(t, testPulse)
					want = append(want, on, off)
				}
				if err := w.Close(t); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if !slices.Equal(l.Outs(), want) || sl.Level() != off || !sl.IsOutput() {
					t.Errorf("after Close: Outs %v, line output %t at %v; want Outs %v, an output at %v", l.Outs(), sl.IsOutput(), sl.Level(), want, off)
				}

				w = drivertest.Open(t, d, h)
				if sl.Level() != off {
					t.Errorf("reopen: line at %v, want %v", sl.Level(), off)
				}
				if err := w.Command(t, EntityPulse, press); err != nil {
					t.Fatal(err)
				}
				clk.asleep(t, testPulse)
				clk.release(t)
				n := len(want) + 3 // Open's Out, then on and off
				outsUntil(t, l, n, "the end of a pulse after reopening")
				if got := l.Outs()[len(want):]; !slices.Equal(got, []gpio.Level{off, on, off}) {
					t.Errorf("after reopening: Outs %v, want [%v %v %v]", got, off, on, off)
				}
			})
		}
	}
}

// TestPulseRealClock makes a pulse on the simulated board's own clock, end
// to end.
func TestPulseRealClock(t *testing.T) {
	h := newTestHost(t)
	lines := watchLines(h)
	d := newDevice(t, "gate", "pin = \"GPIO23\"\nmode = \"output\"\npulse = \"5ms\"")
	w := drivertest.Open(t, d, h)
	l := lines("GPIO23")
	if err := w.Command(t, EntityPulse, press); err != nil {
		t.Fatal(err)
	}
	outsUntil(t, l, 3, "the end of the pulse")
	if want := []gpio.Level{gpio.Low, gpio.High, gpio.Low}; !slices.Equal(l.Outs(), want) {
		t.Errorf("Outs %v, want %v", l.Outs(), want)
	}
}

func TestPulseCommandUnsupported(t *testing.T) {
	h := newTestHost(t)
	lines := watchLines(h)
	d := newDevice(t, "gate", pulseSrc(""))
	drivertest.Open(t, d, h)
	l := lines("GPIO23")
	for _, tc := range []struct {
		name   string
		entity string
		c      drivers.Command
	}{
		{"on", EntityPulse, command(drivers.ActionOn)},
		{"off", EntityPulse, command(drivers.ActionOff)},
		{"relay entity", EntityRelay, press},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The agent never sends these: call the device directly,
			// while its worker is idle.
			err := d.(drivers.Commander).Command(t.Context(), tc.entity, tc.c)
			if !errors.Is(err, drivers.ErrUnsupported) || !strings.HasPrefix(err.Error(), `gpio "gate": `) {
				t.Fatalf("Command(%q, %v) = %v; want a prefixed error wrapping drivers.ErrUnsupported", tc.entity, tc.c, err)
			}
		})
	}
	if got := l.Outs(); len(got) != 1 {
		t.Errorf("rejected commands drove the line: Outs %v", got)
	}
}

// TestPulseOutFails checks that a press the line refuses is an error and
// starts no pulse, and that the next press works.
func TestPulseOutFails(t *testing.T) {
	h := newTestHost(t)
	clk := newStepClock()
	h.clock = clk
	fail := false
	h.wrap = func(p gpio.PinIO) gpio.PinIO { return failingOut{p, &fail} }
	sl := h.Line("GPIO23")
	d := newDevice(t, "gate", pulseSrc(""))
	w := drivertest.Open(t, d, h)
	fail = true
	if err := w.Command(t, EntityPulse, press); !errors.Is(err, errBusy) || !strings.HasPrefix(err.Error(), `gpio "gate": `) {
		t.Errorf("press: error %v, want the line's error, prefixed", err)
	}
	fail = false
	if err := w.Command(t, EntityPulse, press); err != nil {
		t.Fatalf("press after the failure: %v (a failed press must not leave a pulse under way)", err)
	}
	if sl.Level() != gpio.High {
		t.Errorf("line at %v after a press, want High", sl.Level())
	}
	clk.asleep(t, testPulse)
}

// TestPulseEndFails checks a line that refuses to switch off at the end
// of a pulse: the device fails (the agent closes it and opens it again),
// and Close switches the line off.
func TestPulseEndFails(t *testing.T) {
	h := newTestHost(t)
	clk := newStepClock()
	h.clock = clk
	fail := false
	h.wrap = func(p gpio.PinIO) gpio.PinIO { return failingOut{p, &fail} }
	sl := h.Line("GPIO23")
	d := newDevice(t, "gate", pulseSrc(""))
	w := drivertest.Open(t, d, h)
	if err := w.Command(t, EntityPulse, press); err != nil {
		t.Fatal(err)
	}
	clk.asleep(t, testPulse)
	fail = true
	clk.release(t)
	w.WaitFor(t, "the device to fail", func(w *drivertest.Worker) bool { return len(w.Reopens()) > 0 })
	if err := w.Reopens()[0]; !errors.Is(err, errBusy) || !strings.Contains(err.Error(), `gpio "gate": `) {
		t.Errorf("the device failed with %v, want the line's error, prefixed", err)
	}
	if sl.Level() != gpio.High {
		t.Fatalf("line at %v, want still High: the line refused", sl.Level())
	}
	fail = false
	if err := w.Close(t); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if sl.Level() != gpio.Low {
		t.Errorf("after Close the line is %v, want Low: a pulse must not outlive the device", sl.Level())
	}
}

func TestPulseNotOpen(t *testing.T) {
	d := newDevice(t, "gate", pulseSrc(""))
	err := d.(drivers.Commander).Command(t.Context(), EntityPulse, press)
	if err == nil || errors.Is(err, drivers.ErrUnsupported) || !strings.HasPrefix(err.Error(), `gpio "gate": `) {
		t.Errorf("press before Open: error %v, want a prefixed one that is not ErrUnsupported", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close before Open: %v", err)
	}
}
