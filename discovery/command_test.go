package discovery

import (
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pinion-home/pinion/drivers"
)

// Entities the command tests drive, one per way of taking commands.
var (
	cmdSwitch   = drivers.Entity{ID: "relay", Spec: drivers.Switch{Class: drivers.ClassOutlet}}
	cmdLight    = drivers.Entity{ID: "led", Spec: drivers.Light{Brightness: true}}
	cmdLamp     = drivers.Entity{ID: "lamp", Spec: &drivers.Light{}}
	cmdButton   = drivers.Entity{ID: "pulse", Spec: drivers.Button{}}
	cmdNumber   = drivers.Entity{ID: "setpoint", Spec: drivers.Number{Min: 5, Max: 30, Step: 0.5, Unit: drivers.Celsius}}
	cmdNegative = drivers.Entity{ID: "offset", Spec: drivers.Number{Min: -2.5, Max: 2.5, Step: 0.25}}
	cmdBlind    = drivers.Entity{ID: "blind", Spec: drivers.Cover{Class: "blind", Position: true}}
	cmdGarage   = drivers.Entity{ID: "garage", Spec: drivers.Cover{Class: "garage", NoStop: true}}
	cmdSelect   = drivers.Entity{ID: "mode", Spec: drivers.Select{Options: []string{"auto", "heat", "Eco mode", "1"}}}
)

