package relay_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/examples/relay"
)

var fourPins = []string{"GPIO5", "GPIO6", "GPIO13", "GPIO19"}

func boardSrc(inverted, interlock bool) string {
	return fmt.Sprintf("pins = [\"GPIO5\", \"GPIO6\", \"GPIO13\", \"GPIO19\"]\ninverted = %t\ninterlock = %t", inverted, interlock)
}

// TestOpenNoGlitch checks the start of the board: every line goes straight
// to the off level as an output, whatever it was before, and never shows
// another level on the way. A relay that clicks on for a moment at start
// can run a motor or fire a boiler. Open reports every channel off.
func TestOpenNoGlitch(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		for _, before := range []string{"floating", "pulled up", "pulled down"} {
			t.Run(fmt.Sprintf("inverted=%t/%s", inverted, before), func(t *testing.T) {
				h := drivertest.Host(t)
				start := map[string]int{}
				for _, p := range fourPins {
					line := h.Line(p)
					switch before {
					case "pulled up": // GPIO0 to GPIO8 of a Pi start like this
						if err := line.In(gpio.PullUp, gpio.NoEdge); err != nil {
							t.Fatal(err)
						}
					case "pulled down":
						if err := line.In(gpio.PullDown, gpio.NoEdge); err != nil {
							t.Fatal(err)
						}
					}
					start[p] = len(line.History())
				}
				b := newBoard(t, boardSrc(inverted, false))
				w := drivertest.Open(t, b, h)
				off := wantLevel(false, inverted)
				for _, p := range fourPins {
					line := h.Line(p)
					if !line.IsOutput() || line.Level() != off {
						t.Errorf("%s after Open: output %t at %v, want an output at %v", p, line.IsOutput(), line.Level(), off)
					}
					changes := line.History()[start[p]:]
					if len(changes) > 1 {
						t.Errorf("%s changed %d times during Open (%+v), want at most once", p, len(changes), changes)
					}
					for _, c := range changes {
						if !c.Output || c.Level != off {
							t.Errorf("%s went through %v (output %t); it must only ever show %v as an output", p, c.Level, c.Output, off)
						}
					}
					if n := line.Reads(); n != 0 {
						t.Errorf("the driver read %s %d times; reading an output turns it into an input", p, n)
					}
				}
				want := []string{state("ch1", false), state("ch2", false), state("ch3", false), state("ch4", false)}
				if got := strs(w.Reports()); !slices.Equal(got, want) {
					t.Errorf("Open reported %q, want every channel off: %q", got, want)
				}
			})
		}
	}
}

// TestCommand checks that each command drives its own channel's line to
// the right level and no other, and that the board reports the commanded
// channel, and only it, without interlock.
func TestCommand(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		t.Run(fmt.Sprintf("inverted=%t", inverted), func(t *testing.T) {
			h := drivertest.Host(t)
			b := newBoard(t, boardSrc(inverted, false))
			w := drivertest.Open(t, b, h)
			want := []bool{false, false, false, false}
			for i, c := range []struct {
				ch int
				on bool
			}{{1, true}, {3, true}, {3, true}, {1, false}, {4, true}, {2, true}, {3, false}, {2, false}} {
				n := len(w.Reports())
				set(t, w, relay.EntityID(c.ch), c.on)
				want[c.ch-1] = c.on
				if got, want := strs(reportsSince(w, n)), []string{state(relay.EntityID(c.ch), c.on)}; !slices.Equal(got, want) {
					t.Fatalf("command %d (ch%d %t) reported %q, want %q (no interlock: the others stay)", i, c.ch, c.on, got, want)
				}
				if got := states(t, w, 4); !slices.Equal(got, want) {
					t.Fatalf("command %d (ch%d %t): states %v, want %v", i, c.ch, c.on, got, want)
				}
				for j, p := range fourPins {
					if line := h.Line(p); line.Level() != wantLevel(want[j], inverted) || !line.IsOutput() {
						t.Fatalf("command %d: %s output %t at %v, want channel %d %t", i, p, line.IsOutput(), line.Level(), j+1, want[j])
					}
				}
			}
			for _, p := range fourPins {
				for _, c := range h.Line(p).History() {
					if !c.Output {
						t.Errorf("%s was an input at %v", p, c.At)
					}
				}
				if n := h.Line(p).Reads(); n != 0 {
					t.Errorf("the driver read %s %d times", p, n)
				}
			}
		})
	}
}

