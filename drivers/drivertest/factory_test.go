package drivertest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
)

func TestCheckError(t *testing.T) {
	err := errors.New(`relay "door": pin = 17: write "GPIO17"`)
	for _, tc := range []struct {
		name   string
		err    error
		prefix string
		want   []string
		fatal  bool
		report string // "" when nothing is wrong
	}{
		{"right", err, `relay "door": `, []string{"pin = 17", `"GPIO17"`}, false, ""},
		{"prefix alone", err, `relay "door": `, nil, false, ""},
		{"no error", nil, `relay "door": `, []string{"pin"}, true, `no error, want one starting with "relay \"door\": "`},
		{"another device", err, `relay "gate": `, nil, false, `does not start with the driver and device, "relay \"gate\": "`},
		{"says one thing, not the other", err, `relay "door": `, []string{"pin = 17", "mode"}, false, `does not say "mode"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := runFake(func(tb *fakeTB) { CheckError(tb, tc.err, tc.prefix, tc.want...) })
			got := ft.reported()
			if ft.fatal != tc.fatal || (tc.report == "") != (got == "") || !strings.Contains(got, tc.report) {
				t.Errorf("CheckError: fatal %t, reported %q; want fatal %t and %q", ft.fatal, got, tc.fatal, tc.report)
			}
		})
	}
}

func TestFuzzFactory(t *testing.T) {
	dev := &emptyDevice{}
	// probeF builds a probe whose channel is at most 9, naming itself in
	// its errors unless told not to.
	probeF := func(prefixed bool) newFunc {
		return func(cfg drivers.Config) (drivers.Device, error) {
			var p probe
			err := cfg.Decode(&p)
			if err == nil && p.Channel > 9 {
				err = fmt.Errorf("channel %d: want 0 to 9", p.Channel)
			}
			if err != nil && prefixed {
				err = fmt.Errorf("probe %q: %w", cfg.ID, err)
			}
			if err != nil {
				return nil, err
			}
			return dev, nil
		}
	}
	for _, tc := range []struct {
		name, body string
		f          newFunc
		want       drivers.Device // nil: refused
		report     string         // "" when the test goes on
	}{
		{"accepted", "channel = 3", probeF(true), dev, ""},
		{"not TOML", "channel = ", probeF(true), nil, ""},
		{"a common key wrong", "interval = 5", probeF(true), nil, ""},
		{"refused with the prefix", "channel = 10", probeF(true), nil, ""},
		{"a decode error with the prefix", "channel = \"x\"", probeF(true), nil, ""},
		{"refused without the prefix", "channel = 10", probeF(false), nil,
			`error "channel 10: want 0 to 9" does not start with the driver and device, "probe \"fz\": "`},
		{"nothing returned", "", func(drivers.Config) (drivers.Device, error) { return nil, nil }, nil,
			"the factory returned no device and no error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got drivers.Device
			ft := runFake(func(tb *fakeTB) { got = FuzzFactory(tb, tc.f, "fz", `probe "fz": `, tc.body) })
			if got != tc.want {
				t.Errorf("FuzzFactory = %v, want %v", got, tc.want)
			}
			if tc.report == "" && (ft.fatal || ft.reported() != "") {
				t.Errorf("FuzzFactory failed the test: %s", ft.reported())
			}
			if tc.report != "" && (!ft.fatal || !strings.Contains(ft.reported(), tc.report)) {
				t.Errorf("FuzzFactory: fatal %t, reported %q; want the test stopped with %q", ft.fatal, ft.reported(), tc.report)
			}
		})
	}
}

// keyedProbe is a factory that decodes a probe and checks its values as a
// driver does: a drivers.KeyError for each bad one, all joined, and a
// plain error for a ratio above 1.
func keyedProbe(cfg drivers.Config) (drivers.Device, error) {
	var p probe
	if err := cfg.Decode(&p); err != nil {
		return nil, fmt.Errorf("probe %q: %w", cfg.ID, err)
	}
	var errs []error
	if p.Channel > 9 {
		errs = append(errs, drivers.BadKey("channel", "%d is not a channel: use 0 to 9", p.Channel))
	}
	if p.Sensor.Addr == 1 {
		errs = append(errs, drivers.BadKey("sensor.addr", "1 is reserved"))
	}
	for i, n := range p.Names {
		if n == "" {
			errs = append(errs, drivers.BadKey(fmt.Sprintf("names[%d]", i), "is empty"))
		}
	}
	if p.Ratio > 1 {
		errs = append(errs, errors.New("the ratio is too high for this channel"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("probe %q: %w", cfg.ID, errors.Join(errs...))
	}
	return &emptyDevice{}, nil
}

func TestCheckKeyError(t *testing.T) {
	build := func(body string) error {
		_, err := keyedProbe(Config(t, "door", body))
		return err
	}
	joined := build("channel = 12\nnames = [\"a\", \"\"]\n[sensor]\naddr = 1")
	decode := build("channel = \"x\"\nchanel = 3")
	for _, tc := range []struct {
		name   string
		err    error
		key    string
		want   []string
		fatal  bool
		report string // "" when nothing is wrong
	}{
		{"a KeyError", joined, "channel", []string{"12 is not a channel", "0 to 9"}, false, ""},
		{"a nested key", joined, "sensor.addr", []string{"reserved"}, false, ""},
		{"an element", joined, "names[1]", []string{"is empty"}, false, ""},
		{"a Decode problem", decode, "channel", []string{"must be an integer"}, false, ""},
		{"an unknown key", decode, "chanel", []string{`did you mean "channel"?`}, false, ""},
		{"key alone", joined, "channel", nil, false, ""},
		{"no error", nil, "channel", nil, true, `no error, want one on key "channel"`},
		{"another key", joined, "ratio", nil, false, `has no error on key "ratio" (it has errors on ["channel" "sensor.addr" "names[1]"])`},
		{"says something else", joined, "channel", []string{"0 to 9", "0 to 7"}, false, `the error on key "channel" says "12 is not a channel: use 0 to 9"; want it to say each of ["0 to 9" "0 to 7"]`},
		{"a plain error", errors.New(`probe "door": channel 12 is bad`), "channel", nil, false, `has no error on key "channel"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := runFake(func(tb *fakeTB) { CheckKeyError(tb, tc.err, tc.key, tc.want...) })
			got := ft.reported()
			if ft.fatal != tc.fatal || (tc.report == "") != (got == "") || !strings.Contains(got, tc.report) {
				t.Errorf("CheckKeyError: fatal %t, reported %q; want fatal %t and %q", ft.fatal, got, tc.fatal, tc.report)
			}
		})
	}
}

