package drivers

import (
	"fmt"
	"math"
	"strconv"
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
)

// Value is what a driver reads or is commanded to: a bool, a number with its
// unit, or a text. It carries no wire format; the agent formats it.
type Value struct {
	Kind ValueKind
	Bool bool
	Num  float64
	Unit Unit
	Text string
}

// Bool returns an on/off Value.
func Bool(on bool) Value { return Value{Kind: ValueBool, Bool: on} }

// Number returns a numeric Value in unit u.
func Number(n float64, u Unit) Value { return Value{Kind: ValueNumber, Num: n, Unit: u} }

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
	}
	return true
}

// ErrUnsupported is returned (wrapped) by Setter.Set for an entity or value
// the device cannot take.
var ErrUnsupported = fmt.Errorf("unsupported")
