package realhost

import (
	"errors"
	"fmt"
	"os"
	"path"
	"reflect"
	"sync"
	"syscall"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// gpioKernel is the kernel's GPIO character device, as far as the host
// drives it: a fake in tests.
type gpioKernel interface {
	// requestOutput requests line offset of chip as an output that drives
	// l from the first instant.
	requestOutput(chip string, offset uint32, l gpio.Level) (lineRequest, error)
}

// lineRequest is a granted request for one output line.
type lineRequest interface {
	setValue(l gpio.Level) error
	// release gives the line back to the kernel, which leaves it to the
	// chip's driver (most keep driving the level; upstream pinctrl-bcm2835
	// makes it an input).
	release() error
}

// periphLine is what the host needs of periph's own object for a character
// device line (*gpioioctl.GPIOLine): whether it holds a request of its own,
// and a way to make it let go.
type periphLine interface {
	Name() string
	Number() int
	// Consumer is the label of the line's holder: periph's own
	// ("program@pid") while periph holds a request on it.
	Consumer() string
	// Close releases periph's request on the line, if it holds one.
	Close()
}

// ioctlChip is one GPIO character device and periph's objects for its
// lines, indexed by offset.
type ioctlChip struct {
	path  string
	lines []periphLine
}

// chipLine is where a GPIO name lives on the character device.
type chipLine struct {
	chip   string // "/dev/gpiochip0"
	offset uint32
	periph periphLine
}

// lineKey identifies a line across the names that reach it.
type lineKey struct {
	chip   string
	offset uint32
}

// resolveLine finds the character device line behind periph's pin p, the
// way periph itself maps it: a gpioioctl line is the chip line it is (found
// by identity, so duplicate names that periph renamed resolve right), and a
// CPU pin that periph maps onto the first chip (bcm283x) is line Number()
// there. Aliases ("P1_11") are followed to their pin. Anything else (a pin
// of a driver that only maps CPU registers) has no line: ok is false.
func resolveLine(p gpio.PinIO, chips []ioctlChip, cpuPin func(gpio.PinIO) bool) (chipLine, bool) {
	r := realPin(p)
	if rl, ok := r.(periphLine); ok && isComparable(rl) {
		for _, c := range chips {
			for _, l := range c.lines {
				if l == rl {
					return chipLine{chip: c.path, offset: uint32(l.Number()), periph: l}, true
				}
			}
		}
	}
	if cpuPin(r) && len(chips) > 0 {
		if n := r.Number(); n >= 0 && n < len(chips[0].lines) {
			return chipLine{chip: chips[0].path, offset: uint32(n), periph: chips[0].lines[n]}, true
		}
	}
	return chipLine{}, false
}

// realPin follows aliases (gpio.RealPin) to the pin they name.
func realPin(p gpio.PinIO) gpio.PinIO {
	for range 8 { // aliases of aliases, with a bound in case of a cycle
		rp, ok := p.(gpio.RealPin)
		if !ok {
			break
		}
		p = rp.Real()
	}
	return p
}

// isComparable reports whether v's dynamic type can be compared with ==
// without a panic.
func isComparable(v any) bool {
	t := reflect.TypeOf(v)
	return t != nil && t.Comparable()
}

// lineState is one character device line as the host drives it, shared by
// every handle the host gave out for it (a device reopened after a failure
// asks again, and an alias is another name for the same line).
type lineState struct {
	key    lineKey
	periph periphLine
	kernel gpioKernel

	mu sync.Mutex
	// out is the host's output request, nil while the host holds none.
	out   lineRequest
	level gpio.Level // what out drives
	// outBy is the name the output was requested under; inBy the name
	// under which the host let periph make the line an input. One line
	// serves one device, and devices claim names, so a second name on a
	// line in use is a second device.
	outBy, inBy string
}

// chardevPin is the host's handle on a character device line, under the
// name a device asked for. It implements gpio.PinIO and pin.PinFunc: it
// drives outputs through its own line request and leaves everything else
// to periph's pin.
type chardevPin struct {
	name string
	p    gpio.PinIO // periph's pin for the name
	st   *lineState
}

// String implements conn.Resource.
func (c *chardevPin) String() string { return c.name }

// Name implements pin.Pin.
func (c *chardevPin) Name() string { return c.name }

// Number implements pin.Pin with periph's number for the pin.
func (c *chardevPin) Number() int { return c.p.Number() }

// Function implements pin.Pin.
//
// Deprecated: Use Func, as periph's pin.Pin says.
func (c *chardevPin) Function() string { return string(c.Func()) }

// Halt implements conn.Resource: it interrupts a pending WaitForEdge.
func (c *chardevPin) Halt() error { return c.p.Halt() }

// Out implements gpio.PinOut. The first call requests the line as an output
// already at level l (see outputRequest), so the line never shows the other
// level on the way; later calls set the level on that request. If this
// name had made the line an input, periph's request is released first.
func (c *chardevPin) Out(l gpio.Level) error {
	st := c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.out != nil {
		if st.outBy != c.name {
			return c.busy("set "+l.String(), "drives it as an output under the name "+st.outBy)
		}
		if err := st.out.setValue(l); err != nil {
			return fmt.Errorf("gpio %s: set %s on %s line %d: %w", c.name, l, st.key.chip, st.key.offset, err)
		}
		st.level = l
		return nil
	}
	if st.inBy != "" {
		if st.inBy != c.name {
			return c.busy("request output", "uses it as an input under the name "+st.inBy)
		}
		st.periph.Close()
		st.inBy = ""
	}
	req, err := st.kernel.requestOutput(st.key.chip, st.key.offset, l)
	if err != nil {
		return fmt.Errorf("gpio %s: request output on %s line %d: %w%s", c.name, st.key.chip, st.key.offset, err, requestHint(err, st.periph))
	}
	st.out, st.level, st.outBy = req, l, c.name
	return nil
}

// busy is the error for a line another device of this agent uses.
func (c *chardevPin) busy(what, use string) error {
	return fmt.Errorf("gpio %s: %s on %s line %d: line busy: this agent already %s; one line can serve only one device",
		c.name, what, c.st.key.chip, c.st.key.offset, use)
}

// requestHint says what to do about a failed request.
func requestHint(err error, pl periphLine) string {
	switch {
	case errors.Is(err, syscall.EBUSY):
		if pl.Consumer() == periphConsumer() {
			return " (line busy: pinion itself holds the line through periph.io, outside the host)"
		}
		return " (another program holds the line; see gpioinfo)"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return " (the user running pinion needs to be in the gpio group)"
	case errors.Is(err, syscall.ENOTTY), errors.Is(err, syscall.EINVAL):
		return " (the kernel refused the request; outputs need the GPIO character device v2 of Linux 5.10 or later)"
	}
	return ""
}

// periphConsumer is the label periph's gpioioctl gives its own line
// requests (its init: program name @ pid, cut to fit the kernel's 32 bytes).
func periphConsumer() string {
	s := fmt.Sprintf("%s@%d", path.Base(os.Args[0]), os.Getpid())
	if len(s) >= gpioMaxNameSize {
		s = s[:gpioMaxNameSize-1]
	}
	return s
}

// In implements gpio.PinIn through periph's pin, after releasing the
// host's output request if this name holds one.
func (c *chardevPin) In(pull gpio.Pull, edge gpio.Edge) error {
	st := c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.out != nil && st.outBy != c.name:
		return c.busy("configure as input", "drives it as an output under the name "+st.outBy)
	case st.out != nil:
		err := st.out.release()
		st.out = nil
		if err != nil {
			return fmt.Errorf("gpio %s: release output on %s line %d: %w", c.name, st.key.chip, st.key.offset, err)
		}
	case st.inBy != "" && st.inBy != c.name:
		return c.busy("configure as input", "uses it as an input under the name "+st.inBy)
	}
	if err := c.p.In(pull, edge); err != nil {
		return fmt.Errorf("gpio %s: configure as input: %w", c.name, err)
	}
	st.inBy = c.name
	return nil
}

