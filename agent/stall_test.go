package agent_test

import (
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/hatest"
)

const stallConfig = `
[agent]
id = "garage"
hardware = "sim"

[mqtt]
broker = "%s"
keepalive = "60s"

[[device]]
id = "pump"
driver = "gpio"
pin = "GPIO17"
mode = "output"

[[device]]
id = "climate"
driver = "bme280"
bus = "1"
address = 0x76
interval = "200ms"
`

// until polls cond, for conditions on simulated hardware that has no
// notification of its own.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStalledBroker stalls the agent's connection (the broker stops
// reading it, as a hung broker does): commands still reach the hardware and
// polls go on, nothing waits on the network, and when the broker reads
// again the latest states arrive.
func TestStalledBroker(t *testing.T) {
	url := brokertest.Embedded(t)
	proxy := brokertest.NewProxy(t, url)
	r := start(t, stallConfig, proxy.URL())
	ha := hatest.New(t, url)
	if err := ha.WaitState(uid("pump", "relay"), "OFF", wait); err != nil {
		t.Fatal(err)
	}
	if err := ha.WaitNumericState(uid("climate", "temperature"), wait); err != nil {
		t.Fatal(err)
	}
	bus, err := r.host.I2C("1")
	if err != nil {
		t.Fatal(err)
	}
	chip := r.host.I2CChip("1", 0x76).(*sim.BME280)
	chip.Fail(nil) // unplugged: only a poll notices, and says so on MQTT
	if err := ha.WaitAvailable(uid("climate", "temperature"), false, wait); err != nil {
		t.Fatal(err)
	}

	proxy.Stall()
	pump := r.host.Line("GPIO17")
	if err := ha.Command(uid("pump", "relay"), "ON"); err != nil {
		t.Fatal(err)
	}
	until(t, "the command to reach the relay while the broker is stalled", func() bool { return pump.Level() == gpio.High })
	chip.Recover()
	polled := bus.(*sim.Bus).Transactions()
	until(t, "polls to go on while the broker is stalled", func() bool { return bus.(*sim.Bus).Transactions() >= polled+20 })
	if e := mustEntity(t, ha, uid("pump", "relay")); e.State != "OFF" {
		t.Fatalf("Home Assistant saw the pump %s while the agent's connection was stalled: the stall did not stall", e.State)
	}

	proxy.Unstall()
	if err := ha.WaitState(uid("pump", "relay"), "ON", wait); err != nil {
		t.Fatalf("after the broker read again: %v", err)
	}
	if err := ha.WaitAvailable(uid("climate", "temperature"), true, wait); err != nil {
		t.Fatalf("after the broker read again: %v", err)
	}
}
