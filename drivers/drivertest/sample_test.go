package drivertest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

func TestSampleDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		n              int
	}{
		{"nothing commented out", "[[device]]\n  id = \"a\"\n", "[[device]]\n  id = \"a\"\n", 0},
		{"one key", "  ## Doc.\n  # inverted = false\n", "  ## Doc.\n  inverted = false\n", 1},
		{"every kind of value, any indent", "# a = 1\n\t# b = \"x y\"\n    # c = [\"GPIO5\", \"GPIO6\"]\n# interval = \"30s\"",
			"a = 1\n\tb = \"x y\"\n    c = [\"GPIO5\", \"GPIO6\"]\ninterval = \"30s\"", 4},
		{"documentation that looks like a key", "## pin = \"GPIO17\" names the line.\n", "## pin = \"GPIO17\" names the line.\n", 0},
		{"a comment that is no key", "# see the README\n#x = 1\n# x=1\n", "# see the README\n#x = 1\n# x=1\n", 0},
		{"a key after a value", "pin = \"GPIO4\" # inverted = true\n", "pin = \"GPIO4\" # inverted = true\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, n := SampleDefaults(tc.in)
			if got != tc.want || n != tc.n {
				t.Errorf("SampleDefaults(%q) = %q, %d; want %q, %d", tc.in, got, n, tc.want, tc.n)
			}
		})
	}
}

func TestCheckSample(t *testing.T) {
	for _, tc := range []struct {
		name, sample string
		want         []string // the errors, in order
	}{
		{"sentences", "## A relay.\n[[device]]\n  ## The line's name, such as\n  ## \"GPIO17\".\n  pin = \"GPIO17\"\n", nil},
		{"no documentation", "[[device]]\nid = \"a\"\n", nil},
		{"a block without a full stop", "## A relay\n[[device]]\n  ## Fine.\n  pin = \"GPIO17\"\n",
			[]string{`sample line 1: documentation "## A relay" does not end a sentence`}},
		{"only the last line of a block counts", "## First line\n## second line.\n## third\nx = 1\n",
			[]string{`sample line 3: documentation "## third" does not end a sentence`}},
		{"the last block of the sample", "x = 1\n  ## Trailing", []string{`sample line 2: documentation "## Trailing" does not end a sentence`}},
		{"every block", "## one\na = 1\n## two\nb = 2\n",
			[]string{`sample line 1: documentation "## one" does not end a sentence`, `sample line 3: documentation "## two" does not end a sentence`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := runFake(func(tb *fakeTB) { CheckSample(tb, tc.sample) })
			if got := ft.reported(); got != strings.Join(tc.want, "\n") || ft.fatal {
				t.Errorf("CheckSample reported %q (fatal %t), want %q", got, ft.fatal, tc.want)
			}
		})
	}
}

func TestSampleDevices(t *testing.T) {
	var built []string
	probeF := func(cfg drivers.Config) (drivers.Device, error) {
		var p probe
		if err := cfg.Decode(&p); err != nil {
			return nil, fmt.Errorf("probe %q: %w", cfg.ID, err)
		}
		built = append(built, fmt.Sprintf("%s:%s:%d", cfg.ID, p.Pin, p.Channel))
		return &emptyDevice{}, nil
	}
	doc := "[[device]]\nid = \"a\"\ndriver = \"probe\"\npin = \"GPIO4\"\n\n[[device]]\nid = \"b\"\ndriver = \"probe\"\n  # channel = 3\n"
	if devs := SampleDevices[drivers.Device](t, doc, "probe", probeF); len(devs) != 2 || strings.Join(built, " ") != "a:GPIO4:0 b::0" {
		t.Errorf("SampleDevices built %d devices from %q, want 2 in file order", len(devs), built)
	}
	uncommented, _ := SampleDefaults(doc)
	built = nil
	if SampleDevices[drivers.Device](t, uncommented, "probe", probeF); strings.Join(built, " ") != "a:GPIO4:0 b::3" {
		t.Errorf("with the defaults written in, built %q", built)
	}

	if boards := SampleDevices[*emptyDevice](t, doc, "probe", probeF); len(boards) != 2 {
		t.Errorf("SampleDevices of the device type built %d, want 2", len(boards))
	}
	ft := runFake(func(tb *fakeTB) { SampleDevices[*fake](tb, doc, "probe", probeF) })
	if want := "sample device 0 is a *drivertest.emptyDevice, want *drivertest.fake"; !ft.fatal || ft.reported() != want {
		t.Errorf("SampleDevices of another type: fatal %t, reported %q; want the test stopped with %q", ft.fatal, ft.reported(), want)
	}

	for _, tc := range []struct {
		name, doc, want string
		f               newFunc
	}{
		{"another driver", "[[device]]\nid = \"a\"\ndriver = \"probe\"\n[[device]]\nid = \"b\"\ndriver = \"gpio\"\n",
			`sample device 1: driver = "gpio", want "probe"`, probeF},
		{"a key of the wrong type", "[[device]]\nid = \"a\"\ndriver = \"probe\"\nchannel = \"3\"\n",
			`sample device 0: probe "a": test.toml:4: device[0].channel: must be an integer, not a string ("3")`, probeF},
		{"a factory error", "[[device]]\nid = \"a\"\ndriver = \"probe\"\n",
			"sample device 0: no such line", func(drivers.Config) (drivers.Device, error) { return nil, errors.New("no such line") }},
		{"a key the driver does not take", "[[device]]\nid = \"a\"\ndriver = \"probe\"\npin = \"GPIO4\"\n",
			`sample device 0: test.toml:4: device[0].pin: unknown key (did you mean "id"?): driver "probe" takes no keys of its own`,
			func(drivers.Config) (drivers.Device, error) { return &emptyDevice{}, nil }},
		{"not a document", "[[device]\n", "drivertest.Tables: test.toml:1: ", probeF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := runFake(func(tb *fakeTB) { SampleDevices[drivers.Device](tb, tc.doc, "probe", tc.f) })
			if !ft.fatal || !strings.HasPrefix(ft.reported(), tc.want) {
				t.Errorf("SampleDevices: fatal %t, reported %q; want the test stopped with %q", ft.fatal, ft.reported(), tc.want)
			}
		})
	}
}

