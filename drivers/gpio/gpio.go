// Package gpio is pinion's driver for a single GPIO line: an output that
// switches a relay, an LED or a buzzer (a switch in Home Assistant), or an
// input that reads a button, a reed contact or a PIR sensor (a binary
// sensor).
//
// One [[device]] is one line, because a person thinks of "the garage door
// relay" and "the doorbell button" as separate things. The line is named as
// the board names it ("GPIO17"), never by number: chip and line numbers
// differ between boards and kernels, names do not.
//
// Outputs do not glitch. The start level is set in the same call that
// makes the line an output (periph's Out), so the driver never drives any
// other level on the way; by default the line is left as it is when the
// agent stops, so a restart never cycles what the relay drives. That Out
// is one step on the hardware is the host's promise, and both of pinion's
// hosts keep it: the simulated board, and the agent's real host, which
// requests a character-device line as an output with its level in the
// same ioctl, on every /dev/gpiochip line (a Pi 5's included) and on the
// bcm283x pins of earlier Pis alike (periph's own Out would make the line
// an output first and set the level after). An output is never read back
// from the line: on Linux's GPIO character device, reading an output line
// turns it into an input with pull-up, which would drop the relay. The
// driver reports the state it last commanded instead.
//
// Inputs are edge-driven and debounced: after an edge the driver waits the
// debounce delay, reads the settled level and reports it if it changed. A
// line that cannot report edges is polled instead, and the driver says so
// once in the log.
//
// See SampleConfig for every key and its default.
package gpio

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
)

// SampleConfig is a commented sample configuration of the driver, shown
// by the agent's CLI: every key with its default.
//
//go:embed sample.toml
var SampleConfig string

// Entity ids of the two modes. They appear in topics such as
// pinion/garage/door/relay/set, so they are part of the user interface and
// must not change.
const (
	// EntityRelay is the switch entity of an output line.
	EntityRelay = "relay"
	// EntityInput is the binary sensor entity of an input line.
	EntityInput = "input"
)

// Timing defaults of inputs.
const (
	// DefaultDebounce is how long an input must settle after an edge
	// before its level is reported. Mechanical buttons and reed contacts
	// bounce for a few milliseconds; 50 ms hides that and still feels
	// instant.
	DefaultDebounce = 50 * time.Millisecond
	// DefaultFallbackPoll is how often an input is read when its line
	// cannot report edges and no poll interval is configured.
	DefaultFallbackPoll = 100 * time.Millisecond
	// minPoll keeps a mistyped poll interval ("1ns") from spinning a core.
	minPoll = time.Millisecond
)

func init() {
	drivers.Register("gpio", New)
	drivers.RegisterSample("gpio", SampleConfig)
}

// config is the driver's part of a [[device]] table. Keys that only one
// mode takes are pointers so that their presence can be checked: a key of
// the other mode is a mistake worth reporting, not something to ignore.
type config struct {
	Pin      lineName  `toml:"pin"`
	Mode     string    `toml:"mode"`
	Inverted bool      `toml:"inverted"`
	Class    *string   `toml:"class"`
	PowerOn  *string   `toml:"power_on"`
	OnExit   *string   `toml:"on_exit"`
	Pull     *string   `toml:"pull"`
	Debounce *duration `toml:"debounce"`
	Poll     *duration `toml:"poll"`
}

// New is the driver's drivers.Factory. It decodes and checks the device's
// configuration and returns an *Output or an *Input; it does not touch the
// hardware, which is claimed in Open. Every bad value is a
// drivers.KeyError, and all of them are returned at once, with Decode's
// problems (keys of the wrong type, unknown keys) if it found any.
func New(cfg drivers.Config) (drivers.Device, error) {
	if cfg.Decode == nil {
		return nil, fmt.Errorf("gpio %q: no configuration to decode (Config.Decode is nil)", cfg.ID)
	}
	var c config
	var errs []error
	if err := cfg.Decode(&c); err != nil {
		errs = append(errs, err) // the other keys are decoded: check them too
	}
	dev, verrs := c.build(cfg.ID)
	if errs = append(errs, verrs...); len(errs) > 0 {
		return nil, fmt.Errorf("gpio %q: %w", cfg.ID, errors.Join(errs...))
	}
	return dev, nil
}

