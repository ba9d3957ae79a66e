package gpio

import (
	"context"
	"math"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/pinion-home/pinion/drivers"
)

// Light is a PWM line that dims an LED or an LED strip, exposed as one
// dimmable light entity ("light"). Brightness 1 to 255 maps linearly to
// the duty cycle, 255 to always on; off is a duty cycle of 0 (with
// inverted, always on: the line at its off level). It reports its state
// as a drivers.LightState with the last brightness, which an ON without a
// brightness restores; the line is never read back.
//
// Its methods run on the device's worker, one at a time, as the driver
// API promises; it takes no locks.
type Light struct {
	id       string
	pin      string
	inverted bool
	freq     physic.Frequency
	powerOn  bool
	onExit   exitAction

	line       gpio.PinOut
	out        drivers.Output
	on         bool
	brightness int  // 1 to 255, also while off
	opened     bool // Open succeeded once; a reopen restores the state, not power_on
}

// Info implements drivers.Device.
func (d *Light) Info() drivers.Info {
	return drivers.Info{Model: "PWM output (" + d.pin + ")"}
}

// Entities implements drivers.Device: one dimmable light, the device's
// main feature.
func (d *Light) Entities() []drivers.Entity {
	return []drivers.Entity{{ID: EntityLight, Spec: drivers.Light{Brightness: true}}}
}

// Claims implements drivers.Claimer: the line, as a PWM line.
func (d *Light) Claims() []drivers.Resource {
	return []drivers.Resource{drivers.PWMLine(d.pin)}
}

// Open implements drivers.Device. It sets the line's duty cycle for the
// power_on state (at full brightness for "on") in one call, and reports
// it. If the device was open before, it restores the last commanded state
// and brightness instead.
func (d *Light) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	p, err := drivers.PWM(h, d.pin)
	if err != nil {
		return prefixed(d.id, "open %s: %w", d.pin, err)
	}
	on, b := d.powerOn, maxBrightness
	if d.opened {
		on, b = d.on, d.brightness
	}
	if err := p.PWM(d.duty(on, b), d.freq); err != nil {
		return prefixed(d.id, "%s: set PWM %s at %s: %w", d.pin, d.duty(on, b), d.freq, err)
	}
	d.line, d.out, d.on, d.brightness, d.opened = p, out, on, b, true
	out.State(EntityLight, drivers.LightState(on, float64(b)))
	return nil
}

// Command implements drivers.Commander. The light takes ActionOn, with a
// brightness (a Number from 1 to 255, rounded to a whole number) or
// without one to restore the last, and ActionOff. Anything else is an
// error wrapping drivers.ErrUnsupported; a brightness out of range is an
// error too. It reports the light's new state.
func (d *Light) Command(ctx context.Context, entity string, c drivers.Command) error {
	if entity != EntityLight || c.Action != drivers.ActionOn && c.Action != drivers.ActionOff {
		return unsupported(d.id, entity, EntityLight, c)
	}
	on, b := c.Action == drivers.ActionOn, d.brightness
	if on && !c.Value.IsZero() {
		if c.Value.Kind != drivers.ValueNumber {
			return unsupported(d.id, entity, EntityLight, c)
		}
		r := math.Round(c.Value.Num)
		if !(r >= 1 && r <= maxBrightness) {
			return prefixed(d.id, "command %s for %q: brightness %v is out of range: it is 1 to %d", c, entity, c.Value.Num, maxBrightness)
		}
		b = int(r)
	}
	if d.line == nil {
		return notOpen(d.id, d.pin)
	}
	if err := d.line.PWM(d.duty(on, b), d.freq); err != nil {
		return prefixed(d.id, "%s: %s: set PWM %s: %w", EntityLight, c, d.duty(on, b), err)
	}
	d.on, d.brightness = on, b
	d.out.State(EntityLight, drivers.LightState(on, float64(b)))
	return nil
}

// Close implements drivers.Device. It leaves the line as on_exit asks: by
// default as it is; "off" switches the light off, "on" on at its last
// brightness.
func (d *Light) Close() error {
	if d.line == nil {
		return nil
	}
	line := d.line
	d.line, d.out = nil, nil
	if d.onExit == exitKeep {
		return nil
	}
	on := d.onExit == exitOn
	if err := line.PWM(d.duty(on, d.brightness), d.freq); err != nil {
		return prefixed(d.id, "close: %s: set %s on exit: %w", d.pin, onOff(on), err)
	}
	d.on = on
	return nil
}

// duty is the duty cycle that shows brightness b (1 to 255), or off.
func (d *Light) duty(on bool, b int) gpio.Duty {
	var duty gpio.Duty
	if on {
		duty = gpio.Duty((int64(b)*int64(gpio.DutyMax) + maxBrightness/2) / maxBrightness)
	}
	if d.inverted {
		duty = gpio.DutyMax - duty
	}
	return duty
}

var (
	_ drivers.Device    = (*Light)(nil)
	_ drivers.Commander = (*Light)(nil)
	_ drivers.Claimer   = (*Light)(nil)
)
