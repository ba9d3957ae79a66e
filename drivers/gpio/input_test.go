package gpio

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

func inputSrc(extra string) string {
	return "pin = \"GPIO27\"\nmode = \"input\"\n" + extra
}

func pressSrc(extra string) string {
	return inputSrc("report = \"press\"\n" + extra)
}

// inputStates returns every state the input reported, in order.
func inputStates(t *testing.T, w *drivertest.Worker) []bool {
	t.Helper()
	return bools(t, w.States(EntityInput))
}

// waitStates waits until the input has reported n states and returns
// them.
func waitStates(t *testing.T, w *drivertest.Worker, n int) []bool {
	t.Helper()
	w.WaitFor(t, fmt.Sprintf("%d states of %q", n, EntityInput), func(w *drivertest.Worker) bool {
		return len(w.States(EntityInput)) >= n
	})
	return inputStates(t, w)
}

// waitEvents waits until the input has fired n events and returns them.
func waitEvents(t *testing.T, w *drivertest.Worker, n int) []string {
	t.Helper()
	w.WaitFor(t, fmt.Sprintf("%d events of %q", n, EntityPress), func(w *drivertest.Worker) bool {
		return len(w.Events(EntityPress)) >= n
	})
	return w.Events(EntityPress)
}

// TestInputInitialState checks the state Open reports: the level the line
// has with its pull and whatever drives it, through inverted.
func TestInputInitialState(t *testing.T) {
	for _, tc := range []struct {
		cfg      string
		drive    string // "", "high", "low"
		wantPull gpio.Pull
		want     bool
	}{
		{"", "", gpio.PullUp, true}, // pull default up: an open button reads High
		{"inverted = true", "", gpio.PullUp, false},
		{"inverted = true", "low", gpio.PullUp, true}, // a button to ground, pressed
		{`pull = "down"`, "", gpio.PullDown, false},
		{`pull = "down"`, "high", gpio.PullDown, true},
		{`pull = "none"`, "", gpio.Float, false},
		{"pull = \"none\"\ninverted = true", "high", gpio.Float, false},
		{`poll = "1s"`, "", gpio.PullUp, true},
	} {
		t.Run(fmt.Sprintf("%s/drive=%s", tc.cfg, tc.drive), func(t *testing.T) {
			h := newTestHost(t)
			line := h.Line("GPIO27")
			switch tc.drive {
			case "high":
				line.Drive(gpio.High)
			case "low":
				line.Drive(gpio.Low)
			}
			d := newDevice(t, "bell", inputSrc(tc.cfg))
			w := drivertest.Open(t, d, h)
			if line.IsOutput() || line.Pull() != tc.wantPull {
				t.Errorf("after Open: output %t, pull %v; want an input with pull %v", line.IsOutput(), line.Pull(), tc.wantPull)
			}
			if got := inputStates(t, w); !slices.Equal(got, []bool{tc.want}) {
				t.Errorf("Open reported %v, want [%t]", got, tc.want)
			}
		})
	}
}

// TestInputEdges drives the line like a contact opening and closing, with
// the real clock, and checks each change is reported once.
func TestInputEdges(t *testing.T) {
	for _, tc := range []struct {
		cfg  string
		want []bool // initial, after Low, after High, after Low
	}{
		{`debounce = "0s"`, []bool{true, false, true, false}},
		{`debounce = "5ms"`, []bool{true, false, true, false}},
		{"debounce = \"5ms\"\ninverted = true", []bool{false, true, false, true}},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			h := newTestHost(t)
			line := h.Line("GPIO27")
			d := newDevice(t, "bell", inputSrc(tc.cfg))
			w := drivertest.Open(t, d, h)
			waitStates(t, w, 1)
			for i, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low} {
				line.Drive(l)
				waitStates(t, w, i+2)
			}
			if got := inputStates(t, w); !slices.Equal(got, tc.want) {
				t.Errorf("states %v, want %v", got, tc.want)
			}
			if err := w.Close(t); err != nil {
				t.Errorf("Close: %v", err)
			}
			if line.IsOutput() {
				t.Error("the driver made the input an output")
			}
		})
	}
}

