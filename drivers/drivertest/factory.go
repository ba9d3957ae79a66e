package drivertest

import (
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
)

// CheckError checks the error a driver's factory returned for a table it
// must refuse. The test fails at once if err is nil. Otherwise the message
// must start with prefix, the driver and the device it is about
// (`gpio "door": `), since the agent logs it with nothing else to tell
// which device is wrong, and it must say each of want, such as the key at
// fault and how to fix it; each that is missing is an error.
func CheckError(t testing.TB, err error, prefix string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one starting with %q", prefix)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		t.Errorf("error %q does not start with the driver and device, %q", msg, prefix)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
}

// CheckKeyError checks the error a driver's factory returned for a table
// with a bad value: it must hold an error on key, either a
// drivers.KeyError with that Key (wrapped and joined in any way: the agent
// finds it the same way) or a problem Decode found with the key, and one
// such error must say each of want. The agent reports that error at the
// key's own line. The test fails at once if err is nil; an error on key
// that is missing or does not say want is an error.
//
//	_, err := gpio.New(drivertest.Config(t, "door", "pin = \"GPIO17\"\nmode = \"output\"\npower_on = \"maybe\""))
//	drivertest.CheckKeyError(t, err, "power_on", `"maybe"`, `"off"`)
func CheckKeyError(t testing.TB, err error, key string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one on key %q", key)
	}
	msgs, keys := keyMessages(err, key)
	if len(msgs) == 0 {
		t.Errorf("error %q has no error on key %q (it has errors on %q): return drivers.BadKey(%q, …)", err, key, keys, key)
		return
	}
	for _, m := range msgs {
		if containsAll(m, want) {
			return
		}
	}
	t.Errorf("the error on key %q says %q; want it to say each of %q", key, strings.Join(msgs, "; "), want)
}

// keyMessages returns the messages of the errors in err that are on key,
// and the keys of all the keyed errors in it.
func keyMessages(err error, key string) (msgs, keys []string) {
	var walk func(error)
	walk = func(e error) {
		switch e := e.(type) {
		case *drivers.KeyError:
			keys = append(keys, e.Key)
			if e.Key == key {
				msgs = append(msgs, strings.TrimPrefix(e.Error(), e.Key+": "))
			}
			return
		case *ConfigError:
			for _, p := range e.Problems {
				if p.Key != "" {
					keys = append(keys, p.Key)
				}
				if p.Key == key {
					msgs = append(msgs, p.Msg)
				}
			}
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				if c != nil {
					walk(c)
				}
			}
		case interface{ Unwrap() error }:
			if c := u.Unwrap(); c != nil {
				walk(c)
			}
		}
	}
	walk(err)
	return msgs, keys
}

func containsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// WantProblem is a problem a test expects among those Problems returns: on
// Line, at Key, with a message that says Msg. Key is "" and Line 0 for a
// problem with the table as a whole, such as a factory's error that is no
// drivers.KeyError.
type WantProblem struct {
	Line int
	Key  string
	Msg  string
}

// CheckProblems checks that got, as Problems returns them, are the
// problems want, one for one and in order: the same count, and each on its
// Line and Key and saying its Msg. Each that differs is an error.
func CheckProblems(t testing.TB, got []Problem, want ...WantProblem) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(got), len(want), &ConfigError{Problems: got})
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.Line != w.Line || g.Key != w.Key || !strings.Contains(g.Msg, w.Msg) {
			t.Errorf("problem %d:\n got  %s\n want %s:%d: %s: …%s…", i, g, File, w.Line, w.Key, w.Msg)
		}
	}
}

// FuzzFactory is the heart of a fuzz test of a driver's New, f: it calls
// f with the drivers.Config that ParseConfig makes of id and tomlBody, the
// fuzzer's input, and returns the device f built. It returns nil when
// tomlBody is no table the agent would hand to a driver (not TOML, or a
// common key such as interval is wrong) and when f refused it; then f's
// error must start with prefix, the driver and the device
// (`gpio "fuzz": `), or the test fails at once, as it does when f returns
// neither a device nor an error. What a device f accepts must be like is
// the caller's to check.
func FuzzFactory(t testing.TB, f func(drivers.Config) (drivers.Device, error), id, prefix, tomlBody string) drivers.Device {
	t.Helper()
	cfg, err := ParseConfig(id, tomlBody)
	if err != nil {
		return nil // the agent rejects it before any driver sees it
	}
	d, err := f(cfg)
	if err != nil {
		if !strings.HasPrefix(err.Error(), prefix) {
			t.Fatalf("error %q does not start with the driver and device, %q", err, prefix)
		}
		return nil
	}
	if d == nil {
		t.Fatalf("the factory returned no device and no error for %q (a bug in the driver)", tomlBody)
	}
	return d
}
