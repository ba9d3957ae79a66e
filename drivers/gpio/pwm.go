package gpio

import (
	"context"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/pinion-home/pinion/drivers"
)

// pwmLine is what a Light and a Number share: a PWM line at a fixed
// frequency whose duty cycle is set in steps of 1/full of the period (a
// light's brightness 1 to 255, a number's percent 0 to 100), started at
// power_on, left as on_exit asks, restored on a reopen, and never read
// back. Light and Number embed it, and report their own states.
//
// Its methods run on the device's worker, one at a time; it takes no
// locks.
type pwmLine struct {
	id       string
	pin      string
	inverted bool
	freq     physic.Frequency
	powerOn  bool
	restore  bool // power_on = "restore": start as the host remembers
	onExit   exitAction
	// full is the level of full duty: 255 for a light, 100 for a number.
	full int

	line gpio.PinOut // never a PinIO: see Output
	out  drivers.Output
	// level is the duty cycle the line was last set to, 0 (off) to full.
	// It outlives Close, so that a reopen restores it.
	level  int
	opened bool // Open succeeded once; a reopen restores level, not power_on
}

// Info implements drivers.Device.
func (p *pwmLine) Info() drivers.Info {
	return drivers.Info{Model: "PWM output (" + p.pin + ")"}
}

// Claims implements drivers.Claimer: the line, as a PWM line.
func (p *pwmLine) Claims() []drivers.Resource {
	return []drivers.Resource{drivers.PWMLine(p.pin)}
}

// open claims the line and sets its duty cycle, in one call: full for
// power_on = "on", 0 for "off", for "restore" the level that restored
// makes of the entity's last state (0 when the host knows none), or, if
// the device was open before, the level the line was last set to, so that
// a reopen after a failure changes nothing.
func (p *pwmLine) open(ctx context.Context, h drivers.Host, out drivers.Output, entity string, restored func(drivers.Value) (int, bool)) error {
	level := p.level
	if !p.opened {
		level = 0
		if p.powerOn {
			level = p.full
		}
		if p.restore {
			if v, ok := lastState(ctx, h, p.id, entity); ok {
				if l, ok := restored(v); ok && l >= 0 && l <= p.full {
					level = l
				}
			}
		}
	}
	line, err := drivers.PWM(h, p.pin)
	if err != nil {
		return prefixed(p.id, "open %s: %w", p.pin, err)
	}
	if err := line.PWM(p.duty(level), p.freq); err != nil {
		return prefixed(p.id, "%s: set PWM %s at %s: %w", p.pin, p.duty(level), p.freq, err)
	}
	p.line, p.out, p.level, p.opened = line, out, level, true
	return nil
}

// set sets the line's duty cycle to level (0 to full), for command c to
// entity. The level changes only if the line took it.
func (p *pwmLine) set(entity string, c drivers.Command, level int) error {
	if p.line == nil {
		return notOpen(p.id, p.pin)
	}
	if err := p.line.PWM(p.duty(level), p.freq); err != nil {
		return prefixed(p.id, "%s: %s: set PWM %s: %w", entity, c, p.duty(level), err)
	}
	p.level = level
	return nil
}

// close lets go of the line, leaving it as on_exit asks: by default as it
// is; "off" sets a duty cycle of 0, "on" the level on.
func (p *pwmLine) close(on int) error {
	if p.line == nil {
		return nil
	}
	line := p.line
	p.line, p.out = nil, nil
	level := 0
	switch p.onExit {
	case exitKeep:
		return nil
	case exitOn:
		level = on
	}
	if err := line.PWM(p.duty(level), p.freq); err != nil {
		return prefixed(p.id, "close: %s: set %s on exit: %w", p.pin, onOff(p.onExit == exitOn), err)
	}
	p.level = level
	return nil
}

// duty is the duty cycle of level: level/full of gpio.DutyMax, rounded,
// so full is always on and 0 always off; with inverted, the rest of it.
func (p *pwmLine) duty(level int) gpio.Duty {
	d := gpio.Duty((int64(level)*int64(gpio.DutyMax) + int64(p.full)/2) / int64(p.full))
	if p.inverted {
		d = gpio.DutyMax - d
	}
	return d
}
