package discovery

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pinion-home/pinion/drivers"
)

func TestStatePayload(t *testing.T) {
	relay := drivers.Entity{ID: "relay", Spec: drivers.Switch{}}
	door := drivers.Entity{ID: "contact", Spec: drivers.BinarySensor{Class: drivers.ClassDoor}}
	temp := drivers.Entity{ID: "temperature", Spec: drivers.Sensor{Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1}}
	load := drivers.Entity{ID: "load", Spec: drivers.Sensor{State: drivers.StateMeasurement, Precision: -1}}
	host := drivers.Entity{ID: "host", Spec: drivers.Sensor{Precision: -1}}
	started := drivers.Entity{ID: "started", Spec: drivers.Sensor{Class: drivers.ClassTimestamp, Precision: -1}}
	day := drivers.Entity{ID: "day", Spec: drivers.Sensor{Class: "date", Precision: -1}}
	setpoint := drivers.Entity{ID: "setpoint", Spec: drivers.Number{Min: 5, Max: 30, Step: 0.5, Unit: drivers.Celsius}}
	duty := drivers.Entity{ID: "duty", Spec: &drivers.Number{Max: 100}}
	quarter := drivers.Entity{ID: "offset", Spec: drivers.Number{Min: 0.25, Max: 2.5, Step: 0.25}}
	tenth := drivers.Entity{ID: "tenth", Spec: drivers.Number{Min: 0.25, Max: 1.35, Step: 0.1}}
	led := drivers.Entity{ID: "led", Spec: drivers.Light{Brightness: true}}
	lamp := drivers.Entity{ID: "lamp", Spec: drivers.Light{}}
	blind := drivers.Entity{ID: "blind", Spec: drivers.Cover{Position: true}}
	garageDoor := drivers.Entity{ID: "garage", Spec: drivers.Cover{NoStop: true}}
	mode := drivers.Entity{ID: "mode", Spec: drivers.Select{Options: []string{"auto", "Eco mode"}}}
	button := drivers.Entity{ID: "pulse", Spec: drivers.Button{}}
	bell := drivers.Entity{ID: "bell", Spec: drivers.Event{Types: []string{"press"}}}

	tests := []struct {
		name    string
		e       drivers.Entity
		v       drivers.Value
		want    string
		wantErr string
	}{
		{"switch on", relay, drivers.Bool(true), "ON", ""},
		{"switch off", relay, drivers.Bool(false), "OFF", ""},
		{"binary sensor on", door, drivers.Bool(true), "ON", ""},
		{"unknown", temp, drivers.Value{}, "None", ""},
		{"unknown switch", relay, drivers.Value{}, "None", ""},
		{"precision rounds", temp, drivers.Num(21.46, drivers.Celsius), "21.5", ""},
		{"precision pads", temp, drivers.Num(21, drivers.Celsius), "21.0", ""},
		{"no negative zero", temp, drivers.Num(-0.04, drivers.Celsius), "0.0", ""},
		{"negative", temp, drivers.Num(-3.25, drivers.Celsius), "-3.2", ""}, // round half to even
		{"value without unit", temp, drivers.Num(20, ""), "20.0", ""},
		{"shortest", load, drivers.Num(0.30000000000000004, ""), "0.30000000000000004", ""},
		{"shortest integer", load, drivers.Num(3, ""), "3", ""},
		{"large number not in exponent form", load, drivers.Num(1e21, ""), "1000000000000000000000", ""},
		{"text", host, drivers.Text("garage-pi"), "garage-pi", ""},
		{"number on a text sensor", host, drivers.Num(2.50, ""), "2.5", ""},
		{"timestamp", started, drivers.Text("2024-05-01T07:30:00+02:00"), "2024-05-01T07:30:00+02:00", ""},
		{"date", day, drivers.Text("2024-05-01"), "2024-05-01", ""},
		{"spec as a pointer", duty, drivers.Num(42, ""), "42", ""},

		{"number at the step's decimals", setpoint, drivers.Num(21.5, drivers.Celsius), "21.5", ""},
		{"number rounded to the step's decimals", setpoint, drivers.Num(21.04, ""), "21.0", ""},
		{"number with step 1", duty, drivers.Num(42.4, ""), "42", ""},
		{"number with step 0.25", quarter, drivers.Num(1.125, ""), "1.12", ""},
		{"number at min", setpoint, drivers.Num(5, ""), "5.0", ""},
		{"rounding stays in range", tenth, drivers.Num(0.25, ""), "0.25", ""},
		{"rounding stays in range at max", tenth, drivers.Num(1.35, ""), "1.35", ""}, // 1.35 is 1.3500000000000000888 in binary
		{"rounding within the range", tenth, drivers.Num(1.25, ""), "1.2", ""},
		{"unknown number", duty, drivers.Value{}, "None", ""},

		{"dimmable light on", led, drivers.LightState(true, 128), `{"state":"ON","brightness":128}`, ""},
		{"dimmable light off keeps its brightness", led, drivers.LightState(false, 64.4), `{"state":"OFF","brightness":64}`, ""},
		{"dimmable light off, brightness unknown", led, drivers.LightState(false, 0), `{"state":"OFF"}`, ""},
		{"light state without brightness", led, drivers.Fields(drivers.Field{Name: drivers.FieldState, Value: drivers.Bool(true)}), `{"state":"ON"}`, ""},
		{"on/off light ignores the brightness", lamp, drivers.LightState(true, 300), `{"state":"ON"}`, ""},
		{"unknown light", led, drivers.Value{}, `{"state":null}`, ""},

		{"cover with position", blind, drivers.CoverState(drivers.CoverOpen, 50), `{"state":"open","position":50}`, ""},
		{"cover position rounded", blind, drivers.CoverState(drivers.CoverClosing, 33.6), `{"state":"closing","position":34}`, ""},
		{"cover without position", garageDoor, drivers.CoverState(drivers.CoverClosed, 0), `{"state":"closed"}`, ""},
		{"cover stopped", garageDoor, drivers.CoverState(drivers.CoverStopped, 70), `{"state":"stopped"}`, ""},
		{"unknown cover", garageDoor, drivers.Value{}, `{"state":null}`, ""},
		{"unknown cover with position", blind, drivers.Value{}, `{"state":null}`, ""},

		{"select", mode, drivers.Text("Eco mode"), "Eco mode", ""},
		{"unknown select", mode, drivers.Value{}, "None", ""},

		{"NaN", temp, drivers.Num(math.NaN(), drivers.Celsius), "", "NaN is not a number"},
		{"infinity", load, drivers.Num(math.Inf(-1), ""), "", "-Inf is not a number"},
		{"other unit", temp, drivers.Num(70, "°F"), "", `the value has unit "°F" but the entity is in "°C"`},
		{"unit on unitless sensor", load, drivers.Num(1, drivers.Percent), "", `has unit "%" but the entity has none`},
		{"number on switch", relay, drivers.Num(1, ""), "", "a switch takes on/off values, not a number"},
		{"text on binary sensor", door, drivers.Text("open"), "", "a binary_sensor takes on/off values, not text"},
		{"text on numeric sensor", temp, drivers.Text("warm"), "", "takes numbers, not text"},
		{"bool on sensor", host, drivers.Bool(true), "", "a sensor takes numbers or text, not an on/off"},
		{"timestamp without zone", started, drivers.Text("2024-05-01T07:30:00"), "", "RFC 3339"},
		{"number on timestamp", started, drivers.Num(1714541400, ""), "", "a timestamp sensor takes text"},
		{"bad date", day, drivers.Text("01.05.2024"), "", "YYYY-MM-DD"},
		{"text too long", host, drivers.Text(strings.Repeat("ä", 256)), "", "256 characters"},
		{"invalid UTF-8", host, drivers.Text("\xff"), "", "not valid UTF-8"},
		{"fields on a sensor", host, drivers.LightState(true, 1), "", "a sensor takes numbers or text, not a compound value"},
		{"no spec", drivers.Entity{ID: "x"}, drivers.Bool(true), "", "an entity without a spec has no state"},
		{"nil spec pointer", drivers.Entity{ID: "x", Spec: (*drivers.Switch)(nil)}, drivers.Bool(true), "", "an entity without a spec has no state"},

		{"number below min", setpoint, drivers.Num(4.5, ""), "", "4.5 is outside the range 5 to 30"},
		{"number above max", duty, drivers.Num(100.5, ""), "", "100.5 is outside the range 0 to 100"},
		{"number NaN", duty, drivers.Num(math.NaN(), ""), "", "NaN is not a number"},
		{"number in another unit", setpoint, drivers.Num(70, "°F"), "", `unit "°F" but the entity is in "°C"`},
		{"bool on number", duty, drivers.Bool(true), "", "a number takes a number, not an on/off"},

		{"bool on light", led, drivers.Bool(true), "", "a light takes drivers.LightState(on, brightness), not an on/off"},
		{"light brightness too high", led, drivers.LightState(true, 256), "", "brightness 256 is outside 1 to 255"},
		{"light on at zero brightness", led, drivers.LightState(true, 0.2), "", "of a light that is on must be 1 to 255"},
		{"light brightness NaN", led, drivers.LightState(true, math.NaN()), "", "brightness NaN is not a number"},
		{"light state not a bool", led, drivers.Fields(drivers.Field{Name: drivers.FieldState, Value: drivers.Text("ON")}), "", `a light's "state" must be an on/off`},
		{"light with a color", led, drivers.Fields(drivers.Field{Name: drivers.FieldState, Value: drivers.Bool(true)}, drivers.Field{Name: "color", Value: drivers.Text("red")}), "", `no part "color", only "state" or "brightness"`},
		{"light with state twice", led, drivers.Fields(drivers.Field{Name: drivers.FieldState, Value: drivers.Bool(true)}, drivers.Field{Name: drivers.FieldState, Value: drivers.Bool(false)}), "", `part "state" is there twice`},

		{"cover state unknown word", blind, drivers.CoverState("ajar", 10), "", `a cover's "state" must be one of "open", "opening", "closed", "closing" or "stopped"`},
		{"cover position out of range", blind, drivers.CoverState(drivers.CoverOpen, 101), "", "position: 101 is outside the range 0 to 100"},
		{"cover position missing", blind, drivers.Fields(drivers.Field{Name: drivers.FieldState, Value: drivers.Text(drivers.CoverOpen)}), "", "a cover with Position takes a position"},
		{"text on cover", blind, drivers.Text("open"), "", "a cover takes drivers.CoverState(state, position), not text"},

		{"select option not listed", mode, drivers.Text("eco mode"), "", `"eco mode" is not one of the options "auto" or "Eco mode"`},
		{"number on select", mode, drivers.Num(1, ""), "", "a select takes one of its options as text, not a number"},

		{"button has no state", button, drivers.Bool(true), "", "a button has no state"},
		{"event has no state", bell, drivers.Text("press"), "", "an event has no state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StatePayload(tt.e, tt.v)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("StatePayload = %q, want an error containing %q", got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `entity "`+tt.e.ID+`"`) {
					t.Fatalf("error %q does not name the entity and contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("StatePayload: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("StatePayload = %q, want %q", got, tt.want)
			}
			if strings.HasPrefix(tt.want, "{") && !json.Valid(got) {
				t.Errorf("StatePayload = %q, which is not JSON", got)
			}
		})
	}
}

