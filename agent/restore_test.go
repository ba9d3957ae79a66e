package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/logbuf"
)

// restoreConfig is a pump relay that restores its state and is left as
// it is when the agent stops; it takes the broker URL and the state dir.
const restoreConfig = `
[agent]
id = "garage"
hardware = "sim"
state_dir = %q

[mqtt]
broker = %q

[[device]]
id = "pump"
driver = "gpio"
pin = "GPIO17"
mode = "output"
power_on = "restore"
on_exit = "keep"
`

// restoreRun is one run of the agent on a simulated board that outlives
// it, as a Pi's GPIO lines outlive the agent's process.
type restoreRun struct {
	cancel context.CancelFunc
	done   chan error
	logs   *logbuf.Buffer
}

func startRestoreRun(t *testing.T, h *sim.Host, config string) *restoreRun {
	t.Helper()
	cfg, err := ParseConfig("test.toml", []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	r := &restoreRun{done: make(chan error, 1), logs: &logbuf.Buffer{}}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- serve(ctx, cfg, h, log, clockwork.NewRealClock()) }()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("log:\n%s", r.logs.String())
		}
	})
	return r
}

func (r *restoreRun) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("agent returned %v", err)
		}
	case <-time.After(testWait):
		t.Fatal("the agent did not stop")
	}
}

// waitFor waits until cond holds, failing the test after testWait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *restoreRun) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("a log line with %q", parts), func() bool {
		for _, line := range strings.Split(r.logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return true
			}
		}
		return false
	})
}

// publish sends a command as Home Assistant does (not retained).
func publish(t *testing.T, url, topic, payload string) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("restore-test-" + restoreNonce(4)))
	if tok := c.Connect(); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// fileState returns the pump's state in the state file in dir.
func fileState(dir string) (drivers.Value, bool) {
	states, err := readStateFile(filepath.Join(dir, stateFileName))
	if err != nil {
		return drivers.Value{}, false
	}
	v, ok := states["pump/relay"]
	return v, ok
}

// switchOnPump runs the agent, switches the pump on through MQTT and waits
// until the line is on and the state file says so.
func switchOnPump(t *testing.T, h *sim.Host, url, dir string) *restoreRun {
	t.Helper()
	r := startRestoreRun(t, h, fmt.Sprintf(restoreConfig, dir, url))
	r.waitLog(t, "connected")
	r.waitLog(t, "no state to restore", "pump")
	publish(t, url, "pinion/garage/pump/relay/set", "ON")
	line := h.Line("GPIO17")
	waitFor(t, "the pump's line High", func() bool { return line.IsOutput() && line.Level() == gpio.High })
	waitFor(t, "the state file to say ON", func() bool {
		v, ok := fileState(dir)
		return ok && v.Equal(drivers.Bool(true))
	})
	return r
}

// checkRestart starts the agent again on the same board and checks that
// the pump is on and that its line showed no other level in between.
func checkRestart(t *testing.T, h *sim.Host, url, dir, from string, want bool) *restoreRun {
	t.Helper()
	line := h.Line("GPIO17")
	before := len(line.History())
	r := startRestoreRun(t, h, fmt.Sprintf(restoreConfig, dir, url))
	if want {
		r.waitLog(t, "state restored", "pump", from)
	} else {
		r.waitLog(t, "no state to restore", "pump")
	}
	wantLevel := gpio.Low
	if want {
		wantLevel = gpio.High
	}
	waitFor(t, "the pump's line an output", line.IsOutput)
	if got := line.Level(); got != wantLevel {
		t.Errorf("after the restart the line is %v, want %v", got, wantLevel)
	}
	for _, c := range line.History()[before:] {
		if c.Level != wantLevel {
			t.Errorf("the line went through %v during the restart: %+v", c.Level, line.History()[before:])
			break
		}
	}
	return r
}

