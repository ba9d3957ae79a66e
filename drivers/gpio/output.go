package gpio

import (
	"context"
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
)

// exitAction is what an output does to its line on Close.
type exitAction int

const (
	exitKeep exitAction = iota // leave the line as it is
	exitOff
	exitOn
)

// Output is a GPIO line driven as an output, exposed as one switch entity
// ("relay"). It reports the state it last commanded rather than reading the
// line back.
type Output struct {
	id       string
	pin      string
	inverted bool
	powerOn  bool
	onExit   exitAction
	class    string

	// mu guards the fields below. The agent calls Set, Read and Close
	// from one goroutine, but the lock keeps a misbehaving caller from
	// racing the tracked state against the line.
	mu sync.Mutex
	// line is a PinOut, not a PinIO, so that the compiler refuses a Read:
	// on the GPIO character device, reading an output turns it into an
	// input with pull-up, which would drop the relay.
	line   gpio.PinOut
	state  bool
	opened bool // Open succeeded once; a reopen restores state, not power_on
}

// Info implements drivers.Device.
func (d *Output) Info() drivers.Info {
	return drivers.Info{Model: "GPIO output (" + d.pin + ")"}
}

// Entities implements drivers.Device: one switch, the device's main
// feature.
func (d *Output) Entities() []drivers.Entity {
	return []drivers.Entity{{
		ID:        EntityRelay,
		Kind:      drivers.KindSwitch,
		Class:     d.class,
		Precision: -1,
	}}
}

// Claims implements drivers.Claimer.
func (d *Output) Claims() []string { return []string{"gpio:" + d.pin} }

// Open implements drivers.Device. It makes the line an output at the
// power_on level in one call, so the line never shows any other level on
// the way. If the device was open before (the agent reopens a device after
// a failure), it restores the last commanded state instead, so a hiccup
// does not switch the relay back to power_on.
func (d *Output) Open(ctx context.Context, h drivers.Host) error {
	p, err := h.GPIO(d.pin)
	if err != nil {
		return d.errorf("open %s: %w", d.pin, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	state := d.powerOn
	if d.opened {
		state = d.state
	}
	if err := p.Out(levelOf(state, d.inverted)); err != nil {
		return d.errorf("%s: set as output %s: %w", d.pin, onOff(state), err)
	}
	d.line, d.state, d.opened = p, state, true
	return nil
}

// Read implements drivers.Reader: it reports the commanded state, which is
// what the line drives.
func (d *Output) Read(ctx context.Context) ([]drivers.Reading, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.line == nil {
		return nil, d.errorf("read: %s is not open", d.pin)
	}
	return []drivers.Reading{{Entity: EntityRelay, Value: drivers.Bool(d.state)}}, nil
}

// Set implements drivers.Setter. The relay entity takes an on/off value
// (drivers.Bool); anything else is an error wrapping
// drivers.ErrUnsupported. It returns the state the line now drives.
func (d *Output) Set(ctx context.Context, entity string, v drivers.Value) (drivers.Value, error) {
	if entity != EntityRelay {
		return drivers.Value{}, d.errorf("set %q: no such entity (this device has %q): %w", entity, EntityRelay, drivers.ErrUnsupported)
	}
	if v.Kind != drivers.ValueBool {
		return drivers.Value{}, d.errorf("set %s to %q: the relay takes ON or OFF: %w", EntityRelay, v, drivers.ErrUnsupported)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.line == nil {
		return drivers.Value{}, d.errorf("set %s: %s is not open", EntityRelay, d.pin)
	}
	if err := d.line.Out(levelOf(v.Bool, d.inverted)); err != nil {
		return drivers.Value{}, d.errorf("set %s %s: %s: %w", EntityRelay, onOff(v.Bool), d.pin, err)
	}
	d.state = v.Bool
	return drivers.Bool(d.state), nil
}

// Close implements drivers.Device. It leaves the line as on_exit asks:
// by default as it is, so that restarting the agent never cycles the
// relay. The host releases the line itself.
func (d *Output) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.line == nil {
		return nil
	}
	line := d.line
	d.line = nil
	if d.onExit == exitKeep {
		return nil
	}
	on := d.onExit == exitOn
	if err := line.Out(levelOf(on, d.inverted)); err != nil {
		return d.errorf("close: %s: set %s on exit: %w", d.pin, onOff(on), err)
	}
	d.state = on
	return nil
}

func (d *Output) errorf(format string, args ...any) error {
	return prefixed(d.id, format, args...)
}

// prefixed formats an error with the driver and device, as every error of
// the driver is: gpio "door": ...
func prefixed(id, format string, args ...any) error {
	return fmt.Errorf("gpio %q: %w", id, fmt.Errorf(format, args...))
}

func onOff(on bool) string {
	return drivers.Bool(on).String()
}

var (
	_ drivers.Device  = (*Output)(nil)
	_ drivers.Reader  = (*Output)(nil)
	_ drivers.Setter  = (*Output)(nil)
	_ drivers.Claimer = (*Output)(nil)
)