func on() Command  { return Command{Command: drivers.Command{Action: drivers.ActionOn}} }
func off() Command { return Command{Command: drivers.Command{Action: drivers.ActionOff}} }
func toggle() Command {
	return Command{Toggle: true}
}
func action(a drivers.Action) Command { return Command{Command: drivers.Command{Action: a}} }
func setTo(v drivers.Value) Command {
	return Command{Command: drivers.Command{Action: drivers.ActionSet, Value: v}}
}
func onAt(b float64) Command {
	return Command{Command: drivers.Command{Action: drivers.ActionOn, Value: drivers.Num(b, "")}}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		e    drivers.Entity
		in   string
		want Command
		err  string // substring of the error; "" for success
	}{
		// The switch grammar of the spine, kept as it was.
		{e: cmdSwitch, in: "ON", want: on()},
		{e: cmdSwitch, in: "on", want: on()},
		{e: cmdSwitch, in: " On\n", want: on()},
		{e: cmdSwitch, in: "OFF", want: off()},
		{e: cmdSwitch, in: "off", want: off()},
		{e: cmdSwitch, in: "1", want: on()},
		{e: cmdSwitch, in: "0", want: off()},
		{e: cmdSwitch, in: "true", want: on()},
		{e: cmdSwitch, in: "FALSE", want: off()},
		{e: cmdSwitch, in: "TOGGLE", want: toggle()},
		{e: cmdSwitch, in: "toggle", want: toggle()},
		{e: cmdSwitch, in: `{"state":"ON"}`, want: on()},
		{e: cmdSwitch, in: `{"state": "off"}`, want: off()},
		{e: cmdSwitch, in: `{"state":true}`, want: on()},
		{e: cmdSwitch, in: `{"state":"TOGGLE"}`, want: toggle()},
		{e: cmdSwitch, in: `{"state":" on "}`, want: on()},
		{e: cmdSwitch, in: `{"state":false,"brightness":3}`, want: off()},
		{e: cmdSwitch, in: `{"state":"ON","brightness":"x","other":1.5}`, want: on()},
		{e: cmdSwitch, in: " {\"state\":\"ON\"}\n", want: on()},
		{e: cmdSwitch, in: "", err: `"" not understood; want ON, OFF, TOGGLE, 1, 0, true, false or {"state":"ON"}`},
		{e: cmdSwitch, in: "ONN", err: "not understood"},
		{e: cmdSwitch, in: "2", err: "not understood"},
		{e: cmdSwitch, in: "yes", err: "not understood"},
		{e: cmdSwitch, in: "o n", err: "not understood"},
		{e: cmdSwitch, in: "\u00a0ON", err: "not understood"},         // no Unicode white space
		{e: cmdSwitch, in: "falſe", err: "not understood"},            // no Unicode case folding: ſ is not s
		{e: cmdSwitch, in: "\u212aON", err: "not understood"},         // nor the Kelvin sign
		{e: cmdSwitch, in: `{"state":1}`, err: "string or a boolean"}, // a number is not a state
		{e: cmdSwitch, in: `{"state":null}`, err: "JSON null is not a value here"},
		{e: cmdSwitch, in: `{"state":"ON","state":null}`, err: `duplicate key "state"`},
		{e: cmdSwitch, in: `{"state":"ON","state":"OFF"}`, err: `duplicate key "state"`},
		{e: cmdSwitch, in: `{"state":"ON","x":null}`, err: "JSON null"},
		{e: cmdSwitch, in: `{"power":"ON"}`, err: `without a "state" key`},
		{e: cmdSwitch, in: `{"State":"ON"}`, err: `without a "state" key`},
		{e: cmdSwitch, in: `{"state":`, err: "invalid JSON"},
		{e: cmdSwitch, in: `{"state":"ON",}`, err: "invalid JSON"},
		{e: cmdSwitch, in: `{"state":"ON"} {"state":"OFF"}`, err: "invalid JSON"},
		{e: cmdSwitch, in: `{"state":"ON"}x`, err: "invalid JSON"},
		{e: cmdSwitch, in: `{"state":"{\"state\":\"ON\"}"}`, err: `nested JSON in "state"`},
		{e: cmdSwitch, in: `{"state":{"state":"ON"}}`, err: `nested JSON in "state"`},
		{e: cmdSwitch, in: `{"state":"ON","color":{"r":1}}`, err: `nested JSON in "color"`},
		{e: cmdSwitch, in: `{"state":["ON"]}`, err: "nested JSON"},
		{e: cmdSwitch, in: `{"state":"maybe"}`, err: `"state" "maybe" not understood`},
		{e: cmdSwitch, in: "null", err: "not understood"},
		{e: cmdSwitch, in: `["ON"]`, err: "not understood"},
		{e: cmdSwitch, in: strings.Repeat("x", 2000), err: "the payload of 2000 bytes is too long (at most 1024)"},
		{e: cmdSwitch, in: "ON" + strings.Repeat(" ", 1023), err: "too long"},
		{e: cmdSwitch, in: "O\xffN", err: "not valid UTF-8"},

		// Lights: the switch's words, and Home Assistant's JSON schema.
		{e: cmdLight, in: "ON", want: on()},
		{e: cmdLight, in: "off", want: off()},
		{e: cmdLight, in: "TOGGLE", want: toggle()},
		{e: cmdLight, in: `{"state":"ON"}`, want: on()},
		{e: cmdLight, in: `{"state":"OFF"}`, want: off()},
		{e: cmdLight, in: `{"state":"ON","brightness":128}`, want: onAt(128)},
		{e: cmdLight, in: `{"brightness":1,"state":true}`, want: onAt(1)},
		{e: cmdLight, in: `{"state":"ON","brightness":255}`, want: onAt(255)},
		{e: cmdLight, in: `{"state":"ON","brightness":2.55e2}`, want: onAt(255)},
		{e: cmdLight, in: `{"state":"ON","brightness":128,"transition":2}`, want: onAt(128)},
		{e: cmdLight, in: `{"state":"ON","brightness":0}`, err: `"brightness" 0 is not a whole number from 1 to 255 (send OFF to switch the light off)`},
		{e: cmdLight, in: `{"state":"ON","brightness":256}`, err: "not a whole number from 1 to 255"},
		{e: cmdLight, in: `{"state":"ON","brightness":12.5}`, err: "not a whole number from 1 to 255"},
		{e: cmdLight, in: `{"state":"ON","brightness":-1}`, err: "not a whole number from 1 to 255"},
		{e: cmdLight, in: `{"state":"ON","brightness":1e400}`, err: "not a whole number from 1 to 255"},
		{e: cmdLight, in: `{"state":"ON","brightness":"128"}`, err: `"brightness" must be a number from 1 to 255`},
		{e: cmdLight, in: `{"state":"ON","brightness":null}`, err: "JSON null"},
		{e: cmdLight, in: `{"state":"OFF","brightness":128}`, err: `a brightness goes only with "state":"ON"`},
		{e: cmdLight, in: `{"state":"TOGGLE","brightness":128}`, err: `a brightness goes only with "state":"ON"`},
		{e: cmdLight, in: `{"brightness":128}`, err: `without a "state" key`},
		{e: cmdLight, in: `{"state":"ON","color":{"r":255,"g":0,"b":0}}`, err: `nested JSON in "color"`},
		{e: cmdLight, in: "128", err: `not understood; want ON, OFF, TOGGLE, 1, 0, true, false, {"state":"ON"} or {"state":"ON","brightness":128} with a brightness from 1 to 255`},
		{e: cmdLamp, in: `{"state":"ON"}`, want: on()},
		{e: cmdLamp, in: `{"state":"ON","brightness":128}`, err: "this light cannot be dimmed"},

		// Buttons.
		{e: cmdButton, in: "PRESS", want: action(drivers.ActionPress)},
		{e: cmdButton, in: "press\n", want: action(drivers.ActionPress)},
		{e: cmdButton, in: "ON", err: `"ON" not understood; want PRESS`},
		{e: cmdButton, in: "", err: "want PRESS"},
		{e: cmdButton, in: `{"state":"PRESS"}`, err: "want PRESS"},

		// Numbers.
		{e: cmdNumber, in: "21.5", want: setTo(drivers.Num(21.5, drivers.Celsius))},
		{e: cmdNumber, in: "5", want: setTo(drivers.Num(5, drivers.Celsius))},
		{e: cmdNumber, in: "30.0", want: setTo(drivers.Num(30, drivers.Celsius))},
		{e: cmdNumber, in: " 22 \n", want: setTo(drivers.Num(22, drivers.Celsius))},
		{e: cmdNumber, in: "+7", want: setTo(drivers.Num(7, drivers.Celsius))},
		{e: cmdNumber, in: "2.2e1", want: setTo(drivers.Num(22, drivers.Celsius))},
		{e: cmdNumber, in: "21.", want: setTo(drivers.Num(21, drivers.Celsius))},
		{e: cmdNegative, in: ".5", want: setTo(drivers.Num(0.5, ""))},
		{e: cmdNegative, in: "-2.5", want: setTo(drivers.Num(-2.5, ""))},
		{e: cmdNegative, in: "-0", want: setTo(drivers.Num(0, ""))},
		{e: cmdNumber, in: "4.99", err: `"4.99": 4.99 is outside the range 5 to 30; want a number from 5 to 30 (°C)`},
		{e: cmdNumber, in: "31", err: "31 is outside the range 5 to 30"},
		{e: cmdNumber, in: "1e400", err: "not understood; want a number from 5 to 30 (°C)"},
		{e: cmdNumber, in: "NaN", err: "not understood"},
		{e: cmdNumber, in: "Inf", err: "not understood"},
		{e: cmdNumber, in: "0x10", err: "not understood"},
		{e: cmdNumber, in: "1_0", err: "not understood"},
		{e: cmdNumber, in: "20 °C", err: "not understood"},
		{e: cmdNumber, in: "20,5", err: "not understood"},
		{e: cmdNumber, in: ".", err: "not understood"},
		{e: cmdNumber, in: "1e", err: "not understood"},
		{e: cmdNumber, in: "--1", err: "not understood"},
		{e: cmdNumber, in: "", err: "not understood"},
		{e: cmdNumber, in: `{"value":21}`, err: "not understood"},
		{e: cmdNumber, in: "２１", err: "not understood"}, // fullwidth digits

		// Covers.
		{e: cmdBlind, in: "OPEN", want: action(drivers.ActionOpen)},
		{e: cmdBlind, in: "close", want: action(drivers.ActionClose)},
		{e: cmdBlind, in: "Stop", want: action(drivers.ActionStop)},
		{e: cmdBlind, in: "50", want: setTo(drivers.Num(50, ""))},
		{e: cmdBlind, in: "0", want: setTo(drivers.Num(0, ""))},
		{e: cmdBlind, in: "100", want: setTo(drivers.Num(100, ""))},
		{e: cmdBlind, in: "33.3", want: setTo(drivers.Num(33.3, ""))},
		{e: cmdBlind, in: "101", err: "position 101 is outside the range 0 to 100"},
		{e: cmdBlind, in: "-1", err: "position -1 is outside the range 0 to 100"},
		{e: cmdBlind, in: "UP", err: "not understood; want OPEN, CLOSE, STOP or a position from 0 (closed) to 100 (open)"},
		{e: cmdGarage, in: "OPEN", want: action(drivers.ActionOpen)},
		{e: cmdGarage, in: "STOP", err: "this cover cannot be stopped midway; want OPEN or CLOSE"},
		{e: cmdGarage, in: "50", err: `"50" not understood; want OPEN or CLOSE`},

		// Selects.
		{e: cmdSelect, in: "auto", want: setTo(drivers.Text("auto"))},
		{e: cmdSelect, in: "Eco mode", want: setTo(drivers.Text("Eco mode"))},
		{e: cmdSelect, in: "heat\n", want: setTo(drivers.Text("heat"))},
		{e: cmdSelect, in: "1", want: setTo(drivers.Text("1"))},
		{e: cmdSelect, in: "Auto", err: `"Auto" not understood; want exactly one of "auto", "heat", "Eco mode" or "1"`},
		{e: cmdSelect, in: "eco mode", err: "not understood"},
		{e: cmdSelect, in: "Eco  mode", err: "not understood"},
		{e: cmdSelect, in: "", err: "not understood"},
	}
	for _, tt := range tests {
		c, err := ParseCommand(tt.e, []byte(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseCommand(%s, %q) = %v, %v; want an error containing %q", tt.e.ID, tt.in, c, err, tt.err)
			} else if !strings.Contains(err.Error(), `"`+tt.e.ID+`"`) || !strings.Contains(err.Error(), "; want ") {
				t.Errorf("ParseCommand(%s, %q) error %q does not name the entity and say what it accepts", tt.e.ID, tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCommand(%s, %q): %v", tt.e.ID, tt.in, err)
			continue
		}
		if !sameCommand(c, tt.want) {
			t.Errorf("ParseCommand(%s, %q) = %+v, want %+v", tt.e.ID, tt.in, c, tt.want)
		}
	}
}

func sameCommand(a, b Command) bool {
	return a.Toggle == b.Toggle && a.Action == b.Action && a.Value.Equal(b.Value)
}

// Entities that take no commands are refused with drivers.ErrUnsupported,
// whatever the payload.
func TestParseCommandUnsupported(t *testing.T) {
	for _, e := range []drivers.Entity{
		{ID: "t", Spec: drivers.Sensor{}},
		{ID: "door", Spec: drivers.BinarySensor{}},
		{ID: "bell", Spec: drivers.Event{Types: []string{"press"}}},
		{ID: "none"},
		{ID: "nil", Spec: (*drivers.Switch)(nil)},
	} {
		_, err := ParseCommand(e, []byte("ON"))
		if !errors.Is(err, drivers.ErrUnsupported) || !strings.Contains(err.Error(), "takes no commands") {
			t.Errorf("ParseCommand(%s) = %v, want a drivers.ErrUnsupported that says it takes no commands", e.ID, err)
		}
	}
}

func TestCommandString(t *testing.T) {
	for _, tt := range []struct {
		c    Command
		want string
	}{
		{on(), "ON"},
		{toggle(), "TOGGLE"},
		{onAt(128), "ON 128"},
		{setTo(drivers.Text("auto")), "SET auto"},
	} {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

// fuzzEntities are the entities every fuzzed payload is parsed for.
var fuzzEntities = []drivers.Entity{cmdSwitch, cmdLight, cmdLamp, cmdButton, cmdNumber, cmdNegative, cmdBlind, cmdGarage, cmdSelect}

// FuzzParseCommand parses each payload for every kind of commandable
// entity and checks, with an oracle written independently of the parser:
// a payload either parses to a command the entity takes (an action of its
// component, a number within its range, an option of its list), and the
// one its documented form means, or is refused with an error that names
// the entity and says what it takes. A payload in one of the plain
// documented forms is never refused.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"ON", "off", "TOGGLE", "1", "0", "true", " On\n", "PRESS", "OPEN", "stop", "50", "21.5", "-2.5", ".5", "1e1",
		"auto", "Eco mode", "heat\t", `{"state":"ON"}`, `{"state":true}`, `{"state":null}`, `{"state":" on "}`,
		`{"state":"ON","brightness":128}`, `{"state":"ON","state":"OFF"}`, `{"state":{"a":1}}`, `{"state":"ON","brightness":2.55e2}`,
		"{", "\x00", "falſe", "\u212aON", "NaN", "0x1p4", strings.Repeat("9", 400),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range fuzzEntities {
			c, err := ParseCommand(e, b)
			want, documented := documentedCommand(e, b)
			if err != nil {
				if documented {
					t.Fatalf("ParseCommand(%s, %q) refused a documented form (%+v): %v", e.ID, b, want, err)
				}
				msg := err.Error()
				if !utf8.ValidString(msg) || !strings.Contains(msg, `"`+e.ID+`"`) || !strings.Contains(msg, "; want ") {
					t.Fatalf("ParseCommand(%s, %q) error %q is not valid UTF-8 or does not name the entity and say what it takes", e.ID, b, msg)
				}
				continue
			}
			if reason := acceptable(e, c); reason != "" {
				t.Fatalf("ParseCommand(%s, %q) = %+v, which the entity does not take: %s", e.ID, b, c, reason)
			}
			if len(b) > MaxCommandLen || !utf8.Valid(b) {
				t.Fatalf("ParseCommand(%s, %q) = %+v; want a payload too long or not UTF-8 refused", e.ID, b, c)
			}
			jsonWant, isJSON := jsonCommand(e, b)
			switch {
			case documented:
				if !sameCommand(c, want) {
					t.Fatalf("ParseCommand(%s, %q) = %+v, want %+v", e.ID, b, c, want)
				}
			case isJSON:
				if !sameCommand(c, jsonWant) {
					t.Fatalf("ParseCommand(%s, %q) = %+v, want %+v", e.ID, b, c, jsonWant)
				}
			default:
				t.Fatalf("ParseCommand(%s, %q) = %+v; not one of the documented forms", e.ID, b, c)
			}
		}
	})
}

