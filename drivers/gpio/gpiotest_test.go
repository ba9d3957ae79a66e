package gpio

// The driver on periph's own fake line, gpiotest.Pin, rather than on the
// simulated board: the driver must work on any gpio.PinIO, and gpiotest is
// what periph's drivers are tested against.
//
// gpiotest's semantics, which these tests keep to:
//
//   - Pin.L is the level, for input and output alike; In sets it High or
//     Low for a pull-up or pull-down and leaves it for no pull. Out sets it.
//   - In with edge detection fails unless Pin.EdgesChan is set, and it
//     drops the edges queued in it.
//   - WaitForEdge takes an edge from EdgesChan and only then sets Pin.L to
//     its level; an edge's level is applied when the driver consumes it,
//     not when it is sent. WaitForEdge(-1) blocks on EdgesChan with no
//     timeout, and Halt does nothing, so a driver that waited with -1
//     could never be stopped; a timeout of 0 returns false at once. The
//     driver waits with a bounded, positive timeout, which these tests
//     check.
//   - Pin.Clock is set on the first WaitForEdge if nil; only the driver's
//     waiter calls WaitForEdge, so the tests leave it alone.

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

// spyPin is a gpiotest.Pin that records what the driver asks of it, and
// wakes the test at each call.
type spyPin struct {
	*gpiotest.Pin

	mu      sync.Mutex
	outs    []gpio.Level
	ins     []gpio.Edge
	pulls   []gpio.Pull
	reads   int
	waits   []time.Duration
	changed chan struct{} // closed and replaced at each call
}

func newSpyPin(name string, edges chan gpio.Level) *spyPin {
	return &spyPin{Pin: &gpiotest.Pin{N: name, EdgesChan: edges}, changed: make(chan struct{})}
}

// note records a call with f and wakes the test.
func (p *spyPin) note(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *spyPin) Out(l gpio.Level) error {
	p.note(func() { p.outs = append(p.outs, l) })
	return p.Pin.Out(l)
}

func (p *spyPin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.note(func() {
		p.ins = append(p.ins, edge)
		p.pulls = append(p.pulls, pull)
	})
	return p.Pin.In(pull, edge)
}

func (p *spyPin) Read() gpio.Level {
	l := p.Pin.Read()
	p.note(func() { p.reads++ })
	return l
}

func (p *spyPin) WaitForEdge(timeout time.Duration) bool {
	p.note(func() { p.waits = append(p.waits, timeout) })
	return p.Pin.WaitForEdge(timeout)
}

// until waits until cond holds of the pin's record, checked at each call
// of the driver, or fails the test saying what it waited for.
func (p *spyPin) until(t *testing.T, what string, cond func(outs []gpio.Level, reads int, waits []time.Duration) bool) {
	t.Helper()
	timeout := time.After(deadline)
	for {
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		outs, _, _, reads, waits := p.record()
		if cond(outs, reads, waits) {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("waited %v for %s; outs %v, reads %d, %d waits for an edge", deadline, what, outs, reads, len(waits))
		}
	}
}

// level returns Pin.L, under the pin's lock as gpiotest asks.
func (p *spyPin) level() gpio.Level {
	p.Pin.Lock()
	defer p.Pin.Unlock()
	return p.Pin.L
}

// setLevel changes Pin.L without an edge, as a line that is not watched
// for edges changes.
func (p *spyPin) setLevel(l gpio.Level) {
	p.Pin.Lock()
	defer p.Pin.Unlock()
	p.Pin.L = l
}

// edge sends an edge to the level l. EdgesChan is unbuffered, so edge
// returns once the driver's WaitForEdge has taken it (and gpiotest has set
// Pin.L to l).
func (p *spyPin) edge(t *testing.T, l gpio.Level) {
	t.Helper()
	select {
	case p.EdgesChan <- l:
	case <-time.After(deadline):
		t.Fatalf("the driver did not wait for an edge within %v", deadline)
	}
}

// record returns copies of what the driver did to the pin.
func (p *spyPin) record() (outs []gpio.Level, ins []gpio.Edge, pulls []gpio.Pull, reads int, waits []time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.outs), slices.Clone(p.ins), slices.Clone(p.pulls), p.reads, slices.Clone(p.waits)
}

