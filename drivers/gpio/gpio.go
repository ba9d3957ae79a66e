// Package gpio is pinion's driver for a single GPIO line. What the line is
// depends on its mode and a key or two:
//
//   - mode = "output": a relay, an LED or a buzzer, shown in Home Assistant
//     as a switch (entity "relay"). With pulse = "500ms" it is a button
//     instead (entity "pulse"): each press switches the line on for the
//     pulse and off again, as a gate or garage door opener wants.
//   - mode = "input": a button, a reed contact or a PIR sensor, shown as a
//     binary sensor (entity "input"). With report = "press" it is an event
//     entity instead (entity "press"), which fires the event "press" each
//     time the input becomes active, for a doorbell or a wall button that
//     triggers automations.
//   - mode = "pwm": a dimmable LED or LED strip on a PWM line, shown as a
//     light with brightness (entity "light"). With show_as = "number" it
//     is a number from 0 to 100 % instead (entity "duty", a slider), for
//     a share of power: a fan's speed, a valve, a heater's power.
//
// One [[device]] is one line, because a person thinks of "the garage door
// relay" and "the doorbell button" as separate things. The line is named
// as the board names it ("GPIO17"), never by number: chip and line numbers
// differ between boards and kernels, names do not. A line that another
// device provides, such as a pin of an I2C port expander, is named
// "<device id>/<line>" ("relays/GPA0") and takes every option a board's
// line does.
//
// Outputs do not glitch. The start level is set in the same call that
// makes the line an output (periph's Out), so the driver never drives any
// other level on the way; by default the line is left as it is when the
// agent stops, but only power_on = "restore" makes a restart of the agent
// keep what the relay drives: the line is then requested at the restored
// level directly, so an output that was on stays on without a glitch. That Out
// is one step on the hardware is the host's promise, and both of pinion's
// hosts keep it: the simulated board, and the agent's real host, which
// requests a character-device line as an output with its level in the
// same ioctl, on every /dev/gpiochip line (a Pi 5's included) and on the
// bcm283x pins of earlier Pis alike (periph's own Out would make the line
// an output first and set the level after). An output is never read back
// from the line: on Linux's GPIO character device, reading an output line
// turns it into an input with pull-up, which would drop the relay. The
// driver reports the state it last commanded instead; it holds an output
// as a gpio.PinOut, which has no Read.
//
// A pulse lasts exactly pulse: a press switches the line on and starts a
// waiter (drivers.Output.Go) that sleeps for the pulse on the host's
// clock and hands the end to the device's worker, which switches the line
// off. A press while a pulse is under way is ignored, so every pulse has
// the configured length and two quick presses make one pulse (two would
// start a garage door and stop it again). Closing the device during a
// pulse ends it: the line is left off.
//
// Inputs are edge-driven and debounced: a waiter waits for an edge, then
// for the debounce delay on the host's clock, and hands over to the
// worker, which reads the settled level and reports it if it changed. A
// line that cannot report edges is polled by a waiter instead (each change
// confirmed by a second read after the debounce delay), and the driver
// says so once in the log. An input with report = "press" reports no
// state: it fires "press" on each debounced change to active (ON, after
// inverted), so a press shorter than the debounce delay is not seen.
//
// A PWM light maps brightness 1–255 linearly to the duty cycle (255 is
// always on) and switches off with a duty cycle of 0 (the line held at its
// off level); it reports its state as a drivers.LightState with the last
// brightness, which ON without a brightness restores. A PWM number takes
// a percentage from 0 to 100 (a value out of range is refused), rounds
// it to a whole percent, its step, and maps it linearly to the duty cycle
// (100 is always on, 0 always off); it reports the percentage as a
// drivers.Num in drivers.Percent. Neither reads the line back: each
// reports what it last set, and a reopen restores that, not power_on.
//
// The driver starts no goroutines and takes no locks of its own: its
// worker runs Open, Command, Handle and Close, and its waiters only wait.
// (An edge waiter registers the line's Halt with context.AfterFunc, so
// that closing the device interrupts its wait for an edge at once.)
//
// The keys of a [[device]] table (SampleConfig shows each with its
// default, and a value the driver cannot use is a drivers.KeyError that
// says how to fix it):
//
//   - pin (all modes, required): the line's name, "GPIO17" or
//     "relays/GPA0".
//   - mode (required): "output", "input" or "pwm".
//   - inverted (all modes, false): ON is the line Low (for pwm, the duty
//     cycle is inverted).
//   - power_on ("output" without pulse, "pwm"; "off"): the state set at
//     start, "off", "on" (a light at full brightness, a number at 100 %)
//     or "restore": the state the entity last reported before the agent
//     stopped, which the host remembers (drivers.LastState), or off when
//     it knows none.
//   - on_exit ("output" without pulse, "pwm"; "keep"): the state left when
//     the agent stops, "keep", "off" or "on" (a light at its last
//     brightness, a number at 100 %).
//   - class ("output", "input"): the entity's device class: "switch" or
//     "outlet" for a switch; "identify", "restart", "update" or "" for a
//     pulse button; a binary sensor class or "" for an input; "button"
//     (the default), "doorbell", "motion" or "" for a press event.
//   - pulse ("output"; none): how long a press switches the line on, at
//     least "1ms"; with it the output is a button.
//   - pull ("input"; "up"): "up", "down" or "none".
//   - debounce ("input"; "50ms"): how long the level must settle.
//   - poll ("input"; "0s"): read the line this often instead of waiting
//     for edges, at least "1ms"; "0s" waits for edges.
//   - report ("input"; "state"): "state" for a binary sensor, "press" for
//     an event entity.
//   - frequency ("pwm"; "1kHz"): the PWM frequency, "1Hz" to "1MHz".
//   - show_as ("pwm"; "light"): "light" for a dimmable light, "number"
//     for a number from 0 to 100 %.
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
	"periph.io/x/conn/v3/physic"

	"github.com/pinion-home/pinion/drivers"
)

