package discovery

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pinion-home/pinion/drivers"
)

// PayloadNone is the state payload Home Assistant reads as "unknown" on
// every component pinion uses.
const PayloadNone = "None"

// maxStateLen is Home Assistant's limit on a state, in characters; a longer
// one is refused and the entity shows "unknown".
const maxStateLen = 255

// StatePayload formats v the way e's discovery config tells Home Assistant
// to read it:
//
//   - switch and binary_sensor: "ON" or "OFF" for a Bool;
//   - numeric sensor: the number with the spec's Precision decimals, or
//     the shortest representation that reads back exactly if Precision is
//     -1;
//   - text sensor: the text as is (a timestamp sensor's text must be
//     RFC 3339, a date sensor's YYYY-MM-DD);
//   - number: the number, within [Min, Max], with as many decimals as the
//     spec's Step has;
//   - light: JSON, {"state":"ON","brightness":128} from LightState, the
//     brightness only for a light with Brightness;
//   - cover: JSON, {"state":"open","position":50} from CoverState, the
//     position only for a cover with Position;
//   - select: the Text, which must be one of the options;
//   - the zero Value: what Home Assistant reads as unknown ("None", or
//     {"state":null} for a light or a cover).
//
// It returns an error for a value Home Assistant would not accept for e:
// the wrong kind, a unit other than the spec's, NaN or an infinity, a
// number out of range, a text too long or not UTF-8, an option not in the
// list; and for an entity without a state (a button, an event: see
// EventPayload), wrapping drivers.ErrUnsupported.
func StatePayload(e drivers.Entity, v drivers.Value) ([]byte, error) {
	s, err := statePayload(e, v)
	if err != nil {
		return nil, fmt.Errorf("discovery: entity %q: state %s: %w", e.ID, v, err)
	}
	return []byte(s), nil
}

func statePayload(e drivers.Entity, v drivers.Value) (string, error) {
	component := Component(e)
	if !Stateful(e) {
		return "", fmt.Errorf("%s has no state: %w", aComponent(component), drivers.ErrUnsupported)
	}
	if v.Kind == drivers.ValueNone {
		switch component {
		case componentLight, componentCover:
			// Home Assistant reads a null state as unknown. A cover's
			// position template finds no position and leaves it alone.
			return `{"state":null}`, nil
		}
		return PayloadNone, nil
	}
	switch s := specOf(e).(type) {
	case drivers.Switch, drivers.BinarySensor:
		if v.Kind != drivers.ValueBool {
			return "", fmt.Errorf("a %s takes on/off values, not %s", component, valueKind(v.Kind))
		}
		return onOff(v.Bool), nil
	case drivers.Sensor:
		return sensorPayload(s, v)
	case drivers.Number:
		return numberPayload(s, v)
	case drivers.Light:
		return lightPayload(s, v)
	case drivers.Cover:
		return coverPayload(s, v)
	case drivers.Select:
		if v.Kind != drivers.ValueText {
			return "", fmt.Errorf("a select takes one of its options as text, not %s", valueKind(v.Kind))
		}
		if !slices.Contains(s.Options, v.Text) {
			return "", fmt.Errorf("%q is not one of the options %s", v.Text, quoteList(s.Options))
		}
		return v.Text, nil
	}
	return "", fmt.Errorf("%s has no state: %w", aComponent(component), drivers.ErrUnsupported)
}

// EventPayload formats an event of e for its state topic,
// {"event_type":"press"}. It returns an error for an entity that is not an
// event, wrapping drivers.ErrUnsupported, and for a type that is not one
// of its Types.
func EventPayload(e drivers.Entity, eventType string) ([]byte, error) {
	s, ok := specOf(e).(drivers.Event)
	if !ok {
		what := aComponent(Component(e))
		return nil, fmt.Errorf("discovery: entity %q: event %q: %s has no events, only an event entity: %w", e.ID, eventType, what, drivers.ErrUnsupported)
	}
	if !slices.Contains(s.Types, eventType) {
		return nil, fmt.Errorf("discovery: entity %q: event %q is not one of its types %s", e.ID, eventType, quoteList(s.Types))
	}
	p, err := marshal(struct {
		EventType string `json:"event_type"`
	}{eventType})
	if err != nil {
		return nil, fmt.Errorf("discovery: entity %q: event %q: %w", e.ID, eventType, err)
	}
	return p, nil
}

func onOff(on bool) string {
	if on {
		return payloadOn
	}
	return payloadOff
}

