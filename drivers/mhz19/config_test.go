package mhz19

import (
	"fmt"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/pinion-home/pinion/drivers"
)

// testConfig returns the configuration of device id whose own keys are
// snippet (TOML key = value lines), decoded strictly as the agent does: a
// key the driver does not take is an error naming it.
func testConfig(id, snippet string) drivers.Config {
	return drivers.Config{ID: id, Decode: func(v any) error {
		var doc struct {
			Device toml.Primitive `toml:"device"`
		}
		md, err := toml.Decode("[device]\n"+snippet, &doc)
		if err != nil {
			return err
		}
		if err := md.PrimitiveDecode(doc.Device, v); err != nil {
			return err
		}
		return undecodedError(md)
	}}
}

// undecodedError reports the first key nobody decoded.
func undecodedError(md toml.MetaData) error {
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return fmt.Errorf("%s: unknown key", k[len(k)-1])
	}
	return nil
}

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
		{"unknown key", "port = \"/dev/serial0\"\nbaud = 9600", `mhz19 "co2": baud: unknown key`, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, err := New(testConfig("co2", tt.snippet))
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
	var doc struct {
		Device []toml.Primitive `toml:"device"`
	}
	md, err := toml.Decode(SampleConfig, &doc)
	if err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	if len(doc.Device) != 1 {
		t.Fatalf("sample.toml has %d [[device]] tables, want 1", len(doc.Device))
	}
	var common struct {
		ID       string `toml:"id"`
		Driver   string `toml:"driver"`
		Name     string `toml:"name"`
		Interval string `toml:"interval"`
	}
	if err := md.PrimitiveDecode(doc.Device[0], &common); err != nil {
		t.Fatal(err)
	}
	if common.Driver != "mhz19" {
		t.Errorf("sample driver = %q, want mhz19", common.Driver)
	}
	dev, err := New(drivers.Config{ID: common.ID, Decode: func(v any) error {
		if err := md.PrimitiveDecode(doc.Device[0], v); err != nil {
			return err
		}
		return undecodedError(md)
	}})
	if err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	if got := dev.(*Device).Claims(); got[0] != "serial:/dev/serial0" {
		t.Errorf("sample claims %q, want serial:/dev/serial0", got)
	}
	// Every optional key is in the sample, commented out, so users find it.
	for _, key := range []string{"# abc = ", "# range = "} {
		if !strings.Contains(SampleConfig, key) {
			t.Errorf("sample.toml does not document %q", key)
		}
	}
}

func TestRegistered(t *testing.T) {
	f, ok := drivers.Lookup("mhz19")
	if !ok {
		t.Fatal(`driver "mhz19" is not registered`)
	}
	dev, err := f(testConfig("x", `port = "/dev/serial0"`))
	if err != nil {
		t.Fatal(err)
	}
	if info := dev.Info(); info.Manufacturer != "Winsen" || info.Model != "MH-Z19" {
		t.Errorf("Info() = %+v, want Winsen MH-Z19", info)
	}
}