func restoreBrokers(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"embedded":  func(t *testing.T) string { return brokertest.Embedded(t) },
		"mosquitto": func(t *testing.T) string { return brokertest.Mosquitto(t) },
	}
}

// TestRestoreAcrossRestart restarts the agent with the pump on,
// on_exit = "keep" and power_on = "restore": it is on after the restart,
// from the state file, and its line never showed Low in between.
func TestRestoreAcrossRestart(t *testing.T) {
	for name, broker := range restoreBrokers(t) {
		t.Run(name, func(t *testing.T) {
			url, dir, h := broker(t), t.TempDir(), sim.NewHost(nil)
			t.Cleanup(func() { h.Close() })
			r := switchOnPump(t, h, url, dir)
			r.stop(t)
			checkRestart(t, h, url, dir, `from="state file"`, true)
		})
	}
}

// TestRestoreAfterKill checks that the state file is complete while the
// agent runs, not written at exit: a copy taken before the agent stops
// (what a kill -9 or a power cut leaves) restores the pump on.
func TestRestoreAfterKill(t *testing.T) {
	for name, broker := range restoreBrokers(t) {
		t.Run(name, func(t *testing.T) {
			url, dir, h := broker(t), t.TempDir(), sim.NewHost(nil)
			t.Cleanup(func() { h.Close() })
			r := switchOnPump(t, h, url, dir)
			killed := t.TempDir()
			b, err := os.ReadFile(filepath.Join(dir, stateFileName))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(killed, stateFileName), b, 0o600); err != nil {
				t.Fatal(err)
			}
			r.stop(t)
			checkRestart(t, h, url, killed, `from="state file"`, true)
		})
	}
}

// TestRestoreFallbacks checks the lookup order when the state file does
// not help: missing or corrupt, the broker's retained state; both
// missing, off.
func TestRestoreFallbacks(t *testing.T) {
	for name, broker := range restoreBrokers(t) {
		t.Run(name+"/file missing", func(t *testing.T) {
			url, h := broker(t), sim.NewHost(nil)
			t.Cleanup(func() { h.Close() })
			switchOnPump(t, h, url, t.TempDir()).stop(t)
			checkRestart(t, h, url, t.TempDir(), "from=broker", true)
		})
		t.Run(name+"/file corrupt", func(t *testing.T) {
			url, dir, h := broker(t), t.TempDir(), sim.NewHost(nil)
			t.Cleanup(func() { h.Close() })
			switchOnPump(t, h, url, dir).stop(t)
			if err := os.WriteFile(filepath.Join(dir, stateFileName), []byte(`{"version":1,"states":{"pump/relay":`), 0o600); err != nil {
				t.Fatal(err)
			}
			r := checkRestart(t, h, url, dir, "from=broker", true)
			r.waitLog(t, "WARN", "the state file cannot be used", stateFileName)
		})
		t.Run(name+"/both missing", func(t *testing.T) {
			url, h := broker(t), sim.NewHost(nil)
			t.Cleanup(func() { h.Close() })
			checkRestart(t, h, url, t.TempDir(), "", false)
		})
	}
}

// TestRestoreUnwritableStateDir checks that a state dir the agent cannot
// write costs one clear warning naming the key and the fix, and nothing
// else: the relay is still obeyed. Without power_on = "restore" nothing
// is said at all.
func TestRestoreUnwritableStateDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "pinion")
	url, h := brokertest.Embedded(t), sim.NewHost(nil)
	t.Cleanup(func() { h.Close() })
	r := startRestoreRun(t, h, fmt.Sprintf(restoreConfig, dir, url))
	r.waitLog(t, "connected")
	r.waitLog(t, "no state to restore", "pump")
	for _, p := range []string{"ON", "OFF", "ON"} {
		publish(t, url, "pinion/garage/pump/relay/set", p)
		want := gpio.Level(p == "ON")
		waitFor(t, "the line to follow "+p, func() bool { return h.Line("GPIO17").Level() == want })
	}
	r.stop(t)
	logs := r.logs.String()
	if n := strings.Count(logs, "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want exactly one:\n%s", n, logs)
	}
	if !strings.Contains(logs, "[agent] state_dir") || !strings.Contains(logs, "StateDirectory=pinion") {
		t.Errorf("the warning does not name [agent] state_dir and the fix:\n%s", logs)
	}

	plain := strings.Replace(fmt.Sprintf(restoreConfig, dir, url), `power_on = "restore"`, "", 1)
	r = startRestoreRun(t, sim.NewHost(nil), plain)
	r.waitLog(t, "connected")
	r.stop(t)
	if strings.Contains(r.logs.String(), "state_dir") {
		t.Errorf("warned about the state dir with no entity to remember:\n%s", r.logs.String())
	}
}

