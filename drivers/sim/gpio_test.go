package sim_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/pin"

	"github.com/pinion-home/pinion/drivers/sim"
)

// deadline bounds every wait in these tests; it only decides when a test
// gives up.
const deadline = 10 * time.Second

func newLine(t *testing.T) *sim.Line {
	t.Helper()
	h := sim.NewHost(nil)
	t.Cleanup(func() { h.Close() })
	return h.Line("GPIO17")
}

// edgesQueued counts the edges a line has queued, consuming them.
func edgesQueued(l *sim.Line) int {
	n := 0
	for l.WaitForEdge(time.Millisecond) {
		n++
	}
	return n
}

func TestHostLines(t *testing.T) {
	h := sim.NewHost(nil)
	defer h.Close()
	names := h.Lines()
	if len(names) != 28 || names[0] != "GPIO0" || names[2] != "GPIO2" || names[10] != "GPIO10" || names[27] != "GPIO27" {
		t.Errorf("Lines() = %v, want GPIO0 to GPIO27 in number order", names)
	}
	p, err := h.GPIO("GPIO17")
	if err != nil || p.Name() != "GPIO17" || p.Number() != 17 {
		t.Fatalf("GPIO(GPIO17) = %v, %v", p, err)
	}
	if p != h.Line("GPIO17") {
		t.Error("GPIO and Line return different lines for the same name")
	}
	for _, name := range []string{"GPIO28", "17", "gpio17", ""} {
		if _, err := h.GPIO(name); err == nil || !strings.Contains(err.Error(), "GPIO0 to GPIO27") {
			t.Errorf("GPIO(%q): error %v, want one listing the lines there are", name, err)
		}
	}
}

// TestLineLevels checks what an input reads: what drives it, else its
// pull, else Low.
func TestLineLevels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pull  gpio.Pull
		drive []gpio.Level // in order; nil: nothing drives the line
		relse bool         // release the line after driving it
		want  gpio.Level
	}{
		{"floating", gpio.Float, nil, false, gpio.Low},
		{"pull-up", gpio.PullUp, nil, false, gpio.High},
		{"pull-down", gpio.PullDown, nil, false, gpio.Low},
		{"pull-up driven low", gpio.PullUp, []gpio.Level{gpio.Low}, false, gpio.Low},
		{"pull-down driven high", gpio.PullDown, []gpio.Level{gpio.High}, false, gpio.High},
		{"driven, last wins", gpio.Float, []gpio.Level{gpio.High, gpio.Low, gpio.High}, false, gpio.High},
		{"pull-up released", gpio.PullUp, []gpio.Level{gpio.Low}, true, gpio.High},
		{"pull-down released", gpio.PullDown, []gpio.Level{gpio.High}, true, gpio.Low},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLine(t)
			if err := l.In(tc.pull, gpio.NoEdge); err != nil {
				t.Fatal(err)
			}
			for _, v := range tc.drive {
				l.Drive(v)
			}
			if tc.relse {
				l.Release()
			}
			if got := l.Read(); got != tc.want {
				t.Errorf("Read() = %v, want %v", got, tc.want)
			}
			if got := l.Level(); got != tc.want {
				t.Errorf("Level() = %v, want %v", got, tc.want)
			}
			if l.Pull() != tc.pull {
				t.Errorf("Pull() = %v, want %v", l.Pull(), tc.pull)
			}
		})
	}
}

func TestLineStartsFloatingInput(t *testing.T) {
	l := newLine(t)
	if l.IsOutput() || l.Level() != gpio.Low || l.Pull() != gpio.Float || len(l.History()) != 0 {
		t.Errorf("new line: output %t, level %v, pull %v, history %v; want a floating input at Low", l.IsOutput(), l.Level(), l.Pull(), l.History())
	}
	if l.DefaultPull() != gpio.PullNoChange {
		t.Errorf("DefaultPull() = %v; the character device cannot tell, so want PullNoChange", l.DefaultPull())
	}
}

