package discovery

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pinion-home/pinion/drivers"
)

// Home Assistant component names of the specs, as they appear in config
// topics.
const (
	componentSensor       = "sensor"
	componentBinarySensor = "binary_sensor"
	componentSwitch       = "switch"
	componentButton       = "button"
	componentNumber       = "number"
	componentLight        = "light"
	componentCover        = "cover"
	componentEvent        = "event"
	componentSelect       = "select"
)

// componentList names the components in the order the API lists them,
// for errors.
const componentList = "drivers.Sensor, BinarySensor, Switch, Button, Number, Light, Cover, Event or Select"

// specOf returns e's spec as a value: a pointer to a spec is dereferenced,
// and a nil pointer is nil.
func specOf(e drivers.Entity) drivers.Spec {
	switch s := e.Spec.(type) {
	case *drivers.Sensor:
		if s != nil {
			return *s
		}
	case *drivers.BinarySensor:
		if s != nil {
			return *s
		}
	case *drivers.Switch:
		if s != nil {
			return *s
		}
	case *drivers.Button:
		if s != nil {
			return *s
		}
	case *drivers.Number:
		if s != nil {
			return *s
		}
	case *drivers.Light:
		if s != nil {
			return *s
		}
	case *drivers.Cover:
		if s != nil {
			return *s
		}
	case *drivers.Event:
		if s != nil {
			return *s
		}
	case *drivers.Select:
		if s != nil {
			return *s
		}
	default:
		return e.Spec
	}
	return nil
}

// Component returns the Home Assistant component of e ("sensor",
// "binary_sensor", "switch", "button", "number", "light", "cover",
// "event", "select"), or "" for an entity without a spec.
func Component(e drivers.Entity) string {
	switch specOf(e).(type) {
	case drivers.Sensor:
		return componentSensor
	case drivers.BinarySensor:
		return componentBinarySensor
	case drivers.Switch:
		return componentSwitch
	case drivers.Button:
		return componentButton
	case drivers.Number:
		return componentNumber
	case drivers.Light:
		return componentLight
	case drivers.Cover:
		return componentCover
	case drivers.Event:
		return componentEvent
	case drivers.Select:
		return componentSelect
	}
	return ""
}

// aComponent names a component with its article for messages: "a
// switch", "an event", "an entity without a spec" for "".
func aComponent(component string) string {
	switch component {
	case "":
		return "an entity without a spec"
	case componentEvent:
		return "an event"
	}
	return "a " + component
}

// Commandable reports whether e takes commands: a switch, button, number,
// light, cover or select. Its config then has a command topic, and
// ParseCommand parses payloads for it.
func Commandable(e drivers.Entity) bool {
	switch specOf(e).(type) {
	case drivers.Switch, drivers.Button, drivers.Number, drivers.Light, drivers.Cover, drivers.Select:
		return true
	}
	return false
}

// Stateful reports whether e has a retained state: every component but a
// button (an action) and an event (something that happens, published once
// with EventPayload), and none for an entity without a spec.
func Stateful(e drivers.Entity) bool {
	switch specOf(e).(type) {
	case drivers.Sensor, drivers.BinarySensor, drivers.Switch, drivers.Number, drivers.Light, drivers.Cover, drivers.Select:
		return true
	}
	return false
}

// maxPrecision is the most decimals a sensor state may have: more than a
// float64 holds only pads the payload with noise.
const maxPrecision = 15

// minStep is the smallest step Home Assistant accepts for a number.
const minStep = 0.001