// modes says what each mode is, for messages.
const modes = `"output" (a relay, shown as a switch) or "input" (a button or contact, shown as a binary sensor)`

// build checks the decoded configuration and makes the device, or returns
// a drivers.KeyError for every bad value. With a mode it cannot tell, it
// still checks every value whose meaning does not depend on the mode.
func (c *config) build(id string) (drivers.Device, []error) {
	var errs []error
	if c.Pin == "" {
		errs = append(errs, drivers.BadKey("pin", `is required: the line's name, such as pin = "GPIO17"`))
	}
	switch c.Mode {
	case "output":
		d, oerrs := c.output(id)
		return d, append(errs, oerrs...)
	case "input":
		d, ierrs := c.input(id)
		return d, append(errs, ierrs...)
	case "":
		errs = append(errs, drivers.BadKey("mode", "is required: %s", modes))
	default:
		errs = append(errs, drivers.BadKey("mode", "%q is not a mode: use %s", c.Mode, modes))
	}
	_, oerrs := c.outputValues(&Output{})
	_, ierrs := c.inputValues(&Input{})
	return nil, append(errs, append(oerrs, ierrs...)...)
}

// output checks the keys of an output line.
func (c *config) output(id string) (*Output, []error) {
	errs := onlyFor("input", map[string]bool{"pull": c.Pull != nil, "debounce": c.Debounce != nil, "poll": c.Poll != nil})
	d := &Output{id: id, pin: string(c.Pin), inverted: c.Inverted, class: drivers.ClassSwitch, onExit: exitKeep}
	d, verrs := c.outputValues(d)
	if c.Class != nil {
		switch *c.Class {
		case drivers.ClassSwitch, drivers.ClassOutlet:
			d.class = *c.Class
		default:
			verrs = append(verrs, drivers.BadKey("class", `%q is not a switch class: use "switch" (the default) or "outlet"`, *c.Class))
		}
	}
	if errs = append(errs, verrs...); len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

// outputValues checks the values of the keys only outputs take, into d.
func (c *config) outputValues(d *Output) (*Output, []error) {
	var errs []error
	if c.PowerOn != nil {
		switch *c.PowerOn {
		case "off":
		case "on":
			d.powerOn = true
		default:
			errs = append(errs, drivers.BadKey("power_on", `%q is not a start state: use "off" (the default) or "on"`, *c.PowerOn))
		}
	}
	if c.OnExit != nil {
		switch *c.OnExit {
		case "keep":
		case "off":
			d.onExit = exitOff
		case "on":
			d.onExit = exitOn
		default:
			errs = append(errs, drivers.BadKey("on_exit", `%q is not an exit state: use "keep" (the default: leave the line as it is), "off" or "on"`, *c.OnExit))
		}
	}
	return d, errs
}

// binaryClasses are the classes an input may take, from the drivers
// package's binary sensor classes.
var binaryClasses = drivers.BinaryClasses

// input checks the keys of an input line.
func (c *config) input(id string) (*Input, []error) {
	errs := onlyFor("output", map[string]bool{"power_on": c.PowerOn != nil, "on_exit": c.OnExit != nil})
	d := &Input{id: id, pin: string(c.Pin), inverted: c.Inverted, pull: gpio.PullUp, debounce: DefaultDebounce}
	d, verrs := c.inputValues(d)
	if c.Class != nil {
		if *c.Class != "" && !slices.Contains(binaryClasses, *c.Class) {
			verrs = append(verrs, drivers.BadKey("class", "%q is not a binary sensor class: use one of %s, or leave class out for a generic on/off", *c.Class, quoteList(binaryClasses)))
		}
		d.class = *c.Class
	}
	if errs = append(errs, verrs...); len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

// inputValues checks the values of the keys only inputs take, into d.
func (c *config) inputValues(d *Input) (*Input, []error) {
	var errs []error
	if c.Pull != nil {
		switch *c.Pull {
		case "up":
		case "down":
			d.pull = gpio.PullDown
		case "none":
			d.pull = gpio.Float
		default:
			errs = append(errs, drivers.BadKey("pull", `%q is not a pull: use "up" (the default, for a button or contact to ground), "down" or "none" (the circuit has its own resistor)`, *c.Pull))
		}
	}
	if c.Debounce != nil {
		d.debounce = time.Duration(*c.Debounce)
	}
	if c.Poll != nil {
		d.poll = time.Duration(*c.Poll)
		if d.poll != 0 && d.poll < minPoll {
			errs = append(errs, drivers.BadKey("poll", `%q is too short: use at least "1ms", or "0s" to wait for edges`, d.poll))
		}
	}
	return d, errs
}

// onlyFor returns an error for each present key (in sorted order, so that
// messages are stable) that only mode takes.
func onlyFor(mode string, present map[string]bool) []error {
	keys := make([]string, 0, len(present))
	for k, ok := range present {
		if ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var errs []error
	for _, k := range keys {
		errs = append(errs, drivers.BadKey(k, "is only for mode = %q: remove it, or set mode = %q", mode, mode))
	}
	return errs
}

// quoteList formats names as "a", "b" or "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// lineName is a GPIO line's name. It decodes itself so that a number, the
// most common mistake, gets an error that shows the fix.
type lineName string

// UnmarshalTOML implements BurntSushi/toml's Unmarshaler, which sees the
// value's TOML type: pin = 17 must say "write "GPIO17"", not "type
// mismatch".
func (n *lineName) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		return n.UnmarshalText([]byte(v))
	case int64:
		return fmt.Errorf(`pin = %d is a number; lines are named because numbering differs between boards: write "GPIO%d"`, v, v)
	}
	return fmt.Errorf(`pin must be the line's name as a string, such as "GPIO17", not a %T`, v)
}

// UnmarshalText implements encoding.TextUnmarshaler, for decoders that only
// see text.
func (n *lineName) UnmarshalText(b []byte) error {
	s := string(b)
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		return fmt.Errorf(`pin = %q is a number; lines are named because numbering differs between boards: write "GPIO%s"`, s, s)
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return fmt.Errorf(`pin = %q has spaces in it: write the line's name alone, such as "GPIO17"`, s)
	}
	*n = lineName(s)
	return nil
}