// TestStateFileRoundTrip checks that every kind of value a driver may
// restore comes back as it was written.
func TestStateFileRoundTrip(t *testing.T) {
	states := map[string]drivers.Value{
		"pump/relay":  drivers.Bool(true),
		"heater/on":   drivers.Bool(false),
		"strip/light": drivers.LightState(true, 128),
		"fan/duty":    drivers.Num(40, drivers.Percent),
		"mode/select": drivers.Text("eco"),
	}
	path := filepath.Join(t.TempDir(), stateFileName)
	if err := writeStateFile(path, "", states, nil); err != nil {
		t.Fatal(err)
	}
	got, err := readStateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(states) {
		t.Errorf("read %d states, want %d", len(got), len(states))
	}
	for k, v := range states {
		if !got[k].Equal(v) {
			t.Errorf("%s: read %v, want %v", k, got[k], v)
		}
	}
}

// TestStateFileCorrupt checks that what is not a state file of this
// version is refused with an error, never taken in part.
func TestStateFileCorrupt(t *testing.T) {
	tests := []struct{ name, content string }{
		{"empty", ""},
		{"truncated", `{"version":1,"states":{"pump/relay":{"bool":tr`},
		{"other version", `{"version":2,"states":{}}`},
		{"unknown key", `{"version":1,"states":{},"x":1}`},
		{"two forms", `{"version":1,"states":{"pump/relay":{"bool":true,"num":1}}}`},
		{"no form", `{"version":1,"states":{"pump/relay":{}}}`},
		{"garbage", "\x00\x01\x02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), stateFileName)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if states, err := readStateFile(path); err == nil {
				t.Errorf("read %v, want an error", states)
			}
		})
	}
}