// checkSpec returns every reason Home Assistant would reject e's spec, or
// make the entity misbehave. component is Component(e), not "".
func checkSpec(e drivers.Entity, component string) []string {
	var bad []string
	class := func(c string) {
		if c != "" && !slices.Contains(classes(component), c) {
			bad = append(bad, fmt.Sprintf("device class %q is not valid for %s; use one of %s, or none", c, aComponent(component), strings.Join(classes(component), ", ")))
		}
	}
	switch s := specOf(e).(type) {
	case drivers.Sensor:
		class(s.Class)
		bad = append(bad, checkSensor(s)...)
	case drivers.BinarySensor:
		class(s.Class)
	case drivers.Switch:
		class(s.Class)
	case drivers.Button:
		class(s.Class)
	case drivers.Number:
		class(s.Class)
		bad = append(bad, checkNumber(s)...)
	case drivers.Light:
		// On/off, and a brightness or not: nothing can be wrong.
	case drivers.Cover:
		class(s.Class)
	case drivers.Event:
		class(s.Class)
		bad = append(bad, checkChoices("event type", "Types", s.Types)...)
	case drivers.Select:
		bad = append(bad, checkChoices("option", "Options", s.Options)...)
		for _, o := range s.Options {
			if strings.EqualFold(o, PayloadNone) {
				bad = append(bad, fmt.Sprintf("option %q reads as \"unknown\" in Home Assistant, which could then never show it; name it otherwise", o))
			}
		}
	}
	return bad
}

// checkSensor returns the problems of a sensor spec.
func checkSensor(s drivers.Sensor) []string {
	var bad []string
	if s.State < drivers.StateNone || s.State > drivers.StateTotalIncreasing {
		bad = append(bad, fmt.Sprintf("state class %d is not one of the drivers.State* constants", int(s.State)))
	}
	if !utf8.ValidString(string(s.Unit)) {
		bad = append(bad, "unit is not valid UTF-8")
	} else if slices.Contains(tables.SensorClasses, s.Class) {
		if err := checkUnit(s.Class, string(s.Unit)); err != nil {
			bad = append(bad, err.Error())
		}
	}
	if nonNumericClass(s.Class) && s.State != drivers.StateNone {
		bad = append(bad, fmt.Sprintf("state class %s needs numbers, but device class %s is not numeric; use drivers.StateNone", stateClass(s.State), s.Class))
	} else if err := checkStateClass(s.Class, stateClass(s.State)); err != nil {
		bad = append(bad, err.Error())
	}
	switch {
	case s.Precision < -1:
		bad = append(bad, fmt.Sprintf("precision %d is not a number of decimals; use -1 to publish numbers exactly as read", s.Precision))
	case s.Precision > maxPrecision:
		bad = append(bad, fmt.Sprintf("precision %d is more decimals than a float64 holds; use at most %d, or -1 to publish numbers exactly as read", s.Precision, maxPrecision))
	case !numericSensor(s) && s.Precision > 0:
		bad = append(bad, "precision is set on a text sensor; Home Assistant would then expect numbers. Give it a unit or a state class, or set Precision to -1")
	}
	return bad
}

// checkNumber returns the problems of a number spec.
func checkNumber(s drivers.Number) []string {
	var bad []string
	finite := true
	for _, f := range []struct {
		name string
		v    float64
	}{{"Min", s.Min}, {"Max", s.Max}, {"Step", s.Step}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			bad = append(bad, fmt.Sprintf("%s is %v; it must be a finite number", f.name, f.v))
			finite = false
		}
	}
	if finite {
		if !(s.Max > s.Min) {
			bad = append(bad, fmt.Sprintf("Max (%v) must be above Min (%v); Home Assistant refuses the number otherwise", s.Max, s.Min))
		}
		if s.Step < 0 {
			bad = append(bad, fmt.Sprintf("Step %v is negative; use a positive step, or 0 for 1", s.Step))
		} else if s.Step != 0 && s.Step < minStep {
			bad = append(bad, fmt.Sprintf("Step %v is below %v, the smallest Home Assistant accepts", s.Step, minStep))
		}
	}
	if s.Mode < drivers.NumberAuto || s.Mode > drivers.NumberSlider {
		bad = append(bad, fmt.Sprintf("mode %d is not one of drivers.NumberAuto, NumberBox, NumberSlider", int(s.Mode)))
	}
	if !utf8.ValidString(string(s.Unit)) {
		bad = append(bad, "unit is not valid UTF-8")
	} else if slices.Contains(tables.NumberClasses, s.Class) {
		if err := checkUnit(s.Class, string(s.Unit)); err != nil {
			bad = append(bad, err.Error())
		}
	}
	return bad
}

