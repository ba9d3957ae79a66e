package gpio

import (
	"context"
	"math"

	"github.com/pinion-home/pinion/drivers"
)

// maxPercent is the level of a Number at full duty.
const maxPercent = 100

// numberSpec is the spec of a Number's entity: a percentage from 0 to
// 100 in whole steps, shown as a slider.
var numberSpec = drivers.Number{Min: 0, Max: maxPercent, Step: 1, Unit: drivers.Percent, Mode: drivers.NumberSlider}

// Number is a PWM line that sets a share of full power, such as a fan's
// speed, a valve's opening or a heater's power, exposed as one number
// entity ("duty") from 0 to 100 %, configured with show_as = "number".
// A percentage maps linearly to the duty cycle, 100 to always on and 0 to
// always off (with inverted, the other way round). It reports the
// percentage it last set; the line is never read back.
//
// Its methods run on the device's worker, one at a time, as the driver
// API promises; it takes no locks.
type Number struct {
	pwmLine // full is maxPercent; level is the percentage
}

// Entities implements drivers.Device: one number, the device's main
// feature.
func (d *Number) Entities() []drivers.Entity {
	return []drivers.Entity{{ID: EntityDuty, Spec: numberSpec}}
}

// Open implements drivers.Device. It sets the line's duty cycle for
// power_on (0 % for "off", 100 % for "on", as remembered for "restore")
// in one call, and reports it. If
// the device was open before, it restores the last percentage instead.
func (d *Number) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	if err := d.open(ctx, h, out, EntityDuty, restoredPercent); err != nil {
		return err
	}
	out.State(EntityDuty, d.state())
	return nil
}

// Command implements drivers.Commander. The number takes ActionSet with a
// Number from 0 to 100, rounded to a whole percent (the entity's step);
// anything else is an error wrapping drivers.ErrUnsupported, and a value
// out of range is an error too. It reports the new percentage.
func (d *Number) Command(ctx context.Context, entity string, c drivers.Command) error {
	if entity != EntityDuty || c.Action != drivers.ActionSet || c.Value.Kind != drivers.ValueNumber {
		return unsupported(d.id, entity, EntityDuty, c)
	}
	if v := c.Value.Num; !(v >= numberSpec.Min && v <= numberSpec.Max) {
		return prefixed(d.id, "command %s for %q: %v %% is out of range: it is 0 to 100", c, entity, v)
	}
	if err := d.set(EntityDuty, c, int(math.Round(c.Value.Num))); err != nil {
		return err
	}
	d.out.State(EntityDuty, d.state())
	return nil
}

// Close implements drivers.Device. It leaves the line as on_exit asks: by
// default as it is; "off" sets 0 %, "on" 100 %. A level on_exit sets is
// reported, so that what is remembered for the next start (power_on =
// "restore") is how it was left.
func (d *Number) Close() error {
	out := d.out
	if err := d.close(maxPercent); err != nil || out == nil || d.onExit == exitKeep {
		return err
	}
	out.State(EntityDuty, d.state())
	return nil
}

// state is the number's state: the percentage the line was last set to.
func (d *Number) state() drivers.Value {
	return drivers.Num(float64(d.level), drivers.Percent)
}

var (
	_ drivers.Device    = (*Number)(nil)
	_ drivers.Commander = (*Number)(nil)
	_ drivers.Claimer   = (*Number)(nil)
)

// restoredPercent is the level of a number's remembered state: its
// percentage, rounded.
func restoredPercent(v drivers.Value) (int, bool) {
	if v.Kind != drivers.ValueNumber || !(v.Num >= numberSpec.Min && v.Num <= numberSpec.Max) {
		return 0, false
	}
	return int(math.Round(v.Num)), true
}
