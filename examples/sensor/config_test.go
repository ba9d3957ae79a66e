package sensor_test

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/examples/sensor"
)

func TestRegistered(t *testing.T) {
	f, ok := drivers.Lookup(sensor.DriverName)
	if !ok {
		t.Fatalf("drivers.Lookup(%q): not registered", sensor.DriverName)
	}
	if d, err := f(drivertest.Config(t, "soc", `path = "/sys/class/thermal/thermal_zone0/temp"`)); err != nil {
		t.Fatalf("registered factory: %v", err)
	} else if _, ok := d.(*sensor.File); !ok {
		t.Errorf("registered factory made a %T, want *sensor.File", d)
	}
	if s, ok := drivers.Sample(sensor.DriverName); !ok || s != sensor.SampleConfig {
		t.Errorf("drivers.Sample(%q) = %q, %t; want SampleConfig", sensor.DriverName, s, ok)
	}
}

// TestConfigEntity checks the entity each configuration describes: it is
// what Home Assistant is told about the sensor.
func TestConfigEntity(t *testing.T) {
	base := drivers.Entity{ID: sensor.EntityValue, Kind: drivers.KindSensor, State: drivers.StateMeasurement, Precision: -1}
	with := func(f func(*drivers.Entity)) drivers.Entity { e := base; f(&e); return e }
	for _, tc := range []struct {
		name string
		src  string
		want drivers.Entity
	}{
		{"path alone", ``, base},
		{"temperature", "unit = \"°C\"\nclass = \"temperature\"\nprecision = 1",
			with(func(e *drivers.Entity) { e.Unit, e.Class, e.Precision = drivers.Celsius, drivers.ClassTemperature, 1 })},
		{"counter", "unit = \"B\"\nclass = \"data_size\"\nstate_class = \"total_increasing\"",
			with(func(e *drivers.Entity) {
				e.Unit, e.Class, e.State = drivers.Bytes, drivers.ClassDataSize, drivers.StateTotalIncreasing
			})},
		{"total", `state_class = "total"`, with(func(e *drivers.Entity) { e.State = drivers.StateTotal })},
		{"no state class", `state_class = "none"`, with(func(e *drivers.Entity) { e.State = drivers.StateNone })},
		{"diagnostic", "diagnostic = true\nprecision = 0", with(func(e *drivers.Entity) { e.Diagnostic, e.Precision = true, 0 })},
		{"a unit of its own", `unit = "rpm"`, with(func(e *drivers.Entity) { e.Unit = "rpm" })},
		{"explicit defaults", "field = 0\nscale = 1.0\noffset = 0.0\nunit = \"\"\nclass = \"\"\nstate_class = \"measurement\"\ndiagnostic = false", base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFile(t, "path = \"/sys/class/thermal/thermal_zone0/temp\"\n"+tc.src)
			if got := f.Entities(); !reflect.DeepEqual(got, []drivers.Entity{tc.want}) {
				t.Errorf("Entities() = %+v, want [%+v]", got, tc.want)
			}
			if got := f.Info().Model; got != "File sensor (/sys/class/thermal/thermal_zone0/temp)" {
				t.Errorf("Info().Model = %q", got)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string // substrings of the error, after the prefix
	}{
		{"no path", `unit = "°C"`, []string{"path is required", `path = "/sys/class/thermal/thermal_zone0/temp"`}},
		{"empty path", `path = ""`, []string{"path is required"}},
		{"relative path", `path = "sys/class/thermal/thermal_zone0/temp"`, []string{"is relative", "absolute"}},
		{"a device", `path = "/dev/ttyUSB0"`, []string{`path = "/dev/ttyUSB0" is a device`, "never open /dev"}},
		{"a device, roundabout", `path = "/sys/../dev/mem"`, []string{"is a device"}},
		{"/dev itself", `path = "/dev"`, []string{"is a device"}},
		{"negative field", "path = \"/proc/loadavg\"\nfield = -1", []string{"field = -1", "count fields from 1"}},
		{"zero scale", "path = \"/proc/uptime\"\nscale = 0", []string{"scale = 0", "other than 0"}},
		{"infinite scale", "path = \"/proc/uptime\"\nscale = inf", []string{"scale = +Inf", "finite"}},
		{"NaN offset", "path = \"/proc/uptime\"\noffset = nan", []string{"offset = NaN", "finite"}},
		{"scale as text", "path = \"/proc/uptime\"\nscale = \"0.001\"", []string{"scale"}},
		{"unit with spaces", "path = \"/proc/uptime\"\nunit = \" s\"", []string{`unit = " s"`, "without spaces"}},
		{"unit with a newline", "path = \"/proc/uptime\"\nunit = \"s\\n\"", []string{`unit = "s\n"`}},
		{"binary class", "path = \"/proc/uptime\"\nclass = \"door\"", []string{`class = "door" is not a class of numeric sensor`, `"temperature"`, `"illuminance"`}},
		{"switch class", "path = \"/proc/uptime\"\nclass = \"outlet\"", []string{`class = "outlet"`}},
		{"text class", "path = \"/proc/uptime\"\nclass = \"timestamp\"", []string{`class = "timestamp"`}},
		{"class case", "path = \"/proc/uptime\"\nclass = \"Temperature\"", []string{`class = "Temperature"`}},
		{"bad state class", "path = \"/proc/uptime\"\nstate_class = \"counter\"", []string{`state_class = "counter"`, `"total_increasing"`}},
		{"negative precision", "path = \"/proc/uptime\"\nprecision = -1", []string{"precision = -1", "0 to 9"}},
		{"huge precision", "path = \"/proc/uptime\"\nprecision = 12", []string{"precision = 12"}},
		{"unknown key", "path = \"/proc/uptime\"\nfile = \"/proc/uptime\"", []string{`test.toml:2: file: unknown key`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := sensor.New(drivertest.Config(t, "soc", tc.src))
			if err == nil {
				t.Fatalf("New(%q) = %T, want an error", tc.src, d)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `example-sensor "soc": `) {
				t.Errorf("error %q does not start with the driver and device", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
		})
	}
}

func TestNoDecode(t *testing.T) {
	_, err := sensor.New(drivers.Config{ID: "soc"})
	if err == nil || !strings.HasPrefix(err.Error(), `example-sensor "soc": `) {
		t.Errorf("New without Decode: error %v, want a prefixed error", err)
	}
}

// sampleFiles builds each [[device]] of a configuration in the agent's
// layout, as the agent would.
func sampleFiles(t *testing.T, doc string) []*sensor.File {
	t.Helper()
	var out []*sensor.File
	for i, tb := range drivertest.Tables(t, doc) {
		if tb.Driver != sensor.DriverName {
			t.Fatalf("sample device %d: driver = %q, want %q", i, tb.Driver, sensor.DriverName)
		}
		d, err := tb.Build(sensor.New)
		if err != nil {
			t.Fatalf("sample device %d: %v", i, err)
		}
		out = append(out, d.(*sensor.File))
	}
	return out
}

// TestSampleConfig checks that the sample builds, that every commented-out
// key shows its true default (uncommenting them all changes nothing), and
// that each device reads what its documentation says from a file like the
// one it names.
func TestSampleConfig(t *testing.T) {
	plain := sampleFiles(t, sensor.SampleConfig)
	if len(plain) != 2 {
		t.Fatalf("sample has %d devices, want the SoC temperature and the load", len(plain))
	}
	commented := regexp.MustCompile(`(?m)^(\s*)# (\w+ = .*)$`)
	if n := len(commented.FindAllString(sensor.SampleConfig, -1)); n != 4 {
		t.Errorf("sample has %d commented-out keys, want 4 (field, offset, state_class, diagnostic)", n)
	}
	all := sampleFiles(t, commented.ReplaceAllString(sensor.SampleConfig, "$1$2"))
	for i := range plain {
		if !reflect.DeepEqual(plain[i].Entities(), all[i].Entities()) {
			t.Errorf("device %d: uncommenting the defaults changed the entity: %+v, was %+v", i+1, all[i].Entities(), plain[i].Entities())
		}
	}
	// The sample's paths, pointed at copies of what Linux writes there.
	for i, tc := range []struct {
		file string
		want drivers.Value
	}{
		{"sys/class/thermal/thermal_zone0/temp", drivers.Number(48.312, drivers.Celsius)},
		{"proc/loadavg", drivers.Number(0.58, "")},
	} {
		for _, uncommented := range []bool{false, true} {
			src := sensor.SampleConfig
			if uncommented {
				src = commented.ReplaceAllString(src, "$1$2")
			}
			src = strings.Replace(src, `path = "/`+tc.file+`"`, fmt.Sprintf("path = %q", testdata(t, tc.file)), 1)
			f := sampleFiles(t, src)[i]
			open(t, f)
			if got := read(t, f); !got.Equal(tc.want) {
				t.Errorf("sample device %d (uncommented %t) reads %v from a copy of /%s, want %v", i+1, uncommented, got, tc.file, tc.want)
			}
		}
	}
	// Telegraf style: each block of ## documentation is full sentences.
	var last string
	for i, line := range strings.Split(sensor.SampleConfig+"\n", "\n") {
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

// FuzzNew feeds arbitrary driver tables to the factory: it must never
// panic, every error must name the driver and device, and a sensor it
// accepts must describe a well-formed entity.
func FuzzNew(f *testing.F) {
	for _, s := range []string{
		"path = \"/sys/class/thermal/thermal_zone0/temp\"\nscale = 0.001\nunit = \"°C\"\nclass = \"temperature\"",
		"path = \"/proc/loadavg\"\nfield = 2\nprecision = 2\ndiagnostic = true",
		"path = \"/sys/class/net/eth0/statistics/rx_bytes\"\nunit = \"B\"\nclass = \"data_size\"\nstate_class = \"total_increasing\"",
		"path = \"/dev/mem\"",
		"path = \"x\"\nscale = nan\noffset = -inf",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := drivertest.ParseConfig("fz", src)
		if err != nil {
			return // not TOML: the agent rejects it before any driver sees it
		}
		d, err := sensor.New(cfg)
		if err != nil {
			if !strings.HasPrefix(err.Error(), `example-sensor "fz": `) {
				t.Fatalf("error %q does not start with the driver and device", err)
			}
			return
		}
		es := d.Entities()
		if len(es) != 1 || es[0].ID != sensor.EntityValue || es[0].Kind != drivers.KindSensor {
			t.Fatalf("Entities() = %+v", es)
		}
		if e := es[0]; e.Precision < -1 || e.Precision > 9 || e.State < drivers.StateNone || e.State > drivers.StateTotalIncreasing {
			t.Fatalf("entity %+v", e)
		}
		if m := d.Info().Model; strings.Contains(m, "(/dev") || !strings.Contains(m, "(/") {
			t.Fatalf("accepted a path that is not absolute or is a device: Info %q", m)
		}
	})
}
