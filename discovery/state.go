package discovery

import (
	"fmt"
	"math"
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
//   - switch and binary_sensor: "ON" or "OFF";
//   - numeric sensor: the number with e.Precision decimals, or the shortest
//     representation that reads back exactly if Precision < 0;
//   - text sensor: the text as is (a timestamp sensor's text must be
//     RFC 3339, a date sensor's YYYY-MM-DD);
//   - the zero Value on any entity: "None", which Home Assistant shows as
//     unknown.
//
// It returns an error for a value Home Assistant would not accept for e:
// the wrong kind, a unit other than e's, NaN or an infinity, a text too
// long or not UTF-8.
func StatePayload(e drivers.Entity, v drivers.Value) ([]byte, error) {
	s, err := statePayload(e, v)
	if err != nil {
		return nil, fmt.Errorf("discovery: entity %q: state %s: %w", e.ID, v, err)
	}
	return []byte(s), nil
}

func statePayload(e drivers.Entity, v drivers.Value) (string, error) {
	if v.Kind == drivers.ValueNone {
		return PayloadNone, nil
	}
	switch e.Kind {
	case drivers.KindSwitch, drivers.KindBinarySensor:
		if v.Kind != drivers.ValueBool {
			return "", fmt.Errorf("a %s takes on/off values, not %s", e.Kind, valueKind(v.Kind))
		}
		if v.Bool {
			return "ON", nil
		}
		return "OFF", nil
	case drivers.KindSensor:
		return sensorPayload(e, v)
	}
	return "", fmt.Errorf("entity kind %d is not one of sensor, binary_sensor, switch", int(e.Kind))
}

func sensorPayload(e drivers.Entity, v drivers.Value) (string, error) {
	switch v.Kind {
	case drivers.ValueNumber:
		if v.Unit != "" && v.Unit != e.Unit {
			if e.Unit == "" {
				return "", fmt.Errorf("the value has unit %q but the entity has none", v.Unit)
			}
			return "", fmt.Errorf("the value has unit %q but the entity is in %q; convert it in the driver", v.Unit, e.Unit)
		}
		if nonNumericClass(e.Class) {
			return "", fmt.Errorf("a %s sensor takes text, not a number", e.Class)
		}
		prec := e.Precision
		if !numeric(e) {
			prec = -1 // no suggested_display_precision was published either
		}
		return formatNumber(v.Num, prec)
	case drivers.ValueText:
		if numeric(e) {
			return "", fmt.Errorf("the sensor is numeric (it has a unit, a state class or a numeric device class) and takes numbers, not text")
		}
		if err := checkText(v.Text); err != nil {
			return "", err
		}
		switch e.Class {
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
	}
	return "nothing"
}