// SampleConfig is a commented sample configuration of the driver, shown
// by the agent's CLI: every key with its default.
//
//go:embed sample.toml
var SampleConfig string

// DriverName is the driver's name in a [[device]] table's driver key.
const DriverName = "gpio"

// Entity ids, one per kind of line. They appear in topics such as
// pinion/garage/door/relay/set, so they are part of the user interface and
// must not change.
const (
	// EntityRelay is the switch of an output line.
	EntityRelay = "relay"
	// EntityPulse is the button of an output line with a pulse.
	EntityPulse = "pulse"
	// EntityInput is the binary sensor of an input line.
	EntityInput = "input"
	// EntityPress is the event entity of an input line with
	// report = "press".
	EntityPress = "press"
	// EntityLight is the light of a PWM line.
	EntityLight = "light"
	// EntityDuty is the number of a PWM line with show_as = "number":
	// its duty cycle, from 0 to 100 %.
	EntityDuty = "duty"
)

// EventPress is the one event type of EntityPress: the input became
// active.
const EventPress = "press"

// Timing and PWM defaults.
const (
	// DefaultDebounce is how long an input must settle after an edge
	// before its level is reported. Mechanical buttons and reed contacts
	// bounce for a few milliseconds; 50 ms hides that and still feels
	// instant.
	DefaultDebounce = 50 * time.Millisecond
	// DefaultFallbackPoll is how often an input is read when its line
	// cannot report edges and no poll interval is configured.
	DefaultFallbackPoll = 100 * time.Millisecond
	// DefaultFrequency is the frequency of a PWM line, a light's or a
	// number's: fast enough that neither eyes nor most cameras see an LED
	// flicker, slow enough for the MOSFETs of common LED strip drivers and
	// for the Pi's DMA PWM.
	DefaultFrequency = physic.KiloHertz
	// minPoll keeps a mistyped poll interval ("1ns") from spinning a core.
	minPoll = time.Millisecond
	// minPulse is the shortest pulse: shorter ones are typos ("500ns"), and
	// no relay closes that fast.
	minPulse = time.Millisecond
	// minFrequency and maxFrequency bound a PWM frequency to what an LED
	// driver can use; a value outside is a typo.
	minFrequency = physic.Hertz
	maxFrequency = physic.MegaHertz
	// maxBrightness is the brightness of a light at full duty.
	maxBrightness = 255
)

