package realhost

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// This file simulates the kernel's GPIO character device and periph's
// gpioioctl lines on it, with the behaviour that matters here:
//
//   - A line has one holder at a time; a second request fails with EBUSY.
//   - A request with the OUTPUT flag and an output value drives that value
//     from the first instant (the kernel's gpiod_direction_output).
//   - periph's Out reconfigures the line as an output first, which the
//     kernel drives low, and sets the level with a second ioctl.
//   - periph's Read on a line that is not an input reconfigures it as an
//     input with pull-up.
//   - Releasing a request leaves the line as it was (most chip drivers).
//
// Every state a line passes through is recorded, so a test can tell whether
// a relay on it would have clicked.

// lineEvent is one state a line passed through.
type lineEvent struct {
	output bool
	level  gpio.Level
}

func (e lineEvent) String() string {
	if e.output {
		return "out " + e.level.String()
	}
	return "in " + e.level.String()
}

// kline is one simulated line in the kernel.
type kline struct {
	holder  string // consumer label of the request holding it; "" when free
	output  bool
	level   gpio.Level // driven level of an output
	pull    gpio.Pull
	ext     gpio.Level // level driven from outside onto an input
	history []lineEvent
}

// inLevel is what an input reads.
func (l *kline) inLevel() gpio.Level {
	switch l.pull {
	case gpio.PullUp:
		return gpio.High
	case gpio.PullDown:
		return gpio.Low
	}
	return l.ext
}

// now is the line's present state.
func (l *kline) now() lineEvent {
	if l.output {
		return lineEvent{true, l.level}
	}
	return lineEvent{false, l.inLevel()}
}

// record notes the line's state if it changed.
func (l *kline) record() {
	e := l.now()
	if n := len(l.history); n > 0 && l.history[n-1] == e {
		return
	}
	l.history = append(l.history, e)
}

// fakeKernel is the character device with its chips.
type fakeKernel struct {
	mu       sync.Mutex
	chips    map[string][]*kline
	requests int   // output requests granted
	setErr   error // returned by every setValue when set
	openErr  error // fails every request as open(2) of the chip would
	ioctlErr error // fails every request as GPIO_V2_GET_LINE_IOCTL would
}

func newFakeKernel(chips map[string]int) *fakeKernel {
	k := &fakeKernel{chips: map[string][]*kline{}}
	for path, n := range chips {
		lines := make([]*kline, n)
		for i := range lines {
			lines[i] = &kline{pull: gpio.Float}
			lines[i].record()
		}
		k.chips[path] = lines
	}
	return k
}

// line returns a line for a test to look at or prepare; tests hold no lock
// while the code under test runs, so they read through snapshot.
func (k *fakeKernel) line(chip string, off uint32) *kline {
	return k.chips[chip][off]
}

// snapshot returns a line's present state and history.
func (k *fakeKernel) snapshot(chip string, off uint32) (holder string, now lineEvent, history []lineEvent) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.line(chip, off)
	return l.holder, l.now(), append([]lineEvent(nil), l.history...)
}

// requestOutput implements gpioKernel.
func (k *fakeKernel) requestOutput(chip string, off uint32, lv gpio.Level) (lineRequest, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.openErr != nil {
		return nil, &os.PathError{Op: "open", Path: chip, Err: k.openErr}
	}
	lines, ok := k.chips[chip]
	if !ok {
		return nil, &os.PathError{Op: "open", Path: chip, Err: syscall.ENOENT}
	}
	if k.ioctlErr != nil {
		return nil, k.ioctlErr
	}
	if int(off) >= len(lines) {
		return nil, syscall.EINVAL
	}
	l := lines[off]
	if l.holder != "" {
		return nil, syscall.EBUSY
	}
	l.holder, l.output, l.level = consumerLabel, true, lv
	l.record()
	k.requests++
	return &fakeRequest{k: k, line: l}, nil
}

func (k *fakeKernel) granted() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.requests
}

// fakeRequest is a granted output request.
type fakeRequest struct {
	k        *fakeKernel
	line     *kline
	released bool
}

func (r *fakeRequest) setValue(lv gpio.Level) error {
	r.k.mu.Lock()
	defer r.k.mu.Unlock()
	if r.released {
		return syscall.EBADF
	}
	if r.k.setErr != nil {
		return r.k.setErr
	}
	r.line.level = lv
	r.line.record()
	return nil
}

func (r *fakeRequest) release() error {
	r.k.mu.Lock()
	defer r.k.mu.Unlock()
	if r.released {
		return syscall.EBADF
	}
	r.released = true
	r.line.holder = ""
	return nil
}

// fakePeriphLine is periph's gpioioctl.GPIOLine on the fake kernel.
type fakePeriphLine struct {
	k    *fakeKernel
	chip string
	off  uint32
	name string

	mu    sync.Mutex
	held  bool
	dir   int // 0 not set, 1 input, 2 output
	edge  gpio.Edge
	pull  gpio.Pull
	reads int
	halts int
	edges chan struct{} // an edge the "kernel" queued
	halt  chan struct{}
}

func newFakePeriphLine(k *fakeKernel, chip string, off uint32, name string) *fakePeriphLine {
	return &fakePeriphLine{k: k, chip: chip, off: off, name: name,
		edges: make(chan struct{}, 16), halt: make(chan struct{}, 1)}
}

