package sim

import (
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"

	"github.com/pinion-home/pinion/drivers"
)

// PWM limits of the simulated lines.
const (
	// PWMDefaultFrequency is the frequency of a PWM started with frequency
	// 0 ("the pin's preferred one", in periph's words).
	PWMDefaultFrequency = physic.KiloHertz
	// PWMMaxFrequency is the highest frequency a line outputs: the
	// Raspberry Pi's PWM clock.
	PWMMaxFrequency = 25 * physic.MegaHertz
)

// Change is one change seen on a line, for tests that check what the
// hardware went through (a relay must never glitch on; a dimmed light
// must reach its brightness): a change of level, or of PWM duty or
// frequency.
type Change struct {
	Level  gpio.Level
	Output bool // whether the line was driving (output) at the change
	// PWM reports that the line was outputting PWM after the change, at
	// Frequency.
	PWM bool
	// Duty is the share of each period the line drove high after the
	// change: the PWM duty, gpio.DutyMax for an output driving High, and
	// 0 otherwise.
	Duty gpio.Duty
	// Frequency is the PWM frequency, 0 when the line was not outputting
	// PWM.
	Frequency physic.Frequency
	// At is when the change happened, on the host's clock.
	At time.Time
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
//
// A line also outputs PWM (see PWM), as every line of a Raspberry Pi does
// through periph's DMA-driven PWM and four of them through the hardware
// PWM that the kernel's sysfs PWM drives.
type Line struct {
	name  string
	num   int
	clock func() drivers.Clock

	mu       sync.Mutex
	output   bool
	outLevel gpio.Level
	pwm      bool // outputting PWM at duty and freq; output is true
	duty     gpio.Duty
	freq     physic.Frequency
	pull     gpio.Pull
	edge     gpio.Edge
	driven   bool
	extLevel gpio.Level
	pending  int
	wake     chan struct{} // closed and replaced to wake waiters
	history  []Change
	reads    int
}

func newLine(name string, num int, clock func() drivers.Clock) *Line {
	return &Line{name: name, num: num, clock: clock, pull: gpio.Float, wake: make(chan struct{})}
}

// level is the line's electrical level; a PWM output is High while its
// duty is above zero. Callers hold mu.
func (l *Line) level() gpio.Level {
	switch {
	case l.pwm:
		return l.duty > 0
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

// lineState is what History tells apart.
type lineState struct {
	level gpio.Level
	pwm   bool
	duty  gpio.Duty
	freq  physic.Frequency
}

// state returns the line's state for update. Callers hold mu.
func (l *Line) state() lineState {
	s := lineState{level: l.level(), pwm: l.pwm}
	if l.pwm {
		s.duty, s.freq = l.duty, l.freq
	}
	return s
}

// dutyNow is the share of each period the line drives high. Callers hold
// mu.
func (l *Line) dutyNow() gpio.Duty {
	switch {
	case l.pwm:
		return l.duty
	case l.output && l.outLevel == gpio.High:
		return gpio.DutyMax
	}
	return 0
}

// update records a change from before to now and queues an edge if the
// line listens for it. Callers hold mu.
func (l *Line) update(before lineState) {
	now := l.state()
	if now == before {
		return
	}
	c := Change{Level: now.level, Output: l.output, PWM: l.pwm, Duty: l.dutyNow(), At: l.clock().Now()}
	if l.pwm {
		c.Frequency = l.freq
	}
	l.history = append(l.history, c)
	if l.output || now.level == before.level {
		return
	}
	if edge := now.level; l.edge == gpio.BothEdges || (l.edge == gpio.RisingEdge && edge == gpio.High) || (l.edge == gpio.FallingEdge && edge == gpio.Low) {
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
	before := l.state()
	l.driven, l.extLevel = true, v
	l.update(before)
}

// Release stops driving the line from outside; it floats to its pull.
func (l *Line) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	before := l.state()
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

// History returns every change seen on the line: each change of level,
// and each start, change or stop of PWM duty or frequency.
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

// Duty returns the share of each period the line drives high, as a
// meter that averages the pin would show it: the PWM duty while the line
// outputs PWM, gpio.DutyMax while it drives High, and 0 otherwise.
func (l *Line) Duty() gpio.Duty {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dutyNow()
}

// Frequency returns the PWM frequency while the line outputs PWM, and 0
// otherwise.
func (l *Line) Frequency() physic.Frequency {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.pwm {
		return 0
	}
	return l.freq
}

// Halt implements conn.Resource: it interrupts a pending WaitForEdge and
// stops PWM, leaving the line an output driving Low, as stopping a PWM
// channel does.
func (l *Line) Halt() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pwm {
		before := l.state()
		l.pwm, l.outLevel = false, gpio.Low
		l.update(before)
	}
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
	if l.pwm {
		return gpio.PWM
	}
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
func (l *Line) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT, gpio.PWM} }

// SetFunc implements pin.PinFunc.
func (l *Line) SetFunc(f pin.Func) error {
	switch f {
	case gpio.IN:
		return l.In(gpio.PullNoChange, gpio.NoEdge)
	case gpio.OUT_HIGH:
		return l.Out(gpio.High)
	case gpio.OUT, gpio.OUT_LOW:
		return l.Out(gpio.Low)
	case gpio.PWM:
		// A clock: half duty, at the frequency the line has.
		return l.PWM(gpio.DutyHalf, 0)
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
	before := l.state()
	l.output, l.pwm = false, false
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
		before := l.state()
		l.output, l.pwm, l.pull, l.edge = false, false, gpio.PullUp, gpio.NoEdge
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
	before := l.state()
	l.output, l.outLevel, l.pwm = true, v, false
	l.update(before)
	return nil
}

// PWM implements gpio.PinOut: the line becomes an output of a periodic
// signal, high for duty (0 to gpio.DutyMax) of each period at frequency
// f, up to PWMMaxFrequency. f = 0 keeps the frequency of a line already
// outputting PWM, or takes PWMDefaultFrequency. Duty 0 and gpio.DutyMax
// stay PWM (a steady Low or High at f), as a PWM channel does; History
// records each change of duty or frequency, and Halt stops the PWM.
func (l *Line) PWM(duty gpio.Duty, f physic.Frequency) error {
	if !duty.Valid() {
		return fmt.Errorf("sim: %s: PWM duty %d outside 0 to gpio.DutyMax (%d)", l.name, duty, gpio.DutyMax)
	}
	if f < 0 || f > PWMMaxFrequency {
		return fmt.Errorf("sim: %s: PWM frequency %s outside 0 to %s", l.name, f, PWMMaxFrequency)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if f == 0 {
		f = PWMDefaultFrequency
		if l.pwm {
			f = l.freq
		}
	}
	before := l.state()
	l.output, l.pwm, l.duty, l.freq = true, true, duty, f
	l.update(before)
	return nil
}

var (
	_ gpio.PinIO  = (*Line)(nil)
	_ pin.PinFunc = (*Line)(nil)
)