// pinHost is a drivers.Host whose GPIO lines are gpiotest pins and which
// has nothing else: no PWM, no I2C.
type pinHost struct {
	pins  map[string]gpio.PinIO
	clock drivers.Clock // nil: the system clock
	logs  *logRecorder
}

func newPinHost(pins ...*spyPin) *pinHost {
	h := &pinHost{pins: map[string]gpio.PinIO{}, logs: &logRecorder{}}
	for _, p := range pins {
		h.pins[p.Name()] = p
	}
	return h
}

func (h *pinHost) GPIO(name string) (gpio.PinIO, error) {
	p, ok := h.pins[name]
	if !ok {
		return nil, fmt.Errorf("pinHost: no line %q", name)
	}
	return p, nil
}

func (h *pinHost) Clock() drivers.Clock {
	if h.clock != nil {
		return h.clock
	}
	return drivers.SystemClock{}
}

func (h *pinHost) Logger() *slog.Logger { return slog.New(h.logs) }

// TestGPIOTestOutput drives an output on a gpiotest pin: the level is in
// Pin.L after each step, Open sets it with a single Out, and the line is
// never read.
func TestGPIOTestOutput(t *testing.T) {
	for _, tc := range []struct {
		cfg      string
		open     gpio.Level   // after Open
		commands []bool       // ON or OFF, in order
		levels   []gpio.Level // after each command
		close    gpio.Level   // after Close
	}{
		{"", gpio.Low, []bool{true, false, true}, []gpio.Level{gpio.High, gpio.Low, gpio.High}, gpio.High},
		{`power_on = "on"`, gpio.High, []bool{false}, []gpio.Level{gpio.Low}, gpio.Low},
		{"inverted = true", gpio.High, []bool{true, false}, []gpio.Level{gpio.Low, gpio.High}, gpio.High},
		{"inverted = true\npower_on = \"on\"\non_exit = \"off\"", gpio.Low, []bool{true}, []gpio.Level{gpio.Low}, gpio.High},
		{`on_exit = "on"`, gpio.Low, []bool{false}, []gpio.Level{gpio.Low}, gpio.High},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			pin := newSpyPin("GPIO17", nil)
			// The line starts at the other level, so that Open must set it.
			pin.setLevel(!tc.open)
			d := newDevice(t, "door", outputSrc(tc.cfg))
			w := drivertest.Open(t, d, newPinHost(pin))
			if got := pin.level(); got != tc.open {
				t.Errorf("after Open Pin.L = %v, want %v", got, tc.open)
			}
			if outs, ins, _, _, _ := pin.record(); !slices.Equal(outs, []gpio.Level{tc.open}) || len(ins) != 0 {
				t.Errorf("Open called Out with %v and In %d times; want one Out(%v), which makes the line an output at that level", outs, len(ins), tc.open)
			}
			for i, on := range tc.commands {
				c := command(drivers.ActionOff)
				if on {
					c = command(drivers.ActionOn)
				}
				if err := w.Command(t, EntityRelay, c); err != nil {
					t.Fatalf("%v: %v", c, err)
				}
				if got := pin.level(); got != tc.levels[i] {
					t.Errorf("after %v Pin.L = %v, want %v", c, got, tc.levels[i])
				}
			}
			if err := w.Close(t); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := pin.level(); got != tc.close {
				t.Errorf("after Close Pin.L = %v, want %v", got, tc.close)
			}
			if _, ins, _, reads, _ := pin.record(); reads != 0 || len(ins) != 0 {
				t.Errorf("the driver read the output %d times and called In %d times; either turns a character-device line into an input", reads, len(ins))
			}
		})
	}
}