// acceptable returns why c is not a command e takes, or "".
func acceptable(e drivers.Entity, c Command) string {
	if c.Toggle {
		if c.Action != 0 || !c.Value.IsZero() {
			return "a toggle carries an action"
		}
		switch specOf(e).(type) {
		case drivers.Switch, drivers.Light:
			return ""
		}
		return "only switches and lights toggle"
	}
	plain := c.Value.IsZero()
	switch s := specOf(e).(type) {
	case drivers.Switch:
		if (c.Action == drivers.ActionOn || c.Action == drivers.ActionOff) && plain {
			return ""
		}
	case drivers.Light:
		if c.Action == drivers.ActionOff && plain {
			return ""
		}
		if c.Action == drivers.ActionOn && plain {
			return ""
		}
		v := c.Value
		if c.Action == drivers.ActionOn && s.Brightness && v.Kind == drivers.ValueNumber && v.Unit == "" && v.Num >= 1 && v.Num <= 255 && v.Num == math.Trunc(v.Num) {
			return ""
		}
	case drivers.Button:
		if c.Action == drivers.ActionPress && plain {
			return ""
		}
	case drivers.Number:
		v := c.Value
		if c.Action == drivers.ActionSet && v.Kind == drivers.ValueNumber && v.Unit == s.Unit && v.Num >= s.Min && v.Num <= s.Max && !(v.Num == 0 && math.Signbit(v.Num)) {
			return ""
		}
	case drivers.Cover:
		switch c.Action {
		case drivers.ActionOpen, drivers.ActionClose:
			if plain {
				return ""
			}
		case drivers.ActionStop:
			if plain && !s.NoStop {
				return ""
			}
		case drivers.ActionSet:
			v := c.Value
			if s.Position && v.Kind == drivers.ValueNumber && v.Unit == "" && v.Num >= 0 && v.Num <= 100 {
				return ""
			}
		}
	case drivers.Select:
		if c.Action == drivers.ActionSet && c.Value.Kind == drivers.ValueText && slices.Contains(s.Options, c.Value.Text) {
			return ""
		}
	}
	return "not an action and value of its component"
}

