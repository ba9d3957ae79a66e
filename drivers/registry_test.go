package drivers

import (
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// register registers d for the length of the test: the registry is
// process-wide, so a name left behind would make the next run of the test
// (go test -count=2) fail as a duplicate.
func register(t *testing.T, d Driver) {
	t.Helper()
	Register(d)
	t.Cleanup(func() { unregister(d.Name) })
}

// unregister removes a driver. Only tests need it: a real driver registers
// once, from init, for the life of the process.
func unregister(name string) {
	registryMu.Lock()
	defer registryMu.Unlock()
	delete(registry, name)
}

// named returns a New whose error names it, so a test can tell which
// driver Lookup handed back.
func named(name string) func(Config) (Device, error) {
	return func(Config) (Device, error) { return nil, errors.New(name) }
}

func TestRegisterLookupNames(t *testing.T) {
	register(t, Driver{Name: "zz-test-b", New: named("b"), Sample: "[[device]]", DefaultInterval: time.Minute, Description: "b"})
	register(t, Driver{Name: "zz-test-a", New: named("a")})
	names := Names()
	ia, ib := slices.Index(names, "zz-test-a"), slices.Index(names, "zz-test-b")
	if ia < 0 || ib < 0 || ia > ib || !slices.IsSorted(names) {
		t.Fatalf("Names() = %v: want both, sorted", names)
	}
	d, ok := Lookup("zz-test-b")
	if !ok {
		t.Fatal("Lookup did not find zz-test-b")
	}
	if _, err := d.New(Config{}); err == nil || err.Error() != "b" {
		t.Errorf("Lookup returned the wrong driver: New says %v", err)
	}
	if d.Sample != "[[device]]" || d.DefaultInterval != time.Minute || d.Description != "b" {
		t.Errorf("Lookup lost the record's fields: %+v", d)
	}
	if _, ok := Lookup("zz-test-none"); ok {
		t.Error("Lookup found a driver never registered")
	}
}

func TestRegisterRefuses(t *testing.T) {
	register(t, Driver{Name: "zz-test-taken", New: named("x")})
	noop := func(Config) (Device, error) { return nil, nil }
	tests := []struct {
		name string
		d    Driver
		want string
	}{
		{"empty name", Driver{New: noop}, "empty name"},
		{"upper case", Driver{Name: "BME280", New: noop}, "lower-case"},
		{"a space", Driver{Name: "my relay", New: noop}, "lower-case"},
		{"no New", Driver{Name: "zz-test-nonew"}, "New is nil"},
		{"negative interval", Driver{Name: "zz-test-neg", New: noop, DefaultInterval: -time.Second}, "negative"},
		{"taken name", Driver{Name: "zz-test-taken", New: noop}, "already registered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := TryRegister(tt.d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("TryRegister = %v, want an error with %q", err, tt.want)
			}
			if tt.name == "taken name" && !errors.Is(err, ErrNameTaken) {
				t.Errorf("a taken name's error is not ErrNameTaken: %v", err)
			}
			// Register, for compiled-in drivers, panics with the same error.
			func() {
				defer func() {
					r := recover()
					if r == nil || !strings.Contains(r.(error).Error(), tt.want) {
						t.Errorf("Register panicked with %v, want %q", r, tt.want)
					}
				}()
				Register(tt.d)
			}()
		})
	}
	if d, _ := Lookup("zz-test-taken"); d.New == nil {
		t.Error("a refused registration replaced the first one")
	}
}

func TestValueEqualAndString(t *testing.T) {
	tests := []struct {
		a, b  Value
		equal bool
	}{
		{Bool(true), Bool(true), true},
		{Bool(true), Bool(false), false},
		{Num(21.5, Celsius), Num(21.5, Celsius), true},
		{Num(21.5, Celsius), Num(21.5, Percent), false},
		{Num(21.5, Celsius), Text("21.5"), false},
		{Text("a"), Text("a"), true},
		{Value{}, Value{}, true},
		{Num(math.NaN(), PPM), Num(math.NaN(), PPM), true},
		{LightState(true, 128), LightState(true, 128), true},
		{LightState(true, 128), LightState(true, 129), false},
		{LightState(true, 128), LightState(false, 128), false},
		{CoverState(CoverOpen, 100), CoverState(CoverOpen, 100), true},
		{CoverState(CoverOpen, 100), CoverState(CoverOpening, 100), false},
		{Fields(Field{"a", Bool(true)}), Fields(Field{"a", Bool(true)}, Field{"b", Bool(true)}), false},
	}
	for _, tt := range tests {
		if got := tt.a.Equal(tt.b); got != tt.equal {
			t.Errorf("%v.Equal(%v) = %v, want %v", tt.a, tt.b, got, tt.equal)
		}
	}
	for v, want := range map[string]string{
		Num(21.5, Celsius).String():       "21.5 °C",
		Bool(false).String():              "OFF",
		LightState(true, 128).String():    "{state=ON brightness=128}",
		CoverState(CoverOpen, 5).String(): "{state=open position=5}",
	} {
		if v != want {
			t.Errorf("String() = %q, want %q", v, want)
		}
	}
	if b, ok := LightState(true, 128).Field(FieldBrightness); !ok || b.Num != 128 {
		t.Errorf("Field(brightness) = %v, %v", b, ok)
	}
	if _, ok := Bool(true).Field(FieldState); ok {
		t.Error("a plain value has fields")
	}
}

