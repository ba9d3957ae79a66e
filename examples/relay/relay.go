// Package relay is an example of a custom pinion driver, "example-relay": a
// relay board of several channels, each driven by one GPIO line, such as the
// common 2-, 4- and 8-channel boards with optocoupled inputs. It is written
// to be read by someone writing their own driver; docs/writing-drivers.md
// walks through it.
//
// One [[device]] is the whole board, because a person thinks of "the
// blinds relays" as one thing. Each channel is a switch entity: "ch1" is the
// first pin, named "Channel 1" in Home Assistant, and so on.
//
//	[[device]]
//	id = "blinds"
//	driver = "example-relay"
//	pins = ["GPIO5", "GPIO6"]
//	inverted = true   # most boards switch a channel on when its input is Low
//	interlock = true  # at most one channel on: up and down never together
//
// With interlock, switching a channel on first switches every other channel
// off, so a motor's up and down relays are never on together. Home
// Assistant hears of the channels switched off at once: Command reports
// every channel it drives through the drivers.Output it was opened with,
// the side effects as well as the commanded channel. The board needs no
// goroutine, lock or channel of its own for that: the agent's worker runs
// Open, Command and Close one at a time.
//
// The board never glitches: Open makes each line an output already at the
// off level (one call to periph's Out, the first call on the line), so no
// channel clicks on at start. A line is never read back: on Linux's GPIO
// character device, reading an output turns it into an input, which would
// drop the relay. The device reports the states it commanded instead. Close
// switches every channel off, as the board starts, so that nothing keeps
// running while no agent watches over it.
//
// # Compiling it in
//
// The driver registers itself from init(), so importing the package is all
// it takes. Copy cmd/agent/main.go and add the import, as
// examples/cmd/pinion-custom does:
//
//	import (
//		"github.com/pinion-home/pinion/agent"
//		_ "github.com/pinion-home/pinion/drivers/all"
//		_ "github.com/pinion-home/pinion/examples/relay"
//	)
//
//	func main() { agent.Main() }
//
// Then `pinion -sample example-relay` prints SampleConfig. The registration
// is in register.go on its own; everything a Go plugin's wrapper needs to
// build the same drivers.Driver record (DriverName, Description, New and
// SampleConfig) is exported.
package relay

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
)

// DriverName is the name the driver registers under: the value of driver =
// in a [[device]] table. Custom drivers should take a name that no built-in
// driver will take; a prefix of your own does that.
const DriverName = "example-relay"

// Description is the line `pinion -drivers` shows for the driver.
const Description = "example: a relay board of several channels on GPIO lines, with an optional interlock"

// SampleConfig is a commented sample [[device]] table, shown by
// `pinion -sample example-relay`: every key, with the optional ones
// commented out at their defaults.
//
//go:embed sample.toml
var SampleConfig string

// config is the driver's part of a [[device]] table, decoded strictly by
// Config.Decode: a key not listed here is an error naming its line.
type config struct {
	Pins      []pinName `toml:"pins"`
	Inverted  bool      `toml:"inverted"`
	Interlock bool      `toml:"interlock"`
}

// New is the driver's factory, drivers.Driver's New. It decodes and checks
// the configuration and returns a *Board. It touches no hardware: the
// agent calls it for -check and -print-discovery on any machine.
func New(cfg drivers.Config) (drivers.Device, error) {
	if cfg.Decode == nil {
		return nil, fmt.Errorf("%s %q: no configuration to decode (Config.Decode is nil)", DriverName, cfg.ID)
	}
	var c config
	var errs []error
	if err := cfg.Decode(&c); err != nil {
		// Keys of the wrong type or unknown, each with its line. The
		// other keys are decoded: check them too, so that the user sees
		// every problem in one go.
		errs = append(errs, err)
	}
	b, verrs := c.board(cfg.ID)
	if errs = append(errs, verrs...); len(errs) > 0 {
		return nil, fmt.Errorf("%s %q: %w", DriverName, cfg.ID, errors.Join(errs...))
	}
	return b, nil
}