// TestInputDebounce bounces the contact while the waiter waits out the
// debounce delay (a step clock holds it there) and checks that only the
// level it settles at is reported, once.
func TestInputDebounce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bounce []gpio.Level // after the first edge (to Low), during the debounce delay
		settle []bool       // states after the initial ON, once the bounce settles
	}{
		{"settles low", []gpio.Level{gpio.High, gpio.Low, gpio.High, gpio.Low}, []bool{false}},
		{"settles back high", []gpio.Level{gpio.High, gpio.Low, gpio.High}, nil},
		{"no bounce", nil, []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHost(t)
			clk := newStepClock()
			h.clock = clk
			lines := watchLines(h)
			line := h.Line("GPIO27")
			d := newDevice(t, "bell", inputSrc(""))
			w := drivertest.Open(t, d, h)
			l := lines("GPIO27")
			waitStates(t, w, 1)

			line.Drive(gpio.Low)
			clk.asleep(t, DefaultDebounce)
			for _, lv := range tc.bounce {
				line.Drive(lv)
			}
			last := gpio.Low
			if len(tc.bounce) > 0 {
				last = tc.bounce[len(tc.bounce)-1]
			}
			clk.release(t)
			// The worker reads the settled level once (its first read
			// was the initial state); a change after that read is a new
			// change, not part of the bounce.
			l.until(t, "the settled level read", func(l *watched) bool { return l.Reads() >= 2 })

			// A later, clean change shows the bounce produced nothing
			// more than the states wanted.
			next := !last
			line.Drive(next)
			clk.asleep(t, DefaultDebounce)
			clk.release(t)
			want := append([]bool{true}, tc.settle...)
			want = append(want, bool(next))
			if got := waitStates(t, w, len(want)); !slices.Equal(got, want) {
				t.Errorf("states %v, want %v", got, want)
			}
		})
	}
}

// haltOnly is a line on which a wait for an edge ends only with Halt,
// whatever timeout it is given. Unlike a real line it remembers a Halt that
// came before the wait, so the test cannot lose that race.
type haltOnly struct {
	gpio.PinIO
	once   *sync.Once
	halted chan struct{}
}

func (p haltOnly) WaitForEdge(time.Duration) bool {
	<-p.halted
	return false
}

func (p haltOnly) Halt() error {
	p.once.Do(func() { close(p.halted) })
	return p.PinIO.Halt()
}

// TestInputClose checks that closing the device ends its waiter, which
// interrupts its pending edge wait with Halt rather than waiting it out.
func TestInputClose(t *testing.T) {
	h := newTestHost(t)
	halted := make(chan struct{})
	once := new(sync.Once)
	h.wrap = func(p gpio.PinIO) gpio.PinIO { return haltOnly{p, once, halted} }
	d := newDevice(t, "bell", inputSrc(""))
	w := drivertest.Open(t, d, h)
	waitStates(t, w, 1)
	if err := w.Close(t); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case <-halted:
	case <-time.After(deadline):
		t.Fatal("the waiter's edge wait was never interrupted with Halt")
	}
}

func TestInputHandleNotOpen(t *testing.T) {
	d := newDevice(t, "bell", inputSrc(""))
	// What a waiter of an earlier opening delivers after Close is
	// ignored: nothing is read, nothing reported.
	for _, ev := range []any{settled{}, pollTick{changed: make(chan bool, 1)}, edgesFailed{}, "other"} {
		if err := d.(drivers.Handler).Handle(t.Context(), ev); err != nil {
			t.Errorf("Handle(%#v) before Open: %v", ev, err)
		}
	}
}

// noEdges is a line whose WaitForEdge returns false at once, as some
// GPIO drivers do when they cannot detect edges.
type noEdges struct{ gpio.PinIO }

func (noEdges) WaitForEdge(time.Duration) bool { return false }

// edgesRefused is a line whose In fails when asked for edge detection.
type edgesRefused struct {
	gpio.PinIO
	mu    *sync.Mutex
	edges *[]gpio.Edge // every edge mode In was called with
}

func (p edgesRefused) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	*p.edges = append(*p.edges, edge)
	p.mu.Unlock()
	if edge != gpio.NoEdge {
		return fmt.Errorf("edge detection not supported on %s", p.Name())
	}
	return p.PinIO.In(pull, edge)
}

// TestInputPollingFallback checks that a line that cannot report edges is
// polled every 100ms by the waiter, that a change is still debounced, and
// that the fallback is logged once however often the device is reopened.
func TestInputPollingFallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(gpio.PinIO) gpio.PinIO
	}{
		{"WaitForEdge returns at once", func(p gpio.PinIO) gpio.PinIO { return noEdges{p} }},
		{"In refuses edges", func(p gpio.PinIO) gpio.PinIO { return edgesRefused{p, new(sync.Mutex), new([]gpio.Edge)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHost(t)
			clk := newStepClock()
			h.clock, h.wrap = clk, tc.wrap
			line := h.Line("GPIO27")
			d := newDevice(t, "bell", inputSrc("inverted = true"))
			for run := range 2 {
				w := drivertest.Open(t, d, h)
				if got := waitStates(t, w, 1); got[0] != bool(line.Level() == gpio.Low) {
					t.Fatalf("run %d: first state %t with the line %v", run, got[0], line.Level())
				}
				clk.asleep(t, DefaultFallbackPoll)
				clk.release(t) // nothing changed: no debounce, no report
				clk.asleep(t, DefaultFallbackPoll)
				line.Drive(!line.Level())
				clk.release(t)
				clk.asleep(t, DefaultDebounce) // the change is confirmed after the debounce delay
				clk.release(t)
				got := waitStates(t, w, 2)
				if got[1] != !got[0] {
					t.Errorf("run %d: states %v, want the change reported", run, got)
				}
				if err := w.Close(t); err != nil {
					t.Errorf("run %d: Close: %v", run, err)
				}
			}
			if n := h.logs.count("polling"); n != 1 {
				t.Errorf("the fallback to polling was logged %d times, want once", n)
			}
		})
	}
}

