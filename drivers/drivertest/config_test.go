package drivertest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// lineName decodes itself and refuses numbers, like the gpio driver's pin.
type lineName string

var errNumber = errors.New("a line is named, not numbered")

func (n *lineName) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("pin = %v: %w", v, errNumber)
	}
	*n = lineName(s)
	return nil
}

// probe is a driver's configuration with every kind of key: scalars, a
// custom decoder, a nested table, an array of tables and values that take
// anything.
type probe struct {
	Pin     lineName      `toml:"pin"`
	Channel int           `toml:"channel"`
	Ratio   float64       `toml:"ratio"`
	On      bool          `toml:"on"`
	Wait    time.Duration `toml:"wait"`
	Names   []string      `toml:"names"`
	Sensor  struct {
		Offset float64 `toml:"offset"`
		Addr   uint8   `toml:"addr"`
	} `toml:"sensor"`
	Chans []struct {
		N int `toml:"n"`
	} `toml:"chans"`
	Extra map[string]any `toml:"extra"`
	Any   any            `toml:"any"`
}

// decodeErr decodes body into a probe through Config and returns the error
// text, or "" when it decoded.
func decodeErr(t *testing.T, body string) (probe, string) {
	t.Helper()
	var p probe
	if err := Config(t, "dev", body).Decode(&p); err != nil {
		return p, err.Error()
	}
	return p, ""
}