func sensorPayload(s drivers.Sensor, v drivers.Value) (string, error) {
	switch v.Kind {
	case drivers.ValueNumber:
		if err := checkValueUnit(v, s.Unit); err != nil {
			return "", err
		}
		if nonNumericClass(s.Class) {
			return "", fmt.Errorf("a %s sensor takes text, not a number", s.Class)
		}
		prec := s.Precision
		if !numericSensor(s) {
			prec = -1 // no suggested_display_precision was published either
		}
		return formatNumber(v.Num, prec)
	case drivers.ValueText:
		if numericSensor(s) {
			return "", fmt.Errorf("the sensor is numeric (it has a unit, a state class or a numeric device class) and takes numbers, not text")
		}
		if err := checkText(v.Text); err != nil {
			return "", err
		}
		switch s.Class {
		case drivers.ClassTimestamp:
			if _, err := time.Parse(time.RFC3339, v.Text); err != nil {
				return "", fmt.Errorf("a timestamp sensor takes RFC 3339 text with a time zone, such as 2024-05-01T07:30:00Z")
			}
		case "date":
			if _, err := time.Parse(time.DateOnly, v.Text); err != nil {
				return "", fmt.Errorf("a date sensor takes YYYY-MM-DD text")
			}
		}
		return v.Text, nil
	}
	return "", fmt.Errorf("a sensor takes numbers or text, not %s", valueKind(v.Kind))
}

// checkValueUnit reports why a number in v's unit does not fit an entity
// in unit u. A value without a unit is taken to be in u.
func checkValueUnit(v drivers.Value, u drivers.Unit) error {
	if v.Unit == "" || v.Unit == u {
		return nil
	}
	if u == "" {
		return fmt.Errorf("the value has unit %q but the entity has none", v.Unit)
	}
	return fmt.Errorf("the value has unit %q but the entity is in %q; convert it in the driver", v.Unit, u)
}

func numberPayload(s drivers.Number, v drivers.Value) (string, error) {
	if v.Kind != drivers.ValueNumber {
		return "", fmt.Errorf("a number takes a number, not %s", valueKind(v.Kind))
	}
	if err := checkValueUnit(v, s.Unit); err != nil {
		return "", err
	}
	if err := checkRange(v.Num, s.Min, s.Max); err != nil {
		return "", err
	}
	p, err := formatNumber(v.Num, stepDecimals(s))
	if err != nil {
		return "", err
	}
	// Rounding to the step's decimals must not leave the range, or Home
	// Assistant would ignore the state: 0.25 at one decimal is "0.2".
	if f, _ := strconv.ParseFloat(p, 64); f < s.Min {
		return formatNumber(s.Min, -1)
	} else if f > s.Max {
		return formatNumber(s.Max, -1)
	}
	return p, nil
}

// checkRange reports why f is not a number within [min, max].
func checkRange(f, min, max float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%v is not a number Home Assistant can store", f)
	}
	if f < min || f > max {
		return fmt.Errorf("%s is outside the range %s to %s", fmtNum(f), fmtNum(min), fmtNum(max))
	}
	return nil
}

// fmtNum formats f for messages, as briefly as it reads back.
func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// lightState is a light's JSON state. Brightness is left out for a light
// that cannot be dimmed, or whose brightness is not known.
type lightState struct {
	State      string `json:"state"`
	Brightness *int   `json:"brightness,omitempty"`
}

func lightPayload(s drivers.Light, v drivers.Value) (string, error) {
	if v.Kind != drivers.ValueFields {
		return "", fmt.Errorf("a light takes drivers.LightState(on, brightness), not %s", valueKind(v.Kind))
	}
	if err := checkFields(v, drivers.FieldState, drivers.FieldBrightness); err != nil {
		return "", fmt.Errorf("a light takes drivers.LightState(on, brightness): %w", err)
	}
	st, ok := v.Field(drivers.FieldState)
	if !ok || st.Kind != drivers.ValueBool {
		return "", fmt.Errorf("a light's %q must be an on/off; use drivers.LightState(on, brightness)", drivers.FieldState)
	}
	ls := lightState{State: onOff(st.Bool)}
	if b, ok := v.Field(drivers.FieldBrightness); ok && s.Brightness {
		if b.Kind != drivers.ValueNumber {
			return "", fmt.Errorf("a light's brightness must be a number from 1 to 255, not %s", valueKind(b.Kind))
		}
		if b.Unit != "" {
			return "", fmt.Errorf("a light's brightness has no unit, not %q", b.Unit)
		}
		n, err := brightness(b.Num, st.Bool)
		if err != nil {
			return "", err
		}
		if n > 0 {
			ls.Brightness = &n
		}
	}
	p, err := marshal(ls)
	return string(p), err
}

