package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pinion-home/pinion/drivers"
)

// MaxCommandLen is the longest command payload ParseCommand reads, in
// bytes; real commands are a few bytes, and a longer one is refused.
const MaxCommandLen = 1024

// Command is a command payload parsed for its entity: the drivers.Command
// to hand to the device, or a toggle, which the agent turns into ActionOn
// or ActionOff from the entity's last state (TOGGLE never reaches a
// driver).
type Command struct {
	drivers.Command
	// Toggle asks for the opposite of the entity's current state; the
	// embedded Command is then zero.
	Toggle bool
}

// String formats c for logs: "ON", "SET 21.5", "TOGGLE".
func (c Command) String() string {
	if c.Toggle {
		return "TOGGLE"
	}
	return c.Command.String()
}

// ParseCommand parses a command payload for entity e, in the forms its
// discovery config makes Home Assistant send and that people type at a
// shell. Words are ASCII case-insensitive and may have ASCII white space
// around them:
//
//   - switch: ON, OFF, TOGGLE, 1, 0, true, false, or JSON whose "state"
//     is one of those words or a boolean: {"state":"ON"}, {"state":true};
//     other keys are ignored;
//   - light: the same, and Home Assistant's JSON-schema commands with a
//     brightness from 1 to 255 for a light with Brightness:
//     {"state":"ON","brightness":128} (ActionOn with a Num value);
//   - button: PRESS;
//   - number: a decimal number within [Min, Max] ("21.5", "-3", "1e3"),
//     ActionSet with a Num value in the spec's unit;
//   - cover: OPEN, CLOSE, STOP (not for a cover with NoStop) and, for a
//     cover with Position, a number from 0 to 100 (ActionSet);
//   - select: exactly one of the options (ActionSet with a Text value).
//
// Payloads longer than MaxCommandLen, not valid UTF-8, with a JSON null,
// a duplicate key, a nested object or array, or JSON inside a "state"
// string are refused. The error says what e accepts; for an entity that
// takes no commands it wraps drivers.ErrUnsupported.
func ParseCommand(e drivers.Entity, payload []byte) (Command, error) {
	component := Component(e)
	if !Commandable(e) {
		what := aComponent(component)
		return Command{}, fmt.Errorf("discovery: command for entity %q: %s takes no commands: %w", e.ID, what, drivers.ErrUnsupported)
	}
	c, err := parseCommand(specOf(e), payload)
	if err != nil {
		return Command{}, fmt.Errorf("discovery: command for %s %q: %w; want %s", component, e.ID, err, accepted(specOf(e)))
	}
	return c, nil
}

func parseCommand(spec drivers.Spec, payload []byte) (Command, error) {
	if len(payload) > MaxCommandLen {
		return Command{}, fmt.Errorf("the payload of %d bytes is too long (at most %d)", len(payload), MaxCommandLen)
	}
	if !utf8.Valid(payload) {
		return Command{}, fmt.Errorf("the payload %q is not valid UTF-8", truncate(string(payload)))
	}
	s := trimASCIISpace(string(payload))
	switch spec := spec.(type) {
	case drivers.Switch:
		return parseOnOff(s, ignoreBrightness)
	case drivers.Light:
		if spec.Brightness {
			return parseOnOff(s, takeBrightness)
		}
		return parseOnOff(s, refuseBrightness)
	case drivers.Button:
		if equalFoldASCII(s, payloadPress) {
			return Command{Command: drivers.Command{Action: drivers.ActionPress}}, nil
		}
	case drivers.Number:
		if f, ok := parseDecimal(s); ok {
			if err := checkRange(f, spec.Min, spec.Max); err != nil {
				return Command{}, fmt.Errorf("%q: %w", truncate(s), err)
			}
			return set(drivers.Num(f, spec.Unit)), nil
		}
	case drivers.Cover:
		switch {
		case equalFoldASCII(s, payloadOpen):
			return Command{Command: drivers.Command{Action: drivers.ActionOpen}}, nil
		case equalFoldASCII(s, payloadClose):
			return Command{Command: drivers.Command{Action: drivers.ActionClose}}, nil
		case equalFoldASCII(s, payloadStop):
			if spec.NoStop {
				return Command{}, fmt.Errorf("%q: this cover cannot be stopped midway", truncate(s))
			}
			return Command{Command: drivers.Command{Action: drivers.ActionStop}}, nil
		}
		if f, ok := parseDecimal(s); ok && spec.Position {
			if err := checkRange(f, 0, 100); err != nil {
				return Command{}, fmt.Errorf("%q: position %w", truncate(s), err)
			}
			return set(drivers.Num(f, "")), nil
		}
	case drivers.Select:
		if slices.Contains(spec.Options, s) {
			return set(drivers.Text(s)), nil
		}
	}
	return Command{}, fmt.Errorf("%q not understood", truncate(s))
}

