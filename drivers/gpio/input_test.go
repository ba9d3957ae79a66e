package gpio

import (
	"context"
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

// TestInputInitialState checks the first reading of Watch: the level the
// line has with its pull and whatever drives it, through inverted.
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
			drivertest.Open(t, d, h)
			if line.IsOutput() || line.Pull() != tc.wantPull {
				t.Errorf("after Open: output %t, pull %v; want an input with pull %v", line.IsOutput(), line.Pull(), tc.wantPull)
			}
			w := drivertest.StartWatch(t, d)
			if got := waitStates(t, w, 1); got[0] != tc.want {
				t.Errorf("first state %t, want %t", got[0], tc.want)
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
			drivertest.Open(t, d, h)
			w := drivertest.StartWatch(t, d)
			waitStates(t, w, 1)
			for i, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low} {
				line.Drive(l)
				waitStates(t, w, i+2)
			}
			if got := states(t, w.Readings()); !slices.Equal(got, tc.want) {
				t.Errorf("states %v, want %v", got, tc.want)
			}
			if err := w.Stop(t); err != nil {
				t.Errorf("Watch returned %v after its context was cancelled, want nil", err)
			}
			if line.IsOutput() {
				t.Error("the driver made the input an output")
			}
		})
	}
}

// TestInputDebounce bounces the contact while the driver waits out the
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
			line := h.Line("GPIO27")
			d := newDevice(t, "bell", inputSrc(""))
			drivertest.Open(t, d, h)
			w := drivertest.StartWatch(t, d)
			waitStates(t, w, 1)

			line.Drive(gpio.Low)
			clk.asleep(t, DefaultDebounce)
			for _, l := range tc.bounce {
				line.Drive(l)
			}
			last := gpio.Low
			if len(tc.bounce) > 0 {
				last = tc.bounce[len(tc.bounce)-1]
			}
			clk.release(t)
			// The driver reads the settled level once (its first read
			// was the initial state); a change after that read is a new
			// change, not part of the bounce.
			waitReads(t, line, 2)

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

// TestInputStop checks that cancelling Watch's context, or closing the
// device, ends Watch, interrupting a pending edge wait with Halt.
func TestInputStop(t *testing.T) {
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			h := newTestHost(t)
			h.wrap = func(p gpio.PinIO) gpio.PinIO { return haltOnly{p, new(sync.Once), make(chan struct{})} }
			d := newDevice(t, "bell", inputSrc(""))
			drivertest.Open(t, d, h)
			w := drivertest.StartWatch(t, d)
			waitStates(t, w, 1)
			if err := stopBy(t, how, d, w); err != nil {
				t.Errorf("Watch returned %v, want nil", err)
			}
		})
	}
}

func TestInputWatchNotOpen(t *testing.T) {
	d := newDevice(t, "bell", inputSrc(""))
	err := d.(drivers.Watcher).Watch(context.Background(), func(drivers.Reading) { t.Error("emitted before Open") })
	if err == nil || !strings.HasPrefix(err.Error(), `gpio "bell": `) {
		t.Errorf("Watch before Open: error %v, want a prefixed error", err)
	}
}

// noEdges is a line whose WaitForEdge returns false at once, as some
// GPIO drivers do when they cannot detect edges.
type noEdges struct{ gpio.PinIO }

func (noEdges) WaitForEdge(time.Duration) bool { return false }

// edgesRefused is a line whose In fails when asked for edge detection.
type edgesRefused struct {
	gpio.PinIO
	edges *[]gpio.Edge // every edge mode In was called with
}

func (p edgesRefused) In(pull gpio.Pull, edge gpio.Edge) error {
	*p.edges = append(*p.edges, edge)
	if edge != gpio.NoEdge {
		return fmt.Errorf("edge detection not supported on %s", p.Name())
	}
	return p.PinIO.In(pull, edge)
}

// TestInputPollingFallback checks that a line that cannot report edges is
// polled every 100ms, that a change is still debounced, and that the
// fallback is logged once however often Watch restarts.
func TestInputPollingFallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(gpio.PinIO) gpio.PinIO
	}{
		{"WaitForEdge returns at once", func(p gpio.PinIO) gpio.PinIO { return noEdges{p} }},
		{"In refuses edges", func(p gpio.PinIO) gpio.PinIO { return edgesRefused{p, new([]gpio.Edge)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHost(t)
			clk := newStepClock()
			h.clock, h.wrap = clk, tc.wrap
			line := h.Line("GPIO27")
			d := newDevice(t, "bell", inputSrc("inverted = true"))
			drivertest.Open(t, d, h)
			for run := range 2 {
				w := drivertest.StartWatch(t, d)
				if got := waitStates(t, w, 1); got[0] != bool(line.Level() == gpio.Low) {
					t.Fatalf("run %d: first state %t with the line %v", run, got[0], line.Level())
				}
				clk.asleep(t, DefaultFallbackPoll)
				clk.release(t) // nothing changed: no debounce, no emit
				clk.asleep(t, DefaultFallbackPoll)
				line.Drive(!line.Level())
				clk.release(t)
				clk.asleep(t, DefaultDebounce) // the change is confirmed after the debounce delay
				clk.release(t)
				got := waitStates(t, w, 2)
				if got[1] != !got[0] {
					t.Errorf("run %d: states %v, want the change reported", run, got)
				}
				if err := w.Stop(t); err != nil {
					t.Errorf("run %d: Watch: %v", run, err)
				}
			}
			if n := h.logs.count("polling"); n != 1 {
				t.Errorf("the fallback to polling was logged %d times, want once", n)
			}
		})
	}
}

// TestInputPoll checks that a configured poll interval reads the line
// without asking for edges.
func TestInputPoll(t *testing.T) {
	h := newTestHost(t)
	clk := newStepClock()
	var edges []gpio.Edge
	h.clock = clk
	h.wrap = func(p gpio.PinIO) gpio.PinIO { return edgesRefused{p, &edges} }
	line := h.Line("GPIO27")
	d := newDevice(t, "bell", inputSrc("poll = \"250ms\"\ndebounce = \"0s\""))
	drivertest.Open(t, d, h)
	if !slices.Equal(edges, []gpio.Edge{gpio.NoEdge}) {
		t.Errorf("In was called with edges %v, want only NoEdge", edges)
	}
	w := drivertest.StartWatch(t, d)
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
	drivertest.Open(t, d, h)
	w := drivertest.StartWatch(t, d)
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
	err := d.Open(context.Background(), h)
	if err == nil || !strings.HasPrefix(err.Error(), `gpio "bell": `) || !strings.Contains(err.Error(), "GPIO40") {
		t.Errorf("Open on a missing line: error %v, want one naming the device and the line", err)
	}
}

// waitReads waits until the driver has read the line n times.
func waitReads(t *testing.T, line interface{ Reads() int }, n int) {
	t.Helper()
	end := time.Now().Add(deadline)
	for line.Reads() < n {
		if time.Now().After(end) {
			t.Fatalf("the driver read the line %d times, want %d within %v", line.Reads(), n, deadline)
		}
		time.Sleep(time.Millisecond)
	}
}