// duration is a time span written with its unit ("50ms"). It rejects bare
// numbers, which time.Duration would take as nanoseconds: debounce = 50
// meaning 50 ns is a trap.
type duration time.Duration

// UnmarshalTOML implements BurntSushi/toml's Unmarshaler.
func (d *duration) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		return d.UnmarshalText([]byte(v))
	case int64:
		if v == 0 {
			*d = 0
			return nil
		}
		return fmt.Errorf(`%d has no unit: write it as a string with its unit, such as "%dms"`, v, v)
	}
	return fmt.Errorf(`want a duration as a string with its unit, such as "50ms", not a %T`, v)
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *duration) UnmarshalText(b []byte) error {
	s := string(b)
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return fmt.Errorf(`%q has no unit: write it with its unit, such as "%sms"`, s, s)
		}
		return fmt.Errorf(`%q is not a duration: write it with its unit, such as "50ms" or "1s"`, s)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative: a duration here must be zero or more", s)
	}
	*d = duration(v)
	return nil
}

// levelOf is the line level for an on/off state: High for on, unless the
// line is active-low.
func levelOf(on, inverted bool) gpio.Level {
	return gpio.Level(on != inverted)
}

// stateOf is the on/off state a line level stands for.
func stateOf(l gpio.Level, inverted bool) bool {
	return bool(l) != inverted
}