func set(v drivers.Value) Command {
	return Command{Command: drivers.Command{Action: drivers.ActionSet, Value: v}}
}

// accepted describes the payloads an entity of spec takes, for errors.
func accepted(spec drivers.Spec) string {
	const onOffForms = `ON, OFF, TOGGLE, 1, 0, true, false or {"state":"ON"}`
	switch spec := spec.(type) {
	case drivers.Switch:
		return onOffForms
	case drivers.Light:
		if spec.Brightness {
			return `ON, OFF, TOGGLE, 1, 0, true, false, {"state":"ON"} or {"state":"ON","brightness":128} with a brightness from 1 to 255`
		}
		return onOffForms
	case drivers.Button:
		return payloadPress
	case drivers.Number:
		unit := ""
		if spec.Unit != "" {
			unit = " (" + string(spec.Unit) + ")"
		}
		return fmt.Sprintf("a number from %s to %s%s", fmtNum(spec.Min), fmtNum(spec.Max), unit)
	case drivers.Cover:
		words := "OPEN, CLOSE or STOP"
		if spec.NoStop {
			words = "OPEN or CLOSE"
		}
		if spec.Position {
			return strings.Replace(words, " or ", ", ", 1) + " or a position from 0 (closed) to 100 (open)"
		}
		return words
	case drivers.Select:
		return "exactly one of " + quoteList(spec.Options)
	}
	return "nothing"
}

// brightnessRule says what parseOnOff does with a JSON "brightness".
type brightnessRule int

const (
	// ignoreBrightness is a switch's rule: it ignores a brightness, as it
	// ignores any other key.
	ignoreBrightness brightnessRule = iota
	// refuseBrightness is the rule of a light that cannot be dimmed.
	refuseBrightness
	// takeBrightness is the rule of a light with Brightness.
	takeBrightness
)

// parseOnOff parses the switch grammar, and a light's JSON brightness as
// rule says.
func parseOnOff(s string, rule brightnessRule) (Command, error) {
	if !strings.HasPrefix(s, "{") {
		if c, ok := onOffWord(s); ok {
			return c, nil
		}
		return Command{}, fmt.Errorf("%q not understood", truncate(s))
	}
	members, err := parseFlatObject(s)
	if err != nil {
		return Command{}, fmt.Errorf("%q: %w", truncate(s), err)
	}
	var c Command
	var state, level *jsonValue
	for i := range members {
		switch members[i].key {
		case "state":
			state = &members[i].value
		case "brightness":
			level = &members[i].value
		}
	}
	if state == nil {
		return Command{}, fmt.Errorf(`%q: JSON without a "state" key`, truncate(s))
	}
	switch state.kind {
	case jsonBool:
		c = onOffCommand(state.b)
	case jsonString:
		word := trimASCIISpace(state.s)
		if strings.HasPrefix(word, "{") {
			return Command{}, fmt.Errorf(`%q: nested JSON in "state"`, truncate(s))
		}
		var ok bool
		if c, ok = onOffWord(word); !ok {
			return Command{}, fmt.Errorf(`%q: "state" %q not understood`, truncate(s), truncate(state.s))
		}
	default:
		return Command{}, fmt.Errorf(`%q: "state" must be a string or a boolean`, truncate(s))
	}
	switch {
	case level == nil || rule == ignoreBrightness:
		return c, nil
	case rule == refuseBrightness:
		return Command{}, fmt.Errorf("%q: this light cannot be dimmed", truncate(s))
	}
	if c.Action != drivers.ActionOn {
		return Command{}, fmt.Errorf(`%q: a brightness goes only with "state":"ON"`, truncate(s))
	}
	if level.kind != jsonNumber {
		return Command{}, fmt.Errorf(`%q: "brightness" must be a number from 1 to %d`, truncate(s), maxBrightness)
	}
	b, err := strconv.ParseFloat(level.s, 64)
	if err != nil || b != math.Trunc(b) || b < 1 || b > maxBrightness {
		return Command{}, fmt.Errorf(`%q: "brightness" %s is not a whole number from 1 to %d (send OFF to switch the light off)`, truncate(s), truncate(level.s), maxBrightness)
	}
	c.Value = drivers.Num(b, "")
	return c, nil
}

