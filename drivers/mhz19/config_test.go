package mhz19

import (
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		snippet string
		wantErr string // empty: valid
		claim   string
		setup   int // commands sent at Open
	}{
		{"port only", `port = "/dev/serial0"`, "", "serial:/dev/serial0", 0},
		{"usb adapter by id", `port = "/dev/serial/by-id/usb-FTDI-if00"`, "", "serial:/dev/serial/by-id/usb-FTDI-if00", 0},
		{"abc off", "port = \"/dev/ttyUSB0\"\nabc = false", "", "serial:/dev/ttyUSB0", 1},
		{"abc and range", "port = \"/dev/ttyAMA0\"\nabc = true\nrange = 10000", "", "serial:/dev/ttyAMA0", 2},
		{"range 2000", "port = \"/dev/serial0\"\nrange = 2000", "", "serial:/dev/serial0", 1},

		{"no port", `abc = true`, `mhz19 "co2": port: required; set it to the serial port the sensor is wired to, such as port = "/dev/serial0"`, "", 0},
		{"empty port", `port = ""`, `port: required`, "", 0},
		{"relative port", `port = "ttyUSB0"`, `mhz19 "co2": port "ttyUSB0": want a device path such as "/dev/serial0"`, "", 0},
		{"range not offered", "port = \"/dev/serial0\"\nrange = 3000", `mhz19 "co2": range 3000: want 2000, 5000 or 10000 (ppm)`, "", 0},
		{"range zero", "port = \"/dev/serial0\"\nrange = 0", `range 0: want 2000, 5000 or 10000`, "", 0},
		{"range as text", "port = \"/dev/serial0\"\nrange = \"5000\"", `mhz19 "co2": `, "", 0},
		{"abc as text", "port = \"/dev/serial0\"\nabc = \"off\"", `mhz19 "co2": `, "", 0},
		{"port as number", `port = 0`, `mhz19 "co2": `, "", 0},
		{"unknown key", "port = \"/dev/serial0\"\nbaud = 9600", `mhz19 "co2": test.toml:2: baud: unknown key`, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, err := New(drivertest.Config(t, "co2", tt.snippet))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			d := dev.(*Device)
			if got := d.Claims(); len(got) != 1 || got[0] != tt.claim {
				t.Errorf("Claims() = %q, want [%q]", got, tt.claim)
			}
			if len(d.setup) != tt.setup {
				t.Errorf("%d setup commands, want %d", len(d.setup), tt.setup)
			}
		})
	}
}

func TestConfigWithoutKeys(t *testing.T) {
	_, err := New(drivers.Config{ID: "bare"})
	if err == nil || !strings.Contains(err.Error(), `mhz19 "bare": port: required`) {
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
	if got := devs[0].Claims(); got[0] != "serial:/dev/serial0" {
		t.Errorf("sample claims %q, want serial:/dev/serial0", got)
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
}
