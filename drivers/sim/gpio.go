package sim

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// Change is one level change seen on a line, for tests that check what the
// hardware went through (a relay must never glitch on).
type Change struct {
	Level  gpio.Level
	Output bool // whether the line was driving (output) at the change
	At     time.Time
}

// Line is a simulated GPIO line. It implements gpio.PinIO with the
// semantics of periph's Linux character-device lines (gpioioctl), which is
// what a Raspberry Pi runs today:
//
//   - An input reads the level driven from outside (Drive), or its pull
//     when nothing drives it; a floating line without pull reads Low.
//   - Edges are queued by the "kernel" as they happen and reported by
//     WaitForEdge even if they happened before the call.
//   - WaitForEdge(0) waits forever and a negative timeout returns false at
//     once (periph/host#78), so drivers must pass a positive timeout.
//   - Read on a line configured as output reconfigures it as an input with
//     pull-up, as gpioioctl does; a driver must track its outputs itself.
//   - Halt interrupts a pending WaitForEdge.
type Line struct {
	name string
	num  int

	mu       sync.Mutex
	output   bool
	outLevel gpio.Level
	pull     gpio.Pull
	edge     gpio.Edge
	driven   bool
	extLevel gpio.Level
	pending  int
	wake     chan struct{} // closed and replaced to wake waiters
	history  []Change
	reads    int
}

func newLine(name string, num int) *Line {
	return &Line{name: name, num: num, pull: gpio.Float, wake: make(chan struct{})}
}

// level is the line's electrical level. Callers hold mu.
func (l *Line) level() gpio.Level {
	switch {
	case l.output:
		return l.outLevel
	case l.driven:
		return l.extLevel
	case l.pull == gpio.PullUp:
		return gpio.High
	default:
		return gpio.Low
	}
}

// update records a level change from before to now and queues an edge if
// the line listens for it. Callers hold mu.
func (l *Line) update(before gpio.Level) {
	now := l.level()
	if now == before {
		return
	}
	l.history = append(l.history, Change{Level: now, Output: l.output, At: time.Now()})
	if l.output {
		return
	}
	if l.edge == gpio.BothEdges || (l.edge == gpio.RisingEdge && now == gpio.High) || (l.edge == gpio.FallingEdge && now == gpio.Low) {
		l.pending++
		l.signal()
	}
}

func (l *Line) signal() {
	close(l.wake)
	l.wake = make(chan struct{})
}

// Drive sets the level the outside world puts on the line (a button, a
// door contact). It has no effect on the level while the line is an output,
// as the pin's driver wins.
func (l *Line) Drive(v gpio.Level) {
	l.mu.Lock()
	defer l.mu.Unlock()
	before := l.level()
	l.driven, l.extLevel = true, v
	l.update(before)
}

// Release stops driving the line from outside; it floats to its pull.
func (l *Line) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	before := l.level()
	l.driven = false
	l.update(before)
}

// Level returns the line's electrical level, as a meter on the pin would
// show it.
func (l *Line) Level() gpio.Level {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.level()
}

// IsOutput reports whether the line is configured as an output.
func (l *Line) IsOutput() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.output
}

// History returns every level change seen on the line.
func (l *Line) History() []Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Change(nil), l.history...)
}

// Reads returns how many times Read was called, so tests can check that a
// driver never reads an output back.
func (l *Line) Reads() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads
}

// String implements conn.Resource.
func (l *Line) String() string { return l.name }

// Halt implements conn.Resource: it interrupts a pending WaitForEdge.
func (l *Line) Halt() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.signal()
	return nil
}

// Name implements pin.Pin.
func (l *Line) Name() string { return l.name }

// Number implements pin.Pin.
func (l *Line) Number() int { return l.num }

// Function implements pin.Pin.
func (l *Line) Function() string { return string(l.Func()) }

// Func implements pin.PinFunc.
func (l *Line) Func() pin.Func {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.output {
		if l.outLevel {
			return gpio.OUT_HIGH
		}
		return gpio.OUT_LOW
	}
	if l.level() {
		return gpio.IN_HIGH
	}
	return gpio.IN_LOW
}

// SupportedFuncs implements pin.PinFunc.
func (l *Line) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT} }

// SetFunc implements pin.PinFunc.
func (l *Line) SetFunc(f pin.Func) error {
	switch f {
	case gpio.IN:
		return l.In(gpio.PullNoChange, gpio.NoEdge)
	case gpio.OUT_HIGH:
		return l.Out(gpio.High)
	case gpio.OUT, gpio.OUT_LOW:
		return l.Out(gpio.Low)
	}
	return fmt.Errorf("sim: %s: function %q not supported", l.name, f)
}

// In implements gpio.PinIn.
func (l *Line) In(pull gpio.Pull, edge gpio.Edge) error {
	if edge > gpio.BothEdges {
		return fmt.Errorf("sim: %s: invalid edge %d", l.name, edge)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	before := l.level()
	l.output = false
	if pull != gpio.PullNoChange {
		l.pull = pull
	}
	l.edge = edge
	l.update(before)
	// Reconfiguring drops queued edges and wakes waiters, like a new line
	// request does.
	l.pending = 0
	l.signal()
	return nil
}

// Read implements gpio.PinIn. On an output line it first reconfigures the
// line as an input with pull-up, as periph's gpioioctl does.
func (l *Line) Read() gpio.Level {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	if l.output {
		before := l.level()
		l.output, l.pull, l.edge = false, gpio.PullUp, gpio.NoEdge
		l.update(before)
	}
	return l.level()
}

// WaitForEdge implements gpio.PinIn.
func (l *Line) WaitForEdge(timeout time.Duration) bool {
	if timeout < 0 {
		return false
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	l.mu.Lock()
	if l.output || l.edge == gpio.NoEdge {
		l.mu.Unlock()
		return false
	}
	if l.pending > 0 {
		l.pending--
		l.mu.Unlock()
		return true
	}
	wake := l.wake
	l.mu.Unlock()
	select {
	case <-wake:
	case <-deadline:
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending > 0 {
		l.pending--
		return true
	}
	return false // halted or reconfigured
}

// Pull implements gpio.PinIn.
func (l *Line) Pull() gpio.Pull {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pull
}

// DefaultPull implements gpio.PinIn; the character device cannot tell.
func (l *Line) DefaultPull() gpio.Pull { return gpio.PullNoChange }

// Out implements gpio.PinOut: the line becomes an output driving v at
// once, with no intermediate level.
func (l *Line) Out(v gpio.Level) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	before := l.level()
	l.output, l.outLevel = true, v
	l.update(before)
	return nil
}

// PWM implements gpio.PinOut; like the character device, it has none.
func (l *Line) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("sim: PWM() not implemented")
}

var (
	_ gpio.PinIO  = (*Line)(nil)
	_ pin.PinFunc = (*Line)(nil)
)