func TestCommandString(t *testing.T) {
	tests := []struct {
		c    Command
		want string
	}{
		{Command{Action: ActionOn}, "ON"},
		{Command{Action: ActionPress}, "PRESS"},
		{Command{Action: ActionSet, Value: Num(21.5, "")}, "SET 21.5"},
		{Command{Action: ActionStop}, "STOP"},
		{Command{Action: Action(99)}, "UNKNOWN"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestParseI2CBus(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"1", "1", true},
		{"I2C1", "1", true},
		{"i2c-1", "1", true},
		{"i2c1", "1", true},
		{"/dev/i2c-11", "11", true},
		{"mux/2", "mux/2", true},
		{"", "", false},
		{"one", "", false},
		{"-1", "", false},
		{"+1", "", false},
		{"01", "", false},
		{"/dev/i2c-", "", false},
		{"/dev/spidev0.0", "", false},
		{"mux/", "", false},
		{"99999999", "", false},
	}
	for _, tt := range tests {
		got, err := ParseI2CBus(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseI2CBus(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), `such as "1"`) {
			t.Errorf("ParseI2CBus(%q) error does not show the fix: %v", tt.in, err)
		}
	}
}

func TestResources(t *testing.T) {
	for r, want := range map[Resource]string{
		GPIOLine("GPIO17"):                     "gpio:GPIO17",
		GPIOLine("relays/GPA0"):                "gpio:relays/GPA0",
		I2CAddress("/dev/i2c-1", 0x76):         "i2c:1:0x76",
		I2CAddress("I2C1", 0x76):               "i2c:1:0x76",
		SerialPort("/dev/ttyUSB0"):             "serial:/dev/ttyUSB0",
		OneWireDevice("w1", "28-0316a2796aff"): "w1:w1:28-0316a2796aff",
		PWMLine("GPIO18"):                      "pwm:GPIO18",
	} {
		if got := r.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", r, got, want)
		}
	}
	conflicts := []struct {
		a, b Resource
		want bool
	}{
		{I2CAddress("1", 0x76), I2CAddress("/dev/i2c-1", 0x76), true},
		{I2CAddress("1", 0x76), I2CAddress("1", 0x77), false},
		{I2CAddress("1", 0x76), I2CAddress("2", 0x76), false},
		{GPIOLine("GPIO18"), PWMLine("GPIO18"), true},
		{GPIOLine("GPIO18"), GPIOLine("GPIO17"), false},
		{SerialPort("/dev/ttyUSB0"), SharedSerialPort("/dev/ttyUSB0"), true},
		{SharedSerialPort("/dev/ttyUSB0"), SharedSerialPort("/dev/ttyUSB0"), false},
		{SerialPort("/dev/ttyUSB0"), GPIOLine("/dev/ttyUSB0"), false},
	}
	for _, c := range conflicts {
		if got := c.a.Conflicts(c.b); got != c.want {
			t.Errorf("%v.Conflicts(%v) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := c.b.Conflicts(c.a); got != c.want {
			t.Errorf("Conflicts is not symmetric for %v and %v", c.a, c.b)
		}
	}
	for r, want := range map[Resource]string{
		GPIOLine("relays/GPA0"):     "relays",
		GPIOLine("GPIO17"):          "",
		I2CAddress("mux/2", 0x40):   "mux",
		I2CAddress("/dev/i2c-1", 1): "",
		SerialPort("/dev/ttyUSB0"):  "",
	} {
		if got := r.Provider(); got != want {
			t.Errorf("%v.Provider() = %q, want %q", r, got, want)
		}
	}
}

// bareHost has a clock and a logger and no hardware at all.
type bareHost struct{}

func (bareHost) Clock() Clock         { return SystemClock{} }
func (bareHost) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestCapabilitiesAHostLacks(t *testing.T) {
	h := bareHost{}
	errs := map[string]error{}
	_, errs["GPIO"] = GPIO(h, "GPIO17")
	_, errs["I2C"] = I2C(h, "1")
	_, errs["Serial"] = Serial(h, "/dev/ttyUSB0", SerialMode{})
	_, errs["SharedSerial"] = SharedSerial(h, "/dev/ttyUSB0", SerialMode{})
	_, errs["PWM"] = PWM(h, "GPIO18")
	_, errs["OneWire"] = OneWire(h, "w1")
	_, errs["ReadFile"] = ReadFile(h, "/proc/uptime")
	for what, err := range errs {
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "no such hardware") {
			t.Errorf("%s on a host without it: %v, want ErrUnsupported that says so", what, err)
		}
	}
}
