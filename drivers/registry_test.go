package drivers

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// register registers factory under name for the length of the test: the
// registry is process-wide, so a name left behind would make the next run
// of the test (go test -count=2) panic as a duplicate.
func register(t *testing.T, name string, factory Factory) {
	t.Helper()
	Register(name, factory)
	t.Cleanup(func() { unregister(name) })
}

// unregister removes a driver and its sample. Only tests need it: a real
// driver registers once, from init, for the life of the process.
func unregister(name string) {
	registryMu.Lock()
	defer registryMu.Unlock()
	delete(registry, name)
	delete(samples, name)
}

// namedFactory returns a factory whose error names it, so a test can tell
// which factory Lookup handed back.
func namedFactory(name string) Factory {
	return func(Config) (Device, error) { return nil, errors.New(name) }
}

func noop(Config) (Device, error) { return nil, nil }

func TestRegisterAndNames(t *testing.T) {
	register(t, "zz-test-b", namedFactory("b"))
	register(t, "zz-test-a", namedFactory("a"))
	DefaultRegistrar{}.Register("zz-test-c", namedFactory("c"))
	t.Cleanup(func() { unregister("zz-test-c") })

	names := Names()
	if !slices.IsSorted(names) {
		t.Fatalf("Names() = %v, not sorted", names)
	}
	// Registered out of order, listed in order.
	if i, j := slices.Index(names, "zz-test-a"), slices.Index(names, "zz-test-b"); i < 0 || j < 0 || i > j {
		t.Errorf("Names() = %v, want zz-test-a before zz-test-b", names)
	}
	for _, n := range []string{"a", "b", "c"} {
		name := "zz-test-" + n
		f, ok := Lookup(name)
		if !ok {
			t.Errorf("Lookup(%q) failed after Register", name)
			continue
		}
		if _, err := f(Config{ID: "x"}); err == nil || err.Error() != n {
			t.Errorf("Lookup(%q) returned the factory that says %v, want the one registered under that name", name, err)
		}
		if !slices.Contains(names, name) {
			t.Errorf("Names() = %v, missing %q", names, name)
		}
	}
	if _, ok := Lookup("zz-test-missing"); ok {
		t.Error("Lookup of an unregistered name succeeded")
	}
}

func TestRegisterPanics(t *testing.T) {
	register(t, "zz-test-dup", namedFactory("first"))
	tests := []struct {
		name    string
		factory Factory
		want    string
	}{
		{"", noop, "empty name"},
		{"zz-test-nil", nil, "nil factory"},
		{"zz-test-dup", noop, "twice"},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tt.want) {
					t.Errorf("Register(%q) panic = %v, want one mentioning %q", tt.name, r, tt.want)
				}
			}()
			Register(tt.name, tt.factory)
		}()
	}
	// A refused registration changes nothing: the first factory stays.
	if f, ok := Lookup("zz-test-dup"); !ok {
		t.Error("the duplicate registration removed the first one")
	} else if _, err := f(Config{}); err == nil || err.Error() != "first" {
		t.Errorf("after a refused duplicate, Lookup returns the factory that says %v, want the first", err)
	}
	if _, ok := Lookup("zz-test-nil"); ok {
		t.Error("a nil factory was registered despite the panic")
	}
}

func TestSample(t *testing.T) {
	RegisterSample("zz-test-sample", "[[device]]\n")
	t.Cleanup(func() { unregister("zz-test-sample") })
	if s, ok := Sample("zz-test-sample"); !ok || s != "[[device]]\n" {
		t.Fatalf("Sample = %q, %v", s, ok)
	}
	if _, ok := Sample("zz-test-none"); ok {
		t.Fatal("Sample of a driver without one succeeded")
	}
}

func TestValueEqualAndString(t *testing.T) {
	tests := []struct {
		a, b  Value
		equal bool
	}{
		{Bool(true), Bool(true), true},
		{Bool(true), Bool(false), false},
		{Number(21.5, Celsius), Number(21.5, Celsius), true},
		{Number(21.5, Celsius), Number(21.5, Percent), false},
		{Number(21.5, Celsius), Text("21.5"), false},
		{Text("a"), Text("a"), true},
		{Value{}, Value{}, true},
		{Number(math.NaN(), PPM), Number(math.NaN(), PPM), true},
	}
	for _, tt := range tests {
		if got := tt.a.Equal(tt.b); got != tt.equal {
			t.Errorf("%v.Equal(%v) = %v, want %v", tt.a, tt.b, got, tt.equal)
		}
	}
	if s := Number(21.5, Celsius).String(); s != "21.5 °C" {
		t.Errorf("String() = %q", s)
	}
	if s := Bool(false).String(); s != "OFF" {
		t.Errorf("String() = %q", s)
	}
}
