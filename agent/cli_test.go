package agent_test

import (
	"bytes"
	"context"
	"flag"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pinion-home/pinion/agent"
	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/logbuf"
)

func init() {
	drivers.Register(drivers.Driver{Name: "clitest_badunit", New: func(drivers.Config) (drivers.Device, error) { return badUnit{}, nil }})
	drivers.Register(drivers.Driver{Name: "clitest_nosample", New: func(drivers.Config) (drivers.Device, error) { return badUnit{}, nil }})
}

// badUnit is a device whose entity Home Assistant would reject.
type badUnit struct{}

func (badUnit) Info() drivers.Info { return drivers.Info{} }
func (badUnit) Entities() []drivers.Entity {
	return []drivers.Entity{{ID: "pressure", Spec: drivers.Sensor{Class: drivers.ClassPressure, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1}}}
}
func (badUnit) Open(context.Context, drivers.Host, drivers.Output) error { return nil }
func (badUnit) Close() error                                             { return nil }

var updateCLI = flag.Bool("update-cli", false, "rewrite the CLI golden files in testdata/cli")

// cli runs the command line in-process and returns its exit code and
// output.
func cli(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := agent.RunCLI(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCLICheck(t *testing.T) {
	code, out, errOut := cli(context.Background(), "-config", "../configs/demo.toml", "-check")
	if want := `../configs/demo.toml: OK: node "demo", 10 devices, 19 entities (and the agent's own 3), broker embedded`; code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("-check on the demo: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, _ = cli(context.Background(), "-config", "../configs/pi-relays.toml", "-check")
	if code != 0 {
		t.Fatalf("-check on pi-relays.toml: exit %d: %s", code, out)
	}

	// A broken config: exit 1, every problem with its file and line.
	code, _, errOut = cli(context.Background(), "-config", "testdata/config/bad-many.toml", "-check")
	if code != 1 {
		t.Fatalf("-check on a bad config: exit %d, want 1", code)
	}
	want, err := os.ReadFile("testdata/config/bad-many.golden")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		if !strings.Contains(errOut, line) {
			t.Errorf("-check output lacks %q\ngot:\n%s", line, errOut)
		}
	}

	// What Home Assistant would reject is found by -check too, with the
	// device's line: a driver reporting a pressure in °C.
	bad := filepath.Join(t.TempDir(), "bad-unit.toml")
	os.WriteFile(bad, []byte("[agent]\nid = \"x\"\nhardware = \"sim\"\n\n[[device]]\nid = \"air\"\ndriver = \"clitest_badunit\"\n"), 0o600)
	code, _, errOut = cli(context.Background(), "-config", bad, "-check")
	if code != 1 || !strings.Contains(errOut, bad+":5: ") || !strings.Contains(errOut, `"air"`) {
		t.Fatalf("-check with a unit Home Assistant rejects: exit %d, stderr:\n%s\nwant exit 1 and the device's line %s:5", code, errOut, bad)
	}

	// -check touches no hardware: a real-hardware config with pins this
	// machine does not have still checks out.
	path := filepath.Join(t.TempDir(), "real.toml")
	os.WriteFile(path, []byte("[agent]\nid = \"x\"\n[[device]]\nid = \"r\"\ndriver = \"gpio\"\npin = \"GPIO17\"\nmode = \"output\"\n"), 0o600)
	if code, out, errOut := cli(context.Background(), "-config", path, "-check"); code != 0 {
		t.Fatalf("-check opened hardware? exit %d: %s %s", code, out, errOut)
	}
}

func TestCLIPrintDiscoveryGolden(t *testing.T) {
	code, out, errOut := cli(context.Background(), "-config", "../configs/demo.toml", "-print-discovery")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden := filepath.Join("testdata", "cli", "demo-discovery.golden")
	if *updateCLI {
		os.MkdirAll(filepath.Dir(golden), 0o755)
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./agent -run PrintDiscovery -update-cli)", err)
	}
	if out != string(want) {
		t.Fatalf("-print-discovery output differs from %s (rerun with -update-cli if intended):\n%s", golden, out)
	}
	if strings.Count(out, "/config\n") != 22 {
		t.Fatalf("want 22 discovery messages for the demo (19 entities and the agent's 3), got %d", strings.Count(out, "/config\n"))
	}
}

func TestCLIMisc(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"-version"}, 0, "pinion dev", ""},
		{[]string{"-sample", "gpio"}, 0, "[[device]]", ""},
		{[]string{"-sample", "nope"}, 1, "", `no driver "nope"; built-in drivers: `},
		{[]string{"-sample", "gpi"}, 1, "", `no driver "gpi" (did you mean "gpio"?); built-in drivers: `},
		{[]string{"-sample", "clitest_nosample"}, 1, "", `driver "clitest_nosample" has no sample configuration`},
		{[]string{"-config", "/nonexistent/pinion.toml"}, 1, "", "/nonexistent/pinion.toml"},
		{[]string{"-config", "../configs/demo.toml", "-broker", "mqtt://x", "-check"}, 2, "", "-broker"},
		{[]string{"-config", "../configs/demo.toml", "-log-level", "loud"}, 2, "", "log level"},
		{[]string{"-config", "../configs/demo.toml", "-log-level", "loud", "-check"}, 2, "", "log level"},
		{[]string{"stray"}, 2, "", "unexpected argument"},
	}
	for _, tt := range tests {
		code, out, errOut := cli(context.Background(), tt.args...)
		if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errOut, tt.stderr) {
			t.Errorf("pinion %v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tt.args, code, out, errOut, tt.code, tt.stdout, tt.stderr)
		}
	}
}

