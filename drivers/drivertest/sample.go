package drivertest

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
)

// commentedKey matches a key a sample shows commented out, such as
// "  # inverted = false": one '#', a space, then a key and its value. A
// line of "##" documentation never matches.
var commentedKey = regexp.MustCompile(`(?m)^([ \t]*)# (\w+ = .*)$`)

// SampleDefaults returns sample with every commented-out key written in
// ("  # inverted = false" becomes "  inverted = false"), and how many keys
// it wrote in. A sample configuration documents an optional key that way,
// with its default, so the sample stays right when the key is uncommented:
// a test builds the devices of both (SampleDevices) and checks that they
// are the same.
func SampleDefaults(sample string) (string, int) {
	n := len(commentedKey.FindAllStringIndex(sample, -1))
	return commentedKey.ReplaceAllString(sample, "$1$2"), n
}

// CheckSample checks the style of a driver's sample configuration, which
// users read in `pinion -sample <driver>` and copy: each block of "##"
// documentation lines is full sentences, so it ends with a full stop
// (Telegraf's style). Each block that does not is an error naming the line
// of its last sentence, counted from 1.
func CheckSample(t testing.TB, sample string) {
	t.Helper()
	var last string
	for i, line := range strings.Split(sample+"\n", "\n") {
		s := strings.TrimSpace(line)
		if strings.HasPrefix(s, "##") {
			last = s
			continue
		}
		if last != "" && !strings.HasSuffix(last, ".") {
			t.Errorf("sample line %d: documentation %q does not end a sentence", i, last)
		}
		last = ""
	}
}

// SampleDevices builds each [[device]] table of doc, a configuration in
// the agent's layout such as a driver's sample, with the factory f, and
// checks each as the agent does (Table.Build). It returns the devices in
// file order, as D: the driver's device type, or drivers.Device for a
// factory that makes several types:
//
//	boards := drivertest.SampleDevices[*relay.Board](t, relay.SampleConfig, relay.DriverName, relay.New)
//
// The test fails at once if doc is not a valid document, if a table names
// a driver other than driver, or if a device fails to build or is not a D:
// a sample a user copies must work as it is.
func SampleDevices[D drivers.Device](t testing.TB, doc, driver string, f func(drivers.Config) (drivers.Device, error)) []D {
	t.Helper()
	var out []D
	for i, tb := range Tables(t, doc) {
		if tb.Driver != driver {
			t.Fatalf("sample device %d: driver = %q, want %q", i, tb.Driver, driver)
		}
		d, err := tb.Build(f)
		if err != nil {
			t.Fatalf("sample device %d: %v", i, err)
		}
		dd, ok := d.(D)
		if !ok {
			t.Fatalf("sample device %d is a %T, want %v", i, d, reflect.TypeFor[D]())
		}
		out = append(out, dd)
	}
	return out
}

// Registered checks that a driver is registered as the agent finds it
// (drivers.Lookup(name)): its record's Sample must be sample, since
// `pinion -sample <name>` prints it; its Description one line that says
// what the driver drives, for `pinion -drivers`; and its New must build a D
// from a table whose keys are tomlBody. It returns the device built. The
// test fails at once if the driver is not registered, or if New fails or
// builds something else; a wrong Sample or Description is an error.
func Registered[D drivers.Device](t testing.TB, name, sample, tomlBody string) D {
	t.Helper()
	drv, ok := drivers.Lookup(name)
	if !ok {
		t.Fatalf("drivers.Lookup(%q): not registered, want the driver registered from its package's init()", name)
	}
	if drv.Name != name {
		t.Errorf("drivers.Lookup(%q) returned the record of %q", name, drv.Name)
	}
	if drv.Sample != sample {
		t.Errorf("drivers.Lookup(%q).Sample = %q; want the driver's sample configuration %q", name, drv.Sample, sample)
	}
	if d := drv.Description; d == "" || strings.ContainsAny(d, "\r\n") {
		t.Errorf("drivers.Lookup(%q).Description = %q; want one line that says what the driver drives, for pinion -drivers", name, d)
	}
	if drv.New == nil {
		t.Fatalf("drivers.Lookup(%q).New is nil", name)
	}
	d, err := drv.New(Config(t, "dev", tomlBody))
	if err != nil {
		t.Fatalf("drivers.Lookup(%q).New: %v", name, err)
	}
	dd, ok := d.(D)
	if !ok {
		t.Fatalf("drivers.Lookup(%q).New made a %T, want %v", name, d, reflect.TypeFor[D]())
	}
	return dd
}
