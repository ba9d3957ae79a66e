package sensor_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/examples/sensor"
)

func TestRegistered(t *testing.T) {
	drivertest.Registered[*sensor.File](t, sensor.DriverName, sensor.SampleConfig, `path = "/sys/class/thermal/thermal_zone0/temp"`)
}

// TestConfigEntity checks the entity each configuration describes: it is
// what Home Assistant is told about the sensor.
func TestConfigEntity(t *testing.T) {
	base := drivers.Sensor{State: drivers.StateMeasurement, Precision: -1}
	entity := func(s drivers.Sensor) drivers.Entity { return drivers.Entity{ID: sensor.EntityValue, Spec: s} }
	with := func(f func(*drivers.Sensor)) drivers.Entity { s := base; f(&s); return entity(s) }
	for _, tc := range []struct {
		name string
		src  string
		want drivers.Entity
	}{
		{"path alone", ``, entity(base)},
		{"temperature", "unit = \"°C\"\nclass = \"temperature\"\nprecision = 1",
			with(func(s *drivers.Sensor) { s.Unit, s.Class, s.Precision = drivers.Celsius, drivers.ClassTemperature, 1 })},
		{"counter", "unit = \"B\"\nclass = \"data_size\"\nstate_class = \"total_increasing\"",
			with(func(s *drivers.Sensor) {
				s.Unit, s.Class, s.State = drivers.Bytes, drivers.ClassDataSize, drivers.StateTotalIncreasing
			})},
		{"total", `state_class = "total"`, with(func(s *drivers.Sensor) { s.State = drivers.StateTotal })},
		{"an energy meter counts up by default", "unit = \"kWh\"\nclass = \"energy\"",
			with(func(s *drivers.Sensor) {
				s.Unit, s.Class, s.State = "kWh", drivers.ClassEnergy, drivers.StateTotalIncreasing
			})},
		{"no state class", `state_class = "none"`, with(func(s *drivers.Sensor) { s.State = drivers.StateNone })},
		{"diagnostic", "diagnostic = true\nprecision = 0", drivers.Entity{ID: sensor.EntityValue, Diagnostic: true,
			Spec: drivers.Sensor{State: drivers.StateMeasurement, Precision: 0}}},
		{"a unit of its own", `unit = "rpm"`, with(func(s *drivers.Sensor) { s.Unit = "rpm" })},
		{"explicit defaults", "field = 0\nscale = 1.0\noffset = 0.0\nunit = \"\"\nclass = \"\"\nstate_class = \"measurement\"\ndiagnostic = false", entity(base)},
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
		key  string   // the key the error is on
		want []string // what the error on key says
	}{
		{"no path", `unit = "°C"`, "path", []string{"is required", `path = "/sys/class/thermal/thermal_zone0/temp"`}},
		{"empty path", `path = ""`, "path", []string{"is required"}},
		{"relative path", `path = "sys/class/thermal/thermal_zone0/temp"`, "path", []string{"is relative", "absolute"}},
		{"a device", `path = "/dev/ttyUSB0"`, "path", []string{`"/dev/ttyUSB0" is a device`, "never open /dev"}},
		{"a device, roundabout", `path = "/sys/../dev/mem"`, "path", []string{"is a device"}},
		{"/dev itself", `path = "/dev"`, "path", []string{"is a device"}},
		{"outside /sys and /proc", `path = "/etc/hostname"`, "path", []string{`"/etc/hostname" is not below /sys or /proc`}},
		{"out of /sys, roundabout", `path = "/sys/../etc/hostname"`, "path", []string{"is not below /sys or /proc"}},
		{"a name that starts like /sys", `path = "/system/temp"`, "path", []string{"is not below /sys or /proc"}},
		{"/sys itself", `path = "/sys"`, "path", []string{`"/sys" is not below /sys or /proc`}},
		{"negative field", "path = \"/proc/loadavg\"\nfield = -1", "field", []string{"-1 is not a field", "count fields from 1"}},
		{"zero scale", "path = \"/proc/uptime\"\nscale = 0", "scale", []string{"0 is not a scale", "other than 0"}},
		{"infinite scale", "path = \"/proc/uptime\"\nscale = inf", "scale", []string{"+Inf is not a scale", "finite"}},
		{"NaN offset", "path = \"/proc/uptime\"\noffset = nan", "offset", []string{"NaN is not an offset", "finite"}},
		{"scale as text", "path = \"/proc/uptime\"\nscale = \"0.001\"", "scale", []string{"must be a number, not a string"}},
		{"unit with spaces", "path = \"/proc/uptime\"\nunit = \" s\"", "unit", []string{`" s" has spaces around it`, "write the unit alone"}},
		{"unit with a newline", "path = \"/proc/uptime\"\nunit = \"s\\n\"", "unit", []string{`"s\n"`}},
		{"binary class", "path = \"/proc/uptime\"\nclass = \"door\"", "class", []string{`"door" is not a class of numeric sensor`, `"temperature"`, `"illuminance"`}},
		{"switch class", "path = \"/proc/uptime\"\nclass = \"outlet\"", "class", []string{`"outlet" is not`}},
		{"text class", "path = \"/proc/uptime\"\nclass = \"timestamp\"", "class", []string{`"timestamp" is not`}},
		{"class case", "path = \"/proc/uptime\"\nclass = \"Temperature\"", "class", []string{`"Temperature" is not`}},
		{"bad state class", "path = \"/proc/uptime\"\nstate_class = \"counter\"", "state_class", []string{`"counter" is not a state class`, `"total_increasing"`}},
		{"negative precision", "path = \"/proc/uptime\"\nprecision = -1", "precision", []string{"-1 is not a precision", "0 to 9"}},
		{"huge precision", "path = \"/proc/uptime\"\nprecision = 12", "precision", []string{"12 is not a precision: want 0 to 9"}},
		{"unknown key", "path = \"/proc/uptime\"\nfile = \"/proc/uptime\"", "file", []string{`unknown key`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sensor.New(drivertest.Config(t, "soc", tc.src))
			drivertest.CheckError(t, err, `example-sensor "soc": `)
			drivertest.CheckKeyError(t, err, tc.key, tc.want...)
		})
	}
}

