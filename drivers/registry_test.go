package drivers

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func noop(Config) (Device, error) { return nil, nil }

func TestRegisterAndNames(t *testing.T) {
	Register("zz-test-b", noop)
	Register("zz-test-a", noop)
	names := Names()
	if !slices.IsSorted(names) {
		t.Fatalf("Names() = %v, not sorted", names)
	}
	for _, n := range []string{"zz-test-a", "zz-test-b"} {
		if _, ok := Lookup(n); !ok {
			t.Errorf("Lookup(%q) failed after Register", n)
		}
		if !slices.Contains(names, n) {
			t.Errorf("Names() = %v, missing %q", names, n)
		}
	}
	if _, ok := Lookup("zz-test-missing"); ok {
		t.Error("Lookup of an unregistered name succeeded")
	}
}

func TestRegisterPanics(t *testing.T) {
	Register("zz-test-dup", noop)
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
				if r == nil || !strings.Contains(r.(string), tt.want) {
					t.Errorf("Register(%q) panic = %v, want one mentioning %q", tt.name, r, tt.want)
				}
			}()
			Register(tt.name, tt.factory)
		}()
	}
}

func TestSample(t *testing.T) {
	RegisterSample("zz-test-sample", "[[device]]\n")
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
