package agent

import (
	"context"
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

// twoRelays is a pump and a lamp, each one switch.
var twoRelays = []DeviceConfig{
	{ID: "pump", Entities: []drivers.Entity{{ID: "relay", Spec: drivers.Switch{}}}},
	{ID: "lamp", Entities: []drivers.Entity{{ID: "relay", Spec: drivers.Switch{}}}},
}

// publishRetained leaves payload retained on topic, as the agent holding
// a node leaves its states.
func publishRetained(t *testing.T, url, topic, payload string) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("restore-test-" + restoreNonce(4)))
	if tok := c.Connect(); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish(topic, 1, true, payload); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// TestRestoreBrokerOnlyOnceHeld checks that the broker's retained states
// are used only once the session holds the node: an agent refused the
// node (another live agent holds it, whose states those are) starts its
// relays off after restoreWait, and one that holds it restores them.
func TestRestoreBrokerOnlyOnceHeld(t *testing.T) {
	url := brokertest.Embedded(t)
	node := discovery.Node{ID: "garage"}
	publishRetained(t, url, node.StateTopic("pump", "relay"), "ON")
	for _, held := range []bool{false, true} {
		t.Run(fmt.Sprintf("held=%t", held), func(t *testing.T) {
			clock := clockwork.NewFakeClock()
			logs := &logbuf.Buffer{}
			r := newRestorer(slog.New(slog.NewTextHandler(logs, nil)), clock, t.TempDir(), node, twoRelays, restoreBroker{URL: url, ClientID: "garage-" + restoreNonce(3)})
			defer r.close()
			if held {
				restoreOnConnection(r, nil)(true)
			} else {
				restoreOnConnection(r, nil)(false) // a connection lost is no hold
			}
			type result struct {
				v  drivers.Value
				ok bool
			}
			done := make(chan result, 1)
			go func() {
				v, ok, _ := r.lastState(context.Background(), "pump", "relay")
				done <- result{v, ok}
			}()
			if !held {
				ctx, cancel := context.WithTimeout(context.Background(), testWait)
				defer cancel()
				if err := clock.BlockUntilContext(ctx, 1); err != nil {
					t.Fatalf("lastState never waited for the hold: %v", err)
				}
				clock.Advance(restoreWait)
			}
			select {
			case got := <-done:
				if held && (!got.ok || !got.v.Equal(drivers.Bool(true))) {
					t.Errorf("held: lastState = %v, %t; want ON from the broker", got.v, got.ok)
				}
				if !held && got.ok {
					t.Errorf("not held: lastState = %v; want not known (the holder's state)", got.v)
				}
			case <-time.After(testWait):
				t.Fatal("lastState did not return")
			}
			if !held && !strings.Contains(logs.String(), "not held") {
				t.Errorf("no log says why it was not restored:\n%s", logs)
			}
		})
	}
}

// TestRestoreOnExitOff checks that on_exit = "off" with power_on =
// "restore" remembers the relay off: the agent stopped with the pump on
// leaves it off, and the next start keeps it off, from the state file.
func TestRestoreOnExitOff(t *testing.T) {
	url, dir, h := brokertest.Embedded(t), t.TempDir(), sim.NewHost(nil)
	t.Cleanup(func() { h.Close() })
	config := strings.Replace(fmt.Sprintf(restoreConfig, dir, url), `on_exit = "keep"`, `on_exit = "off"`, 1)
	r := startRestoreRun(t, h, config)
	r.waitLog(t, "connected")
	r.waitLog(t, "no state to restore", "pump")
	publish(t, url, "pinion/garage/pump/relay/set", "ON")
	waitFor(t, "the state file to say ON", func() bool {
		v, ok := fileState(dir)
		return ok && v.Equal(drivers.Bool(true))
	})
	r.stop(t)
	if v, ok := fileState(dir); !ok || !v.Equal(drivers.Bool(false)) {
		t.Fatalf("after on_exit = \"off\" the state file says %v (%t), want OFF", v, ok)
	}
	r = startRestoreRun(t, h, config)
	r.waitLog(t, "state restored", "pump", `from="state file"`, "state=OFF")
}

// TestRestoreFileKeepsOthers checks that a write keeps the states of the
// entities that have not asked for theirs yet (waiting for a provider,
// failing to open): a change of the pump does not lose the lamp.
func TestRestoreFileKeepsOthers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFileName)
	if err := writeStateFile(path, "n", map[string]drivers.Value{"pump/relay": drivers.Bool(true), "lamp/relay": drivers.Bool(true)}, nil); err != nil {
		t.Fatal(err)
	}
	r := newRestorer(slog.New(slog.NewTextHandler(&logbuf.Buffer{}, nil)), clockwork.NewFakeClock(), dir, discovery.Node{ID: "n"}, twoRelays, restoreBroker{})
	if _, ok, err := r.lastState(context.Background(), "pump", "relay"); !ok || err != nil {
		t.Fatalf("lastState = %t, %v; want the pump from the file", ok, err)
	}
	r.observe("pump", "relay", drivers.Bool(false))
	r.close()
	node, states, _, err := readStateFileOf(path)
	if err != nil {
		t.Fatal(err)
	}
	if node != "n" {
		t.Errorf("the file's node is %q, want %q", node, "n")
	}
	if !states["pump/relay"].Equal(drivers.Bool(false)) {
		t.Errorf("pump %v, want OFF", states["pump/relay"])
	}
	if v, ok := states["lamp/relay"]; !ok || !v.Equal(drivers.Bool(true)) {
		t.Errorf("lamp %v (%t), want still ON: it has not been looked up yet", v, ok)
	}
}