// board checks the decoded keys and builds the device. It checks them all
// and returns a drivers.KeyError for each bad value, so that the agent
// reports every one at its own line in one go.
func (c *config) board(id string) (*Board, []error) {
	if len(c.Pins) == 0 {
		return nil, []error{drivers.BadKey("pins", `is required: the GPIO lines of the board's inputs in channel order, such as pins = ["GPIO5", "GPIO6"]`)}
	}
	var errs []error
	b := &Board{id: id, inverted: c.Inverted, interlock: c.Interlock, channels: map[string]int{}}
	for i, p := range c.Pins {
		key := fmt.Sprintf("pins[%d]", i)
		if p == "" {
			errs = append(errs, drivers.BadKey(key, `is empty: write the line's name, such as "GPIO5"`))
			continue
		}
		if first := slices.Index(c.Pins[:i], p); first >= 0 {
			errs = append(errs, drivers.BadKey(key, "%q is both channel %d and channel %d: each channel needs a line of its own", p, first+1, i+1))
			continue
		}
		b.pins = append(b.pins, string(p))
		b.channels[EntityID(i+1)] = i
	}
	if c.Interlock && len(c.Pins) < 2 {
		errs = append(errs, drivers.BadKey("interlock", "true needs at least two pins: it keeps all but one channel off"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return b, nil
}

// EntityID is the id of channel n (counted from 1): "ch1", "ch2", … It is
// part of topics such as pinion/<node>/<device>/ch1/set, so it must never
// change.
func EntityID(n int) string { return "ch" + strconv.Itoa(n) }

// Board is a relay board: one switch entity per channel. It implements
// drivers.Device, drivers.Commander and drivers.Claimer.
//
// It has no lock and starts no goroutine: the agent runs Open, Command and
// Close on the device's worker, one at a time, and nothing else touches
// the board.
type Board struct {
	id        string
	pins      []string
	inverted  bool
	interlock bool
	channels  map[string]int // entity id → channel index

	// lines are PinOuts, not PinIOs, so that the compiler refuses a Read
	// of an output. nil while the board is not open.
	lines []gpio.PinOut
	// on is each channel's state, as last driven.
	on []bool
	// out is where the board reports states, from Open until Close
	// returns.
	out drivers.Output
}

// Info implements drivers.Device.
func (b *Board) Info() drivers.Info {
	return drivers.Info{Model: fmt.Sprintf("%d-channel relay board (%s)", len(b.pins), strings.Join(b.pins, ", "))}
}

// Entities implements drivers.Device: a switch per channel. It depends on
// the configuration only, never on the hardware.
func (b *Board) Entities() []drivers.Entity {
	es := make([]drivers.Entity, len(b.pins))
	for i := range b.pins {
		es[i] = drivers.Entity{
			ID:   EntityID(i + 1),
			Name: "Channel " + strconv.Itoa(i+1),
			Spec: drivers.Switch{Class: drivers.ClassSwitch},
		}
	}
	return es
}

// Claims implements drivers.Claimer: the agent refuses a config in which
// another device uses one of the board's lines.
func (b *Board) Claims() []drivers.Resource {
	rs := make([]drivers.Resource, len(b.pins))
	for i, p := range b.pins {
		rs[i] = drivers.GPIOLine(p)
	}
	return rs
}

// Open implements drivers.Device. It makes every line an output at the
// off level in one call, the first call on the line, so no channel ever
// clicks on at start, and reports every channel off. Opening again (the
// agent reopens a device after Close) starts over the same way.
func (b *Board) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	lines := make([]gpio.PinOut, len(b.pins))
	for i, name := range b.pins {
		p, err := drivers.GPIO(h, name)
		if err != nil {
			return b.errorf("open channel %d: %w", i+1, err)
		}
		if err := p.Out(b.level(false)); err != nil {
			return b.errorf("open channel %d: %s: set as output off: %w", i+1, name, err)
		}
		lines[i] = p
	}
	b.lines, b.on, b.out = lines, make([]bool, len(lines)), out
	for i := range lines {
		out.State(EntityID(i+1), drivers.Bool(false))
	}
	return nil
}

// Command implements drivers.Commander. A channel takes ActionOn and
// ActionOff; any other entity or action is an error wrapping
// drivers.ErrUnsupported. With interlock, switching a channel on first
// switches the others off, and if one of them fails to go off, the
// commanded channel stays off. Every channel it drives is reported through
// the Output as soon as its line took the level: the side effects of a
// command reach Home Assistant as its result does.
func (b *Board) Command(ctx context.Context, entity string, c drivers.Command) error {
	ch, ok := b.channels[entity]
	if !ok {
		return b.errorf("%s %v: no such channel (this board has ch1 to ch%d): %w", entity, c, len(b.pins), drivers.ErrUnsupported)
	}
	if c.Action != drivers.ActionOn && c.Action != drivers.ActionOff {
		return b.errorf("%s %v: a channel takes ON or OFF: %w", entity, c, drivers.ErrUnsupported)
	}
	if b.lines == nil {
		return b.errorf("%s %v: the board is not open", entity, c)
	}
	on := c.Action == drivers.ActionOn
	if on && b.interlock {
		for i := range b.lines {
			if i == ch || !b.on[i] {
				continue
			}
			if err := b.drive(i, false); err != nil {
				return b.errorf("%s ON: interlock: switch %s off first: %w", entity, EntityID(i+1), err)
			}
		}
	}
	if err := b.drive(ch, on); err != nil {
		return b.errorf("%s %v: %w", entity, c, err)
	}
	return nil
}

// Close implements drivers.Device. It switches every channel off, so that
// nothing (a motor, a heater) keeps running unsupervised, and reports
// them off. It goes on past a channel that fails, and returns every
// failure. The host releases the lines itself. Close on a board that is
// not open (never opened, or its Open failed) does nothing.
func (b *Board) Close() error {
	if b.lines == nil {
		return nil
	}
	var errs []error
	for i := range b.lines {
		if err := b.drive(i, false); err != nil {
			errs = append(errs, fmt.Errorf("switch %s off: %w", EntityID(i+1), err))
		}
	}
	b.lines, b.out = nil, nil
	if len(errs) > 0 {
		return b.errorf("close: %w", errors.Join(errs...))
	}
	return nil
}

// drive sets channel i's line and, once the line took it, records and
// reports the channel's state. A line that failed keeps its last state.
func (b *Board) drive(i int, on bool) error {
	if err := b.lines[i].Out(b.level(on)); err != nil {
		return fmt.Errorf("%s: %w", b.pins[i], err)
	}
	b.on[i] = on
	b.out.State(EntityID(i+1), drivers.Bool(on))
	return nil
}

// level is the line level that switches a channel on or off: High for on,
// unless the board's inputs are active-low.
func (b *Board) level(on bool) gpio.Level {
	return gpio.Level(on != b.inverted)
}

// errorf prefixes an error with the driver and the device, as every error
// of a pinion driver is: example-relay "blinds": ...
func (b *Board) errorf(format string, args ...any) error {
	return fmt.Errorf("%s %q: %w", DriverName, b.id, fmt.Errorf(format, args...))
}

// pinName is a GPIO line's name. It decodes itself so that a number, the
// most common mistake, gets an error that shows the fix.
type pinName string

// UnmarshalTOML implements BurntSushi/toml's Unmarshaler, which sees the
// value's TOML type: pins = [5] must say `write "GPIO5"`, not "type
// mismatch".
func (p *pinName) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		if v != "" && strings.Trim(v, "0123456789") == "" {
			return fmt.Errorf(`%q is a number; lines are named because numbering differs between boards: write "GPIO%s"`, v, v)
		}
		if strings.IndexFunc(v, unicode.IsSpace) >= 0 {
			return fmt.Errorf(`%q has spaces in it: write the line's name alone, such as "GPIO5"`, v)
		}
		*p = pinName(v)
		return nil
	case int64:
		return fmt.Errorf(`%d is a number; lines are named because numbering differs between boards: write "GPIO%d"`, v, v)
	}
	return fmt.Errorf(`want the line's name as a string, such as "GPIO5", not a %T`, v)
}

// The compiler checks that Board has every capability the package
// documentation promises.
var (
	_ drivers.Device    = (*Board)(nil)
	_ drivers.Commander = (*Board)(nil)
	_ drivers.Claimer   = (*Board)(nil)
)