// TestCLIEntityOptions checks that what -check counts and
// -print-discovery prints are the entities with the config's options:
// names and icons overridden, disabled ones left out, enabled_by_default.
func TestCLIEntityOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "options.toml")
	os.WriteFile(path, []byte(`[agent]
id = "x"
hardware = "sim"

[[device]]
id = "pump"
driver = "gpio"
pin = "GPIO17"
mode = "output"
[device.entity.relay]
name = "Pump relay"
icon = "mdi:pump"
enabled_by_default = false

[[device]]
id = "spare"
driver = "gpio"
pin = "GPIO18"
mode = "output"
entity.relay.disabled = true
`), 0o600)
	code, out, errOut := cli(context.Background(), "-config", path, "-check")
	if want := "2 devices, 1 entity"; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("-check: exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	code, out, errOut = cli(context.Background(), "-config", path, "-print-discovery")
	if code != 0 {
		t.Fatalf("-print-discovery: exit %d: %s", code, errOut)
	}
	for _, want := range []string{`"name":"Pump relay"`, `"icon":"mdi:pump"`, `"enabled_by_default":false`} {
		if !strings.Contains(out, want) {
			t.Errorf("-print-discovery lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "spare") {
		t.Errorf("-print-discovery shows the disabled entity:\n%s", out)
	}
}

// TestCLIDrivers checks that -drivers lists every registered driver, one a
// line in order, with its description in a column.
func TestCLIDrivers(t *testing.T) {
	code, out, errOut := cli(context.Background(), "-drivers")
	if code != 0 || errOut != "" {
		t.Fatalf("-drivers: exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	names := drivers.Names()
	if len(lines) != len(names) {
		t.Fatalf("-drivers printed %d lines for %d drivers:\n%s", len(lines), len(names), out)
	}
	column := -1
	for i, n := range names {
		d, _ := drivers.Lookup(n)
		name, desc, _ := strings.Cut(lines[i], " ")
		desc = strings.TrimLeft(desc, " ")
		if name != n || desc != d.Description {
			t.Errorf("line %d is %q, want the name %q and the description %q", i+1, lines[i], n, d.Description)
		}
		if d.Description == "" {
			continue
		}
		if c := strings.Index(lines[i], d.Description); column < 0 {
			column = c
		} else if c != column {
			t.Errorf("line %d: the description starts at column %d, not %d as above:\n%s", i+1, c, column, out)
		}
	}
	for _, n := range []string{"bme280", "gpio", "mhz19", "system"} {
		if d, _ := drivers.Lookup(n); d.Description == "" {
			t.Errorf("built-in driver %q has no description for -drivers", n)
		}
	}
}

// TestDemoWithMosquittoClients is the README's promise: the demo, pointed at
// a Mosquitto with -broker, is driven with nothing but mosquitto_pub and
// mosquitto_sub, and a clean stop leaves "offline" retained.
func TestDemoWithMosquittoClients(t *testing.T) {
	broker := brokertest.Mosquitto(t)
	for _, tool := range []string{"mosquitto_pub", "mosquitto_sub"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv(brokertest.RequireMosquittoEnv) == "1" {
				t.Fatalf("%s missing: apt-get install -y mosquitto-clients", tool)
			}
			t.Skipf("%s not installed (apt-get install mosquitto-clients)", tool)
		}
	}
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	hp := []string{"-h", u.Hostname(), "-p", u.Port()}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errOut logbuf.Buffer
	go func() {
		done <- agent.RunCLI(ctx, []string{"-config", "../configs/demo.toml", "-broker", broker}, &bytes.Buffer{}, &errOut)
	}()
	defer func() {
		cancel()
		<-done
	}()

	sub := func(topic string, want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			args := append(append([]string{}, hp...), "-C", "1", "-W", "2", "-t", topic)
			out, _ := exec.Command("mosquitto_sub", args...).Output()
			if strings.TrimSpace(string(out)) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: last %q, want %q\nagent log:\n%s", topic, out, want, errOut.String())
			}
		}
	}
	pub := func(topic, msg string) {
		t.Helper()
		args := append(append([]string{}, hp...), "-q", "1", "-t", topic, "-m", msg)
		if out, err := exec.Command("mosquitto_pub", args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v: %s", err, out)
		}
	}

	sub("pinion/demo/status", "online")
	sub("pinion/demo/pump/relay", "OFF")
	pub("pinion/demo/pump/relay/set", "ON")
	sub("pinion/demo/pump/relay", "ON")
	pub("pinion/demo/pump/relay/set", "toggle")
	sub("pinion/demo/pump/relay", "OFF")
	pub("pinion/demo/pump/relay/set", "sideways")
	pub("pinion/demo/pump/relay/set", `{"state":"ON"}`)
	sub("pinion/demo/pump/relay", "ON")
	pub("pinion/demo/lamp/light/set", `{"state":"ON","brightness":64}`)
	sub("pinion/demo/lamp/light", `{"state":"ON","brightness":64}`)
	if !strings.Contains(errOut.String(), `\"sideways\" not understood`) {
		t.Errorf("the garbage command was not logged as a warning naming it:\n%s", errOut.String())
	}

	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("agent exit %d after a clean stop:\n%s", code, errOut.String())
	}
	done <- 0 // for the deferred receive
	sub("pinion/demo/status", "offline")
}