// TestRestoreOtherNodesFile checks that a state file another node wrote
// (two agents sharing a state_dir) is not restored from, and says so.
func TestRestoreOtherNodesFile(t *testing.T) {
	dir := t.TempDir()
	if err := writeStateFile(filepath.Join(dir, stateFileName), "other", map[string]drivers.Value{"pump/relay": drivers.Bool(true)}, nil); err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	r := newRestorer(slog.New(slog.NewTextHandler(logs, nil)), clockwork.NewFakeClock(), dir, discovery.Node{ID: "n"}, twoRelays, restoreBroker{})
	defer r.close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no broker either
	if v, ok, err := r.lastState(ctx, "pump", "relay"); ok || err != nil {
		t.Errorf("lastState = %v, %t, %v; want not known: the file is another node's", v, ok, err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "another node") {
		t.Errorf("no warning about the other node's file:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFileName)); err != nil {
		t.Errorf("the other node's file is gone before any change: %v", err)
	}
}

// TestRestoreMaxOnAcrossRestart checks that max_on counts the time a
// remembered relay was on before the restart: past max_on it is restored
// off (and says why), within it max_on switches it off once the rest has
// passed, and the state file records when it went on.
func TestRestoreMaxOnAcrossRestart(t *testing.T) {
	tests := []struct {
		name   string
		onFor  time.Duration
		wantOn bool
	}{
		{"max_on passed", 3 * time.Hour, false},
		{"half an hour left", 90 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, dir, h := brokertest.Embedded(t), t.TempDir(), sim.NewHost(nil)
			t.Cleanup(func() { h.Close() })
			clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC))
			since := clock.Now().Add(-tt.onFor)
			if err := writeStateFile(filepath.Join(dir, stateFileName), "garage", map[string]drivers.Value{"pump/relay": drivers.Bool(true)},
				map[string]time.Time{"pump/relay": since}); err != nil {
				t.Fatal(err)
			}
			config := fmt.Sprintf(restoreConfig, dir, url) + "[device.entity.relay]\nmax_on = \"2h\"\n"
			cfg, err := ParseConfig("test.toml", []byte(config))
			if err != nil {
				t.Fatal(err)
			}
			logs := &logbuf.Buffer{}
			run := &restoreRun{done: make(chan error, 1), logs: logs}
			ctx, cancel := context.WithCancel(context.Background())
			run.cancel = cancel
			go func() {
				run.done <- serve(ctx, cfg, h, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), clock)
			}()
			t.Cleanup(func() {
				run.stop(t)
				if t.Failed() {
					t.Logf("log:\n%s", logs)
				}
			})
			line := h.Line("GPIO17")
			run.waitLog(t, "device ready", "pump")
			if !tt.wantOn {
				run.waitLog(t, "max_on: not restored on", "pump")
				if line.Level() != gpio.Low {
					t.Fatalf("the pump is %v, want Low: max_on passed before the restart", line.Level())
				}
				return
			}
			if line.Level() != gpio.High {
				t.Fatalf("the pump is %v, want High: restored on", line.Level())
			}
			clock.Advance(29 * time.Minute)
			if line.Level() != gpio.High {
				t.Fatal("switched off before the rest of max_on passed")
			}
			clock.Advance(time.Minute)
			waitFor(t, "max_on to switch the pump off", func() bool { return line.Level() == gpio.Low })
			run.waitLog(t, "safety: switching off", "why=max_on", "left_after_restart=30m0s")
		})
	}
}

// TestStateFileSince checks that the state file keeps when an entity went
// on while it stays on, and forgets it once it is off.
func TestStateFileSince(t *testing.T) {
	dir := t.TempDir()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC))
	r := newRestorer(slog.New(slog.NewTextHandler(&logbuf.Buffer{}, nil)), clock, dir, discovery.Node{ID: "n"}, twoRelays, restoreBroker{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.lastState(ctx, "pump", "relay")
	r.lastState(ctx, "lamp", "relay")
	wentOn := clock.Now()
	steps := []struct {
		dev   string
		on    bool
		since time.Time
	}{
		{"pump", true, wentOn},
		{"lamp", true, wentOn}, // the pump stays on: its since stays
		{"pump", false, time.Time{}},
	}
	path := filepath.Join(dir, stateFileName)
	for i, s := range steps {
		r.observe(s.dev, "relay", drivers.Bool(s.on))
		waitFor(t, fmt.Sprintf("step %d written", i), func() bool {
			states, err := readStateFile(path)
			return err == nil && states[s.dev+"/relay"].Equal(drivers.Bool(s.on))
		})
		_, _, since, err := readStateFileOf(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := since["pump/relay"]; !got.Equal(s.since) {
			t.Errorf("step %d: pump since %v, want %v", i, got, s.since)
		}
		clock.Advance(time.Minute)
	}
	r.close()
}
