package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/agent"
	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/examples/relay"
	"github.com/pinion-home/pinion/examples/sensor"
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/hatest"
)

// wait bounds every wait on the agent. It is generous because the tests run
// under -race on small machines; it only decides when a test gives up.
const wait = 15 * time.Second

// cli runs the agent's command line as this binary's main would.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = agent.RunCLI(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// TestDriversCompiledIn checks what the imports are for: the custom agent
// has the example drivers, each with its description, and still every
// built-in one.
func TestDriversCompiledIn(t *testing.T) {
	out, errs, code := cli(t, "-drivers")
	if code != 0 {
		t.Fatalf("-drivers: exit %d: %s", code, errs)
	}
	names := strings.Fields(out)
	for _, want := range []string{relay.DriverName, sensor.DriverName, "gpio", "bme280", "mhz19", "system"} {
		if !slices.Contains(names, want) {
			t.Errorf("-drivers lists %q, want it to include %q", names, want)
		}
	}
	for _, tc := range []struct{ name, description string }{
		{relay.DriverName, relay.Description},
		{sensor.DriverName, sensor.Description},
	} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == tc.name {
				found = strings.Contains(line, tc.description)
				break
			}
		}
		if !found {
			t.Errorf("-drivers does not show %q with its description %q:\n%s", tc.name, tc.description, out)
		}
	}
	for _, tc := range []struct{ driver, sample string }{
		{relay.DriverName, relay.SampleConfig},
		{sensor.DriverName, sensor.SampleConfig},
	} {
		out, errs, code := cli(t, "-sample", tc.driver)
		if code != 0 || out != tc.sample {
			t.Errorf("-sample %s: exit %d, %q (stderr %q); want the package's SampleConfig", tc.driver, code, out, errs)
		}
	}
}

// TestSamplesCheck runs the agent's own checks on the examples' samples:
// the agent's strict loader must take every key they show, and Home
// Assistant's rules must accept every entity they make (-check runs the
// discovery validation, which the drivers leave to it).
func TestSamplesCheck(t *testing.T) {
	for _, tc := range []struct {
		name, sample string
		entities     int
	}{
		{"relay", relay.SampleConfig, 6},
		{"sensor", sensor.SampleConfig, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, uncommented := range []bool{false, true} {
				sample := tc.sample
				if uncommented {
					sample = uncomment(sample)
				}
				path := filepath.Join(t.TempDir(), "pinion.toml")
				writeFile(t, path, "[agent]\nid = \"test\"\nhardware = \"sim\"\n\n"+sample)
				out, errs, code := cli(t, "-config", path, "-check")
				if code != 0 {
					t.Fatalf("-check on the sample (defaults written out: %t): exit %d\n%s", uncommented, code, errs)
				}
				if want := fmt.Sprintf("%d entities", tc.entities); !strings.Contains(out, want) {
					t.Errorf("-check: %q, want %s", out, want)
				}
			}
		})
	}
}

// uncomment turns the sample's commented-out keys into keys.
func uncomment(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if rest, ok := strings.CutPrefix(trimmed, "# "); ok && strings.Contains(rest, " = ") {
			line = line[:len(line)-len(trimmed)] + rest
		}
		b.WriteString(line)
	}
	return b.String()
}

const nodeConfig = `
[agent]
id = "custom"
hardware = "sim"

[mqtt]
broker = %q

[[device]]
id = "blinds"
driver = "example-relay"
name = "Blinds"
pins = ["GPIO20", "GPIO21"]
inverted = true
interlock = true
## The board is not polled, and the agent republishes its states only
## every hour: a state seen within the test was reported by a command.
interval = "1h"

[[device]]
id = "soc"
driver = "example-sensor"
name = "SoC"
path = %q
scale = 0.001
unit = "°C"
class = "temperature"
precision = 1
interval = "200ms"
`

// sensorPath is the file the sensor reads, which the simulated host
// serves.
const sensorPath = "/sys/class/hwmon/hwmon7/temp1_input"

// node is the agent's node, as discovery names it.
var node = discovery.Node{ID: "custom"}

// uid is the unique id pinion gives an entity of node custom.
func uid(device, entity string) string { return node.UniqueID(device, entity) }

