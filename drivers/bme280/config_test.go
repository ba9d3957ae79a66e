package bme280

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name   string
		toml   string
		claim  string
		osrs   byte
		offset float64
	}{
		{name: "defaults", toml: "", claim: "i2c:1:0x76", osrs: 1},
		{name: "bus as string", toml: `bus = "3"`, claim: "i2c:3:0x76", osrs: 1},
		{name: "bus as integer", toml: `bus = 4`, claim: "i2c:4:0x76", osrs: 1},
		{name: "bus by name", toml: `bus = "I2C1"`, claim: "i2c:1:0x76", osrs: 1},
		{name: "bus by device", toml: `bus = "/dev/i2c-0"`, claim: "i2c:0:0x76", osrs: 1},
		{name: "bus by kernel name", toml: `bus = "i2c-22"`, claim: "i2c:22:0x76", osrs: 1},
		{name: "bus numbered above 255", toml: `bus = 256`, claim: "i2c:256:0x76", osrs: 1},
		{name: "bus another device provides", toml: `bus = "mux/2"`, claim: "i2c:mux/2:0x76", osrs: 1},
		{name: "other address", toml: `address = 0x77`, claim: "i2c:1:0x77", osrs: 1},
		{name: "address in decimal", toml: `address = 118`, claim: "i2c:1:0x76", osrs: 1},
		{name: "oversampling 2", toml: `oversampling = 2`, claim: "i2c:1:0x76", osrs: 2},
		{name: "oversampling 16", toml: `oversampling = 16`, claim: "i2c:1:0x76", osrs: 5},
		{name: "offset", toml: `temperature_offset = -1.5`, claim: "i2c:1:0x76", osrs: 1, offset: -1.5},
		{name: "integer offset", toml: `temperature_offset = 2`, claim: "i2c:1:0x76", osrs: 1, offset: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := drivertest.Device[*Device](t, New, "attic", tt.toml)
			if got := claims(d); !slices.Equal(got, []string{tt.claim}) {
				t.Errorf("Claims() = %q, want [%q]", got, tt.claim)
			}
			if d.osrs != tt.osrs || d.offset != tt.offset {
				t.Errorf("oversampling code %d, offset %v; want %d, %v", d.osrs, d.offset, tt.osrs, tt.offset)
			}
		})
	}
}

// claims returns d's claims in their canonical form.
func claims(d *Device) []string {
	var s []string
	for _, r := range d.Claims() {
		s = append(s, r.String())
	}
	return s
}

func TestNewConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		toml string
		key  string   // the key the error is on
		want []string // what the error on key says
	}{
		{name: "address not a BME280's", toml: `address = 0x48`, key: "address", want: []string{"0x48", "0x76", "0x77"}},
		{name: "address as string", toml: `address = "0x76"`, key: "address", want: []string{"must be an integer, not a string"}},
		{name: "address huge", toml: `address = 99999999999`, key: "address", want: []string{"not a BME280 address"}},
		{name: "oversampling 3", toml: `oversampling = 3`, key: "oversampling", want: []string{"3 is not an oversampling rate", "1, 2, 4, 8 or 16"}},
		{name: "oversampling 0", toml: `oversampling = 0`, key: "oversampling", want: []string{"0 is not"}},
		{name: "oversampling fraction", toml: `oversampling = 1.5`, key: "oversampling", want: []string{"must be an integer, not a float"}},
		{name: "offset nan", toml: `temperature_offset = nan`, key: "temperature_offset", want: []string{"NaN °C is not a plausible correction"}},
		{name: "offset inf", toml: `temperature_offset = -inf`, key: "temperature_offset", want: []string{"-Inf °C"}},
		{name: "offset implausible", toml: `temperature_offset = 100`, key: "temperature_offset", want: []string{"100 °C", "-50 and 50"}},
		{name: "offset as string", toml: `temperature_offset = "1"`, key: "temperature_offset", want: []string{"must be a number, not a string"}},
		// Bus names are drivers.ParseI2CBus's, with its words.
		{name: "bus name", toml: `bus = "spi0"`, key: "bus", want: []string{`I2C bus "spi0": write its number`, "I2C1"}},
		{name: "bus empty", toml: `bus = ""`, key: "bus", want: []string{`I2C bus "": write its number`}},
		{name: "bus with leading zero", toml: `bus = "01"`, key: "bus", want: []string{`I2C bus "01"`}},
		{name: "bus negative", toml: `bus = -1`, key: "bus", want: []string{`I2C bus "-1"`}},
		{name: "bus too big", toml: `bus = 65536`, key: "bus", want: []string{`I2C bus "65536"`}},
		{name: "bus bool", toml: `bus = true`, key: "bus", want: []string{"true is not a bus"}},
		{name: "bus fraction", toml: `bus = 1.5`, key: "bus", want: []string{"1.5 is not a bus"}},
		{name: "bus table", toml: `bus = [1]`, key: "bus", want: []string{"[1] is not a bus"}},
		{name: "typo", toml: `adress = 0x77`, key: "adress", want: []string{`unknown key (did you mean "address"?)`}},
		{name: "key in the wrong case", toml: `Address = 0x77`, key: "Address", want: []string{`did you mean "address"? keys are case-sensitive`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(drivertest.Config(t, "attic", tt.toml))
			drivertest.CheckError(t, err, `bme280 "attic": config: `)
			drivertest.CheckKeyError(t, err, tt.key, tt.want...)
		})
	}
}