// TestStateFileAtomic checks that a write that fails in the middle (a
// crash, a full disk) leaves the old file whole and no temporary file
// behind, and that a temporary file a crash left does not disturb the
// next read or write.
func TestStateFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFileName)
	old := map[string]drivers.Value{"pump/relay": drivers.Bool(true)}
	if err := writeStateFile(path, "", old, nil); err != nil {
		t.Fatal(err)
	}
	orig := stateFileWrite
	t.Cleanup(func() { stateFileWrite = orig })
	stateFileWrite = func(f *os.File, b []byte) (int, error) {
		n, _ := f.Write(b[:len(b)/2])
		return n, errors.New("crash")
	}
	if err := writeStateFile(path, "", map[string]drivers.Value{"pump/relay": drivers.Bool(false)}, nil); err == nil {
		t.Fatal("the crashing write succeeded")
	}
	stateFileWrite = orig
	got, err := readStateFile(path)
	if err != nil || !got["pump/relay"].Equal(drivers.Bool(true)) {
		t.Errorf("after a crashed write: %v, %v; want the old file whole", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want only the state file", len(entries))
	}
	// What a crash before the rename leaves: a partial temporary file.
	if err := os.WriteFile(filepath.Join(dir, "."+stateFileName+".123.tmp"), []byte(`{"vers`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := readStateFile(path); err != nil || !got["pump/relay"].Equal(drivers.Bool(true)) {
		t.Errorf("a leftover temporary file disturbed the read: %v, %v", got, err)
	}
	if err := writeStateFile(path, "", map[string]drivers.Value{"pump/relay": drivers.Bool(false)}, nil); err != nil {
		t.Errorf("a leftover temporary file disturbed the write: %v", err)
	}
}

// TestRestoreStateValue checks the broker fallback's reading of retained
// state payloads for each entity a driver restores.
func TestRestoreStateValue(t *testing.T) {
	relay := drivers.Entity{ID: "relay", Spec: drivers.Switch{}}
	light := drivers.Entity{ID: "light", Spec: drivers.Light{Brightness: true}}
	duty := drivers.Entity{ID: "duty", Spec: drivers.Number{Min: 0, Max: 100, Step: 1, Unit: drivers.Percent}}
	sensor := drivers.Entity{ID: "t", Spec: drivers.Sensor{Unit: drivers.Celsius}}
	tests := []struct {
		e       drivers.Entity
		payload string
		want    drivers.Value
		ok      bool
	}{
		{relay, "ON", drivers.Bool(true), true},
		{relay, "OFF", drivers.Bool(false), true},
		{relay, "TOGGLE", drivers.Value{}, false},
		{relay, "junk", drivers.Value{}, false},
		{light, `{"state":"ON","brightness":128}`, drivers.LightState(true, 128), true},
		{light, `{"state":"OFF"}`, drivers.LightState(false, 0), true},
		{duty, "40", drivers.Num(40, drivers.Percent), true},
		{sensor, "21.5", drivers.Value{}, false},
	}
	for _, tt := range tests {
		got, ok := stateValue(tt.e, []byte(tt.payload))
		if ok != tt.ok || ok && !got.Equal(tt.want) {
			t.Errorf("stateValue(%s, %q) = %v, %t; want %v, %t", tt.e.ID, tt.payload, got, ok, tt.want, tt.ok)
		}
	}
}

// TestStateDirConfig checks [agent] state_dir: its default and a relative
// path refused at its line.
func TestStateDirConfig(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "/run/state/pinion:/other")
	cfg, err := ParseConfig("x.toml", []byte("[agent]\nid = \"a\"\n"))
	if err != nil || cfg.Agent.StateDir != "/run/state/pinion" {
		t.Errorf("default with $STATE_DIRECTORY: %q, %v", cfg.Agent.StateDir, err)
	}
	t.Setenv("STATE_DIRECTORY", "")
	cfg, err = ParseConfig("x.toml", []byte("[agent]\nid = \"a\"\n"))
	if err != nil || cfg.Agent.StateDir != "/var/lib/pinion" {
		t.Errorf("default: %q, %v", cfg.Agent.StateDir, err)
	}
	_, err = ParseConfig("x.toml", []byte("[agent]\nid = \"a\"\nstate_dir = \"state\"\n"))
	if err == nil || !strings.Contains(err.Error(), `x.toml:3: agent.state_dir: "state" is not an absolute path`) {
		t.Errorf("relative state_dir: %v", err)
	}
}

// TestRestoreInterlock checks that an interlock group restores at most
// one member on, even when the state file says both were on (a file from
// before the interlock was configured): the other starts off and its line
// never shows on.
func TestRestoreInterlock(t *testing.T) {
	dir := t.TempDir()
	if err := writeStateFile(filepath.Join(dir, stateFileName), "", map[string]drivers.Value{
		"up/relay": drivers.Bool(true), "down/relay": drivers.Bool(true),
	}, nil); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`
[agent]
id = "garage"
hardware = "sim"
state_dir = %q

[mqtt]
broker = %q

[[device]]
id = "up"
driver = "gpio"
pin = "GPIO5"
mode = "output"
power_on = "restore"
[device.entity.relay]
interlock = "motor"

[[device]]
id = "down"
driver = "gpio"
pin = "GPIO6"
mode = "output"
power_on = "restore"
[device.entity.relay]
interlock = "motor"
`, dir, brokertest.Embedded(t))
	h := sim.NewHost(nil)
	t.Cleanup(func() { h.Close() })
	r := startRestoreRun(t, h, config)
	r.waitLog(t, "device ready", "device=up")
	r.waitLog(t, "device ready", "device=down")
	up, down := h.Line("GPIO5"), h.Line("GPIO6")
	if up.Level() == down.Level() {
		t.Fatalf("up %v, down %v: want exactly one on", up.Level(), down.Level())
	}
	off := up
	if up.Level() == gpio.High {
		off = down
	}
	for _, c := range off.History() {
		if c.Level == gpio.High {
			t.Errorf("the member restored off showed High: %+v", off.History())
		}
	}
}

