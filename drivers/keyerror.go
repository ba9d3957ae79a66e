package drivers

import "fmt"

// KeyError is a problem with one key of a device's configuration, found by
// the driver's factory after Config.Decode: a value of the right type that
// the driver cannot use (power_on = "maybe", oversampling = 3), or a
// required key that is missing.
//
// A factory checks every key and returns all its KeyErrors at once, joined
// with errors.Join (and wrapped with the driver and the device, as any of
// its errors). The agent finds each one in the tree of wrapped and joined
// errors and reports it at its own key and line, "pinion.toml:14:
// device[2].power_on: …", so that a user fixes them all in one go; an error
// of the factory that is no KeyError is reported at the device's [[device]]
// line.
type KeyError struct {
	// Key is the key at fault, as written in the device's table: "pin", a
	// dotted key for a key in a table of the device's ("sensor.offset"), or
	// an element of an array ("pins[1]", counted from 0).
	Key string
	// Err says what is wrong with the value and how to fix it, in words
	// that follow the key: `"maybe" is not a power-on state: use "off" or
	// "on"`, or `is required: …` for a missing key.
	Err error
}

// Error returns "key: what is wrong", as the factory's own error shows it.
func (e *KeyError) Error() string {
	if e.Err == nil {
		return e.Key + ": bad value"
	}
	return e.Key + ": " + e.Err.Error()
}

// Unwrap returns Err, so that errors.Is and errors.As see the cause.
func (e *KeyError) Unwrap() error { return e.Err }

// BadKey returns a *KeyError for key whose Err is formatted as fmt.Errorf
// formats it, %w included:
//
//	errs = append(errs, drivers.BadKey("power_on", `%q is not a power-on state: use "off" or "on"`, v))
func BadKey(key, format string, args ...any) error {
	return &KeyError{Key: key, Err: fmt.Errorf(format, args...)}
}