// Read implements gpio.PinIn. On a line the host drives as an output it
// returns the level last driven, without touching the line: periph's Read
// would reconfigure an output as an input with pull-up and drop the relay
// it holds. Otherwise it reads through periph's pin (which makes a line
// that is not yet configured an input with pull-up).
func (c *chardevPin) Read() gpio.Level {
	st := c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.out != nil {
		return st.level
	}
	if st.inBy == "" {
		st.inBy = c.name
	}
	return c.p.Read()
}

// WaitForEdge implements gpio.PinIn through periph's pin. A line the host
// drives as an output has no edges to wait for: it returns false at once.
func (c *chardevPin) WaitForEdge(timeout time.Duration) bool {
	c.st.mu.Lock()
	out := c.st.out != nil
	c.st.mu.Unlock()
	if out {
		return false
	}
	return c.p.WaitForEdge(timeout)
}

// Pull implements gpio.PinIn through periph's pin.
func (c *chardevPin) Pull() gpio.Pull { return c.p.Pull() }

// DefaultPull implements gpio.PinIn through periph's pin.
func (c *chardevPin) DefaultPull() gpio.Pull { return c.p.DefaultPull() }

// PWM implements gpio.PinOut through periph's pin. It refuses while the
// host drives the line as an output, rather than letting go of a relay for a
// PWM the pin may not have.
func (c *chardevPin) PWM(duty gpio.Duty, f physic.Frequency) error {
	c.st.mu.Lock()
	out := c.st.out != nil
	c.st.mu.Unlock()
	if out {
		return fmt.Errorf("gpio %s: PWM: the line is held as an output; the GPIO character device has no PWM", c.name)
	}
	return c.p.PWM(duty, f)
}