func TestLinePullNoChangeKeepsPull(t *testing.T) {
	l := newLine(t)
	if err := l.In(gpio.PullUp, gpio.NoEdge); err != nil {
		t.Fatal(err)
	}
	if err := l.In(gpio.PullNoChange, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	if l.Pull() != gpio.PullUp || l.Level() != gpio.High {
		t.Errorf("after In(PullNoChange): pull %v, level %v; want the pull-up kept", l.Pull(), l.Level())
	}
}

// TestLineEdgesQueued checks that edges that happen before WaitForEdge is
// called are reported by it, one per call, filtered by the edge mode.
func TestLineEdgesQueued(t *testing.T) {
	for _, tc := range []struct {
		edge gpio.Edge
		want int // edges from Low: High, Low, High, Low, High
	}{
		{gpio.BothEdges, 5},
		{gpio.RisingEdge, 3},
		{gpio.FallingEdge, 2},
		{gpio.NoEdge, 0},
	} {
		t.Run(tc.edge.String(), func(t *testing.T) {
			l := newLine(t)
			if err := l.In(gpio.PullDown, tc.edge); err != nil {
				t.Fatal(err)
			}
			for _, v := range []gpio.Level{gpio.High, gpio.Low, gpio.High, gpio.Low, gpio.High} {
				l.Drive(v)
			}
			l.Drive(gpio.High) // no change, no edge
			if got := edgesQueued(l); got != tc.want {
				t.Errorf("%d edges reported, want %d", got, tc.want)
			}
		})
	}
}

func TestLineWaitForEdgeWakesOnEdge(t *testing.T) {
	for _, timeout := range []time.Duration{0, time.Hour} { // 0 waits forever, as on gpioioctl
		t.Run(timeout.String(), func(t *testing.T) {
			l := newLine(t)
			if err := l.In(gpio.PullDown, gpio.RisingEdge); err != nil {
				t.Fatal(err)
			}
			got := make(chan bool, 1)
			go func() { got <- l.WaitForEdge(timeout) }()
			l.Drive(gpio.High) // before or during the wait: reported either way
			select {
			case ok := <-got:
				if !ok {
					t.Errorf("WaitForEdge(%v) = false, want true for the edge", timeout)
				}
			case <-time.After(deadline):
				t.Fatalf("WaitForEdge(%v) did not return after an edge", timeout)
			}
		})
	}
}

func TestLineWaitForEdgeTimesOut(t *testing.T) {
	l := newLine(t)
	if err := l.In(gpio.PullDown, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	if l.WaitForEdge(5 * time.Millisecond) {
		t.Error("WaitForEdge reported an edge that did not happen")
	}
}

// TestLineNegativeTimeout pins periph/host#78: a negative timeout returns
// false at once, even with an edge queued, and leaves the edge queued.
func TestLineNegativeTimeout(t *testing.T) {
	l := newLine(t)
	if err := l.In(gpio.PullDown, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	l.Drive(gpio.High)
	if l.WaitForEdge(-1) {
		t.Error("WaitForEdge(-1) = true; the character device returns false at once")
	}
	if got := edgesQueued(l); got != 1 {
		t.Errorf("after WaitForEdge(-1): %d edges queued, want the 1 still there", got)
	}
}

func TestLineHaltInterruptsWait(t *testing.T) {
	l := newLine(t)
	if err := l.In(gpio.PullDown, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	got := make(chan bool, 1)
	go func() { got <- l.WaitForEdge(time.Hour) }()
	// A Halt before the wait starts is not remembered, as on the real
	// line, so keep halting until the wait ends.
	end := time.After(deadline)
	for {
		if err := l.Halt(); err != nil {
			t.Fatal(err)
		}
		select {
		case ok := <-got:
			if ok {
				t.Error("a halted WaitForEdge reported an edge")
			}
			return
		case <-end:
			t.Fatal("Halt did not interrupt WaitForEdge")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestLineInDropsQueuedEdges(t *testing.T) {
	l := newLine(t)
	if err := l.In(gpio.PullDown, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	l.Drive(gpio.High)
	l.Drive(gpio.Low)
	if err := l.In(gpio.PullDown, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	if got := edgesQueued(l); got != 0 {
		t.Errorf("%d edges reported after In reconfigured the line, want 0", got)
	}
}

func TestLineInvalidEdge(t *testing.T) {
	l := newLine(t)
	if err := l.In(gpio.PullUp, gpio.Edge(9)); err == nil || !strings.Contains(err.Error(), "GPIO17") {
		t.Errorf("In with edge 9: error %v, want one naming the line", err)
	}
}

// TestLineOutputs checks outputs: Out sets the level at once as an output,
// the outside world cannot change it, and no edges are reported.
func TestLineOutputs(t *testing.T) {
	l := newLine(t)
	if err := l.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	start := len(l.History())
	if err := l.Out(gpio.High); err != nil { // already High: no change
		t.Fatal(err)
	}
	if err := l.Out(gpio.Low); err != nil {
		t.Fatal(err)
	}
	l.Drive(gpio.High) // a button pressed on an output line: the pin's driver wins
	if !l.IsOutput() || l.Level() != gpio.Low {
		t.Errorf("output %t at %v, want an output at Low", l.IsOutput(), l.Level())
	}
	changes := l.History()[start:]
	if len(changes) != 1 || changes[0].Level != gpio.Low || !changes[0].Output {
		t.Errorf("history %+v, want one change, to Low, as an output", changes)
	}
	if l.WaitForEdge(5 * time.Millisecond) {
		t.Error("an output reported an edge")
	}
	if l.Func() != gpio.OUT_LOW {
		t.Errorf("Func() = %v, want %v", l.Func(), gpio.OUT_LOW)
	}
}

// TestLineReadOnOutput pins gpioioctl's behaviour that drivers must avoid:
// Read on an output makes it an input with pull-up.
func TestLineReadOnOutput(t *testing.T) {
	l := newLine(t)
	if err := l.Out(gpio.Low); err != nil {
		t.Fatal(err)
	}
	if got := l.Read(); got != gpio.High {
		t.Errorf("Read() on an output = %v, want High (now an input with pull-up)", got)
	}
	if l.IsOutput() || l.Pull() != gpio.PullUp {
		t.Errorf("after Read: output %t, pull %v; want an input with pull-up", l.IsOutput(), l.Pull())
	}
	h := l.History()
	if last := h[len(h)-1]; last.Output || last.Level != gpio.High {
		t.Errorf("history ends with %+v, want the input rising to High", last)
	}
	if l.Reads() != 1 {
		t.Errorf("Reads() = %d, want 1", l.Reads())
	}
	if l.WaitForEdge(5 * time.Millisecond) {
		t.Error("the reconfigured line reports edges; gpioioctl sets NoEdge")
	}
}

func TestLineFunc(t *testing.T) {
	for _, tc := range []struct {
		set     pin.Func
		wantOut bool
		want    gpio.Level
		wantFn  pin.Func
	}{
		{gpio.OUT_HIGH, true, gpio.High, gpio.OUT_HIGH},
		{gpio.OUT_LOW, true, gpio.Low, gpio.OUT_LOW},
		{gpio.OUT, true, gpio.Low, gpio.OUT_LOW},
		{gpio.IN, false, gpio.High, gpio.IN_HIGH}, // keeps the pull-up set below
		{gpio.PWM, true, gpio.High, gpio.PWM},     // a clock: half duty
	} {
		t.Run(string(tc.set), func(t *testing.T) {
			l := newLine(t)
			if err := l.In(gpio.PullUp, gpio.NoEdge); err != nil {
				t.Fatal(err)
			}
			if err := l.SetFunc(tc.set); err != nil {
				t.Fatalf("SetFunc(%v): %v", tc.set, err)
			}
			if l.IsOutput() != tc.wantOut || l.Level() != tc.want || l.Func() != tc.wantFn || l.Function() != string(tc.wantFn) {
				t.Errorf("after SetFunc(%v): output %t at %v, Func %v; want output %t at %v, Func %v", tc.set, l.IsOutput(), l.Level(), l.Func(), tc.wantOut, tc.want, tc.wantFn)
			}
		})
	}
	l := newLine(t)
	if err := l.SetFunc("I2C1_SDA"); err == nil {
		t.Error("SetFunc(I2C1_SDA) on a GPIO-only line: no error")
	}
	if !slices.Equal(l.SupportedFuncs(), []pin.Func{gpio.IN, gpio.OUT, gpio.PWM}) {
		t.Errorf("SupportedFuncs() = %v, want [IN OUT PWM]", l.SupportedFuncs())
	}
}