// brightness rounds a light's brightness to Home Assistant's whole steps.
// 0 means unknown and is allowed only for a light that is off.
func brightness(f float64, on bool) (int, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("brightness %v is not a number", f)
	}
	n := math.Round(f)
	switch {
	case n < 0 || n > maxBrightness:
		return 0, fmt.Errorf("brightness %s is outside 1 to %d", fmtNum(f), maxBrightness)
	case n == 0 && on:
		return 0, fmt.Errorf("brightness %s of a light that is on must be 1 to %d", fmtNum(f), maxBrightness)
	}
	return int(n), nil
}

// maxBrightness is Home Assistant's full brightness.
const maxBrightness = 255

// coverState is a cover's JSON state. Position is left out for a cover
// without Position.
type coverState struct {
	State    string `json:"state"`
	Position *int   `json:"position,omitempty"`
}

// coverStates are the states a cover reports, as Home Assistant's default
// state_open, state_opening, … read them.
var coverStates = []string{drivers.CoverOpen, drivers.CoverOpening, drivers.CoverClosed, drivers.CoverClosing, drivers.CoverStopped}

func coverPayload(s drivers.Cover, v drivers.Value) (string, error) {
	if v.Kind != drivers.ValueFields {
		return "", fmt.Errorf("a cover takes drivers.CoverState(state, position), not %s", valueKind(v.Kind))
	}
	if err := checkFields(v, drivers.FieldState, drivers.FieldPosition); err != nil {
		return "", fmt.Errorf("a cover takes drivers.CoverState(state, position): %w", err)
	}
	st, ok := v.Field(drivers.FieldState)
	if !ok || st.Kind != drivers.ValueText || !slices.Contains(coverStates, st.Text) {
		return "", fmt.Errorf("a cover's %q must be one of %s; use drivers.CoverState with drivers.CoverOpen, …", drivers.FieldState, quoteList(coverStates))
	}
	cs := coverState{State: st.Text}
	if s.Position {
		p, ok := v.Field(drivers.FieldPosition)
		if !ok || p.Kind != drivers.ValueNumber {
			return "", fmt.Errorf("a cover with Position takes a position, a number from 0 to 100, with its state")
		}
		if p.Unit != "" && p.Unit != drivers.Percent {
			return "", fmt.Errorf("a cover's position is in %%, not %q", p.Unit)
		}
		if err := checkRange(p.Num, 0, 100); err != nil {
			return "", fmt.Errorf("position: %w", err)
		}
		n := int(math.Round(p.Num))
		cs.Position = &n
	}
	b, err := marshal(cs)
	return string(b), err
}

// checkFields reports a part of compound value v that is not one of names,
// or is there twice.
func checkFields(v drivers.Value, names ...string) error {
	seen := map[string]bool{}
	for _, f := range v.Fields {
		if !slices.Contains(names, f.Name) {
			return fmt.Errorf("it has no part %q, only %s", f.Name, quoteList(names))
		}
		if seen[f.Name] {
			return fmt.Errorf("part %q is there twice", f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// quoteList formats a list for messages: "a", "b" or "c".
func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	switch len(q) {
	case 0:
		return "(none)"
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// formatNumber formats f with prec decimals, or the shortest exact form if
// prec < 0. Negative zero is written "0", as a person would.
func formatNumber(f float64, prec int) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%v is not a number Home Assistant can store", f)
	}
	if prec < 0 {
		prec = -1
	}
	s := strconv.FormatFloat(f, 'f', prec, 64)
	if strings.HasPrefix(s, "-") && strings.Trim(s[1:], "0.") == "" {
		s = s[1:]
	}
	return s, nil
}

// checkText reports why s cannot be a Home Assistant state.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("the text is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxStateLen {
		return fmt.Errorf("the text has %d characters; Home Assistant keeps at most %d", n, maxStateLen)
	}
	return nil
}

func valueKind(k drivers.ValueKind) string {
	switch k {
	case drivers.ValueBool:
		return "an on/off"
	case drivers.ValueNumber:
		return "a number"
	case drivers.ValueText:
		return "text"
	case drivers.ValueFields:
		return "a compound value"
	}
	return "nothing"
}
