package agent_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/agent"
	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/hatest"
	"github.com/pinion-home/pinion/internal/logbuf"

	_ "github.com/pinion-home/pinion/drivers/all"
)

const wait = 15 * time.Second

// garageConfig is a node with relays, an input, a BME280, an MH-Z19 and
// the system sensors, all on simulated hardware.
const garageConfig = `
[agent]
id = "garage"
name = "Garage Pi"
hardware = "sim"

[mqtt]
broker = "%s"
keepalive = "5s"

[[device]]
id = "pump"
driver = "gpio"
name = "Pump"
pin = "GPIO17"
mode = "output"

[[device]]
id = "light"
driver = "gpio"
name = "Light"
pin = "GPIO27"
mode = "output"
inverted = true
power_on = "on"

[[device]]
id = "door"
driver = "gpio"
name = "Door"
pin = "GPIO22"
mode = "input"
class = "door"
debounce = "10ms"

[[device]]
id = "climate"
driver = "bme280"
name = "Climate"
bus = "1"
address = 0x76
interval = "1s"

[[device]]
id = "air"
driver = "mhz19"
name = "Air"
port = "/dev/serial0"
interval = "1s"

[[device]]
id = "host"
driver = "system"
name = "Host"
interval = "2s"
`

// uid is the unique id pinion gives an entity of node garage.
func uid(device, entity string) string { return "pinion:garage:" + device + ":" + entity }

type running struct {
	host   *sim.Host
	cancel context.CancelFunc
	done   chan error
	cfg    *agent.Config
	logs   *logbuf.Buffer // what the agent logged
}