// Stateless entities are refused with drivers.ErrUnsupported, so that the
// agent can tell a driver's mistake from a value that does not fit.
func TestStatePayloadUnsupported(t *testing.T) {
	for _, e := range []drivers.Entity{
		{ID: "b", Spec: drivers.Button{}},
		{ID: "e", Spec: drivers.Event{Types: []string{"press"}}},
		{ID: "n"},
	} {
		if _, err := StatePayload(e, drivers.Bool(true)); !errors.Is(err, drivers.ErrUnsupported) {
			t.Errorf("StatePayload(%s) = %v, want drivers.ErrUnsupported", Component(e), err)
		}
	}
}

func TestEventPayload(t *testing.T) {
	bell := drivers.Entity{ID: "bell", Spec: drivers.Event{Types: []string{"press", "double_press", `say "hi"`}}}
	tests := []struct {
		e         drivers.Entity
		eventType string
		want      string
		wantErr   string
	}{
		{bell, "press", `{"event_type":"press"}`, ""},
		{bell, "double_press", `{"event_type":"double_press"}`, ""},
		{bell, `say "hi"`, `{"event_type":"say \"hi\""}`, ""},
		{drivers.Entity{ID: "bell", Spec: &drivers.Event{Types: []string{"ring"}}}, "ring", `{"event_type":"ring"}`, ""},
		{bell, "long_press", "", `event "long_press" is not one of its types "press", "double_press" or "say \"hi\""`},
		{bell, "", "", `event "" is not one of its types`},
		{drivers.Entity{ID: "relay", Spec: drivers.Switch{}}, "press", "", "a switch has no events"},
		{drivers.Entity{ID: "x"}, "press", "", "an entity without a spec has no events"},
	}
	for _, tt := range tests {
		got, err := EventPayload(tt.e, tt.eventType)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `entity "`+tt.e.ID+`"`) {
				t.Errorf("EventPayload(%s, %q) = %q, %v; want an error naming the entity and containing %q", tt.e.ID, tt.eventType, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("EventPayload(%s, %q) = %q, %v; want %q", tt.e.ID, tt.eventType, got, err, tt.want)
		}
	}
	if _, err := EventPayload(drivers.Entity{ID: "relay", Spec: drivers.Switch{}}, "press"); !errors.Is(err, drivers.ErrUnsupported) {
		t.Errorf("EventPayload on a switch = %v, want drivers.ErrUnsupported", err)
	}
}