// TestNewConfigErrorsAll checks that every bad value is reported at once,
// each at its own key and line, as the agent shows them.
func TestNewConfigErrorsAll(t *testing.T) {
	probs := drivertest.Problems(t, New, "attic", "bus = \"I2C9x\"\naddress = 0x48\n\ntemperature_offset = 75.5\noversampling = 3\n")
	drivertest.CheckProblems(t, probs,
		drivertest.WantProblem{Line: 1, Key: "bus", Msg: `I2C bus "I2C9x"`},
		drivertest.WantProblem{Line: 2, Key: "address", Msg: "0x48 is not a BME280 address"},
		drivertest.WantProblem{Line: 4, Key: "temperature_offset", Msg: "75.5 °C is not a plausible correction"},
		drivertest.WantProblem{Line: 5, Key: "oversampling", Msg: "3 is not an oversampling rate"},
	)
}

func TestNewWithoutDecode(t *testing.T) {
	// A device built in Go rather than from a file has no table to decode.
	d, err := New(drivers.Config{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := claims(d.(*Device)); !slices.Equal(got, []string{"i2c:1:0x76"}) {
		t.Errorf("Claims() = %q", got)
	}
}

// sampleDevice builds the one [[device]] table of a sample configuration
// as the agent does, and returns the table with its device.
func sampleDevice(t *testing.T, sample string) (drivertest.Table, *Device) {
	t.Helper()
	tbs := drivertest.Tables(t, sample)
	if len(tbs) != 1 {
		t.Fatalf("sample config has %d [[device]] tables, want 1", len(tbs))
	}
	d, err := tbs[0].Build(New)
	if err != nil {
		t.Fatalf("sample config: %v\n%s", err, sample)
	}
	return tbs[0], d.(*Device)
}

func TestSampleConfig(t *testing.T) {
	common, d := sampleDevice(t, SampleConfig)
	if common.Driver != "bme280" || common.Config.ID == "" {
		t.Errorf("sample device: driver %q, id %q", common.Driver, common.Config.ID)
	}
	// The commented-out keys document the defaults: uncommented, they must
	// be keys the driver takes, with the values it uses when they are left
	// out.
	uncommented, n := drivertest.SampleDefaults(SampleConfig)
	if n == 0 {
		t.Fatal("the sample has no commented-out defaults")
	}
	tb, withDefaults := sampleDevice(t, uncommented)
	d.log, withDefaults.log = nil, nil
	if *withDefaults != *d {
		t.Errorf("the defaults written in the sample differ from the driver's:\nsample  %+v\ndriver  %+v", *withDefaults, *d)
	}
	if tb.Config.Interval != DefaultInterval {
		t.Errorf("the sample's interval is %v, want the driver's default %v", tb.Config.Interval, DefaultInterval)
	}
	drivertest.CheckSample(t, SampleConfig)
}

func FuzzNew(f *testing.F) {
	for _, s := range []string{"", `bus = "I2C1"`, `bus = 1`, "address = 0x77\noversampling = 16", `temperature_offset = -1.5`, `bus = "/dev/i2c-99999"`, `bus = "mux/0"`, `bus = "/mux/0"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, snippet string) {
		cfg, err := drivertest.ParseConfig("fuzz", snippet)
		if err != nil {
			return
		}
		dev, err := New(cfg)
		if err != nil {
			if !strings.HasPrefix(err.Error(), `bme280 "fuzz": config: `) {
				t.Errorf("error without prefix: %v", err)
			}
			return
		}
		d := dev.(*Device)
		// The claim's bus is canonical: parsing it again changes nothing.
		c := d.Claims()[0]
		if bus, err := drivers.ParseI2CBus(c.Bus); err != nil || bus != c.Bus || c.Kind != drivers.ResourceI2C || (c.Addr != 0x76 && c.Addr != 0x77) {
			t.Errorf("accepted %q with claim %+v (%v)", snippet, c, err)
		}
		if !regexp.MustCompile(`^i2c:.+:0x7[67]$`).MatchString(c.String()) {
			t.Errorf("accepted %q with claim %q", snippet, c)
		}
		if d.osrs < 1 || d.osrs > 5 {
			t.Errorf("accepted %q with oversampling code %d", snippet, d.osrs)
		}
	})
}