// checkChoices returns the problems of a list of names that Home
// Assistant shows and matches exactly: event types, select options.
func checkChoices(what, field string, list []string) []string {
	if len(list) == 0 {
		return []string{fmt.Sprintf("%s is empty; give at least one %s", field, what)}
	}
	var bad []string
	seen := map[string]bool{}
	for _, c := range list {
		switch {
		case c == "":
			bad = append(bad, fmt.Sprintf("an %s is empty", what))
		case !utf8.ValidString(c):
			bad = append(bad, fmt.Sprintf("%s %q is not valid UTF-8", what, c))
		case utf8.RuneCountInString(c) > maxStateLen:
			bad = append(bad, fmt.Sprintf("%s %q has more than %d characters, Home Assistant's limit for a state", what, c, maxStateLen))
		case strings.TrimFunc(c, unicode.IsSpace) != c:
			bad = append(bad, fmt.Sprintf("%s %q has white space around it; a command typed by hand would not match it", what, c))
		case strings.IndexFunc(c, unicode.IsControl) >= 0:
			bad = append(bad, fmt.Sprintf("%s %q contains a control character", what, c))
		case seen[c]:
			bad = append(bad, fmt.Sprintf("%s %q is listed twice; each must be different", what, c))
		}
		seen[c] = true
	}
	return bad
}

// numericSensor reports whether Home Assistant expects numbers from a
// sensor: it does when the sensor has a numeric device class, a unit or a
// state class.
func numericSensor(s drivers.Sensor) bool {
	return s.Unit != "" || s.State != drivers.StateNone || s.Class != "" && !nonNumericClass(s.Class)
}

// stateClass is the Home Assistant name of a state class.
func stateClass(s drivers.StateClass) string {
	switch s {
	case drivers.StateMeasurement:
		return "measurement"
	case drivers.StateTotal:
		return "total"
	case drivers.StateTotalIncreasing:
		return "total_increasing"
	}
	return ""
}

// numberMode is the Home Assistant name of a number's mode; "" for auto,
// Home Assistant's default.
func numberMode(m drivers.NumberMode) string {
	switch m {
	case drivers.NumberBox:
		return "box"
	case drivers.NumberSlider:
		return "slider"
	}
	return ""
}

// step is a number's step, 1 when the spec leaves it zero.
func step(s drivers.Number) float64 {
	if s.Step == 0 {
		return 1
	}
	return s.Step
}

// stepDecimals is the number of decimals of a number's step: 0 for 1 or
// 5, 1 for 0.5, 2 for 0.25. A number's state is rounded to it.
func stepDecimals(s drivers.Number) int {
	st := step(s)
	for d := 0; d < maxPrecision; d++ {
		scaled := st * math.Pow10(d)
		if math.Abs(scaled-math.Round(scaled)) <= 1e-9*scaled {
			return d
		}
	}
	return maxPrecision
}

// Precision returns the number of decimals an entity's numeric states are
// published with, and false when they are published as the driver gave
// them: a numeric sensor's Precision (unless -1), a number's step's
// decimals. The agent rounds to it before deduplicating, so that the value
// it keeps is the value Home Assistant got.
func Precision(e drivers.Entity) (int, bool) {
	switch s := specOf(e).(type) {
	case drivers.Sensor:
		if numericSensor(s) && s.Precision >= 0 {
			return s.Precision, true
		}
	case drivers.Number:
		return stepDecimals(s), true
	}
	return 0, false
}