func init() {
	drivers.Register(drivers.Driver{
		Name:        DriverName,
		New:         New,
		Sample:      SampleConfig,
		Description: "one GPIO line: a relay (switch), a momentary pulse (button), an input (binary sensor or press event), or a PWM line as a dimmed LED (light) or a share of power such as a fan's speed (number)",
	})
}

// config is the driver's part of a [[device]] table. Keys that only some
// modes take are pointers so that their presence can be checked: a key of
// another mode is a mistake worth reporting, not something to ignore.
type config struct {
	Pin       lineName   `toml:"pin"`
	Mode      string     `toml:"mode"`
	Inverted  bool       `toml:"inverted"`
	Class     *string    `toml:"class"`
	PowerOn   *string    `toml:"power_on"`
	OnExit    *string    `toml:"on_exit"`
	Pulse     *duration  `toml:"pulse"`
	Pull      *string    `toml:"pull"`
	Debounce  *duration  `toml:"debounce"`
	Poll      *duration  `toml:"poll"`
	Report    *string    `toml:"report"`
	Frequency *frequency `toml:"frequency"`
	ShowAs    *string    `toml:"show_as"`
}

// New is the driver's factory (drivers.Driver.New). It decodes and checks
// the device's configuration and returns an *Output, a *Pulse, an *Input,
// a *Light or a *Number; it does not touch the hardware, which is claimed
// in Open. Every bad value is a drivers.KeyError, and all of them are
// returned at once, with Decode's problems (keys of the wrong type,
// unknown keys) if it found any.
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
const modes = `"output" (a relay, shown as a switch, or with pulse a button), "input" (a button or contact, shown as a binary sensor, or with report = "press" an event) or "pwm" (a dimmable LED, shown as a light)`