// TestRestoreWritesOnlyOnChange checks that the state file is written
// when a remembered entity's state changes and at no other time: not for
// the restored state reported again, not for a repeat, not for an entity
// nobody asked to remember.
func TestRestoreWritesOnlyOnChange(t *testing.T) {
	dir := t.TempDir()
	if err := writeStateFile(filepath.Join(dir, stateFileName), "", map[string]drivers.Value{"pump/relay": drivers.Bool(true)}, nil); err != nil {
		t.Fatal(err)
	}
	writes := make(chan []byte, 10)
	orig := stateFileWrite
	t.Cleanup(func() { stateFileWrite = orig })
	stateFileWrite = func(f *os.File, b []byte) (int, error) {
		writes <- append([]byte(nil), b...)
		return f.Write(b)
	}
	devs := []DeviceConfig{
		{ID: "pump", Entities: []drivers.Entity{{ID: "relay", Spec: drivers.Switch{}}}},
		{ID: "lamp", Entities: []drivers.Entity{{ID: "relay", Spec: drivers.Switch{}}}},
	}
	logs := &logbuf.Buffer{}
	r := newRestorer(slog.New(slog.NewTextHandler(logs, nil)), clockwork.NewFakeClock(), dir, discovery.Node{ID: "n"}, devs, restoreBroker{})
	v, ok, err := r.lastState(context.Background(), "pump", "relay")
	if err != nil || !ok || !v.Equal(drivers.Bool(true)) {
		t.Fatalf("lastState = %v, %t, %v; want ON from the file", v, ok, err)
	}
	r.observe("pump", "relay", drivers.Bool(true)) // the restored state, reported
	r.observe("lamp", "relay", drivers.Bool(true)) // not remembered
	r.observe("pump", "relay", drivers.Bool(false))
	select {
	case b := <-writes:
		if !strings.Contains(string(b), `"bool": false`) {
			t.Errorf("wrote %s, want the pump off", b)
		}
	case <-time.After(testWait):
		t.Fatal("the change was not written")
	}
	r.observe("pump", "relay", drivers.Bool(false)) // a repeat
	r.close()
	if len(writes) != 0 {
		t.Errorf("%d more writes, want none: the state did not change again", len(writes))
	}
	if strings.Contains(string(mustRead(t, filepath.Join(dir, stateFileName))), "lamp") {
		t.Error("the file holds an entity nobody asked to remember")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkStateFileWrite measures one atomic write of the state file
// with ten remembered relays (temp file, fsync, rename, directory fsync),
// the cost of each switching of a remembered entity.
func BenchmarkStateFileWrite(b *testing.B) {
	states := map[string]drivers.Value{}
	for i := range 10 {
		states[fmt.Sprintf("relay%d/relay", i)] = drivers.Bool(i%2 == 0)
	}
	path := filepath.Join(b.TempDir(), stateFileName)
	for b.Loop() {
		if err := writeStateFile(path, "", states, nil); err != nil {
			b.Fatal(err)
		}
	}
	st, err := os.Stat(path)
	if err == nil {
		b.ReportMetric(float64(st.Size()), "file-bytes")
	}
}