// FuzzStatePayload checks that a numeric state always reads back as the
// number it came from (within the rounding of the precision), and that
// text is passed on unchanged or refused.
func FuzzStatePayload(f *testing.F) {
	f.Add(21.46, 1, "garage")
	f.Add(-0.0001, 3, "")
	f.Add(1e300, -1, "ä")
	f.Add(math.SmallestNonzeroFloat64, 2, "\xff")
	f.Fuzz(func(t *testing.T, num float64, prec int, text string) {
		prec = prec%12 - 1 // -12..10: both "shortest" and fixed decimals
		e := drivers.Entity{ID: "x", Spec: drivers.Sensor{Unit: drivers.Volt, State: drivers.StateMeasurement, Precision: prec}}
		got, err := StatePayload(e, drivers.Num(num, drivers.Volt))
		if math.IsNaN(num) || math.IsInf(num, 0) {
			if err == nil {
				t.Fatalf("StatePayload(%v) = %q, want an error", num, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("StatePayload(%v, precision %d): %v", num, prec, err)
		}
		back, err := strconv.ParseFloat(string(got), 64)
		if err != nil {
			t.Fatalf("StatePayload(%v) = %q, which does not parse as a number: %v", num, got, err)
		}
		if prec < 0 {
			if back != num {
				t.Fatalf("StatePayload(%v) = %q, which reads back as %v", num, got, back)
			}
		} else if diff := math.Abs(back - num); diff > 0.5*math.Pow10(-prec)*(1+1e-9)+math.Abs(num)*1e-15 {
			t.Fatalf("StatePayload(%v, precision %d) = %q, off by %v", num, prec, got, diff)
		}

		te := drivers.Entity{ID: "t", Spec: drivers.Sensor{Precision: -1}}
		gotText, err := StatePayload(te, drivers.Text(text))
		valid := utf8.ValidString(text) && utf8.RuneCountInString(text) <= 255
		if valid != (err == nil) {
			t.Fatalf("StatePayload(text %q) error %v, want error: %v", text, err, !valid)
		}
		if err == nil && string(gotText) != text {
			t.Fatalf("StatePayload(text %q) = %q", text, gotText)
		}
	})
}

// The agent's own entities get their states from AgentStates: text the
// discovery config announces, on topics that can be typed by hand, and none
// for connectivity, which reads the node status instead.
func TestAgentStates(t *testing.T) {
	n := Node{ID: "garage"}
	started := time.Date(2024, 5, 1, 9, 30, 0, 0, time.FixedZone("CEST", 2*3600))
	msgs, err := AgentStates(n, "1.2.3", started)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range msgs {
		got[m.Topic] = string(m.Payload)
	}
	want := map[string]string{
		"pinion/garage/agent/started": "2024-05-01T07:30:00Z",
		"pinion/garage/agent/version": "1.2.3",
	}
	if !maps.Equal(got, want) {
		t.Errorf("AgentStates = %q, want %q", got, want)
	}

	// A version Home Assistant cannot take as a state is refused, not sent.
	if _, err := AgentStates(n, strings.Repeat("v", 300), started); err == nil {
		t.Error("AgentStates accepted a 300-character version; Home Assistant caps states at 255")
	}
}

// FuzzNumberState checks that a number's state is published exactly when
// the value is within the spec's range, rounded to the step's decimals,
// and that what is published reads back within the range.
func FuzzNumberState(f *testing.F) {
	f.Add(21.5, 5.0, 30.0, 0.5)
	f.Add(0.25, 0.25, 1.25, 0.1)
	f.Add(1.35, 0.25, 1.35, 0.1)
	f.Add(-3.0, -10.0, 10.0, 0.0)
	f.Add(1e300, -1e308, 1e308, 0.001)
	f.Fuzz(func(t *testing.T, num, min, max, stepSize float64) {
		s := drivers.Number{Min: min, Max: max, Step: stepSize}
		if len(checkNumber(s)) > 0 {
			return
		}
		e := drivers.Entity{ID: "n", Spec: s}
		got, err := StatePayload(e, drivers.Num(num, ""))
		inRange := num >= min && num <= max // false for NaN
		if inRange != (err == nil) {
			t.Fatalf("StatePayload(%v in [%v, %v]) = %q, %v; want an error: %v", num, min, max, got, err, !inRange)
		}
		if err != nil {
			return
		}
		back, perr := strconv.ParseFloat(string(got), 64)
		if perr != nil || back < min || back > max {
			t.Fatalf("StatePayload(%v in [%v, %v]) = %q, which does not read back within the range", num, min, max, got)
		}
		half := 0.5*math.Pow10(-stepDecimals(s))*(1+1e-9) + math.Abs(num)*1e-15
		if math.Abs(back-num) > half && back != min && back != max {
			t.Fatalf("StatePayload(%v, step %v) = %q, off by %v", num, stepSize, got, back-num)
		}
	})
}

// FuzzJSONStates checks the JSON states of lights and covers: valid JSON
// exactly when the value fits, with the parts Home Assistant reads.
func FuzzJSONStates(f *testing.F) {
	f.Add(true, 128.0, "open", 50.0)
	f.Add(false, 0.0, "stopped", 0.4)
	f.Add(true, 0.4, "ajar", 100.6)
	f.Add(false, math.NaN(), "", math.Inf(1))
	f.Fuzz(func(t *testing.T, on bool, level float64, state string, pos float64) {
		led := drivers.Entity{ID: "led", Spec: drivers.Light{Brightness: true}}
		got, err := StatePayload(led, drivers.LightState(on, level))
		n := math.Round(level)
		valid := n >= 0 && n <= 255 && !(on && n == 0) // false for NaN
		if valid != (err == nil) {
			t.Fatalf("light state (%v, %v) = %q, %v; want an error: %v", on, level, got, err, !valid)
		}
		if err == nil {
			var ls struct {
				State      string
				Brightness *float64
			}
			if json.Unmarshal(got, &ls) != nil || ls.State != onOff(on) || (n > 0) != (ls.Brightness != nil) || ls.Brightness != nil && *ls.Brightness != n {
				t.Fatalf("light state (%v, %v) = %s", on, level, got)
			}
		}

		blind := drivers.Entity{ID: "blind", Spec: drivers.Cover{Position: true}}
		got, err = StatePayload(blind, drivers.CoverState(state, pos))
		valid = slices.Contains(coverStates, state) && pos >= 0 && pos <= 100
		if valid != (err == nil) {
			t.Fatalf("cover state (%q, %v) = %q, %v; want an error: %v", state, pos, got, err, !valid)
		}
		if err == nil {
			var cs struct {
				State    string
				Position *float64
			}
			if json.Unmarshal(got, &cs) != nil || cs.State != state || cs.Position == nil || *cs.Position != math.Round(pos) {
				t.Fatalf("cover state (%q, %v) = %s", state, pos, got)
			}
		}
	})
}