// onOffWord parses ON, OFF, TOGGLE, 1, 0, true and false, ASCII
// case-insensitive.
func onOffWord(s string) (Command, bool) {
	for _, w := range []string{"ON", "1", "TRUE"} {
		if equalFoldASCII(s, w) {
			return onOffCommand(true), true
		}
	}
	for _, w := range []string{"OFF", "0", "FALSE"} {
		if equalFoldASCII(s, w) {
			return onOffCommand(false), true
		}
	}
	if equalFoldASCII(s, "TOGGLE") {
		return Command{Toggle: true}, true
	}
	return Command{}, false
}

func onOffCommand(on bool) Command {
	if on {
		return Command{Command: drivers.Command{Action: drivers.ActionOn}}
	}
	return Command{Command: drivers.Command{Action: drivers.ActionOff}}
}

// jsonKind is the type of a scalar JSON value.
type jsonKind int

const (
	jsonString jsonKind = iota
	jsonNumber
	jsonBool
)

// jsonValue is a scalar JSON value: a string, a number (its text in s)
// or a boolean.
type jsonValue struct {
	kind jsonKind
	s    string
	b    bool
}

type jsonMember struct {
	key   string
	value jsonValue
}

// parseFlatObject parses s as one JSON object whose values are strings,
// numbers and booleans, in order. A null, a nested object or array, a
// duplicate key or anything after the object is an error: none has a
// meaning a command could rely on.
func parseFlatObject(s string) ([]jsonMember, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	invalid := func(err error) error { return fmt.Errorf("invalid JSON: %w", err) }
	tok, err := dec.Token()
	if err != nil {
		return nil, invalid(err)
	}
	if tok != json.Delim('{') {
		return nil, invalid(errors.New("not an object"))
	}
	var members []jsonMember
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, invalid(errors.New("a key is not a string"))
		}
		for _, m := range members {
			if m.key == key {
				return nil, fmt.Errorf("duplicate key %q", truncate(key))
			}
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, invalid(err)
		}
		var v jsonValue
		switch t := tok.(type) {
		case string:
			v = jsonValue{kind: jsonString, s: t}
		case json.Number:
			v = jsonValue{kind: jsonNumber, s: t.String()}
		case bool:
			v = jsonValue{kind: jsonBool, b: t}
		case nil:
			// Decoded as a boolean, null would read as false and switch
			// off a relay nobody asked to switch.
			return nil, fmt.Errorf("%q is null; JSON null is not a value here", truncate(key))
		default: // json.Delim: '{' or '['
			return nil, fmt.Errorf("nested JSON in %q: a command is one flat object", truncate(key))
		}
		members = append(members, jsonMember{key: key, value: v})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, invalid(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid(errors.New("something follows the object"))
	}
	return members, nil
}

// parseDecimal parses a plain decimal number: an optional sign, digits
// with an optional fraction (or a fraction alone), and an optional
// exponent. Hex, "Inf", "NaN", underscores and numbers too large for a
// float64 are not numbers here. -0 reads as 0.
func parseDecimal(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	intDigits := digits(s[i:])
	i += intDigits
	fracDigits := 0
	if i < len(s) && s[i] == '.' {
		i++
		fracDigits = digits(s[i:])
		i += fracDigits
	}
	if intDigits == 0 && fracDigits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		n := digits(s[i:])
		if n == 0 {
			return 0, false
		}
		i += n
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	if f == 0 {
		f = 0 // no negative zero
	}
	return f, true
}

// digits counts the ASCII digits at the start of s.
func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// equalFoldASCII reports whether s and upper are equal when ASCII letters
// of s are upper-cased; upper is upper case already. Unicode case folding
// is not applied, so "ſ" (long s) does not match "S".
func equalFoldASCII(s, upper string) bool {
	if len(s) != len(upper) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// trimASCIISpace trims ASCII white space (space, tab, newline, carriage
// return, vertical tab, form feed) from both ends of s.
func trimASCIISpace(s string) string {
	return strings.Trim(s, " \t\n\r\v\f")
}

// truncate shortens s, on a rune boundary, for errors and logs.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