// Drivers registered in this test binary only: one as a driver must be,
// and one with a Description that is not one line.
const (
	sampledDriver = "drivertest-sampled"
	sampledSample = "## A device with nothing to it.\n[[device]]\n  id = \"empty\"\n  driver = \"drivertest-sampled\"\n"
	wordyDriver   = "drivertest-wordy"
)

func init() {
	drivers.Register(drivers.Driver{
		Name:        sampledDriver,
		New:         func(drivers.Config) (drivers.Device, error) { return &emptyDevice{}, nil },
		Sample:      sampledSample,
		Description: "a device with nothing to it",
	})
	drivers.Register(drivers.Driver{
		Name:        wordyDriver,
		New:         func(drivers.Config) (drivers.Device, error) { return &emptyDevice{}, nil },
		Description: "a device\nwith nothing to it",
	})
}

func TestRegistered(t *testing.T) {
	if d := Registered[*emptyDevice](t, sampledDriver, sampledSample, ""); d == nil {
		t.Error("Registered returned no device")
	}
	for _, tc := range []struct {
		name  string
		run   func(tb *fakeTB)
		fatal bool
		want  string
	}{
		{"not registered", func(tb *fakeTB) { Registered[drivers.Device](tb, "drivertest-none", "", "") }, true,
			`drivers.Lookup("drivertest-none"): not registered, want the driver registered from its package's init()`},
		{"another sample", func(tb *fakeTB) { Registered[*emptyDevice](tb, sampledDriver, "[[device]]\n", "") }, false,
			`drivers.Lookup("drivertest-sampled").Sample = "## A device with nothing to it.`},
		{"no sample", func(tb *fakeTB) { Registered[drivers.Device](tb, noKeysDriver, "## Sample.\n", "") }, false,
			`drivers.Lookup("drivertest-nokeys").Sample = ""; want the driver's sample configuration "## Sample.\n"`},
		{"no description", func(tb *fakeTB) { Registered[drivers.Device](tb, noKeysDriver, "", "") }, false,
			`drivers.Lookup("drivertest-nokeys").Description = ""; want one line that says what the driver drives`},
		{"a description of two lines", func(tb *fakeTB) { Registered[drivers.Device](tb, wordyDriver, "", "") }, false,
			`drivers.Lookup("drivertest-wordy").Description = "a device\nwith nothing to it"; want one line`},
		{"New fails", func(tb *fakeTB) { Registered[drivers.Device](tb, probeDriver, "", "channel = \"2\"") }, true,
			`drivers.Lookup("drivertest-probe").New: drivertest-probe "dev": test.toml:1: channel: must be an integer, not a string ("2")`},
		{"another type", func(tb *fakeTB) { Registered[*fake](tb, sampledDriver, sampledSample, "") }, true,
			`drivers.Lookup("drivertest-sampled").New made a *drivertest.emptyDevice, want *drivertest.fake`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := runFake(tc.run)
			if ft.fatal != tc.fatal || !strings.Contains(ft.reported(), tc.want) {
				t.Errorf("Registered: fatal %t, reported %q; want fatal %t and %q", ft.fatal, ft.reported(), tc.fatal, tc.want)
			}
		})
	}
}

// TestTablesInterval checks that a table's interval resolves as in the
// agent: its key, else its driver's DefaultInterval, else 30 s.
func TestTablesInterval(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      time.Duration
	}{
		{"the key", "[[device]]\nid = \"a\"\ndriver = \"drivertest-slow\"\ninterval = \"5s\"\n", 5 * time.Second},
		{"the driver's default", "[[device]]\nid = \"a\"\ndriver = \"drivertest-slow\"\n", time.Minute},
		{"the agent's default", "[[device]]\nid = \"a\"\ndriver = \"drivertest-sampled\"\n", 30 * time.Second},
		{"an unknown driver", "[[device]]\nid = \"a\"\ndriver = \"drivertest-none\"\n", 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Tables(t, tc.doc)[0].Config.Interval; got != tc.want {
				t.Errorf("Interval = %v, want %v", got, tc.want)
			}
		})
	}
	if got := Config(t, "a", "").Interval; got != 30*time.Second {
		t.Errorf("Config's Interval = %v, want the agent's default, 30s", got)
	}
	if got := Config(t, "a", `interval = "2m"`).Interval; got != 2*time.Minute {
		t.Errorf("Config's Interval = %v, want the key's 2m", got)
	}
}

func init() {
	drivers.Register(drivers.Driver{
		Name:            "drivertest-slow",
		New:             func(drivers.Config) (drivers.Device, error) { return &emptyDevice{}, nil },
		DefaultInterval: time.Minute,
		Description:     "a device polled every minute",
	})
}