func TestConfigDecodes(t *testing.T) {
	cfg := Config(t, "attic", "name = \"Attic\"\ninterval = \"2s\"\npin = \"GPIO4\"\nchannel = 3\nwait = \"5ms\"\n"+
		"names = [\"a\", \"b\"]\nextra = { x = 1, y = { z = true } }\nany = [1, \"two\"]\n\n[sensor]\noffset = -1.5\naddr = 0x76\n\n[[chans]]\nn = 1\n[[chans]]\nn = 2\n")
	if cfg.ID != "attic" || cfg.Name != "Attic" || cfg.Interval != 2*time.Second {
		t.Errorf("Config = %q %q %v, want the id, the name and the interval of the table", cfg.ID, cfg.Name, cfg.Interval)
	}
	var p probe
	if err := cfg.Decode(&p); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if p.Pin != "GPIO4" || p.Channel != 3 || p.Wait != 5*time.Millisecond || len(p.Names) != 2 ||
		p.Sensor.Offset != -1.5 || p.Sensor.Addr != 0x76 || len(p.Chans) != 2 || p.Chans[1].N != 2 ||
		p.Extra["x"] != int64(1) || !reflect.DeepEqual(p.Any, []any{int64(1), "two"}) {
		t.Errorf("decoded %+v", p)
	}
	if err := cfg.Decode(&p); err == nil || !strings.Contains(err.Error(), "Decode called twice") {
		t.Errorf("second Decode: %v, want an error: the agent allows one", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := Config(t, "porch", "")
	if cfg.ID != "porch" || cfg.Name != "porch" || cfg.Interval != 30*time.Second {
		t.Errorf("Config = %q %q %v; want the id as the name and the agent's default interval, 30s", cfg.ID, cfg.Name, cfg.Interval)
	}
	var p probe
	if err := cfg.Decode(&p); err != nil || !reflect.DeepEqual(p, probe{}) {
		t.Errorf("Decode of no keys = %+v, %v", p, err)
	}
}

// TestConfigProblems pins the agent's words for each kind of mistake, with
// the line in the body and the key.
func TestConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string // the whole error
	}{
		{"wrong type", "channel = 1\n\nratio = \"x\"",
			`test.toml:3: ratio: must be a number, not a string ("x")`},
		{"integer for a string", "names = [\"a\"]\nchannel = \"7\"",
			`test.toml:2: channel: must be an integer, not a string ("7")`},
		{"custom decoder", "pin = 17",
			`test.toml:1: pin: pin = 17: a line is named, not numbered`},
		{"bad duration", "wait = \"soon\"",
			`test.toml:1: wait: invalid duration: "soon": use a number with a unit, such as "30s" or "500ms"`},
		{"nested", "[sensor]\noffset = true",
			`test.toml:2: sensor.offset: must be a number, not a boolean (true)`},
		{"scalar for a table", "sensor = 3",
			`test.toml:1: sensor: must be a table, not an integer (3)`},
		{"unknown key, near one", "channel = 1\nchanel = 2",
			`test.toml:2: chanel: unknown key (did you mean "channel"?)`},
		{"unknown key", "colour = \"red\"",
			`test.toml:1: colour: unknown key (the driver takes: id, driver, name, interval, pin, channel, ratio, on, wait, names, sensor, chans, extra, any)`},
		{"unknown key in a table", "[sensor]\noffset = 1.0\ngain = 2",
			`test.toml:3: sensor.gain: unknown key (the driver takes: offset, addr)`},
		{"unknown table, reported once", "[light]\nr = 1\ng = 2",
			`test.toml:1: light: unknown key (the driver takes: id, driver, name, interval, pin, channel, ratio, on, wait, names, sensor, chans, extra, any)`},
		{"key in the wrong case", "Channel = 1",
			`test.toml:1: Channel: unknown key (did you mean "channel"? keys are case-sensitive)`},
		{"both spellings of a key", "channel = 1\nCHANNEL = 2",
			`test.toml:2: CHANNEL: unknown key (did you mean "channel"? keys are case-sensitive)`},
		{"key in the wrong case in a table", "[sensor]\nOffset = 1.0",
			`test.toml:2: sensor.Offset: unknown key (did you mean "offset"? keys are case-sensitive)`},
		{"key in the wrong case in an array of tables", "[[chans]]\nn = 1\n[[chans]]\nN = 2",
			`test.toml:4: chans[1].N: unknown key (did you mean "n"? keys are case-sensitive)`},
		{"keys under a map or an any are their own", "extra = { Channel = 1 }\nany = { PIN = 2 }\nchannel = \"x\"",
			`test.toml:3: channel: must be an integer, not a string ("x")`},
		{"every problem at once", "ratio = \"x\"\non = 1\nchanel = 2",
			"test.toml:1: ratio: must be a number, not a string (\"x\")\n" +
				"test.toml:2: on: must be a boolean, not an integer (1)\n" +
				`test.toml:3: chanel: unknown key (did you mean "channel"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got := decodeErr(t, tc.body)
			if got != tc.want {
				t.Errorf("Decode error:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestConfigErrorChain checks that a driver's own error, returned from its
// UnmarshalTOML, stays reachable through the ConfigError.
func TestConfigErrorChain(t *testing.T) {
	var p probe
	err := Config(t, "dev", "pin = 4").Decode(&p)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 {
		t.Fatalf("Decode error %v, want a *ConfigError with one problem", err)
	}
	if pr := ce.Problems[0]; pr.File != File || pr.Line != 1 || pr.Key != "pin" || pr.Err == nil {
		t.Errorf("problem %+v, want test.toml line 1, key pin, with the toml error", pr)
	}
}

func TestParseConfigRejects(t *testing.T) {
	for _, tc := range []struct {
		name, id, body string
		want           string
	}{
		{"syntax", "dev", "pin = \"GPIO4\"\nchannel = ", "test.toml:2: "},
		{"unclosed table", "dev", "[sensor\noffset = 1", "test.toml:1: "},
		{"id in the body", "dev", "pin = \"GPIO4\"\nid = \"x\"", "test.toml:2: id: is not one of the driver's keys"},
		{"driver in the body", "dev", "driver = \"gpio\"", "test.toml:1: driver: is not one of the driver's keys"},
		{"bad id", "my dev", "", `id: "my dev" is not a valid id`},
		{"empty id", "", "", `id: "" is not a valid id`},
		{"reserved id", "agent", "", `id: "agent" is reserved`},
		{"empty name", "dev", "name = \" \"", "test.toml:1: name: must not be empty"},
		{"name not a string", "dev", "name = 3", "test.toml:1: name: must be a string, not an integer (3)"},
		{"interval as a number", "dev", "interval = 30", `test.toml:1: interval: must be a duration string such as "30s" or "500ms", not an integer (30)`},
		{"interval bad", "dev", "interval = \"often\"", `test.toml:1: interval: invalid duration "often"`},
		{"interval zero", "dev", "interval = \"0s\"", "test.toml:1: interval: 0s must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(tc.id, tc.body)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseConfig(%q, %q) = %v, want a *ConfigError", tc.id, tc.body, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			ft := runFake(func(tb *fakeTB) { Config(tb, tc.id, tc.body) })
			if !ft.fatal || !strings.Contains(ft.reported(), tc.want) {
				t.Errorf("Config: fatal %t, reported %q; want the test stopped with the problem", ft.fatal, ft.reported())
			}
		})
	}
}

// decodesProbe returns a factory that decodes its keys into a probe and
// returns dev, wrapping Decode's error as a driver does.
func decodesProbe(dev drivers.Device) newFunc {
	return func(cfg drivers.Config) (drivers.Device, error) {
		var p probe
		if err := cfg.Decode(&p); err != nil {
			return nil, fmt.Errorf("probe %q: %w", cfg.ID, err)
		}
		return dev, nil
	}
}

// TestBuild checks what the agent checks after a factory returns.
func TestBuild(t *testing.T) {
	dev := &emptyDevice{}
	decodes := decodesProbe(dev)
	var late drivers.Config
	keeps := func(cfg drivers.Config) (drivers.Device, error) { late = cfg; return dev, nil }
	for _, tc := range []struct {
		name string
		f    newFunc
		body string
		want string // "" for dev, nil
	}{
		{"decodes", decodes, "channel = 2", ""},
		{"decode fails", decodes, "channel = \"2\"", `probe "dev": test.toml:1: channel: must be an integer, not a string ("2")`},
		{"no keys taken, none given", keeps, "name = \"Porch\"", ""},
		{"no keys taken", keeps, "colour = \"red\"\nnmae = \"x\"",
			"test.toml:1: colour: unknown key: the driver takes no keys of its own\n" +
				"test.toml:2: nmae: unknown key (did you mean \"name\"?): the driver takes no keys of its own"},
		{"nothing returned", func(drivers.Config) (drivers.Device, error) { return nil, nil }, "",
			"test.toml: the driver returned no device and no error (a bug in the driver)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Build(t, tc.f, "dev", tc.body)
			switch {
			case tc.want == "" && (err != nil || d != dev):
				t.Errorf("Build = %v, %v; want the device", d, err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("Build error:\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
	if err := late.Decode(&probe{}); err == nil || !strings.Contains(err.Error(), "after the driver's factory returned") {
		t.Errorf("Decode after the factory returned: %v, want an error", err)
	}
}

func TestDevice(t *testing.T) {
	dev := &emptyDevice{}
	decodes := decodesProbe(dev)
	if got := Device[*emptyDevice](t, decodes, "dev", "channel = 2"); got != dev {
		t.Errorf("Device = %v, want the factory's device", got)
	}
	for _, tc := range []struct {
		name string
		run  func(tb *fakeTB)
		want string
	}{
		{"not TOML", func(tb *fakeTB) { Device[*emptyDevice](tb, decodes, "dev", "channel = ") }, `drivertest.Build("dev"): test.toml:1: `},
		{"refused", func(tb *fakeTB) { Device[*emptyDevice](tb, decodes, "dev", "channel = \"2\"") },
			`drivertest.Device("dev"): probe "dev": test.toml:1: channel: must be an integer, not a string ("2")`},
		{"keys it does not take", func(tb *fakeTB) {
			Device[drivers.Device](tb, func(drivers.Config) (drivers.Device, error) { return dev, nil }, "dev", "pin = \"GPIO4\"")
		}, `drivertest.Device("dev"): test.toml:1: pin: unknown key`},
		{"another type", func(tb *fakeTB) { Device[*fake](tb, decodes, "dev", "") },
			`drivertest.Device("dev"): the factory made a *drivertest.emptyDevice, want *drivertest.fake`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := runFake(tc.run)
			if !ft.fatal || !strings.HasPrefix(ft.reported(), tc.want) {
				t.Errorf("Device: fatal %t, reported %q; want the test stopped with %q", ft.fatal, ft.reported(), tc.want)
			}
		})
	}
}

// emptyDevice is a device with nothing to it, for the factories above.
type emptyDevice struct{}

func (emptyDevice) Info() drivers.Info                                       { return drivers.Info{} }
func (emptyDevice) Entities() []drivers.Entity                               { return nil }
func (emptyDevice) Open(context.Context, drivers.Host, drivers.Output) error { return nil }
func (emptyDevice) Close() error                                             { return nil }

// newFunc is a driver's New.
type newFunc = func(drivers.Config) (drivers.Device, error)

func TestTables(t *testing.T) {
	doc := `# two devices
[[device]]
id = "door"
driver = "probe"
pin = "GPIO17"

[[device]]
id = "bell"
driver = "probe"
name = "Door bell"
interval = "1m"
pin = 27
[device.sensor]
gain = 2
`
	tbs := Tables(t, doc)
	if len(tbs) != 2 {
		t.Fatalf("Tables: %d tables, want 2", len(tbs))
	}
	if tb := tbs[0]; tb.Driver != "probe" || tb.Line != 2 || tb.Config.ID != "door" || tb.Config.Name != "door" {
		t.Errorf("table 0: %+v", tb)
	}
	if tb := tbs[1]; tb.Line != 7 || tb.Config.ID != "bell" || tb.Config.Name != "Door bell" || tb.Config.Interval != time.Minute {
		t.Errorf("table 1: %+v", tb)
	}
	var p probe
	if err := tbs[0].Config.Decode(&p); err != nil || p.Pin != "GPIO17" {
		t.Errorf("table 0 decodes %+v, %v", p, err)
	}
	want := "test.toml:12: device[1].pin: pin = 27: a line is named, not numbered\n" +
		"test.toml:14: device[1].sensor.gain: unknown key (driver \"probe\" takes: offset, addr)"
	if err := tbs[1].Config.Decode(&p); err == nil || err.Error() != want {
		t.Errorf("table 1 Decode error:\n%v\nwant:\n%s", err, want)
	}
}

func TestParseTablesRejects(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"device as a table", "[device]\nid = \"x\"", "test.toml:1: device: must be an array of tables ([[device]] sections), not a table: write [[device]], not [device]"},
		{"no id", "[[device]]\ndriver = \"probe\"", `test.toml:1: device[0].id: is required`},
		{"no driver", "[[device]]\nid = \"x\"", "test.toml:1: device[0].driver: is required"},
		{"duplicate id", "[[device]]\nid = \"x\"\ndriver = \"probe\"\n[[device]]\nid = \"x\"\ndriver = \"probe\"",
			`test.toml:5: device[1].id: duplicate id "x": device[0] (line 1) already uses it`},
		{"syntax", "[[device]]\nid = \"x\"\ndriver = ", "test.toml:3: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTables(tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseTables: %v, want an error containing %q", err, tc.want)
			}
			ft := runFake(func(tb *fakeTB) { Tables(tb, tc.doc) })
			if !ft.fatal || !strings.Contains(ft.reported(), tc.want) {
				t.Errorf("Tables: fatal %t, reported %q; want the test stopped with the problem", ft.fatal, ft.reported())
			}
		})
	}
	if tbs, err := ParseTables("[agent]\nid = \"n\"\n"); err != nil || len(tbs) != 0 {
		t.Errorf("a document without devices: %v, %v; want no tables and no error", tbs, err)
	}
}

// FuzzParseConfig feeds arbitrary bodies through Config's parse and
// Decode: neither may panic, and every problem must name a line inside the
// body.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"pin = \"GPIO4\"\nchannel = 3",
		"[sensor]\noffset = \"x\"\n[[chans]]\nn = \"y\"",
		"a.b.c = 1\n'q k' = { x = [1, {y = 2}] }",
		"names = \"\"\"\nmulti\nline\n\"\"\"\nratio = 1e3\nzz = 1",
		"extra.\"k\\u00e9y\" = 1\nany = {}\nwait = 5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		lines := strings.Count(body, "\n") + 1
		check := func(err error) {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want a *ConfigError", err, err)
			}
			for _, p := range ce.Problems {
				if p.Line < 0 || p.Line > lines || p.Msg == "" || p.File != File {
					t.Fatalf("problem %+v of a %d-line body", p, lines)
				}
			}
		}
		cfg, err := ParseConfig("fz", body)
		if err != nil {
			check(err)
			return
		}
		var p probe
		if err := cfg.Decode(&p); err != nil {
			check(err)
		}
	})
}

// TestEntityTables checks that the agent's [entity.<id>] tables never
// reach the driver, and that one naming an entity the device does not
// have is reported at its line, as the agent reports it.
func TestEntityTables(t *testing.T) {
	f := newFake()
	newF := func(cfg drivers.Config) (drivers.Device, error) {
		var p probe
		if err := cfg.Decode(&p); err != nil {
			return nil, err
		}
		return f, nil
	}
	body := "pin = \"GPIO4\"\n[entity.relay]\nname = \"Pump\"\n[entity.pmup]\ndisabled = true\n[entity.Door]\nicon = \"mdi:door\"\n"
	if d, err := Build(t, newF, "dev", body[:len("pin = \"GPIO4\"\n[entity.relay]\nname = \"Pump\"\n")]); err != nil || d != f {
		t.Errorf("Build with an entity table of the device = %v, %v; want the device", d, err)
	}
	probs := Problems(t, newF, "dev", body)
	CheckProblems(t, probs,
		WantProblem{Line: 4, Key: "entity.pmup", Msg: `device "dev" has no entity "pmup"`},
		WantProblem{Line: 6, Key: "entity.Door", Msg: `(did you mean "door"?)`})
	_, err := Build(t, newF, "dev", body)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 2 || ce.Problems[0].Line != 4 {
		t.Errorf("Build = %v, want the two problems", err)
	}

	doc := "[[device]]\nid = \"a\"\ndriver = \"drivertest-probe\"\n[device.entity.relay]\nname = \"Pump\"\n\n" +
		"[[device]]\nid = \"b\"\ndriver = \"drivertest-probe\"\n[device.entity.fan]\ndisabled = true\n"
	var got []string
	for _, tb := range Tables(t, doc) {
		for _, p := range tb.Problems(newF) {
			got = append(got, p.String())
		}
	}
	want := []string{`test.toml:10: device[1].entity.fan: device "b" has no entity "fan"`}
	if len(got) != 1 || !strings.HasPrefix(got[0], want[0]) {
		t.Errorf("problems of the document:\n%s\nwant one, starting %q", strings.Join(got, "\n"), want[0])
	}
}