// TestInterlock checks that with interlock at most one channel is ever on,
// on the lines themselves: switching one on first switches the one that is
// on off, never the other way round. Command reports each channel it
// switched off, before the one it switched on, so that Home Assistant
// hears of the side effect without any goroutine of the board's.
func TestInterlock(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		t.Run(fmt.Sprintf("inverted=%t", inverted), func(t *testing.T) {
			h := newRecordingHost(t)
			b := newBoard(t, boardSrc(inverted, true))
			w := drivertest.Open(t, b, h)
			steps := []struct {
				ch      int
				on      bool
				want    []bool
				reports []string
			}{
				{1, true, []bool{true, false, false, false}, []string{state("ch1", true)}},
				{2, true, []bool{false, true, false, false}, []string{state("ch1", false), state("ch2", true)}},
				{2, true, []bool{false, true, false, false}, []string{state("ch2", true)}},
				{4, true, []bool{false, false, false, true}, []string{state("ch2", false), state("ch4", true)}},
				{4, false, []bool{false, false, false, false}, []string{state("ch4", false)}},
				{3, false, []bool{false, false, false, false}, []string{state("ch3", false)}},
				{3, true, []bool{false, false, true, false}, []string{state("ch3", true)}},
			}
			first := h.count()
			for i, s := range steps {
				n := len(w.Reports())
				set(t, w, relay.EntityID(s.ch), s.on)
				if got := strs(reportsSince(w, n)); !slices.Equal(got, s.reports) {
					t.Fatalf("step %d (ch%d %t) reported %q, want %q", i, s.ch, s.on, got, s.reports)
				}
				if got := states(t, w, 4); !slices.Equal(got, s.want) {
					t.Fatalf("step %d (ch%d %t): states %v, want %v", i, s.ch, s.on, got, s.want)
				}
				for j, p := range fourPins {
					if got := h.Line(p).Level(); got != wantLevel(s.want[j], inverted) {
						t.Fatalf("step %d: %s at %v, want channel %d %t", i, p, got, j+1, s.want[j])
					}
				}
			}
			// Replay every level the lines went through: never two on.
			lit := map[string]bool{}
			for _, o := range h.log(first) {
				lit[o.pin] = o.level == wantLevel(true, inverted)
				n := 0
				for _, v := range lit {
					if v {
						n++
					}
				}
				if n > 1 {
					t.Fatalf("after %v, %d channels were on at once: %v", o, n, h.log(first))
				}
			}
		})
	}
}

// TestInterlockOffFails checks that when a channel that is on cannot be
// switched off, the commanded channel is not switched on: two directions
// of a motor at once is worse than a failed command. Nothing changed, so
// nothing is reported.
func TestInterlockOffFails(t *testing.T) {
	h := newRecordingHost(t)
	b := newBoard(t, boardSrc(false, true))
	w := drivertest.Open(t, b, h)
	set(t, w, "ch1", true)
	errStuck := errors.New("line busy")
	h.failOut("GPIO5", errStuck)
	n := len(w.Reports())
	err := w.Command(t, "ch2", on)
	if !errors.Is(err, errStuck) || !strings.HasPrefix(err.Error(), `example-relay "board": `) || !strings.Contains(err.Error(), "ch1") {
		t.Fatalf("Command(ch2 ON) with ch1 stuck: error %v, want the line's error, prefixed, naming ch1", err)
	}
	if errors.Is(err, drivers.ErrUnsupported) {
		t.Errorf("error %v wraps ErrUnsupported; the command was fine, the hardware failed", err)
	}
	if rs := reportsSince(w, n); len(rs) != 0 {
		t.Errorf("a command that changed nothing reported %v", rs)
	}
	if h.Line("GPIO6").Level() != gpio.Low || h.Line("GPIO5").Level() != gpio.High {
		t.Errorf("GPIO5 %v, GPIO6 %v: want ch1 still on and ch2 off", h.Line("GPIO5").Level(), h.Line("GPIO6").Level())
	}
	if s := states(t, w, 4); !slices.Equal(s, []bool{true, false, false, false}) {
		t.Errorf("states %v, want ch1 on as the line still is", s)
	}
	h.failOut("GPIO5", nil)
	set(t, w, "ch2", true)
	if s := states(t, w, 4); !slices.Equal(s, []bool{false, true, false, false}) {
		t.Errorf("states %v once the line works again, want ch2 alone on", s)
	}
}

