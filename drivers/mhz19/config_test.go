package mhz19

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		snippet string
		claim   string
		setup   int // commands sent at Open
	}{
		{"port only", `port = "/dev/serial0"`, "serial:/dev/serial0", 0},
		{"usb adapter by id", `port = "/dev/serial/by-id/usb-FTDI-if00"`, "serial:/dev/serial/by-id/usb-FTDI-if00", 0},
		{"port cleaned", `port = "/dev/./serial0/"`, "serial:/dev/serial0", 0},
		{"port with dot-dot", `port = "/dev/serial/../ttyAMA0"`, "serial:/dev/ttyAMA0", 0},
		{"abc off", "port = \"/dev/ttyUSB0\"\nabc = false", "serial:/dev/ttyUSB0", 1},
		{"abc and range", "port = \"/dev/ttyAMA0\"\nabc = true\nrange = 10000", "serial:/dev/ttyAMA0", 2},
		{"range 2000", "port = \"/dev/serial0\"\nrange = 2000", "serial:/dev/serial0", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := drivertest.Device[*Device](t, New, "co2", tt.snippet)
			if got := d.Claims(); len(got) != 1 || got[0].String() != tt.claim || got[0].Shared {
				t.Errorf("Claims() = %v, want [%q], not shared", got, tt.claim)
			}
			if len(d.setup) != tt.setup {
				t.Errorf("%d setup commands, want %d", len(d.setup), tt.setup)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		snippet string
		key     string   // the key the error is on
		want    []string // what the error on key says
	}{
		{"no port", `abc = true`, "port", []string{`is required: set it to the serial port the sensor is wired to, such as port = "/dev/serial0"`}},
		{"empty port", `port = ""`, "port", []string{`is required`}},
		{"relative port", `port = "ttyUSB0"`, "port", []string{`"ttyUSB0" is not a device path: use one such as "/dev/serial0"`}},
		{"range not offered", "port = \"/dev/serial0\"\nrange = 3000", "range", []string{`3000 is not a range of the sensor: use 2000, 5000 or 10000 (ppm)`}},
		{"range zero", "port = \"/dev/serial0\"\nrange = 0", "range", []string{`0 is not a range`}},
		{"range as text", "port = \"/dev/serial0\"\nrange = \"5000\"", "range", []string{`must be an integer, not a string ("5000")`}},
		{"abc as text", "port = \"/dev/serial0\"\nabc = \"off\"", "abc", []string{`must be a boolean`}},
		{"port as number", `port = 0`, "port", []string{`must be a string`}},
		{"unknown key", "port = \"/dev/serial0\"\nbaud = 9600", "baud", []string{`unknown key`}},
		{"key in the wrong case", `Port = "/dev/serial0"`, "Port", []string{`unknown key (did you mean "port"?`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(drivertest.Config(t, "co2", tt.snippet))
			drivertest.CheckError(t, err, `mhz19 "co2": `)
			drivertest.CheckKeyError(t, err, tt.key, tt.want...)
		})
	}
}

// TestConfigErrorsAll checks that every bad value is reported at once, each
// at its own key and line, as the agent shows them.
func TestConfigErrorsAll(t *testing.T) {
	drivertest.CheckProblems(t, drivertest.Problems(t, New, "co2", "abc = true\nport = \"serial0\"\nrange = 4000\n"),
		drivertest.WantProblem{Line: 2, Key: "port", Msg: `"serial0" is not a device path`},
		drivertest.WantProblem{Line: 3, Key: "range", Msg: "4000 is not a range of the sensor"},
	)
}

func TestConfigWithoutKeys(t *testing.T) {
	_, err := New(drivers.Config{ID: "bare"})
	if err == nil || !strings.Contains(err.Error(), `mhz19 "bare": port: is required`) {
		t.Fatalf("New without keys: err = %v, want port required", err)
	}
}

// TestSampleConfig checks that the embedded sample is valid TOML whose
// device table the driver takes strictly, as a user would copy it.
func TestSampleConfig(t *testing.T) {
	devs := drivertest.SampleDevices[*Device](t, SampleConfig, "mhz19", New)
	if len(devs) != 1 {
		t.Fatalf("sample.toml has %d [[device]] tables, want 1", len(devs))
	}
	if got := devs[0].Claims(); got[0] != drivers.SerialPort("/dev/serial0") {
		t.Errorf("sample claims %v, want serial:/dev/serial0", got)
	}
	// The interval the sample shows is the driver's default.
	uncommented, _ := drivertest.SampleDefaults(SampleConfig)
	if got := drivertest.Tables(t, uncommented)[0].Config.Interval; got != DefaultInterval {
		t.Errorf("the sample's interval is %v, want the driver's default %v", got, DefaultInterval)
	}
	// Every optional key is in the sample, commented out, so users find it.
	for _, key := range []string{"# abc = ", "# range = "} {
		if !strings.Contains(SampleConfig, key) {
			t.Errorf("sample.toml does not document %q", key)
		}
	}
	drivertest.CheckSample(t, SampleConfig)
}

func TestRegistered(t *testing.T) {
	dev := drivertest.Registered[*Device](t, "mhz19", SampleConfig, `port = "/dev/serial0"`)
	if info := dev.Info(); info.Manufacturer != "Winsen" || info.Model != "MH-Z19" {
		t.Errorf("Info() = %+v, want Winsen MH-Z19", info)
	}
	d, ok := drivers.Lookup("mhz19")
	if !ok {
		t.Fatal("mhz19 is not registered")
	}
	if d.DefaultInterval != 30*time.Second {
		t.Errorf("DefaultInterval = %v, want 30s", d.DefaultInterval)
	}
	if d.Description == "" || strings.Contains(d.Description, "\n") {
		t.Errorf("Description = %q, want one line", d.Description)
	}
}

// FuzzNew checks the factory on any table: it refuses with the driver and
// device first, or builds a device whose claim is one clean absolute path
// and whose setup commands are valid frames of the commands it sends.
func FuzzNew(f *testing.F) {
	for _, s := range []string{`port = "/dev/serial0"`, "port = \"/dev/./x/\"\nabc = true\nrange = 2000", `port = "rel"`, "range = 10000", `port = "/"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, snippet string) {
		dev := drivertest.FuzzFactory(t, New, "fuzz", `mhz19 "fuzz": `, snippet)
		if dev == nil {
			return
		}
		d := dev.(*Device)
		c := d.Claims()
		if len(c) != 1 || c[0].Kind != drivers.ResourceSerial || c[0].Shared || !filepath.IsAbs(c[0].Name) || filepath.Clean(c[0].Name) != c[0].Name {
			t.Fatalf("accepted %q with claims %v", snippet, c)
		}
		if len(d.setup) > 2 {
			t.Fatalf("accepted %q with %d setup commands", snippet, len(d.setup))
		}
		for _, req := range d.setup {
			if len(req) != frameLen || req[0] != startByte || checksum(req) != req[8] || (req[2] != cmdABC && req[2] != cmdRange) {
				t.Fatalf("accepted %q with setup command % x", snippet, req)
			}
		}
	})
}
