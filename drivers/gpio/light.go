package gpio

import (
	"context"
	"math"

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
	pwmLine // full is maxBrightness; level is the brightness while on, 0 while off

	brightness int // 1 to 255 once opened, also while off
}

// Entities implements drivers.Device: one dimmable light, the device's
// main feature.
func (d *Light) Entities() []drivers.Entity {
	return []drivers.Entity{{ID: EntityLight, Spec: drivers.Light{Brightness: true}}}
}

// Open implements drivers.Device. It sets the line's duty cycle for the
// power_on state (at full brightness for "on", as remembered for
// "restore") in one call, and reports it. If the device was open before, it restores the last commanded state
// and brightness instead.
func (d *Light) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	if !d.opened {
		d.brightness = maxBrightness
	}
	if err := d.open(ctx, h, out, EntityLight, d.restored); err != nil {
		return err
	}
	out.State(EntityLight, d.state())
	return nil
}

// restored is the level of a light's remembered state: its brightness
// when it was on, 0 when off; a remembered brightness is kept for the
// next ON either way.
func (d *Light) restored(v drivers.Value) (int, bool) {
	on, ok := v.Field(drivers.FieldState)
	if !ok || on.Kind != drivers.ValueBool {
		return 0, false
	}
	if b, ok := v.Field(drivers.FieldBrightness); ok && b.Kind == drivers.ValueNumber && b.Num >= 1 && b.Num <= maxBrightness {
		d.brightness = int(math.Round(b.Num))
	}
	if !on.Bool {
		return 0, true
	}
	return d.brightness, true
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
	level := 0
	if on {
		level = b
	}
	if err := d.set(EntityLight, c, level); err != nil {
		return err
	}
	d.brightness = b
	d.out.State(EntityLight, d.state())
	return nil
}

// Close implements drivers.Device. It leaves the line as on_exit asks: by
// default as it is; "off" switches the light off, "on" on at its last
// brightness. A state on_exit sets is reported, so that what is
// remembered for the next start (power_on = "restore") is how it was left.
func (d *Light) Close() error {
	out := d.out
	if err := d.close(d.brightness); err != nil || out == nil || d.onExit == exitKeep {
		return err
	}
	out.State(EntityLight, d.state())
	return nil
}

// state is the light's state: on while the line's duty cycle is not 0,
// and the last brightness.
func (d *Light) state() drivers.Value {
	return drivers.LightState(d.level > 0, float64(d.brightness))
}

var (
	_ drivers.Device    = (*Light)(nil)
	_ drivers.Commander = (*Light)(nil)
	_ drivers.Claimer   = (*Light)(nil)
)