// TestInputPollBounce checks that a polled change the second read does not
// confirm is not reported.
func TestInputPollBounce(t *testing.T) {
	h := newTestHost(t)
	clk := newStepClock()
	h.clock = clk
	lines := watchLines(h)
	line := h.Line("GPIO27")
	d := newDevice(t, "bell", inputSrc(`poll = "250ms"`))
	w := drivertest.Open(t, d, h)
	l := lines("GPIO27")
	clk.asleep(t, 250*time.Millisecond)
	line.Drive(gpio.Low)
	clk.release(t)
	clk.asleep(t, DefaultDebounce)
	line.Drive(gpio.High) // back before the second read
	clk.release(t)
	clk.asleep(t, 250*time.Millisecond)
	if err := w.Close(t); err != nil {
		t.Fatal(err)
	}
	if n := l.Reads(); n != 3 {
		t.Errorf("the line was read %d times, want 3 (at Open, at the poll, after the debounce delay)", n)
	}
	if got := inputStates(t, w); !slices.Equal(got, []bool{true}) {
		t.Errorf("states %v, want only the first: the change did not last the debounce delay", got)
	}
}

// TestInputPoll checks that a configured poll interval reads the line
// without asking for edges.
func TestInputPoll(t *testing.T) {
	h := newTestHost(t)
	clk := newStepClock()
	var mu sync.Mutex
	var edges []gpio.Edge
	h.clock = clk
	h.wrap = func(p gpio.PinIO) gpio.PinIO { return edgesRefused{p, &mu, &edges} }
	line := h.Line("GPIO27")
	d := newDevice(t, "bell", inputSrc("poll = \"250ms\"\ndebounce = \"0s\""))
	w := drivertest.Open(t, d, h)
	mu.Lock()
	if !slices.Equal(edges, []gpio.Edge{gpio.NoEdge}) {
		t.Errorf("In was called with edges %v, want only NoEdge", edges)
	}
	mu.Unlock()
	waitStates(t, w, 1)
	clk.asleep(t, 250*time.Millisecond)
	line.Drive(gpio.Low)
	clk.release(t)
	// debounce = 0: the change is reported without a second sleep.
	if got := waitStates(t, w, 2); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("states %v, want [true false]", got)
	}
	clk.asleep(t, 250*time.Millisecond)
	if n := h.logs.count("polling"); n != 0 {
		t.Errorf("a configured poll interval was logged as a fallback %d times", n)
	}
}

// TestInputRealPolling runs the fallback on the real clock, end to end.
func TestInputRealPolling(t *testing.T) {
	h := newTestHost(t)
	h.wrap = func(p gpio.PinIO) gpio.PinIO { return noEdges{p} }
	line := h.Line("GPIO27")
	d := newDevice(t, "bell", inputSrc(`debounce = "1ms"`))
	w := drivertest.Open(t, d, h)
	waitStates(t, w, 1)
	line.Drive(gpio.Low)
	waitStates(t, w, 2)
	line.Drive(gpio.High)
	if got := waitStates(t, w, 3); !slices.Equal(got, []bool{true, false, true}) {
		t.Errorf("states %v, want [true false true]", got)
	}
}

func TestInputOpenUnknownLine(t *testing.T) {
	h := newTestHost(t)
	d := newDevice(t, "bell", "pin = \"GPIO40\"\nmode = \"input\"")
	_, err := drivertest.Start(t, d, h)
	if err == nil || !strings.HasPrefix(err.Error(), `gpio "bell": `) || !strings.Contains(err.Error(), "GPIO40") {
		t.Errorf("Open on a missing line: error %v, want one naming the device and the line", err)
	}
}

// TestInputProvidedLine reads a line that another device provides.
func TestInputProvidedLine(t *testing.T) {
	h := newTestHost(t)
	h.provided = map[string]string{"buttons/GPB3": "GPIO6"}
	line := h.Line("GPIO6")
	d := newDevice(t, "bell", "pin = \"buttons/GPB3\"\nmode = \"input\"\ndebounce = \"1ms\"")
	if got, want := d.(drivers.Claimer).Claims(), []drivers.Resource{drivers.GPIOLine("buttons/GPB3")}; !slices.Equal(got, want) {
		t.Errorf("Claims() = %v, want %v", got, want)
	}
	w := drivertest.Open(t, d, h)
	line.Drive(gpio.Low)
	if got := waitStates(t, w, 2); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("states %v, want [true false]", got)
	}
}