// TestCommandFails checks a line that refuses: the command fails naming
// the line, and the channel keeps the state it had.
func TestCommandFails(t *testing.T) {
	h := newRecordingHost(t)
	b := newBoard(t, boardSrc(false, false))
	w := drivertest.Open(t, b, h)
	errBusy := errors.New("line busy")
	h.failOut("GPIO13", errBusy)
	n := len(w.Reports())
	err := w.Command(t, "ch3", on)
	if !errors.Is(err, errBusy) || !strings.Contains(err.Error(), "GPIO13") || !strings.Contains(err.Error(), "ch3 ON") {
		t.Fatalf("Command(ch3 ON): error %v, want the line's error naming ch3 ON and GPIO13", err)
	}
	if rs := reportsSince(w, n); len(rs) != 0 {
		t.Errorf("a command that failed reported %v", rs)
	}
	if s := states(t, w, 4); s[2] {
		t.Error("the board reports ch3 ON after a command that failed")
	}
}

// TestCommandUnsupported checks commands the agent never sends, called on
// the device directly: each is an error wrapping drivers.ErrUnsupported,
// prefixed, and changes nothing.
func TestCommandUnsupported(t *testing.T) {
	h := drivertest.Host(t)
	b := newBoard(t, boardSrc(false, false))
	w := drivertest.Open(t, b, h)
	set(t, w, "ch2", true)
	for _, tc := range []struct {
		name   string
		entity string
		c      drivers.Command
	}{
		{"press", "ch2", drivers.Command{Action: drivers.ActionPress}},
		{"set", "ch2", drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(0, "")}},
		{"open", "ch2", drivers.Command{Action: drivers.ActionOpen}},
		{"no action", "ch2", drivers.Command{}},
		{"channel 0", "ch0", off},
		{"channel past the end", "ch5", off},
		{"other entity", "relay", off},
		{"upper case", "CH2", off},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(w.Reports())
			// The worker is idle between calls, so calling the device
			// from the test's goroutine is still one call at a time.
			err := b.Command(context.Background(), tc.entity, tc.c)
			if !errors.Is(err, drivers.ErrUnsupported) {
				t.Fatalf("Command(%q, %v) = %v; want an error wrapping drivers.ErrUnsupported", tc.entity, tc.c, err)
			}
			if !strings.HasPrefix(err.Error(), `example-relay "board": `) {
				t.Errorf("error %q does not start with the driver and device", err)
			}
			if rs := reportsSince(w, n); len(rs) != 0 || h.Line("GPIO6").Level() != gpio.High {
				t.Errorf("a rejected command changed the board: reported %v, GPIO6 %v", rs, h.Line("GPIO6").Level())
			}
		})
	}
}

// TestNotOpen checks that a board that is not open says so instead of
// panicking, and that a command to it is not mistaken for a bad command.
func TestNotOpen(t *testing.T) {
	b := newBoard(t, boardSrc(false, false))
	if err := b.Command(context.Background(), "ch1", on); err == nil || errors.Is(err, drivers.ErrUnsupported) {
		t.Errorf("Command before Open: error %v, want one that is not ErrUnsupported (the command is fine, the board is not ready)", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close before Open: %v", err)
	}
}

// TestClose checks that Close leaves every channel off, so that nothing
// runs unsupervised, reports them off, and that the board then refuses
// work.
func TestClose(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		t.Run(fmt.Sprintf("inverted=%t", inverted), func(t *testing.T) {
			h := drivertest.Host(t)
			b := newBoard(t, boardSrc(inverted, false))
			w := drivertest.Open(t, b, h)
			set(t, w, "ch1", true)
			set(t, w, "ch4", true)
			if err := w.Close(t); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for _, p := range fourPins {
				if l := h.Line(p); !l.IsOutput() || l.Level() != wantLevel(false, inverted) {
					t.Errorf("%s after Close: output %t at %v, want the channel off", p, l.IsOutput(), l.Level())
				}
			}
			if s := states(t, w, 4); !slices.Equal(s, []bool{false, false, false, false}) {
				t.Errorf("states after Close %v, want every channel reported off", s)
			}
			if err := b.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := b.Command(context.Background(), "ch1", on); err == nil {
				t.Error("Command after Close: no error")
			}
			if l := h.Line("GPIO5"); l.Level() != wantLevel(false, inverted) {
				t.Error("Command after Close switched the channel on")
			}
		})
	}
}