// TestAgentRunsExamples runs the custom agent on the simulated board with
// its embedded broker and a Home Assistant double, and uses both example
// drivers as Home Assistant does.
func TestAgentRunsExamples(t *testing.T) {
	url := brokertest.Embedded(t)
	path := filepath.Join(t.TempDir(), "pinion.toml")
	writeFile(t, path, fmt.Sprintf(nodeConfig, url, sensorPath))
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sim.NewHost(nil)
	if err := agent.PopulateSim(h, cfg); err != nil {
		t.Fatal(err)
	}
	h.SetFile(sensorPath, []byte("48312\n"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { done <- agent.Serve(ctx, cfg, h, log) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("agent returned %v", err)
				}
			case <-time.After(wait):
				t.Error("agent did not stop")
			}
		})
	}
	// The agent logs to the test: it must be gone before the test ends.
	t.Cleanup(func() { stop(); h.Close() })
	ha := hatest.New(t, url)

	// The agent's own three entities, two channels and the sensor.
	if err := ha.WaitEntities(6, wait); err != nil {
		t.Fatal(err)
	}
	if p := ha.Problems(); len(p) > 0 {
		t.Fatalf("Home Assistant would reject discovery:\n%s", strings.Join(p, "\n"))
	}
	up, down := h.Line("GPIO20"), h.Line("GPIO21")
	// command sends payload to a channel as Home Assistant does and waits
	// for the states it must bring about, in Home Assistant.
	command := func(t *testing.T, ch, payload string, want map[string]string) {
		t.Helper()
		if err := ha.Command(uid("blinds", ch), payload); err != nil {
			t.Fatal(err)
		}
		for _, ch := range []string{"ch1", "ch2"} {
			if err := ha.WaitState(uid("blinds", ch), want[ch], wait); err != nil {
				t.Fatalf("after %s to %s: %v", payload, ch, err)
			}
		}
	}

	t.Run("channels start off", func(t *testing.T) {
		for _, ch := range []string{"ch1", "ch2"} {
			if err := ha.WaitState(uid("blinds", ch), "OFF", wait); err != nil {
				t.Fatal(err)
			}
		}
		if up.Level() != gpio.High || down.Level() != gpio.High {
			t.Fatalf("inverted board off: GPIO20 %v, GPIO21 %v, want both High", up.Level(), down.Level())
		}
	})

	t.Run("interlock reaches Home Assistant", func(t *testing.T) {
		command(t, "ch1", "ON", map[string]string{"ch1": "ON", "ch2": "OFF"})
		// ch1 goes off as a side effect of the command to ch2: only the
		// board's Command can have told the agent, since the board is not
		// polled and the interval is an hour.
		command(t, "ch2", "ON", map[string]string{"ch1": "OFF", "ch2": "ON"})
		if up.Level() != gpio.High || down.Level() != gpio.Low {
			t.Fatalf("after ch2 ON: GPIO20 %v, GPIO21 %v; want only ch2 on (Low)", up.Level(), down.Level())
		}
		// The agent turns TOGGLE into ON from ch1's last state, OFF,
		// which the side effect set: the interlock switches ch2 off.
		command(t, "ch1", "TOGGLE", map[string]string{"ch1": "ON", "ch2": "OFF"})
		if up.Level() != gpio.Low || down.Level() != gpio.High {
			t.Fatalf("after ch1 TOGGLE: GPIO20 %v, GPIO21 %v; want only ch1 on (Low)", up.Level(), down.Level())
		}
		command(t, "ch1", "OFF", map[string]string{"ch1": "OFF", "ch2": "OFF"})
		if up.Reads()+down.Reads() != 0 {
			t.Fatal("the relay lines were read back")
		}
	})

	t.Run("commands that do not fit change nothing", func(t *testing.T) {
		before := len(up.History())
		for _, payload := range []string{"PRESS", "50", `{"state":"MAYBE"}`, "on please"} {
			if err := ha.Command(uid("blinds", "ch1"), payload); err != nil {
				t.Fatal(err)
			}
		}
		// Commands are handled in order, so once this one's states are
		// in, the ones before it were refused: ch1's line never moved.
		command(t, "ch2", "ON", map[string]string{"ch1": "OFF", "ch2": "ON"})
		if changes := up.History()[before:]; len(changes) != 0 {
			t.Fatalf("commands that do not fit a switch moved ch1's line: %+v", changes)
		}
		command(t, "ch2", "OFF", map[string]string{"ch1": "OFF", "ch2": "OFF"})
	})

	t.Run("sensor follows the file", func(t *testing.T) {
		if err := ha.WaitState(uid("soc", "value"), "48.3", wait); err != nil {
			t.Fatal(err)
		}
		h.SetFile(sensorPath, []byte("51234\n"))
		if err := ha.WaitState(uid("soc", "value"), "51.2", wait); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("sensor goes unavailable and comes back", func(t *testing.T) {
		h.SetFile(sensorPath, []byte("ERR\n"))
		if err := ha.WaitAvailable(uid("soc", "value"), false, wait); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitAvailable(uid("blinds", "ch1"), true, wait); err != nil {
			t.Fatalf("the sensor's failure took the relay board with it: %v", err)
		}
		h.SetFile(sensorPath, []byte("49876\n"))
		if err := ha.WaitAvailable(uid("soc", "value"), true, wait); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitState(uid("soc", "value"), "49.9", wait); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("exit switches the board off", func(t *testing.T) {
		if err := ha.Command(uid("blinds", "ch2"), "ON"); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitState(uid("blinds", "ch2"), "ON", wait); err != nil {
			t.Fatal(err)
		}
		stop()
		if up.Level() != gpio.High || down.Level() != gpio.High {
			t.Fatalf("after exit: GPIO20 %v, GPIO21 %v, want both off (High)", up.Level(), down.Level())
		}
	})

	if p := ha.Problems(); len(p) > 0 {
		t.Fatalf("Home Assistant would reject discovery:\n%s", strings.Join(p, "\n"))
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// A new file renamed over the old one: the agent never reads half of it.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// testWriter sends the agent's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
