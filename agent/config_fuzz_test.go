package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/internal/devconf"

	// The built-in drivers, so that the samples and configs/ seed real
	// driver tables and the fuzzer reaches their factories.
	_ "github.com/pinion-home/pinion/drivers/bme280"
	_ "github.com/pinion-home/pinion/drivers/gpio"
	_ "github.com/pinion-home/pinion/drivers/mhz19"
	_ "github.com/pinion-home/pinion/drivers/system"
)

// FuzzParseConfig checks that any input gives either a configuration that
// keeps the loader's promises or a *ConfigError whose problems point into
// the input, and never a panic or a hang.
func FuzzParseConfig(f *testing.F) {
	var paths []string
	for _, pattern := range []string{filepath.Join("testdata", "config", "*.toml"), filepath.Join("..", "configs", "*.toml")} {
		ps, err := filepath.Glob(pattern)
		if err != nil || len(ps) == 0 {
			f.Fatalf("no seeds in %s: %v", pattern, err)
		}
		paths = append(paths, ps...)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tc := range cfgProblemCases {
		f.Add([]byte(tc.toml))
	}
	// Every registered driver's sample, alone and after an [agent] table
	// on simulated hardware.
	for _, name := range drivers.Names() {
		if d, ok := drivers.Lookup(name); ok && d.Sample != "" {
			f.Add([]byte(d.Sample))
			f.Add([]byte("[agent]\nid = \"fz\"\nhardware = \"sim\"\n\n" + d.Sample))
		}
	}
	f.Add([]byte("[[device]]\nid = \"a\"\ndriver = \"cfgtest_any\"\nx = [[{a = 1}], 2]\n[device.\"q\\u0041\"]\nk = 1979-05-27\n"))
	f.Add([]byte("a = \"\"\"x\\\n\"\"\"\"\"\n[[device]]\n'id' = 'b'\n"))
	f.Add([]byte("[[device]]\nid = \"e\"\ndriver = \"cfgtest_claims\"\nlines = [\"A\"]\ngpio = [\"u/B\"]\nentity.input.name = \"x\"\n[[device]]\nid = \"u\"\ndriver = \"cfgtest_claims\"\nlines = [\"B\"]\npwm = [\"e/A\"]\n[device.entity.input]\ndisabled = true\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz.toml", data)
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned along with an error")
			}
			ce, ok := err.(*ConfigError)
			if !ok {
				t.Fatalf("error is %T, want *ConfigError: %v", err, err)
			}
			if len(ce.Problems) == 0 {
				t.Fatal("ConfigError without problems")
			}
			lines := bytes.Count(data, []byte("\n")) + 1
			for _, p := range ce.Problems {
				if p.File != "fuzz.toml" || p.Msg == "" || p.Line < 0 || p.Line > lines {
					t.Fatalf("bad problem %+v in a %d-line input", p, lines)
				}
			}
			return
		}
		if !devconf.ValidID(cfg.Agent.ID) {
			t.Errorf("agent id %q is not valid", cfg.Agent.ID)
		}
		if cfg.Agent.Hardware != "real" && cfg.Agent.Hardware != "sim" {
			t.Errorf("hardware %q", cfg.Agent.Hardware)
		}
		if err := cfgCheckBroker(cfg.MQTT.Broker); err != nil {
			t.Errorf("broker: %v", err)
		}
		if (cfg.MQTT.Listen != "") != cfg.MQTT.Embedded() {
			t.Errorf("listen %q with broker %q", cfg.MQTT.Listen, cfg.MQTT.Broker)
		}
		if cfgCheckPrefix(cfg.MQTT.DiscoveryPrefix) != nil || cfgCheckPrefix(cfg.MQTT.TopicPrefix) != nil {
			t.Errorf("prefixes %q, %q", cfg.MQTT.DiscoveryPrefix, cfg.MQTT.TopicPrefix)
		}
		if cfg.MQTT.Keepalive < cfgMinKeepalive || cfg.MQTT.ClientID == "" {
			t.Errorf("mqtt %+v", cfg.MQTT)
		}
		if len(cfg.Sim.Toggle) > 0 && !cfg.Agent.Simulated() {
			t.Error("toggles without simulated hardware")
		}
		seen := map[string]*DeviceConfig{}
		for i := range cfg.Devices {
			d := &cfg.Devices[i]
			if !devconf.ValidID(d.ID) || d.ID == devconf.ReservedID || seen[d.ID] != nil {
				t.Errorf("device id %q is invalid, reserved or a duplicate", d.ID)
			}
			seen[d.ID] = d
			if d.Device == nil || d.Name == "" || d.Interval <= 0 {
				t.Errorf("device %+v", d)
			}
			cfgFuzzEntities(t, d)
		}
		cfgFuzzClaims(t, cfg.Devices, seen)
	})
}

// cfgFuzzEntities checks that a device's entities are its driver's, with
// the disabled ones left out and nothing else changed but the options.
func cfgFuzzEntities(t *testing.T, d *DeviceConfig) {
	all := d.Device.Entities()
	if len(d.Entities)+len(d.Disabled) != len(all) {
		t.Errorf("device %q: %d entities and %d disabled, of %d", d.ID, len(d.Entities), len(d.Disabled), len(all))
	}
	j := 0
	for _, e := range all {
		if slices.Contains(d.Disabled, e.ID) {
			continue
		}
		if j >= len(d.Entities) {
			break
		}
		g := d.Entities[j]
		j++
		if g.ID != e.ID || g.Diagnostic != e.Diagnostic || !reflect.DeepEqual(g.Spec, e.Spec) {
			t.Errorf("device %q: entity %+v became %+v", d.ID, e, g)
		}
	}
}

// cfgFuzzClaims checks that no two devices' claims conflict, that every
// provider is a configured device, and that providers form no cycle.
func cfgFuzzClaims(t *testing.T, devs []DeviceConfig, byID map[string]*DeviceConfig) {
	for i, a := range devs {
		for _, b := range devs[i+1:] {
			for _, ra := range a.Claims {
				for _, rb := range b.Claims {
					if ra.Conflicts(rb) {
						t.Errorf("devices %q and %q both claim %s", a.ID, b.ID, ra)
					}
				}
			}
		}
		for _, p := range a.Providers {
			if byID[p] == nil || p == a.ID {
				t.Errorf("device %q: provider %q", a.ID, p)
			}
		}
	}
	// Kahn's algorithm: every device opens once its providers have.
	opened := map[string]bool{}
	for progress := true; progress; {
		progress = false
		for _, d := range devs {
			if !opened[d.ID] && !slices.ContainsFunc(d.Providers, func(p string) bool { return !opened[p] }) {
				opened[d.ID], progress = true, true
			}
		}
	}
	if len(opened) != len(devs) {
		t.Errorf("providers form a cycle: only %d of %d devices can open", len(opened), len(devs))
	}
}