// TestCloseFails checks that Close goes on past a channel that will not
// switch off: the others must not stay on because one line is stuck.
func TestCloseFails(t *testing.T) {
	h := newRecordingHost(t)
	b := newBoard(t, boardSrc(false, false))
	w := drivertest.Open(t, b, h)
	set(t, w, "ch2", true)
	set(t, w, "ch3", true)
	errBusy := errors.New("line busy")
	h.failOut("GPIO6", errBusy)
	err := w.Close(t)
	if !errors.Is(err, errBusy) || !strings.Contains(err.Error(), "ch2") || !strings.HasPrefix(err.Error(), `example-relay "board": `) {
		t.Fatalf("Close with ch2 stuck: error %v, want the line's error naming ch2", err)
	}
	if h.Line("GPIO13").Level() != gpio.Low {
		t.Error("Close gave up at the stuck channel and left ch3 on")
	}
	if s := states(t, w, 4); !slices.Equal(s, []bool{false, true, false, false}) {
		t.Errorf("states after Close %v, want ch2 still on, as its line is", s)
	}
}

// TestReopen checks that opening again after Close (the agent reopens a
// device that failed) starts over with every channel off, and works.
func TestReopen(t *testing.T) {
	h := drivertest.Host(t)
	b := newBoard(t, boardSrc(false, true))
	w := drivertest.Open(t, b, h)
	set(t, w, "ch2", true)
	if err := w.Close(t); err != nil {
		t.Fatal(err)
	}
	w = drivertest.Open(t, b, h)
	if s := states(t, w, 4); !slices.Equal(s, []bool{false, false, false, false}) || h.Line("GPIO6").Level() != gpio.Low {
		t.Errorf("after reopening: states %v, GPIO6 %v; want every channel off", s, h.Line("GPIO6").Level())
	}
	set(t, w, "ch3", true)
	set(t, w, "ch1", true)
	if s := states(t, w, 4); !slices.Equal(s, []bool{true, false, false, false}) {
		t.Errorf("after reopening, interlock: states %v, want ch1 alone on", s)
	}
}

func TestOpenFails(t *testing.T) {
	t.Run("unknown line", func(t *testing.T) {
		h := drivertest.Host(t)
		b := newBoard(t, `pins = ["GPIO5", "GPIO99"]`)
		_, err := drivertest.Start(t, b, h)
		if err == nil || !strings.HasPrefix(err.Error(), `example-relay "board": `) || !strings.Contains(err.Error(), "GPIO99") || !strings.Contains(err.Error(), "channel 2") {
			t.Fatalf("Open with a missing line: error %v, want one naming the device, the channel and the line", err)
		}
		if err := b.Command(context.Background(), "ch1", on); err == nil {
			t.Error("Command after a failed Open: no error")
		}
	})
	t.Run("line refuses", func(t *testing.T) {
		h := newRecordingHost(t)
		errBusy := errors.New("line busy")
		h.failOut("GPIO13", errBusy)
		b := newBoard(t, boardSrc(false, false))
		w, err := drivertest.Start(t, b, h)
		if !errors.Is(err, errBusy) || !strings.Contains(err.Error(), "GPIO13") {
			t.Fatalf("Open: error %v, want the line's error naming GPIO13", err)
		}
		if rs := w.Reports(); len(rs) != 0 {
			t.Errorf("a failed Open reported %v", rs)
		}
		h.failOut("GPIO13", nil)
		w = drivertest.Open(t, b, h) // the agent retries Open; it must work now
		set(t, w, "ch3", true)
	})
	t.Run("no GPIO", func(t *testing.T) {
		b := newBoard(t, boardSrc(false, false))
		_, err := drivertest.Start(t, b, bareHost{drivertest.Host(t)})
		if !errors.Is(err, drivers.ErrUnsupported) || !strings.Contains(err.Error(), "GPIO5") {
			t.Fatalf("Open on a host without GPIO: error %v, want ErrUnsupported naming GPIO5", err)
		}
	})
}

// bareHost is a host with a clock and a logger and no hardware at all.
type bareHost struct{ h drivers.Host }

func (b bareHost) Clock() drivers.Clock { return b.h.Clock() }
func (b bareHost) Logger() *slog.Logger { return b.h.Logger() }

// TestConformance runs the board through drivertest's check of the
// contract the agent relies on, in each of its modes.
func TestConformance(t *testing.T) {
	for _, tc := range []struct{ name, src string }{
		{"one channel", `pins = ["GPIO5"]`},
		{"four channels", boardSrc(false, false)},
		{"inverted with interlock", boardSrc(true, true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drivertest.Conformance(t, newBoard(t, tc.src), drivertest.Host(t))
		})
	}
}
