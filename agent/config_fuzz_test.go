package agent

import (
	"bytes"
	"os"
	"path/filepath"
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
		if s, ok := drivers.Sample(name); ok {
			f.Add([]byte(s))
			f.Add([]byte("[agent]\nid = \"fz\"\nhardware = \"sim\"\n\n" + s))
		}
	}
	f.Add([]byte("[[device]]\nid = \"a\"\ndriver = \"cfgtest_any\"\nx = [[{a = 1}], 2]\n[device.\"q\\u0041\"]\nk = 1979-05-27\n"))
	f.Add([]byte("a = \"\"\"x\\\n\"\"\"\"\"\n[[device]]\n'id' = 'b'\n"))

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
		seen := map[string]bool{}
		for _, d := range cfg.Devices {
			if !devconf.ValidID(d.ID) || d.ID == devconf.ReservedID || seen[d.ID] {
				t.Errorf("device id %q is invalid, reserved or a duplicate", d.ID)
			}
			seen[d.ID] = true
			if d.Device == nil || d.Name == "" || d.Interval < 0 {
				t.Errorf("device %+v", d)
			}
		}
	})
}