// TestConfigErrorsAll checks that every bad value is reported at once, each
// at its own key and line, as the agent shows them.
func TestConfigErrorsAll(t *testing.T) {
	probs := drivertest.Problems(t, sensor.New, "soc",
		"path = \"/dev/mem\"\nfield = -2\nscale = 0\nclass = \"door\"\nstate_class = \"counter\"\nprecision = 10\n")
	drivertest.CheckProblems(t, probs,
		drivertest.WantProblem{Line: 1, Key: "path", Msg: "is a device"},
		drivertest.WantProblem{Line: 2, Key: "field", Msg: "-2 is not a field"},
		drivertest.WantProblem{Line: 3, Key: "scale", Msg: "0 is not a scale"},
		drivertest.WantProblem{Line: 4, Key: "class", Msg: `"door" is not a class`},
		drivertest.WantProblem{Line: 5, Key: "state_class", Msg: `"counter" is not a state class`},
		drivertest.WantProblem{Line: 6, Key: "precision", Msg: "10 is not a precision: want 0 to 9 decimals"},
	)
}

func TestNoDecode(t *testing.T) {
	_, err := sensor.New(drivers.Config{ID: "soc"})
	drivertest.CheckError(t, err, `example-sensor "soc": `)
}

// sampleFiles builds each [[device]] of a configuration in the agent's
// layout, as the agent would.
func sampleFiles(t *testing.T, doc string) []*sensor.File {
	t.Helper()
	return drivertest.SampleDevices[*sensor.File](t, doc, sensor.DriverName, sensor.New)
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
	uncommented, n := drivertest.SampleDefaults(sensor.SampleConfig)
	if n != 5 {
		t.Errorf("sample has %d commented-out keys, want 5 (interval, field, offset, state_class, diagnostic)", n)
	}
	all := sampleFiles(t, uncommented)
	for i := range plain {
		if !reflect.DeepEqual(plain[i].Entities(), all[i].Entities()) {
			t.Errorf("device %d: uncommenting the defaults changed the entity: %+v, was %+v", i+1, all[i].Entities(), plain[i].Entities())
		}
	}
	// The sample's files hold copies of what Linux writes there.
	for i, want := range []drivers.Value{drivers.Num(48.312, drivers.Celsius), drivers.Num(0.58, "")} {
		for j, f := range []*sensor.File{plain[i], all[i]} {
			w := drivertest.Open(t, f, machine(t))
			if got := value(t, w); !got.Equal(want) {
				t.Errorf("sample device %d (uncommented %t) reads %v, want %v", i+1, j == 1, got, want)
			}
		}
	}
	for _, tb := range drivertest.Tables(t, uncommented) {
		if tb.Config.Interval != sensor.DefaultInterval {
			t.Errorf("device %q: interval %v with the sample's defaults written out, want the driver's default %v", tb.Config.ID, tb.Config.Interval, sensor.DefaultInterval)
		}
	}
	drivertest.CheckSample(t, sensor.SampleConfig)
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
		d := drivertest.FuzzFactory(t, sensor.New, "fz", `example-sensor "fz": `, src)
		if d == nil {
			return
		}
		es := d.Entities()
		if len(es) != 1 || es[0].ID != sensor.EntityValue {
			t.Fatalf("Entities() = %+v", es)
		}
		s, ok := es[0].Spec.(drivers.Sensor)
		if !ok || s.Precision < -1 || s.Precision > 9 || s.State < drivers.StateNone || s.State > drivers.StateTotalIncreasing {
			t.Fatalf("entity %+v", es[0])
		}
		if m := d.Info().Model; !strings.HasPrefix(m, "File sensor (/sys/") && !strings.HasPrefix(m, "File sensor (/proc/") {
			t.Fatalf("accepted a path that is not below /sys or /proc: Info %q", m)
		}
	})
}