// plainNumber is the documented number form, as a regular expression.
var plainNumber = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// documentedCommand is the documentation of ParseCommand written out
// plainly, for the payloads that are not JSON: the command a payload means
// for e, and whether it is one of the documented forms.
func documentedCommand(e drivers.Entity, b []byte) (Command, bool) {
	if len(b) > MaxCommandLen || !utf8.Valid(b) {
		return Command{}, false
	}
	s := strings.Trim(string(b), " \t\n\r\v\f")
	upper := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
	words := map[string]Command{}
	number := func(min, max float64, unit drivers.Unit) (Command, bool) {
		if !plainNumber.MatchString(s) {
			return Command{}, false
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < min || f > max {
			return Command{}, false
		}
		return setTo(drivers.Num(f+0, unit)), true // +0 turns -0 into 0
	}
	switch spec := specOf(e).(type) {
	case drivers.Switch, drivers.Light:
		for _, w := range []string{"ON", "1", "TRUE"} {
			words[w] = on()
		}
		for _, w := range []string{"OFF", "0", "FALSE"} {
			words[w] = off()
		}
		words["TOGGLE"] = toggle()
	case drivers.Button:
		words["PRESS"] = action(drivers.ActionPress)
	case drivers.Number:
		return number(spec.Min, spec.Max, spec.Unit)
	case drivers.Cover:
		words["OPEN"] = action(drivers.ActionOpen)
		words["CLOSE"] = action(drivers.ActionClose)
		if !spec.NoStop {
			words["STOP"] = action(drivers.ActionStop)
		}
		if spec.Position {
			if c, ok := number(0, 100, ""); ok {
				return c, true
			}
		}
	case drivers.Select:
		if slices.Contains(spec.Options, s) {
			return setTo(drivers.Text(s)), true
		}
		return Command{}, false
	}
	c, ok := words[upper]
	return c, ok
}

// jsonCommand is the documentation of the JSON forms written out plainly
// with encoding/json: for a switch or a light, an object whose "state" is
// a boolean or one of the words (and, for a dimmable light that goes on,
// a whole "brightness" from 1 to 255). It reports whether b is such a
// form; the parser may still refuse it for a duplicate key, a null or a
// nested value, which encoding/json lets through.
func jsonCommand(e drivers.Entity, b []byte) (Command, bool) {
	var rule brightnessRule
	switch s := specOf(e).(type) {
	case drivers.Switch:
		rule = ignoreBrightness
	case drivers.Light:
		rule = refuseBrightness
		if s.Brightness {
			rule = takeBrightness
		}
	default:
		return Command{}, false
	}
	var obj map[string]any
	if len(b) > MaxCommandLen || json.Unmarshal(b, &obj) != nil || obj == nil {
		return Command{}, false
	}
	var c Command
	switch v := obj["state"].(type) {
	case bool:
		c = off()
		if v {
			c = on()
		}
	case string:
		var ok bool
		if c, ok = documentedCommand(drivers.Entity{Spec: drivers.Switch{}}, []byte(v)); !ok {
			return Command{}, false
		}
	default:
		return Command{}, false
	}
	level, has := obj["brightness"]
	if !has || rule == ignoreBrightness {
		return c, true
	}
	n, ok := level.(float64)
	if rule == refuseBrightness || c.Action != drivers.ActionOn || !ok || n < 1 || n > 255 || n != math.Trunc(n) {
		return Command{}, false
	}
	c.Value = drivers.Num(n, "")
	return c, true
}

// FuzzParseCommandSpecs fuzzes the specs too: a number with any valid
// range, a select with any valid options. Whatever parses is within the
// range or one of the options, and is what the payload says.
func FuzzParseCommandSpecs(f *testing.F) {
	f.Add(5.0, 30.0, 0.5, "auto|heat|Eco mode", []byte("21.5"))
	f.Add(-1e300, 1e300, 0.0, "a", []byte("-1e299"))
	f.Add(0.0, 1.0, 0.001, "1|2|3", []byte("2"))
	f.Add(-0.5, 0.5, 0.25, "ON|OFF", []byte(" ON\n"))
	f.Fuzz(func(t *testing.T, min, max, stepSize float64, options string, b []byte) {
		number := drivers.Entity{ID: "n", Spec: drivers.Number{Min: min, Max: max, Step: stepSize}}
		sel := drivers.Entity{ID: "s", Spec: drivers.Select{Options: strings.Split(options, "|")}}
		for _, e := range []drivers.Entity{number, sel} {
			if len(checkSpec(e, Component(e))) > 0 {
				continue // Validate refuses it; the agent never parses for it
			}
			c, err := ParseCommand(e, b)
			want, documented := documentedCommand(e, b)
			if err != nil {
				if documented {
					t.Fatalf("ParseCommand(%+v, %q) refused a documented form (%+v): %v", e.Spec, b, want, err)
				}
				continue
			}
			if reason := acceptable(e, c); reason != "" {
				t.Fatalf("ParseCommand(%+v, %q) = %+v, which the entity does not take: %s", e.Spec, b, c, reason)
			}
			if !documented || !sameCommand(c, want) {
				t.Fatalf("ParseCommand(%+v, %q) = %+v, want %+v (documented: %v)", e.Spec, b, c, want, documented)
			}
		}
	})
}
