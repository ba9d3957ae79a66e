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

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/agent"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/hatest"

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
func uid(device, entity string) string { return "pinion_garage_" + device + "_" + entity }

type running struct {
	host   *sim.Host
	cancel context.CancelFunc
	done   chan error
	cfg    *agent.Config
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
	r := &running{host: h, cancel: cancel, done: make(chan error, 1), cfg: cfg}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { r.done <- agent.Serve(ctx, cfg, h, log) }()
	t.Cleanup(func() { r.stop(t); h.Close() })
	return r
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

	// agent: connectivity, started, version; pump, light, door; 3 bme280;
	// co2 (+ temperature); system sensors.
	if err := ha.WaitEntities(12, wait); err != nil {
		t.Fatal(err)
	}
	if p := ha.Problems(); len(p) > 0 {
		t.Fatalf("Home Assistant would reject discovery:\n%s", strings.Join(p, "\n"))
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

	t.Run("birth message republishes discovery", func(t *testing.T) {
		topic := mustEntity(t, ha, uid("pump", "relay")).Topic
		before := ha.ConfigCount(topic)
		ha.SendBirth()
		deadline := time.Now().Add(wait)
		for ha.ConfigCount(topic) <= before {
			if time.Now().After(deadline) {
				t.Fatalf("no discovery republished on %s after the birth message", topic)
			}
			time.Sleep(20 * time.Millisecond)
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

	t.Run("removed devices leave no ghosts", func(t *testing.T) {
		// The same node with only the pump: every other entity it had
		// published must get an empty retained config.
		only := strings.SplitN(garageConfig, "[[device]]", 3)
		small := only[0] + "[[device]]" + only[1]
		doorTopic := mustEntity(t, ha, uid("door", "input")).Topic
		pumpTopic := mustEntity(t, ha, uid("pump", "relay")).Topic
		r2 := start(t, small, url)
		defer r2.stop(t)
		deadline := time.Now().Add(wait)
		for !slices.Contains(ha.Removed(), doorTopic) {
			if time.Now().After(deadline) {
				t.Fatalf("the door's config %s was not removed; removed: %v", doorTopic, ha.Removed())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if slices.Contains(ha.Removed(), pumpTopic) {
			t.Fatal("the pump, still configured, was removed")
		}
		// The door's retained state and status are cleared too; the pump's
		// stay.
		for topic, want := range map[string]bool{
			"pinion/garage/door/input":  false,
			"pinion/garage/door/status": false,
			"pinion/garage/pump/relay":  true,
			"pinion/garage/pump/status": true,
		} {
			deadline := time.Now().Add(wait)
			for retained(t, url, topic) != want {
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

// retained reports whether the broker holds a retained message on topic.
func retained(t testing.TB, brokerURL, topic string) bool {
	t.Helper()
	got := make(chan struct{}, 1)
	id := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(id))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("probe connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	tok := c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		if m.Retained() && len(m.Payload()) > 0 {
			select {
			case got <- struct{}{}:
			default:
			}
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("probe subscribe: %v", tok.Error())
	}
	// Retained messages are sent right after the subscription is granted;
	// a QoS 1 round trip on our own topic marks the end of that replay.
	marker := make(chan struct{})
	mt := "probe/" + id
	c.Subscribe(mt, 1, func(mqtt.Client, mqtt.Message) { close(marker) }).WaitTimeout(5 * time.Second)
	c.Publish(mt, 1, false, "x").WaitTimeout(5 * time.Second)
	select {
	case <-marker:
	case <-time.After(5 * time.Second):
		t.Fatal("probe: no marker")
	}
	select {
	case <-got:
		return true
	default:
		return false
	}
}
