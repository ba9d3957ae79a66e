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

// FuzzFactory is the heart of a fuzz test of a driver's factory f: it calls
// f with the drivers.Config that ParseConfig makes of id and tomlBody, the
// fuzzer's input, and returns the device f built. It returns nil when
// tomlBody is no table the agent would hand to a driver (not TOML, or a
// common key such as interval is wrong) and when f refused it; then f's
// error must start with prefix, the driver and the device
// (`gpio "fuzz": `), or the test fails at once, as it does when f returns
// neither a device nor an error. What a device f accepts must be like is
// the caller's to check.
func FuzzFactory(t testing.TB, f drivers.Factory, id, prefix, tomlBody string) drivers.Device {
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