// build checks the decoded configuration and makes the device, or returns
// a drivers.KeyError for every bad value. With a mode it cannot tell, it
// still checks every value whose meaning does not depend on the mode.
func (c *config) build(id string) (drivers.Device, []error) {
	var errs []error
	if c.Pin == "" {
		errs = append(errs, drivers.BadKey("pin", `is required: the line's name, such as pin = "GPIO17", or "<device>/<line>" for a line another device provides`))
	}
	var d drivers.Device
	var merrs []error
	switch c.Mode {
	case "output":
		d, merrs = c.output(id)
	case "input":
		d, merrs = c.input(id)
	case "pwm":
		d, merrs = c.pwm(id)
	case "":
		errs = append(errs, drivers.BadKey("mode", "is required: %s", modes))
	default:
		errs = append(errs, drivers.BadKey("mode", "%q is not a mode: use %s", c.Mode, modes))
	}
	if d == nil && merrs == nil {
		merrs = c.anyMode()
	}
	if errs = append(errs, merrs...); len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

// anyMode checks, for a configuration whose mode is missing or wrong, the
// values whose meaning does not depend on the mode.
func (c *config) anyMode() []error {
	var errs []error
	_, _, err := c.powerOn()
	errs = appendErr(errs, err)
	_, err = c.onExit()
	errs = appendErr(errs, err)
	_, err = c.pull()
	errs = appendErr(errs, err)
	_, err = c.poll()
	errs = appendErr(errs, err)
	_, err = c.report()
	errs = appendErr(errs, err)
	_, err = c.pulse()
	errs = appendErr(errs, err)
	_, err = c.frequency()
	errs = appendErr(errs, err)
	_, err = c.showAs()
	return appendErr(errs, err)
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}

// output checks the keys of an output line: a switch, or a button with
// pulse.
func (c *config) output(id string) (drivers.Device, []error) {
	errs := c.onlyFor("input", "pull", "debounce", "poll", "report")
	errs = append(errs, c.onlyFor("pwm", "frequency", "show_as")...)
	if c.Pulse != nil {
		return c.pulseOutput(id, errs)
	}
	d := &Output{id: id, pin: string(c.Pin), inverted: c.Inverted, class: drivers.ClassSwitch}
	var err error
	d.powerOn, d.restore, err = c.powerOn()
	errs = appendErr(errs, err)
	d.onExit, err = c.onExit()
	errs = appendErr(errs, err)
	if c.Class != nil {
		switch *c.Class {
		case drivers.ClassSwitch, drivers.ClassOutlet:
			d.class = *c.Class
		default:
			errs = append(errs, drivers.BadKey("class", `%q is not a switch class: use "switch" (the default) or "outlet"`, *c.Class))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

// buttonClasses are the classes a pulse output may take.
var buttonClasses = []string{"identify", "restart", "update"}

// pulseOutput checks the keys of an output line with a pulse.
func (c *config) pulseOutput(id string, errs []error) (drivers.Device, []error) {
	d := &Pulse{id: id, pin: string(c.Pin), inverted: c.Inverted}
	var err error
	d.pulse, err = c.pulse()
	errs = appendErr(errs, err)
	if c.PowerOn != nil {
		errs = append(errs, drivers.BadKey("power_on", "a pulse output always starts off: remove power_on, or remove pulse for a switch that stays on"))
	}
	if c.OnExit != nil {
		errs = append(errs, drivers.BadKey("on_exit", "a pulse output is always left off, even when the agent stops during a pulse: remove on_exit, or remove pulse for a switch that stays on"))
	}
	if c.Class != nil {
		if *c.Class != "" && !slices.Contains(buttonClasses, *c.Class) {
			errs = append(errs, drivers.BadKey("class", "%q is not a button class: use %s, or leave class out for a generic button", *c.Class, quoteList(buttonClasses)))
		}
		d.class = *c.Class
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

// eventClasses are the classes an input with report = "press" may take.
var eventClasses = []string{drivers.ClassButton, drivers.ClassDoorbell, drivers.ClassMotion}

// input checks the keys of an input line.
func (c *config) input(id string) (drivers.Device, []error) {
	errs := c.onlyFor("output", "power_on", "on_exit", "pulse")
	errs = append(errs, c.onlyFor("pwm", "frequency", "show_as")...)
	d := &Input{id: id, pin: string(c.Pin), inverted: c.Inverted, debounce: DefaultDebounce}
	var err error
	d.pull, err = c.pull()
	errs = appendErr(errs, err)
	d.poll, err = c.poll()
	errs = appendErr(errs, err)
	d.press, err = c.report()
	errs = appendErr(errs, err)
	if c.Debounce != nil {
		d.debounce = time.Duration(*c.Debounce)
	}
	if d.press {
		d.class = drivers.ClassButton
	}
	if c.Class != nil {
		d.class = *c.Class
		switch {
		case d.class == "":
		case d.press && !slices.Contains(eventClasses, d.class):
			errs = append(errs, drivers.BadKey("class", `%q is not an event class: use %s (the default), or "" for a generic event`, d.class, quoteList(eventClasses)))
		case !d.press && !slices.Contains(drivers.BinaryClasses, d.class):
			errs = append(errs, drivers.BadKey("class", "%q is not a binary sensor class: use one of %s, or leave class out for a generic on/off", d.class, quoteList(drivers.BinaryClasses)))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

// pwm checks the keys of a PWM line: a light, or a number with
// show_as = "number".
func (c *config) pwm(id string) (drivers.Device, []error) {
	errs := c.onlyFor("input", "pull", "debounce", "poll", "report")
	errs = append(errs, c.onlyFor("output", "pulse")...)
	p := pwmLine{id: id, pin: string(c.Pin), inverted: c.Inverted, full: maxBrightness}
	var err error
	p.powerOn, p.restore, err = c.powerOn()
	errs = appendErr(errs, err)
	p.onExit, err = c.onExit()
	errs = appendErr(errs, err)
	p.freq, err = c.frequency()
	errs = appendErr(errs, err)
	asNumber, err := c.showAs()
	errs = appendErr(errs, err)
	if c.Class != nil {
		what := "light"
		if asNumber {
			what = "number"
		}
		errs = append(errs, drivers.BadKey("class", "a PWM %s has no class: remove it", what))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if asNumber {
		p.full = maxPercent
		return &Number{p}, nil
	}
	return &Light{pwmLine: p}, nil
}

// powerOn is the power_on key: whether the output starts on, or whether it
// restores the state it had before the agent stopped.
func (c *config) powerOn() (on, restore bool, err error) {
	if c.PowerOn == nil {
		return false, false, nil
	}
	switch *c.PowerOn {
	case "off":
		return false, false, nil
	case "on":
		return true, false, nil
	case "restore":
		return false, true, nil
	}
	return false, false, drivers.BadKey("power_on", `%q is not a start state: use "off" (the default), "on" or "restore" (the state before the agent stopped)`, *c.PowerOn)
}

// exitAction is what an output does to its line on Close.
type exitAction int

const (
	exitKeep exitAction = iota // leave the line as it is
	exitOff
	exitOn
)

// onExit is the on_exit key.
func (c *config) onExit() (exitAction, error) {
	if c.OnExit == nil {
		return exitKeep, nil
	}
	switch *c.OnExit {
	case "keep":
		return exitKeep, nil
	case "off":
		return exitOff, nil
	case "on":
		return exitOn, nil
	}
	return exitKeep, drivers.BadKey("on_exit", `%q is not an exit state: use "keep" (the default: leave the line as it is), "off" or "on"`, *c.OnExit)
}

// pulse is the pulse key.
func (c *config) pulse() (time.Duration, error) {
	if c.Pulse == nil {
		return 0, nil
	}
	p := time.Duration(*c.Pulse)
	if p < minPulse {
		return 0, drivers.BadKey("pulse", `%q is too short: a pulse lasts at least "1ms" (a relay needs some 10ms to close; "500ms" suits most openers); remove pulse for a switch that stays on`, p)
	}
	return p, nil
}

// pull is the pull key; an input pulls up by default.
func (c *config) pull() (gpio.Pull, error) {
	if c.Pull == nil {
		return gpio.PullUp, nil
	}
	switch *c.Pull {
	case "up":
		return gpio.PullUp, nil
	case "down":
		return gpio.PullDown, nil
	case "none":
		return gpio.Float, nil
	}
	return gpio.PullUp, drivers.BadKey("pull", `%q is not a pull: use "up" (the default, for a button or contact to ground), "down" or "none" (the circuit has its own resistor)`, *c.Pull)
}

// poll is the poll key: 0 waits for edges.
func (c *config) poll() (time.Duration, error) {
	if c.Poll == nil {
		return 0, nil
	}
	p := time.Duration(*c.Poll)
	if p != 0 && p < minPoll {
		return 0, drivers.BadKey("poll", `%q is too short: use at least "1ms", or "0s" to wait for edges`, p)
	}
	return p, nil
}

// report is the report key: whether the input fires press events rather
// than reporting a state.
func (c *config) report() (press bool, err error) {
	return either("report", c.Report, "state", "press", `a way to report: use "state" (the default: a binary sensor, ON while the input is active) or "press" (an event entity that fires "press" each time the input becomes active)`)
}

// frequency is the frequency key.
func (c *config) frequency() (physic.Frequency, error) {
	if c.Frequency == nil {
		return DefaultFrequency, nil
	}
	f := physic.Frequency(*c.Frequency)
	if f < minFrequency || f > maxFrequency {
		return 0, drivers.BadKey("frequency", `%q is out of range: use a frequency from "1Hz" to "1MHz", such as "1kHz" (the default) for an LED`, f.String())
	}
	return f, nil
}

// showAs is the show_as key: whether a PWM line is a number rather than
// a light.
func (c *config) showAs() (number bool, err error) {
	return either("show_as", c.ShowAs, "light", "number", `a way to show a PWM line: use "light" (the default: a dimmable light, for an LED) or "number" (a number from 0 to 100 %, for a fan's speed, a valve or a heater's power)`)
}

// either decodes key, whose value v is one of two words: def, the default
// (false), or alt (true). Any other value is a KeyError saying it is not
// what, which names the choice and how to make it.
func either(key string, v *string, def, alt, what string) (bool, error) {
	switch {
	case v == nil || *v == def:
		return false, nil
	case *v == alt:
		return true, nil
	}
	return false, drivers.BadKey(key, "%q is not %s", *v, what)
}

// keyModes are the modes that take each key that not every mode takes.
var keyModes = map[string][]string{
	"power_on":  {"output", "pwm"},
	"on_exit":   {"output", "pwm"},
	"pulse":     {"output"},
	"pull":      {"input"},
	"debounce":  {"input"},
	"poll":      {"input"},
	"report":    {"input"},
	"frequency": {"pwm"},
	"show_as":   {"pwm"},
}

// onlyFor returns an error for each of keys that is set, in the order
// given, saying which modes take it; mode is the one to suggest.
func (c *config) onlyFor(mode string, keys ...string) []error {
	set := map[string]bool{
		"power_on": c.PowerOn != nil, "on_exit": c.OnExit != nil, "pulse": c.Pulse != nil,
		"pull": c.Pull != nil, "debounce": c.Debounce != nil, "poll": c.Poll != nil,
		"report": c.Report != nil, "frequency": c.Frequency != nil,
		"show_as": c.ShowAs != nil,
	}
	var errs []error
	for _, k := range keys {
		if set[k] {
			errs = append(errs, drivers.BadKey(k, "is only for mode = %s: remove it, or set mode = %q", quoteList(keyModes[k]), mode))
		}
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
// see text. A name with a '/' is a line another device provides,
// "<device id>/<line>".
func (n *lineName) UnmarshalText(b []byte) error {
	s := string(b)
	if isDigits(s) {
		return fmt.Errorf(`pin = %q is a number; lines are named because numbering differs between boards: write "GPIO%s"`, s, s)
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return fmt.Errorf(`pin = %q has spaces in it: write the line's name alone, such as "GPIO17"`, s)
	}
	if strings.Contains(s, "/") {
		dev, _, ok := drivers.SplitProvided(s)
		if !ok || !validID(dev) {
			return fmt.Errorf(`pin = %q: a line of another device is written "<device id>/<line>", such as "relays/GPA0"; a line of the board has no '/' ("GPIO17")`, s)
		}
	}
	*n = lineName(s)
	return nil
}

func isDigits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

// validID reports whether s is a device id: [a-zA-Z0-9_-], not empty.
func validID(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) < 0
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

// frequency is a frequency written with its unit ("1kHz"). A bare number
// is refused rather than taken as hertz, as durations refuse theirs, so
// that every value of the driver reads the same way.
type frequency physic.Frequency

// UnmarshalTOML implements BurntSushi/toml's Unmarshaler.
func (f *frequency) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		return f.UnmarshalText([]byte(v))
	case int64, float64:
		return fmt.Errorf(`%v has no unit: write it as a string with its unit, such as "%vHz"`, v, v)
	}
	return fmt.Errorf(`want a frequency as a string with its unit, such as "1kHz", not a %T`, v)
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *frequency) UnmarshalText(b []byte) error {
	s := string(b)
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return fmt.Errorf(`%q has no unit: write it with its unit, such as "%sHz"`, s, s)
	}
	var v physic.Frequency
	if err := v.Set(s); err != nil {
		return fmt.Errorf(`%q is not a frequency (%v): write it with its unit, such as "1kHz" or "500Hz"`, s, err)
	}
	if !strings.HasSuffix(strings.ToLower(s), "hz") {
		return fmt.Errorf(`%q is not a frequency: write it with its unit, such as "1kHz" or "500Hz"`, s)
	}
	*f = frequency(v)
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

// prefixed formats an error with the driver and device, as every error of
// the driver is: gpio "door": ...
func prefixed(id, format string, args ...any) error {
	return fmt.Errorf("gpio %q: %w", id, fmt.Errorf(format, args...))
}

// notOpen is the error of a command before Open or after Close.
func notOpen(id, pin string) error {
	return prefixed(id, "%s is not open", pin)
}

// unsupported is the error of a command for an entity the device does not
// have, or an action its entity does not take.
func unsupported(id string, entity, have string, c drivers.Command) error {
	if entity != have {
		return prefixed(id, "command %s for %q: no such entity (this device has %q): %w", c, entity, have, drivers.ErrUnsupported)
	}
	return prefixed(id, "command %s for %q: %w", c, entity, drivers.ErrUnsupported)
}

func onOff(on bool) string {
	return drivers.Bool(on).String()
}