// TestGPIOTestPulse makes a pulse on a gpiotest pin, on the real clock.
func TestGPIOTestPulse(t *testing.T) {
	pin := newSpyPin("GPIO23", nil)
	pin.setLevel(gpio.High)
	d := newDevice(t, "gate", "pin = \"GPIO23\"\nmode = \"output\"\npulse = \"2ms\"\ninverted = true")
	w := drivertest.Open(t, d, newPinHost(pin))
	if err := w.Command(t, EntityPulse, press); err != nil {
		t.Fatal(err)
	}
	pin.until(t, "the end of the pulse", func(outs []gpio.Level, _ int, _ []time.Duration) bool { return len(outs) >= 3 })
	if outs, ins, _, reads, _ := pin.record(); !slices.Equal(outs, []gpio.Level{gpio.High, gpio.Low, gpio.High}) || len(ins) != 0 || reads != 0 {
		t.Errorf("Out %v, In %v, %d reads; want Out [High Low High] (inverted), and neither In nor Read", outs, ins, reads)
	}
	if got := pin.level(); got != gpio.High {
		t.Errorf("after the pulse Pin.L = %v, want High (off, inverted)", got)
	}
}

// TestGPIOTestInputEdges feeds edges through Pin.EdgesChan and checks each
// is reported once, with the pull the configuration asks for.
func TestGPIOTestInputEdges(t *testing.T) {
	for _, tc := range []struct {
		cfg  string
		pull gpio.Pull
		want []bool // initial, after Low, after High, after Low
	}{
		{`debounce = "0s"`, gpio.PullUp, []bool{true, false, true, false}},
		{`debounce = "2ms"`, gpio.PullUp, []bool{true, false, true, false}},
		{"debounce = \"0s\"\ninverted = true", gpio.PullUp, []bool{false, true, false, true}},
		{"debounce = \"0s\"\npull = \"down\"", gpio.PullDown, []bool{false, true, false, true}},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			t.Parallel() // closing waits out gpiotest's edge timeout
			pin := newSpyPin("GPIO27", make(chan gpio.Level))
			d := newDevice(t, "bell", inputSrc(tc.cfg))
			w := drivertest.Open(t, d, newPinHost(pin))
			_, ins, pulls, _, _ := pin.record()
			if !slices.Equal(ins, []gpio.Edge{gpio.BothEdges}) || !slices.Equal(pulls, []gpio.Pull{tc.pull}) {
				t.Fatalf("In called with edges %v, pulls %v; want both edges with %v", ins, pulls, tc.pull)
			}
			waitStates(t, w, 1)
			// Start from the level that the first edge changes.
			levels := []gpio.Level{gpio.Low, gpio.High, gpio.Low}
			if tc.pull == gpio.PullDown {
				levels = []gpio.Level{gpio.High, gpio.Low, gpio.High}
			}
			for i, l := range levels {
				pin.edge(t, l)
				waitStates(t, w, i+2)
			}
			if got := inputStates(t, w); !slices.Equal(got, tc.want) {
				t.Errorf("states %v, want %v", got, tc.want)
			}
			if err := w.Close(t); err != nil {
				t.Errorf("Close: %v", err)
			}
			outs, _, _, _, waits := pin.record()
			if len(outs) != 0 {
				t.Errorf("the driver drove the input: Out %v", outs)
			}
			// gpiotest's WaitForEdge(-1) blocks on EdgesChan for ever
			// and Halt does nothing: only a bounded wait lets the
			// waiter stop.
			for _, d := range waits {
				if d <= 0 {
					t.Fatalf("WaitForEdge(%v): the driver must always wait with a bounded, positive timeout", d)
				}
			}
		})
	}
}

