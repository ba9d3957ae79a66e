package gpio

import (
	"context"
	"log/slog"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
)

// Pulse is a GPIO output that makes a momentary pulse when pressed, such
// as a gate or garage door opener's contact, exposed as one button entity
// ("pulse"). At rest the line is off.
//
// A press switches the line on and starts a waiter that sleeps for the
// pulse on the host's clock and hands its end to Handle, which switches
// the line off. A press during a pulse is ignored (logged), so that every
// pulse has exactly the configured length. Close during a pulse switches
// the line off. The line is never read back.
//
// Its methods run on the device's worker, one at a time, as the driver
// API promises; it takes no locks.
type Pulse struct {
	id       string
	pin      string
	inverted bool
	pulse    time.Duration
	class    string

	line  gpio.PinOut // never a PinIO: see Output
	clock drivers.Clock
	log   *slog.Logger
	out   drivers.Output
	// pulsing says the line is on, waiting for the end of pulse number
	// gen. gen counts pulses and openings, so that the end of a pulse of
	// an earlier opening ends nothing.
	pulsing bool
	gen     uint64
}

// pulseEnd is what a pulse's waiter delivers when the pulse is over.
type pulseEnd struct{ gen uint64 }

// Info implements drivers.Device.
func (d *Pulse) Info() drivers.Info {
	return drivers.Info{Model: "GPIO pulse output (" + d.pin + ")"}
}

// Entities implements drivers.Device: one button, the device's main
// feature.
func (d *Pulse) Entities() []drivers.Entity {
	return []drivers.Entity{{ID: EntityPulse, Spec: drivers.Button{Class: d.class}}}
}

// Claims implements drivers.Claimer.
func (d *Pulse) Claims() []drivers.Resource {
	return []drivers.Resource{drivers.GPIOLine(d.pin)}
}

// Open implements drivers.Device. It makes the line an output at its off
// level in one call. A button has no state to report.
func (d *Pulse) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	p, err := drivers.GPIO(h, d.pin)
	if err != nil {
		return prefixed(d.id, "open %s: %w", d.pin, err)
	}
	if err := p.Out(levelOf(false, d.inverted)); err != nil {
		return prefixed(d.id, "%s: set as output OFF: %w", d.pin, err)
	}
	d.line, d.out, d.clock, d.log = p, out, h.Clock(), h.Logger()
	d.pulsing = false
	d.gen++
	return nil
}

// Command implements drivers.Commander. The button takes ActionPress;
// anything else is an error wrapping drivers.ErrUnsupported. A press
// during a pulse is ignored: it is no error, since the pulse it asks for
// is under way.
func (d *Pulse) Command(ctx context.Context, entity string, c drivers.Command) error {
	if entity != EntityPulse || c.Action != drivers.ActionPress {
		return unsupported(d.id, entity, EntityPulse, c)
	}
	if d.line == nil {
		return notOpen(d.id, d.pin)
	}
	if d.pulsing {
		d.log.Info("gpio: press ignored: a pulse is under way", "pin", d.pin, "pulse", d.pulse)
		return nil
	}
	if err := d.line.Out(levelOf(true, d.inverted)); err != nil {
		return prefixed(d.id, "%s: start a pulse: %w", d.pin, err)
	}
	d.gen++
	d.pulsing = true
	gen, clock, pulse := d.gen, d.clock, d.pulse
	d.out.Go(func(ctx context.Context, deliver func(any) bool) error {
		if clock.Sleep(ctx, pulse) != nil {
			return nil // closed during the pulse: Close ends it
		}
		deliver(pulseEnd{gen})
		return nil
	})
	return nil
}

// Handle implements drivers.Handler: the end of a pulse switches the line
// off. An error (the line refused) fails the device, which the agent then
// closes, so the line is switched off again there.
func (d *Pulse) Handle(ctx context.Context, ev any) error {
	e, ok := ev.(pulseEnd)
	if !ok || e.gen != d.gen || !d.pulsing || d.line == nil {
		return nil
	}
	if err := d.line.Out(levelOf(false, d.inverted)); err != nil {
		return prefixed(d.id, "%s: end a pulse: %w", d.pin, err)
	}
	d.pulsing = false
	return nil
}

// Close implements drivers.Device. A pulse under way ends: the line is
// left off. At rest the line is off already and Close leaves it alone.
func (d *Pulse) Close() error {
	if d.line == nil {
		return nil
	}
	line, pulsing := d.line, d.pulsing
	d.line, d.out, d.pulsing = nil, nil, false
	d.gen++
	if !pulsing {
		return nil
	}
	if err := line.Out(levelOf(false, d.inverted)); err != nil {
		return prefixed(d.id, "close: %s: end the pulse under way: %w", d.pin, err)
	}
	return nil
}

var (
	_ drivers.Device    = (*Pulse)(nil)
	_ drivers.Commander = (*Pulse)(nil)
	_ drivers.Handler   = (*Pulse)(nil)
	_ drivers.Claimer   = (*Pulse)(nil)
)
