package drivers_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/pinion-home/pinion/drivers"
)

func TestKeyError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"BadKey", drivers.BadKey("power_on", `%q is not a power-on state: use "off" or "on"`, "maybe"),
			`power_on: "maybe" is not a power-on state: use "off" or "on"`},
		{"nested key", drivers.BadKey("sensor.offset", "%v is not finite", "NaN"), "sensor.offset: NaN is not finite"},
		{"literal", &drivers.KeyError{Key: "pins[1]", Err: errors.New("is empty")}, "pins[1]: is empty"},
		{"no cause", &drivers.KeyError{Key: "pin"}, "pin: bad value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestKeyErrorFound checks what the agent relies on: every KeyError of a
// factory's error is found through the wrapping with the driver's name and
// through errors.Join, and its cause through the KeyError.
func TestKeyErrorFound(t *testing.T) {
	err := fmt.Errorf("gpio %q: %w", "door", errors.Join(
		drivers.BadKey("power_on", `%q: use "off" or "on"`, "maybe"),
		drivers.BadKey("pin", "cannot read the pin file: %w", fs.ErrNotExist),
	))
	var keys []string
	var walk func(error)
	walk = func(e error) {
		var ke *drivers.KeyError
		if errors.As(e, &ke) && e == error(ke) {
			keys = append(keys, ke.Key)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	if fmt.Sprint(keys) != "[power_on pin]" {
		t.Errorf("KeyErrors found for keys %v, want [power_on pin]", keys)
	}
	var ke *drivers.KeyError
	if !errors.As(err, &ke) || ke.Key != "power_on" {
		t.Errorf("errors.As found %v, want the first KeyError, power_on", ke)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is does not see the cause wrapped in a KeyError's Err")
	}
}
