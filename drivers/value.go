package drivers

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Unit is a unit of measurement, written the way people and Home Assistant
// write it.
type Unit string

// Units in use by the built-in drivers.
const (
	Celsius     Unit = "°C"
	Percent     Unit = "%"
	HectoPascal Unit = "hPa"
	PPM         Unit = "ppm"
	Seconds     Unit = "s"
	Bytes       Unit = "B"
	MebiBytes   Unit = "MiB"
	GibiBytes   Unit = "GiB"
	Volt        Unit = "V"
	Watt        Unit = "W"
	Lux         Unit = "lx"
)

// ValueKind says which field of a Value holds it.
type ValueKind int

const (
	// ValueNone is the zero Value: nothing known.
	ValueNone ValueKind = iota
	// ValueBool is an on/off.
	ValueBool
	// ValueNumber is a number with a unit.
	ValueNumber
	// ValueText is a text.
	ValueText
	// ValueFields is a compound value of named parts, such as a light's
	// on/off and brightness; see LightState and CoverState.
	ValueFields
)

// Value is what a driver reads or is commanded to: a bool, a number with its
// unit, a text, or named parts of those. It carries no wire format; the
// discovery package formats it for the entity's spec.
type Value struct {
	Kind ValueKind
	Bool bool
	Num  float64
	Unit Unit
	Text string
	// Fields are the parts of a ValueFields value, in a fixed order.
	Fields []Field
}

// Field is one named part of a compound Value.
type Field struct {
	Name  string
	Value Value
}

// Fields returns a compound Value of the given parts.
func Fields(fs ...Field) Value { return Value{Kind: ValueFields, Fields: fs} }

// Field returns the part of a compound value called name.
func (v Value) Field(name string) (Value, bool) {
	for _, f := range v.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return Value{}, false
}

// Names of the parts of light and cover states.
const (
	FieldState      = "state"
	FieldBrightness = "brightness"
	FieldPosition   = "position"
)

// LightState is the state of a Light entity: on or off and, for a light
// with Brightness, its brightness from 1 to 255 (ignored otherwise).
func LightState(on bool, brightness float64) Value {
	return Fields(Field{FieldState, Bool(on)}, Field{FieldBrightness, Num(brightness, "")})
}

// States of a cover, for CoverState.
const (
	CoverOpen    = "open"
	CoverOpening = "opening"
	CoverClosed  = "closed"
	CoverClosing = "closing"
	CoverStopped = "stopped"
)

// CoverState is the state of a Cover entity: one of CoverOpen,
// CoverOpening, CoverClosed, CoverClosing and CoverStopped and, for a
// cover with Position, its position from 0 (closed) to 100 (open).
func CoverState(state string, position float64) Value {
	return Fields(Field{FieldState, Text(state)}, Field{FieldPosition, Num(position, "")})
}

// Bool returns an on/off Value.
func Bool(on bool) Value { return Value{Kind: ValueBool, Bool: on} }

// Num returns a numeric Value in unit u.
func Num(n float64, u Unit) Value { return Value{Kind: ValueNumber, Num: n, Unit: u} }

// Text returns a text Value.
func Text(s string) Value { return Value{Kind: ValueText, Text: s} }

// IsZero reports whether v holds nothing.
func (v Value) IsZero() bool { return v.Kind == ValueNone }

// String formats v for logs: "ON", "21.5 °C", "text".
func (v Value) String() string {
	switch v.Kind {
	case ValueBool:
		if v.Bool {
			return "ON"
		}
		return "OFF"
	case ValueNumber:
		s := strconv.FormatFloat(v.Num, 'f', -1, 64)
		if v.Unit != "" {
			s += " " + string(v.Unit)
		}
		return s
	case ValueText:
		return v.Text
	case ValueFields:
		parts := make([]string, len(v.Fields))
		for i, f := range v.Fields {
			parts[i] = f.Name + "=" + f.Value.String()
		}
		return "{" + strings.Join(parts, " ") + "}"
	}
	return "none"
}

// Equal reports whether v and w hold the same value. NaNs are equal to each
// other so that a sensor stuck at NaN is not "changed" on every read.
func (v Value) Equal(w Value) bool {
	if v.Kind != w.Kind {
		return false
	}
	switch v.Kind {
	case ValueBool:
		return v.Bool == w.Bool
	case ValueNumber:
		if math.IsNaN(v.Num) && math.IsNaN(w.Num) {
			return v.Unit == w.Unit
		}
		return v.Num == w.Num && v.Unit == w.Unit
	case ValueText:
		return v.Text == w.Text
	case ValueFields:
		if len(v.Fields) != len(w.Fields) {
			return false
		}
		for i := range v.Fields {
			if v.Fields[i].Name != w.Fields[i].Name || !v.Fields[i].Value.Equal(w.Fields[i].Value) {
				return false
			}
		}
	}
	return true
}

// ErrUnsupported is returned (wrapped) for an entity, a command or a host
// capability that is not there: Command for an entity that takes none, a
// Host that cannot provide 1-Wire.
var ErrUnsupported = errors.New("unsupported")