// start runs the agent with config text (a format string taking the broker
// URL) on a fresh simulated board.
func start(t testing.TB, config, brokerURL string) *running {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pinion.toml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(config, brokerURL)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	h := sim.NewHost(nil)
	if err := agent.PopulateSim(h, cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{host: h, cancel: cancel, done: make(chan error, 1), cfg: cfg, logs: &logbuf.Buffer{}}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, r.logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { r.done <- agent.Serve(ctx, cfg, h, log) }()
	t.Cleanup(func() { r.stop(t); h.Close() })
	return r
}

// waitLog waits until the agent has logged a line containing every one of
// parts.
func (r *running) waitLog(t testing.TB, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		for _, line := range strings.Split(r.logs.String(), "\n") {
			if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not log a line with %q", parts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop shuts the agent down cleanly and waits for it.
func (r *running) stop(t testing.TB) {
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
	case <-time.After(wait):
		t.Fatal("agent did not stop within 15s")
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}

func TestAgentEmbeddedBroker(t *testing.T) {
	suite(t, brokertest.Embedded(t))
}

func TestAgentMosquitto(t *testing.T) {
	suite(t, brokertest.Mosquitto(t))
}

// suite runs the agent against the broker at url the way Home Assistant and
// people at a shell use it.
func suite(t *testing.T, url string) {
	proxy := brokertest.NewProxy(t, url)
	r := start(t, garageConfig, proxy.URL())
	ha := hatest.New(t, url)

	// Home Assistant sees exactly the entities the config describes.
	msgs, err := discovery.Messages(r.cfg.Node(), r.cfg.DiscoveryDevices())
	if err != nil {
		t.Fatal(err)
	}
	if err := ha.WaitEntities(len(msgs), wait); err != nil {
		t.Fatal(err)
	}
	if p := ha.Problems(); len(p) > 0 {
		t.Fatalf("Home Assistant would reject discovery:\n%s", strings.Join(p, "\n"))
	}
	var want, got []string
	for _, m := range msgs {
		want = append(want, m.Topic)
	}
	for _, e := range ha.Entities() {
		got = append(got, e.Topic)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("Home Assistant discovered %q,\nwant %q", got, want)
	}

	t.Run("relay follows commands", func(t *testing.T) {
		pump := r.host.Line("GPIO17")
		if err := ha.WaitState(uid("pump", "relay"), "OFF", wait); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitAvailable(uid("pump", "relay"), true, wait); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			payload, want string
			level         gpio.Level
		}{
			{"ON", "ON", gpio.High},
			{"off", "OFF", gpio.Low},
			{"TOGGLE", "ON", gpio.High},
			{"0", "OFF", gpio.Low},
			{"true", "ON", gpio.High},
			{`{"state":"OFF"}`, "OFF", gpio.Low},
		}
		for _, s := range steps {
			if err := ha.Command(uid("pump", "relay"), s.payload); err != nil {
				t.Fatal(err)
			}
			if err := ha.WaitState(uid("pump", "relay"), s.want, wait); err != nil {
				t.Fatalf("after %q: %v", s.payload, err)
			}
			if got := pump.Level(); got != s.level {
				t.Fatalf("after %q: GPIO17 is %v, want %v", s.payload, got, s.level)
			}
		}
		for _, c := range pump.History() {
			if !c.Output {
				t.Fatalf("GPIO17 changed level while not an output: %+v", c)
			}
		}
		if n := pump.Reads(); n != 0 {
			t.Fatalf("the relay line was read back %d times; periph turns a read output into an input", n)
		}
	})

	t.Run("commands are applied in the order sent", func(t *testing.T) {
		// Sent back to back, without waiting for states: with handlers on
		// goroutines of their own, ON, OFF could reach the relay as OFF, ON.
		pump := r.host.Line("GPIO17")
		if err := ha.Command(uid("pump", "relay"), "OFF"); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitState(uid("pump", "relay"), "OFF", wait); err != nil {
			t.Fatal(err)
		}
		for burst := 0; burst < 10; burst++ {
			before := len(pump.History())
			var want []gpio.Level
			for i := 0; i < 6; i++ {
				p, l := "ON", gpio.High
				if i%2 == 1 {
					p, l = "OFF", gpio.Low
				}
				want = append(want, l)
				if err := ha.Command(uid("pump", "relay"), p); err != nil {
					t.Fatal(err)
				}
			}
			until(t, "every command of the burst to reach the relay", func() bool { return len(pump.History())-before >= len(want) })
			var levels []gpio.Level
			for _, c := range pump.History()[before:] {
				levels = append(levels, c.Level)
			}
			if !slices.Equal(levels, want) {
				t.Fatalf("burst %d: ON, OFF ×3 drove GPIO17 through %v, want %v", burst, levels, want)
			}
			// The states of a burst may reach the broker coalesced (the
			// outbox keeps the latest per topic), but the last is OFF.
			if err := ha.WaitState(uid("pump", "relay"), "OFF", wait); err != nil {
				t.Fatal(err)
			}
		}
		if err := ha.WaitState(uid("pump", "relay"), "OFF", wait); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("garbage commands change nothing", func(t *testing.T) {
		pump := r.host.Line("GPIO17")
		before := len(pump.History())
		for _, p := range []string{"banana", "", "2", `{"state":`, strings.Repeat("x", 5000)} {
			if err := ha.Command(uid("pump", "relay"), p); err != nil {
				t.Fatal(err)
			}
		}
		// A valid command after the garbage proves the device still works
		// and that the garbage did not move the relay.
		if err := ha.Command(uid("pump", "relay"), "ON"); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitState(uid("pump", "relay"), "ON", wait); err != nil {
			t.Fatal(err)
		}
		if h := pump.History()[before:]; len(h) != 1 || h[0].Level != gpio.High {
			t.Fatalf("GPIO17 went through %+v, want exactly one change to High", h)
		}
	})

	t.Run("inverted relay with power_on on", func(t *testing.T) {
		light := r.host.Line("GPIO27")
		if err := ha.WaitState(uid("light", "relay"), "ON", wait); err != nil {
			t.Fatal(err)
		}
		if got := light.Level(); got != gpio.Low {
			t.Fatalf("inverted relay ON drives %v, want Low", got)
		}
		if !light.IsOutput() {
			t.Fatal("GPIO27 is not an output")
		}
		for _, c := range light.History() {
			if c.Level == gpio.High {
				t.Fatalf("GPIO27 went High (relay off) at %v: an inverted relay with power_on = on must never glitch off", c.At)
			}
		}
	})

	t.Run("input edges become states", func(t *testing.T) {
		door := r.host.Line("GPIO22")
		// Pull-up by default: nothing connected reads High, which is ON.
		if err := ha.WaitState(uid("door", "input"), "ON", wait); err != nil {
			t.Fatal(err)
		}
		door.Drive(gpio.Low)
		if err := ha.WaitState(uid("door", "input"), "OFF", wait); err != nil {
			t.Fatal(err)
		}
		door.Drive(gpio.High)
		if err := ha.WaitState(uid("door", "input"), "ON", wait); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("sensors publish readings", func(t *testing.T) {
		for _, id := range []string{uid("climate", "temperature"), uid("climate", "humidity"), uid("climate", "pressure"), uid("air", "co2"), uid("host", "uptime")} {
			if err := ha.WaitNumericState(id, wait); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("a failing device goes unavailable alone", func(t *testing.T) {
		chip, ok := r.host.I2CChip("1", 0x76).(*sim.BME280)
		if !ok {
			t.Fatal("no simulated BME280 at 1:0x76")
		}
		chip.Fail(nil) // unplugged: every transaction is NACKed
		if err := ha.WaitAvailable(uid("climate", "temperature"), false, wait); err != nil {
			t.Fatal(err)
		}
		if e := mustEntity(t, ha, uid("pump", "relay")); !e.Available {
			t.Fatal("the pump went unavailable with the BME280")
		}
		if err := ha.Command(uid("pump", "relay"), "ON"); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitState(uid("pump", "relay"), "ON", wait); err != nil {
			t.Fatalf("the pump stopped working while the BME280 failed: %v", err)
		}
		chip.Recover()
		if err := ha.WaitAvailable(uid("climate", "temperature"), true, wait); err != nil {
			t.Fatalf("after the BME280 came back: %v", err)
		}
	})

	t.Run("birth message republishes discovery and states", func(t *testing.T) {
		// The light's state changes only on command and is republished
		// every 30 s: a new message within the wait is the birth's doing.
		topic := mustEntity(t, ha, uid("light", "relay")).Topic
		configs, states := ha.ConfigCount(topic), ha.StateCount(uid("light", "relay"))
		ha.SendBirth()
		deadline := time.Now().Add(wait)
		for ha.ConfigCount(topic) <= configs || ha.StateCount(uid("light", "relay")) <= states {
			if time.Now().After(deadline) {
				t.Fatalf("after the birth message: %d new configs on %s, %d new states; want both", ha.ConfigCount(topic)-configs, topic, ha.StateCount(uid("light", "relay"))-states)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("a retained command is not obeyed again at reconnect", func(t *testing.T) {
		// Someone publishes ON retained (mosquitto_pub -r, or a switch
		// configured with retain: true): it arrives live, and is obeyed.
		pump := r.host.Line("GPIO17")
		setTopic := mustEntity(t, ha, uid("pump", "relay")).CommandTopic
		// Off first, so that the ON below is seen to be obeyed.
		if err := ha.Command(uid("pump", "relay"), "OFF"); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitState(uid("pump", "relay"), "OFF", wait); err != nil {
			t.Fatal(err)
		}
		if err := ha.Publish(setTopic, "ON", true); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ha.Publish(setTopic, "", true) })
		if err := ha.WaitState(uid("pump", "relay"), "ON", wait); err != nil {
			t.Fatal(err)
		}
		if err := ha.Command(uid("pump", "relay"), "OFF"); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitState(uid("pump", "relay"), "OFF", wait); err != nil {
			t.Fatal(err)
		}
		before := len(pump.History())
		// The broker replays the retained ON when the agent subscribes
		// again; the agent says it ignored it.
		proxy.Cut()
		r.waitLog(t, "retained command ignored", "topic="+setTopic)
		if h := pump.History()[before:]; len(h) != 0 {
			t.Fatalf("the replayed retained ON moved GPIO17: %+v", h)
		}
		// Commands sent live still work, and are the only thing that
		// moved the relay.
		if err := ha.Command(uid("pump", "relay"), "TOGGLE"); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitState(uid("pump", "relay"), "ON", wait); err != nil {
			t.Fatal(err)
		}
		if h := pump.History()[before:]; len(h) != 1 || h[0].Level != gpio.High {
			t.Fatalf("after the reconnect GPIO17 went through %+v, want only the TOGGLE's change to High", h)
		}
	})

	t.Run("dropped connection publishes the will", func(t *testing.T) {
		proxy.Pause()
		if err := ha.WaitAvailable(uid("pump", "relay"), false, wait); err != nil {
			t.Fatalf("after the connection dropped: %v", err)
		}
		proxy.Resume()
		if err := ha.WaitAvailable(uid("pump", "relay"), true, 2*wait); err != nil {
			t.Fatalf("after the connection came back: %v", err)
		}
		// Commands work again after the reconnect: subscriptions were redone.
		if err := ha.Command(uid("pump", "relay"), "OFF"); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitState(uid("pump", "relay"), "OFF", wait); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("clean exit publishes offline and keeps relays", func(t *testing.T) {
		if err := ha.Command(uid("pump", "relay"), "ON"); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitState(uid("pump", "relay"), "ON", wait); err != nil {
			t.Fatal(err)
		}
		r.stop(t)
		if err := ha.WaitAvailable(uid("pump", "relay"), false, wait); err != nil {
			t.Fatal(err)
		}
		if got := r.host.Line("GPIO17").Level(); got != gpio.High {
			t.Fatalf("on_exit = keep, but the relay line is %v after exit", got)
		}
	})

	t.Run("removed devices and entities leave no ghosts", func(t *testing.T) {
		// The same node with only the pump, and the light turned from a
		// relay into an input: every other entity it had published must
		// get an empty retained config, and its retained state go.
		only := strings.SplitN(garageConfig, "[[device]]", 3)
		small := only[0] + "[[device]]" + only[1] + `
[[device]]
id = "light"
driver = "gpio"
name = "Light"
pin = "GPIO27"
mode = "input"
`
		doorTopic := mustEntity(t, ha, uid("door", "input")).Topic
		lightTopic := mustEntity(t, ha, uid("light", "relay")).Topic
		pumpTopic := mustEntity(t, ha, uid("pump", "relay")).Topic
		r2 := start(t, small, url)
		defer r2.stop(t)
		for _, topic := range []string{doorTopic, lightTopic} {
			deadline := time.Now().Add(wait)
			for !slices.Contains(ha.Removed(), topic) {
				if time.Now().After(deadline) {
					t.Fatalf("the config %s was not removed; removed: %v", topic, ha.Removed())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if slices.Contains(ha.Removed(), pumpTopic) {
			t.Fatal("the pump, still configured, was removed")
		}
		if err := ha.WaitState(uid("light", "input"), "ON", wait); err != nil {
			t.Fatalf("the light as an input: %v", err)
		}
		// The retained states and statuses of what is gone are cleared;
		// those of what is configured stay.
		for topic, want := range map[string]bool{
			"pinion/garage/door/input":   false,
			"pinion/garage/door/status":  false,
			"pinion/garage/light/relay":  false,
			"pinion/garage/light/input":  true,
			"pinion/garage/light/status": true,
			"pinion/garage/pump/relay":   true,
			"pinion/garage/pump/status":  true,
		} {
			deadline := time.Now().Add(wait)
			for hatest.Retained(t, url, topic) != want {
				if time.Now().After(deadline) {
					t.Fatalf("%s: retained = %v, want %v", topic, !want, want)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	})

	if p := ha.Problems(); len(p) > 0 {
		t.Fatalf("Home Assistant would reject discovery:\n%s", strings.Join(p, "\n"))
	}
}

func mustEntity(t *testing.T, ha *hatest.HA, id string) hatest.Entity {
	t.Helper()
	e, ok := ha.Entity(id)
	if !ok {
		t.Fatalf("entity %s not discovered", id)
	}
	return e
}
