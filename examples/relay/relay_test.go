package relay_test

import (
	"context"
	"errors"
	"fmt"
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
// can run a motor or fire a boiler.
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
						line.In(gpio.PullUp, gpio.NoEdge)
					case "pulled down":
						line.In(gpio.PullDown, gpio.NoEdge)
					}
					start[p] = len(line.History())
				}
				b := newBoard(t, boardSrc(inverted, false))
				drivertest.Open(t, b, h)
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
				if got := states(t, b); !slices.Equal(got, []bool{false, false, false, false}) {
					t.Errorf("Read after Open = %v, want every channel off", got)
				}
			})
		}
	}
}

// TestSet checks that each command drives its own channel's line to the
// right level and no other, and that Set and Read report the commanded
// states.
func TestSet(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		t.Run(fmt.Sprintf("inverted=%t", inverted), func(t *testing.T) {
			h := drivertest.Host(t)
			b := newBoard(t, boardSrc(inverted, false))
			drivertest.Open(t, b, h)
			want := []bool{false, false, false, false}
			for i, c := range []struct {
				ch int
				on bool
			}{{1, true}, {3, true}, {3, true}, {1, false}, {4, true}, {2, true}, {3, false}, {2, false}} {
				set(t, b, relay.EntityID(c.ch), c.on)
				want[c.ch-1] = c.on
				if got := states(t, b); !slices.Equal(got, want) {
					t.Fatalf("command %d (ch%d %t): Read = %v, want %v (no interlock: the others stay)", i, c.ch, c.on, got, want)
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
// on off, never the other way round.
func TestInterlock(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		t.Run(fmt.Sprintf("inverted=%t", inverted), func(t *testing.T) {
			h := newRecordingHost(t)
			b := newBoard(t, boardSrc(inverted, true))
			drivertest.Open(t, b, h)
			steps := []struct {
				ch   int
				on   bool
				want []bool
			}{
				{1, true, []bool{true, false, false, false}},
				{2, true, []bool{false, true, false, false}},
				{2, true, []bool{false, true, false, false}},
				{4, true, []bool{false, false, false, true}},
				{4, false, []bool{false, false, false, false}},
				{3, false, []bool{false, false, false, false}},
				{3, true, []bool{false, false, true, false}},
			}
			first := h.count()
			for i, s := range steps {
				set(t, b, relay.EntityID(s.ch), s.on)
				if got := states(t, b); !slices.Equal(got, s.want) {
					t.Fatalf("step %d (ch%d %t): Read = %v, want %v", i, s.ch, s.on, got, s.want)
				}
				for j, p := range fourPins {
					if got := h.Line(p).Level(); got != wantLevel(s.want[j], inverted) {
						t.Fatalf("step %d: %s at %v, want channel %d %t", i, p, got, j+1, s.want[j])
					}
				}
			}
			// Replay every level the lines went through: never two on.
			on := map[string]bool{}
			for _, o := range h.log(first) {
				on[o.pin] = o.level == wantLevel(true, inverted)
				n := 0
				for _, v := range on {
					if v {
						n++
					}
				}
				if n > 1 {
					t.Fatalf("after %s went %v, %d channels were on at once: %v", o.pin, o.level, n, h.log(first))
				}
			}
		})
	}
}

// TestInterlockOffFails checks that when a channel that is on cannot be
// switched off, the commanded channel is not switched on: two directions
// of a motor at once is worse than a failed command.
func TestInterlockOffFails(t *testing.T) {
	h := newRecordingHost(t)
	b := newBoard(t, boardSrc(false, true))
	drivertest.Open(t, b, h)
	set(t, b, "ch1", true)
	errStuck := errors.New("line busy")
	h.failOut("GPIO5", errStuck)
	got, err := b.Set(context.Background(), "ch2", drivers.Bool(true))
	if !errors.Is(err, errStuck) || !strings.HasPrefix(err.Error(), `example-relay "board": `) || !strings.Contains(err.Error(), "ch1") {
		t.Fatalf("Set(ch2 ON) with ch1 stuck: error %v, want the line's error, prefixed, naming ch1", err)
	}
	if errors.Is(err, drivers.ErrUnsupported) {
		t.Errorf("error %v wraps ErrUnsupported; the command was fine, the hardware failed", err)
	}
	if !got.Equal(drivers.Bool(false)) {
		t.Errorf("Set(ch2 ON) returned %v, want OFF: the channel stayed off", got)
	}
	if h.Line("GPIO6").Level() != gpio.Low || h.Line("GPIO5").Level() != gpio.High {
		t.Errorf("GPIO5 %v, GPIO6 %v: want ch1 still on and ch2 off", h.Line("GPIO5").Level(), h.Line("GPIO6").Level())
	}
	if s := states(t, b); !slices.Equal(s, []bool{true, false, false, false}) {
		t.Errorf("Read = %v, want ch1 on as the line still is", s)
	}
	h.failOut("GPIO5", nil)
	set(t, b, "ch2", true)
	if s := states(t, b); !slices.Equal(s, []bool{false, true, false, false}) {
		t.Errorf("Read = %v once the line works again, want ch2 alone on", s)
	}
}

func TestSetFails(t *testing.T) {
	h := newRecordingHost(t)
	b := newBoard(t, boardSrc(false, false))
	drivertest.Open(t, b, h)
	errBusy := errors.New("line busy")
	h.failOut("GPIO13", errBusy)
	_, err := b.Set(context.Background(), "ch3", drivers.Bool(true))
	if !errors.Is(err, errBusy) || !strings.Contains(err.Error(), "GPIO13") {
		t.Fatalf("Set(ch3 ON): error %v, want the line's error naming GPIO13", err)
	}
	if s := states(t, b); s[2] {
		t.Error("Read reports ch3 ON after a Set that failed")
	}
}

func TestSetUnsupported(t *testing.T) {
	h := drivertest.Host(t)
	b := newBoard(t, boardSrc(false, false))
	drivertest.Open(t, b, h)
	set(t, b, "ch2", true)
	for _, tc := range []struct {
		name   string
		entity string
		v      drivers.Value
	}{
		{"number", "ch2", drivers.Number(0, "")},
		{"text", "ch2", drivers.Text("OFF")},
		{"nothing", "ch2", drivers.Value{}},
		{"channel 0", "ch0", drivers.Bool(false)},
		{"channel past the end", "ch5", drivers.Bool(false)},
		{"other entity", "relay", drivers.Bool(false)},
		{"upper case", "CH2", drivers.Bool(false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.Set(context.Background(), tc.entity, tc.v)
			if !errors.Is(err, drivers.ErrUnsupported) {
				t.Fatalf("Set(%q, %v) = %v, %v; want an error wrapping drivers.ErrUnsupported", tc.entity, tc.v, got, err)
			}
			if !strings.HasPrefix(err.Error(), `example-relay "board": `) {
				t.Errorf("error %q does not start with the driver and device", err)
			}
			if s := states(t, b); !slices.Equal(s, []bool{false, true, false, false}) || h.Line("GPIO6").Level() != gpio.High {
				t.Errorf("a rejected command changed the board: Read %v, GPIO6 %v", s, h.Line("GPIO6").Level())
			}
		})
	}
}

// TestNotOpen checks that a board that is not open says so instead of
// panicking, and that a command to it is not mistaken for a bad command.
func TestNotOpen(t *testing.T) {
	b := newBoard(t, boardSrc(false, false))
	if _, err := b.Read(context.Background()); err == nil {
		t.Error("Read before Open: no error")
	}
	if _, err := b.Set(context.Background(), "ch1", drivers.Bool(true)); err == nil || errors.Is(err, drivers.ErrUnsupported) {
		t.Errorf("Set before Open: error %v, want one that is not ErrUnsupported (the command is fine, the board is not ready)", err)
	}
	if err := b.Watch(context.Background(), func(drivers.Reading) {}); err == nil {
		t.Error("Watch before Open: no error")
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close before Open: %v", err)
	}
}

// TestClose checks that Close leaves every channel off, so that nothing
// runs unsupervised, and that the board then refuses work.
func TestClose(t *testing.T) {
	for _, inverted := range []bool{false, true} {
		t.Run(fmt.Sprintf("inverted=%t", inverted), func(t *testing.T) {
			h := drivertest.Host(t)
			b := newBoard(t, boardSrc(inverted, false))
			drivertest.Open(t, b, h)
			set(t, b, "ch1", true)
			set(t, b, "ch4", true)
			if err := b.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for _, p := range fourPins {
				if l := h.Line(p); !l.IsOutput() || l.Level() != wantLevel(false, inverted) {
					t.Errorf("%s after Close: output %t at %v, want the channel off", p, l.IsOutput(), l.Level())
				}
			}
			if err := b.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, err := b.Read(context.Background()); err == nil {
				t.Error("Read after Close: no error")
			}
			if _, err := b.Set(context.Background(), "ch1", drivers.Bool(true)); err == nil {
				t.Error("Set after Close: no error")
			}
			if l := h.Line("GPIO5"); l.Level() != wantLevel(false, inverted) {
				t.Error("Set after Close switched the channel on")
			}
		})
	}
}

func TestCloseFails(t *testing.T) {
	h := newRecordingHost(t)
	b := newBoard(t, boardSrc(false, false))
	drivertest.Open(t, b, h)
	set(t, b, "ch2", true)
	set(t, b, "ch3", true)
	errBusy := errors.New("line busy")
	h.failOut("GPIO6", errBusy)
	err := b.Close()
	if !errors.Is(err, errBusy) || !strings.Contains(err.Error(), "ch2") {
		t.Fatalf("Close with ch2 stuck: error %v, want the line's error naming ch2", err)
	}
	if h.Line("GPIO13").Level() != gpio.Low {
		t.Error("Close gave up at the stuck channel and left ch3 on")
	}
}

// TestWatch checks what Watch pushes: every channel first, then every
// change, including the channels interlock switched off, which Set cannot
// return.
func TestWatch(t *testing.T) {
	h := drivertest.Host(t)
	b := newBoard(t, boardSrc(false, true))
	drivertest.Open(t, b, h)
	set(t, b, "ch3", true)
	w := drivertest.StartWatch(t, b)
	want := []drivers.Reading{reading("ch1", false), reading("ch2", false), reading("ch3", true), reading("ch4", false)}
	if got := w.WaitFor(t, 4); !slices.Equal(got, want) {
		t.Fatalf("Watch first emitted %v, want every channel: %v", got, want)
	}
	set(t, b, "ch1", true)
	want = append(want, reading("ch1", true), reading("ch3", false))
	got := w.WaitFor(t, 6)
	if !slices.Equal(got[:4], want[:4]) || !sameSet(got[4:], want[4:]) {
		t.Fatalf("after ch1 ON with interlock, Watch emitted %v, want %v then ch1 ON and ch3 OFF", got, want[:4])
	}
	set(t, b, "ch1", false)
	got = w.WaitFor(t, 7)
	if !slices.Equal(got[6:], []drivers.Reading{reading("ch1", false)}) {
		t.Fatalf("after ch1 OFF, Watch emitted %v, want ch1 OFF", got[6:])
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(t); err != nil {
		t.Errorf("Watch returned %v after Close, want nil", err)
	}
}

func TestWatchCancel(t *testing.T) {
	h := drivertest.Host(t)
	b := newBoard(t, boardSrc(false, false))
	drivertest.Open(t, b, h)
	w := drivertest.StartWatch(t, b)
	w.WaitFor(t, 4)
	if err := w.Stop(t); err != nil {
		t.Errorf("Watch returned %v after its context ended, want nil", err)
	}
}

// TestReopen checks that opening again starts over with every channel off
// and ends the Watch of the previous opening, which would otherwise report
// states of lines it no longer drives.
func TestReopen(t *testing.T) {
	h := drivertest.Host(t)
	b := newBoard(t, boardSrc(false, false))
	drivertest.Open(t, b, h)
	set(t, b, "ch2", true)
	w := drivertest.StartWatch(t, b)
	w.WaitFor(t, 4)
	if err := b.Open(context.Background(), h); err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if err := w.Wait(t); err != nil {
		t.Errorf("Watch of the first opening returned %v, want nil", err)
	}
	if s := states(t, b); !slices.Equal(s, []bool{false, false, false, false}) || h.Line("GPIO6").Level() != gpio.Low {
		t.Errorf("after reopening: Read %v, GPIO6 %v; want every channel off", s, h.Line("GPIO6").Level())
	}
}

func TestOpenFails(t *testing.T) {
	t.Run("unknown line", func(t *testing.T) {
		h := drivertest.Host(t)
		b := newBoard(t, `pins = ["GPIO5", "GPIO99"]`)
		err := b.Open(context.Background(), h)
		if err == nil || !strings.HasPrefix(err.Error(), `example-relay "board": `) || !strings.Contains(err.Error(), "GPIO99") || !strings.Contains(err.Error(), "channel 2") {
			t.Fatalf("Open with a missing line: error %v, want one naming the device, the channel and the line", err)
		}
		if _, err := b.Read(context.Background()); err == nil {
			t.Error("Read after a failed Open: no error")
		}
	})
	t.Run("line refuses", func(t *testing.T) {
		h := newRecordingHost(t)
		errBusy := errors.New("line busy")
		h.failOut("GPIO13", errBusy)
		b := newBoard(t, boardSrc(false, false))
		if err := b.Open(context.Background(), h); !errors.Is(err, errBusy) || !strings.Contains(err.Error(), "GPIO13") {
			t.Fatalf("Open: error %v, want the line's error naming GPIO13", err)
		}
		h.failOut("GPIO13", nil)
		drivertest.Open(t, b, h) // the agent retries Open; it must work now
		set(t, b, "ch3", true)
	})
}

// sameSet reports whether a and b hold the same readings in any order:
// Watch reports the changes of one command together, in no promised order.
func sameSet(a, b []drivers.Reading) bool {
	if len(a) != len(b) {
		return false
	}
	for _, r := range a {
		if !slices.Contains(b, r) {
			return false
		}
	}
	return true
}

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