// Func implements pin.PinFunc. On a line the host drives as an output it
// reports OUT_HIGH or OUT_LOW from the level last driven, without touching
// the line; otherwise it asks periph's pin.
func (c *chardevPin) Func() pin.Func {
	st := c.st
	st.mu.Lock()
	out, l := st.out != nil, st.level
	st.mu.Unlock()
	if out {
		if l {
			return gpio.OUT_HIGH
		}
		return gpio.OUT_LOW
	}
	// periph's aliases do not implement PinFunc; the pin they name may.
	if pf, ok := realPin(c.p).(pin.PinFunc); ok {
		return pf.Func()
	}
	return pin.FuncNone
}

// SupportedFuncs implements pin.PinFunc: the character device makes a line
// an input or an output, nothing else.
func (c *chardevPin) SupportedFuncs() []pin.Func {
	return []pin.Func{gpio.IN, gpio.OUT}
}

// SetFunc implements pin.PinFunc with In and Out.
func (c *chardevPin) SetFunc(f pin.Func) error {
	switch f {
	case gpio.IN:
		return c.In(gpio.PullNoChange, gpio.NoEdge)
	case gpio.FLOAT:
		return c.In(gpio.Float, gpio.NoEdge)
	case gpio.IN_HIGH:
		return c.In(gpio.PullUp, gpio.NoEdge)
	case gpio.IN_LOW:
		return c.In(gpio.PullDown, gpio.NoEdge)
	case gpio.OUT, gpio.OUT_LOW:
		return c.Out(gpio.Low)
	case gpio.OUT_HIGH:
		return c.Out(gpio.High)
	}
	return fmt.Errorf("gpio %s: set function %q: not supported; this line can be %s or %s", c.name, f, gpio.IN, gpio.OUT)
}

var (
	_ gpio.PinIO  = (*chardevPin)(nil)
	_ pin.PinFunc = (*chardevPin)(nil)
)
