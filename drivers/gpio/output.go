package gpio

import (
	"context"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
)

// Output is a GPIO line driven as an output, exposed as one switch entity
// ("relay"). It reports the state it last commanded rather than reading the
// line back.
//
// Its methods run on the device's worker, one at a time, as the driver
// API promises; it takes no locks.
type Output struct {
	id       string
	pin      string
	inverted bool
	powerOn  bool
	restore  bool // power_on = "restore": start as the host remembers
	onExit   exitAction
	class    string

	// line is a PinOut, not a PinIO, so that the compiler refuses a Read:
	// on the GPIO character device, reading an output turns it into an
	// input with pull-up, which would drop the relay.
	line   gpio.PinOut
	out    drivers.Output
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
	return []drivers.Entity{{ID: EntityRelay, Spec: drivers.Switch{Class: d.class}}}
}

// Claims implements drivers.Claimer.
func (d *Output) Claims() []drivers.Resource {
	return []drivers.Resource{drivers.GPIOLine(d.pin)}
}

// Open implements drivers.Device. It makes the line an output at the
// power_on level in one call, so the line never shows any other level on
// the way, and reports that state. With power_on = "restore" that level is
// the state the host remembers from before the agent stopped (off when it
// knows none), asked for before the line is touched. If the device was
// open before (the agent reopens a device after a failure), it restores
// the last commanded state instead, so a hiccup does not switch the relay
// back to power_on.
func (d *Output) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	state := d.powerOn
	if d.opened {
		state = d.state
	} else if d.restore {
		state = false
		if v, ok := lastState(ctx, h, d.id, EntityRelay); ok && v.Kind == drivers.ValueBool {
			state = v.Bool
		}
	}
	p, err := drivers.GPIO(h, d.pin)
	if err != nil {
		return prefixed(d.id, "open %s: %w", d.pin, err)
	}
	if err := p.Out(levelOf(state, d.inverted)); err != nil {
		return prefixed(d.id, "%s: set as output %s: %w", d.pin, onOff(state), err)
	}
	d.line, d.out, d.state, d.opened = p, out, state, true
	out.State(EntityRelay, drivers.Bool(state))
	return nil
}

// Command implements drivers.Commander. The relay takes ActionOn and
// ActionOff; anything else is an error wrapping drivers.ErrUnsupported. It
// reports the state the line now drives.
func (d *Output) Command(ctx context.Context, entity string, c drivers.Command) error {
	if entity != EntityRelay || c.Action != drivers.ActionOn && c.Action != drivers.ActionOff {
		return unsupported(d.id, entity, EntityRelay, c)
	}
	if d.line == nil {
		return notOpen(d.id, d.pin)
	}
	on := c.Action == drivers.ActionOn
	if err := d.line.Out(levelOf(on, d.inverted)); err != nil {
		return prefixed(d.id, "%s %s: %s: %w", EntityRelay, onOff(on), d.pin, err)
	}
	d.state = on
	d.out.State(EntityRelay, drivers.Bool(on))
	return nil
}

// Close implements drivers.Device. It leaves the line as on_exit asks:
// by default as it is, so that stopping the agent does not switch the
// relay (with power_on = "restore", a restart then never cycles it). A
// level on_exit sets is reported, so that what is remembered for the next
// start (power_on = "restore") is the state the relay was left in. The
// host releases the line itself.
func (d *Output) Close() error {
	if d.line == nil {
		return nil
	}
	line, out := d.line, d.out
	d.line, d.out = nil, nil
	if d.onExit == exitKeep {
		return nil
	}
	on := d.onExit == exitOn
	if err := line.Out(levelOf(on, d.inverted)); err != nil {
		return prefixed(d.id, "close: %s: set %s on exit: %w", d.pin, onOff(on), err)
	}
	d.state = on
	out.State(EntityRelay, drivers.Bool(on))
	return nil
}

var (
	_ drivers.Device    = (*Output)(nil)
	_ drivers.Commander = (*Output)(nil)
	_ drivers.Claimer   = (*Output)(nil)
)

// lastState asks the host for the state entity last reported before the
// agent stopped. Anything but a known state is "not known": a host that
// cannot remember, or whose store failed, is logged, and the output then
// starts off, the safe state.
func lastState(ctx context.Context, h drivers.Host, id, entity string) (drivers.Value, bool) {
	v, ok, err := drivers.LastState(ctx, h, entity)
	if err != nil {
		h.Logger().Warn("power_on = \"restore\": the last state is not known, so the output starts off", "device", id, "entity", entity, "err", err)
		return drivers.Value{}, false
	}
	return v, ok
}