func (p *fakePeriphLine) String() string   { return p.name }
func (p *fakePeriphLine) Name() string     { return p.name }
func (p *fakePeriphLine) Number() int      { return int(p.off) }
func (p *fakePeriphLine) Function() string { return string(p.Func()) }

func (p *fakePeriphLine) Halt() error {
	p.mu.Lock()
	p.halts++
	p.mu.Unlock()
	select {
	case p.halt <- struct{}{}:
	default:
	}
	return nil
}

// getLine requests the line for periph if it does not hold it yet.
// Callers hold p.mu.
func (p *fakePeriphLine) getLine() error {
	if p.held {
		return nil
	}
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	l := p.k.line(p.chip, p.off)
	if l.holder != "" {
		return fmt.Errorf("line_request ioctl: %w", syscall.EBUSY)
	}
	l.holder = periphConsumer()
	p.held = true
	return nil
}

func (p *fakePeriphLine) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.in(pull, edge)
}

func (p *fakePeriphLine) in(pull gpio.Pull, edge gpio.Edge) error {
	if err := p.getLine(); err != nil {
		return err
	}
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	l := p.k.line(p.chip, p.off)
	l.output = false
	if pull != gpio.PullNoChange {
		l.pull = pull
	}
	l.record()
	p.dir, p.edge, p.pull = 1, edge, pull
	return nil
}

// Read reconfigures a line that is not an input, as gpioioctl does.
func (p *fakePeriphLine) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reads++
	if p.dir != 1 {
		if err := p.in(gpio.PullUp, gpio.NoEdge); err != nil {
			return gpio.Low
		}
	}
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	return p.k.line(p.chip, p.off).inLevel()
}

func (p *fakePeriphLine) readCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reads
}

func (p *fakePeriphLine) WaitForEdge(timeout time.Duration) bool {
	p.mu.Lock()
	ready := p.dir == 1 && p.edge != gpio.NoEdge
	p.mu.Unlock()
	if !ready {
		return false
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	select {
	case <-p.edges:
		return true
	case <-p.halt:
		return false
	case <-deadline:
		return false
	}
}

func (p *fakePeriphLine) Pull() gpio.Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pull
}

func (p *fakePeriphLine) DefaultPull() gpio.Pull { return gpio.PullNoChange }

// Out is gpioioctl's two-step Out: direction first (driven low), then the
// level.
func (p *fakePeriphLine) Out(lv gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.getLine(); err != nil {
		return err
	}
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	l := p.k.line(p.chip, p.off)
	if p.dir != 2 {
		l.output, l.level = true, gpio.Low
		l.record()
		p.dir, p.edge, p.pull = 2, gpio.NoEdge, gpio.PullNoChange
	}
	l.level = lv
	l.record()
	return nil
}

func (p *fakePeriphLine) PWM(gpio.Duty, physic.Frequency) error {
	return fmt.Errorf("PWM() not implemented")
}

func (p *fakePeriphLine) Consumer() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held {
		return periphConsumer()
	}
	return ""
}

func (p *fakePeriphLine) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held {
		p.k.mu.Lock()
		p.k.line(p.chip, p.off).holder = ""
		p.k.mu.Unlock()
	}
	p.held, p.dir, p.edge, p.pull = false, 0, gpio.NoEdge, gpio.PullNoChange
}

func (p *fakePeriphLine) Func() pin.Func {
	p.mu.Lock()
	dir := p.dir
	p.mu.Unlock()
	switch dir {
	case 1:
		if p.Read() {
			return gpio.IN_HIGH
		}
		return gpio.IN_LOW
	case 2:
		if p.Read() { // gpioioctl reads, and so reconfigures, an output
			return gpio.OUT_HIGH
		}
		return gpio.OUT_LOW
	}
	return pin.FuncNone
}

func (p *fakePeriphLine) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT} }
func (p *fakePeriphLine) SetFunc(pin.Func) error     { return fmt.Errorf("not used by the host") }

// fakeCPUPin is a CPU driver's pin that periph maps onto line Number() of
// the first chip, as bcm283x does; it falls back to that line's periph
// object like bcm283x without /dev/gpiomem.
type fakeCPUPin struct {
	*fakePeriphLine
	name string
}

func (p *fakeCPUPin) Name() string   { return p.name }
func (p *fakeCPUPin) String() string { return p.name }

func isFakeCPUPin(p gpio.PinIO) bool {
	_, ok := p.(*fakeCPUPin)
	return ok
}

// fakeAlias is another name for a pin, as periph's gpioreg aliases are;
// like them, it does not implement pin.PinFunc.
type fakeAlias struct {
	gpio.PinIO
	name string
}

func (a *fakeAlias) Name() string     { return a.name }
func (a *fakeAlias) String() string   { return a.name }
func (a *fakeAlias) Real() gpio.PinIO { return a.PinIO }

var (
	_ gpioKernel   = (*fakeKernel)(nil)
	_ periphLine   = (*fakePeriphLine)(nil)
	_ gpio.PinIO   = (*fakePeriphLine)(nil)
	_ pin.PinFunc  = (*fakePeriphLine)(nil)
	_ gpio.RealPin = (*fakeAlias)(nil)
)