// TestGPIOTestInputSettles holds the waiter in its debounce delay (a step
// clock) while the level changes without edges, as a bouncing contact's
// does, and checks that the level read after the delay is what counts.
func TestGPIOTestInputSettles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		during []gpio.Level // Pin.L during the debounce delay
		want   []bool       // after the initial ON; then the clean change
	}{
		{"settles low", []gpio.Level{gpio.High, gpio.Low}, []bool{true, false, true}},
		{"settles back high", []gpio.Level{gpio.Low, gpio.High}, []bool{true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // closing waits out gpiotest's edge timeout
			pin := newSpyPin("GPIO27", make(chan gpio.Level))
			h := newPinHost(pin)
			clk := newStepClock()
			h.clock = clk
			d := newDevice(t, "bell", inputSrc(""))
			w := drivertest.Open(t, d, h)
			waitStates(t, w, 1)

			pin.edge(t, gpio.Low)
			clk.asleep(t, DefaultDebounce)
			for _, l := range tc.during {
				pin.setLevel(l)
			}
			clk.release(t)
			// The worker reads the settled level once (its first read
			// was the initial state). Until then the waiter drains
			// edges, and would swallow the next one.
			pin.until(t, "the settled level read", func(_ []gpio.Level, reads int, _ []time.Duration) bool { return reads >= 2 })
			// A clean change to the other level shows what the
			// bounce reported: nothing more than the settled level.
			next := !tc.during[len(tc.during)-1]
			pin.edge(t, next)
			clk.asleep(t, DefaultDebounce)
			clk.release(t)
			if got := waitStates(t, w, len(tc.want)); !slices.Equal(got, tc.want) {
				t.Errorf("states %v, want %v", got, tc.want)
			}
		})
	}
}

// TestGPIOTestInputPolls runs an input on a gpiotest pin without
// EdgesChan: In refuses edge detection, so the driver opens the line
// without it, says so once, and polls Pin.L.
func TestGPIOTestInputPolls(t *testing.T) {
	pin := newSpyPin("GPIO27", nil)
	h := newPinHost(pin)
	clk := newStepClock()
	h.clock = clk
	d := newDevice(t, "bell", inputSrc(""))
	w := drivertest.Open(t, d, h)
	if _, ins, _, _, _ := pin.record(); !slices.Equal(ins, []gpio.Edge{gpio.BothEdges, gpio.NoEdge}) {
		t.Fatalf("In called with edges %v, want both edges, refused, then none", ins)
	}
	if got := waitStates(t, w, 1); got[0] != true {
		t.Fatalf("first state %v, want ON: the pull-up holds the line High", got)
	}
	clk.asleep(t, DefaultFallbackPoll)
	pin.setLevel(gpio.Low)
	clk.release(t)
	clk.asleep(t, DefaultDebounce) // the change is confirmed after the delay
	clk.release(t)
	if got := waitStates(t, w, 2); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("states %v, want [true false]", got)
	}
	clk.asleep(t, DefaultFallbackPoll)
	if err := w.Close(t); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, _, _, _, waits := pin.record(); len(waits) != 0 {
		t.Errorf("the driver waited for edges %v on a line without edge detection", waits)
	}
	if n := h.logs.count("polling"); n != 1 {
		t.Errorf("the fallback to polling was logged %d times, want once", n)
	}
}

// TestGPIOTestInputCloses closes the device while its waiter waits for an
// edge that never comes: gpiotest's Halt does not interrupt the wait, so
// the waiter must return by itself once its bounded wait ends.
func TestGPIOTestInputCloses(t *testing.T) {
	pin := newSpyPin("GPIO27", make(chan gpio.Level))
	d := newDevice(t, "bell", inputSrc(""))
	w := drivertest.Open(t, d, newPinHost(pin))
	waitStates(t, w, 1)
	pin.until(t, "a wait for an edge", func(_ []gpio.Level, _ int, waits []time.Duration) bool { return len(waits) >= 1 })
	if err := w.Close(t); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestGPIOTestConformance runs the driver API's conformance check on
// gpiotest pins, with and without edge detection.
func TestGPIOTestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		pin  *spyPin
	}{
		{"output", outputSrc(""), newSpyPin("GPIO17", nil)},
		{"pulse", "pin = \"GPIO17\"\nmode = \"output\"\npulse = \"1ms\"", newSpyPin("GPIO17", nil)},
		{"input", inputSrc(""), newSpyPin("GPIO27", make(chan gpio.Level))},
		{"input without edges", inputSrc(""), newSpyPin("GPIO27", nil)},
		{"press", pressSrc(""), newSpyPin("GPIO27", make(chan gpio.Level))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // closing waits out gpiotest's edge timeout
			drivertest.Conformance(t, newDevice(t, "dev", tc.src), newPinHost(tc.pin))
		})
	}
}
