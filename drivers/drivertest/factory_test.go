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
	probeF := func(prefixed bool) drivers.Factory {
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
		f          drivers.Factory
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