// TestPress checks an input with report = "press": no state at all, one
// "press" each time the input becomes active (here a button to ground,
// inverted), none when it is let go.
func TestPress(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  string
		wrap func(gpio.PinIO) gpio.PinIO
		// reads is how many reads after a change make sure the driver
		// has seen it settle: one after an edge; for a polled line, a
		// poll that may have come just before the change, the poll that
		// sees it and the read that confirms it.
		reads int
	}{
		{"edges", "inverted = true\ndebounce = \"1ms\"", nil, 1},
		{"no debounce", "inverted = true\ndebounce = \"0s\"", nil, 1},
		{"polled", "inverted = true\ndebounce = \"1ms\"\npoll = \"1ms\"", nil, 3},
		{"polling fallback", "inverted = true\ndebounce = \"1ms\"", func(p gpio.PinIO) gpio.PinIO { return noEdges{p} }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHost(t)
			lines := watchLines(h)
			if tc.wrap != nil {
				watching := h.wrap
				h.wrap = func(p gpio.PinIO) gpio.PinIO { return watching(tc.wrap(p)) }
			}
			line := h.Line("GPIO27")
			d := newDevice(t, "bell", pressSrc(tc.cfg))
			w := drivertest.Open(t, d, h)
			l := lines("GPIO27")
			for i := range 3 {
				line.Drive(gpio.Low) // pressed
				waitEvents(t, w, i+1)
				// Letting go fires nothing; the next press must come
				// after the driver saw the button let go, or it would
				// be no change.
				reads := l.Reads()
				line.Drive(gpio.High)
				l.until(t, "the release seen", func(l *watched) bool { return l.Reads() >= reads+tc.reads })
			}
			if err := w.Close(t); err != nil {
				t.Fatal(err)
			}
			if got := w.Events(EntityPress); !slices.Equal(got, []string{EventPress, EventPress, EventPress}) {
				t.Errorf("events %v, want three presses", got)
			}
			for _, r := range w.Reports() {
				if r.Kind != "event" || r.Entity != EntityPress || r.EventType != EventPress {
					t.Errorf("reported %+v; an input with report = \"press\" reports only press events", r)
				}
			}
		})
	}
}

// TestPressHeldAtOpen checks that a button held down when the device
// opens is no press, and that the next press after letting go is one.
func TestPressHeldAtOpen(t *testing.T) {
	h := newTestHost(t)
	clk := newStepClock()
	h.clock = clk
	lines := watchLines(h)
	line := h.Line("GPIO27")
	line.Drive(gpio.Low)
	d := newDevice(t, "bell", pressSrc("inverted = true"))
	w := drivertest.Open(t, d, h)
	l := lines("GPIO27")
	line.Drive(gpio.High)
	clk.asleep(t, DefaultDebounce)
	clk.release(t)
	l.until(t, "the release read", func(l *watched) bool { return l.Reads() >= 2 })
	line.Drive(gpio.Low)
	clk.asleep(t, DefaultDebounce)
	clk.release(t)
	waitEvents(t, w, 1)
	if err := w.Close(t); err != nil {
		t.Fatal(err)
	}
	if got := w.Reports(); len(got) != 1 {
		t.Errorf("reports %+v, want the one press", got)
	}
}

// TestPressBounce bounces the button during the debounce delay: one
// press, whatever the contact did in between.
func TestPressBounce(t *testing.T) {
	h := newTestHost(t)
	clk := newStepClock()
	h.clock = clk
	lines := watchLines(h)
	line := h.Line("GPIO27")
	d := newDevice(t, "bell", pressSrc("inverted = true"))
	w := drivertest.Open(t, d, h)
	l := lines("GPIO27")
	line.Drive(gpio.Low)
	clk.asleep(t, DefaultDebounce)
	for _, lv := range []gpio.Level{gpio.High, gpio.Low, gpio.High, gpio.Low} {
		line.Drive(lv)
	}
	clk.release(t)
	waitEvents(t, w, 1)
	// A clean release and press: a second press, and no third.
	line.Drive(gpio.High)
	clk.asleep(t, DefaultDebounce)
	clk.release(t)
	l.until(t, "the release read", func(l *watched) bool { return l.Reads() >= 3 })
	line.Drive(gpio.Low)
	clk.asleep(t, DefaultDebounce)
	clk.release(t)
	waitEvents(t, w, 2)
	if err := w.Close(t); err != nil {
		t.Fatal(err)
	}
	if got := w.Events(EntityPress); !slices.Equal(got, []string{EventPress, EventPress}) {
		t.Errorf("events %v, want two presses", got)
	}
}