// TestProblems checks that a factory's errors come out as the agent
// reports them: each KeyError at its own key and line, Decode's problems
// once, anything else at the table, and that CheckProblems compares them.
func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		f    newFunc
		want []WantProblem
	}{
		{"accepted", "channel = 3", keyedProbe, nil},
		{"every value at its own line", "ratio = 2.0\n\nchannel = 12\nnames = [\"\",\n  \"b\", \"\"]\n[sensor]\naddr = 1\n", keyedProbe, []WantProblem{
			{Line: 0, Key: "", Msg: `probe "dev": the ratio is too high for this channel`},
			{Line: 3, Key: "channel", Msg: "12 is not a channel: use 0 to 9"},
			{Line: 4, Key: "names[0]", Msg: "is empty"},
			{Line: 4, Key: "names[2]", Msg: "is empty"},
			{Line: 7, Key: "sensor.addr", Msg: "1 is reserved"},
		}},
		{"Decode's problems", "channel = \"x\"\nchanel = 3", keyedProbe, []WantProblem{
			{Line: 1, Key: "channel", Msg: `must be an integer, not a string ("x")`},
			{Line: 2, Key: "chanel", Msg: `unknown key (did you mean "channel"?)`},
		}},
		{"an error without the device", "", func(drivers.Config) (drivers.Device, error) { return nil, errors.New("no luck") }, []WantProblem{
			{Line: 0, Key: "", Msg: `device "dev": no luck`},
		}},
		{"nothing returned", "", func(drivers.Config) (drivers.Device, error) { return nil, nil }, []WantProblem{
			{Line: 0, Key: "", Msg: "returned no device and no error"},
		}},
		{"keys never decoded", "channel = 1", func(drivers.Config) (drivers.Device, error) { return &emptyDevice{}, nil }, []WantProblem{
			{Line: 1, Key: "channel", Msg: "takes no keys of its own"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probs := Problems(t, tc.f, "dev", tc.body)
			ft := runFake(func(tb *fakeTB) { CheckProblems(tb, probs, tc.want...) })
			if got := ft.reported(); got != "" {
				t.Errorf("CheckProblems: %s", got)
			}
		})
	}
}

func TestCheckProblems(t *testing.T) {
	probs := Problems(t, keyedProbe, "dev", "channel = 12\n[sensor]\naddr = 1\n")
	for _, tc := range []struct {
		name   string
		want   []WantProblem
		report string // "" when nothing is wrong
	}{
		{"right", []WantProblem{{1, "channel", "not a channel"}, {3, "sensor.addr", "reserved"}}, ""},
		{"one missing", []WantProblem{{1, "channel", "not a channel"}}, "2 problems, want 1"},
		{"one too many", []WantProblem{{1, "channel", ""}, {3, "sensor.addr", ""}, {4, "x", ""}}, "2 problems, want 3"},
		{"wrong line", []WantProblem{{2, "channel", "not a channel"}, {3, "sensor.addr", "reserved"}}, "problem 0:"},
		{"wrong key", []WantProblem{{1, "channel", "not a channel"}, {3, "sensor", "reserved"}}, "problem 1:"},
		{"wrong words", []WantProblem{{1, "channel", "too big"}, {3, "sensor.addr", "reserved"}}, "want test.toml:1: channel: …too big…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := runFake(func(tb *fakeTB) { CheckProblems(tb, probs, tc.want...) })
			got := ft.reported()
			if ft.fatal || (tc.report == "") != (got == "") || !strings.Contains(got, tc.report) {
				t.Errorf("CheckProblems: fatal %t, reported %q; want %q", ft.fatal, got, tc.report)
			}
		})
	}
}
