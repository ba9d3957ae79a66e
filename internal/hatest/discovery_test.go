package hatest

import (
	"strings"
	"testing"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
)

// TestDiscoveryOutputIsAccepted publishes what package discovery produces
// for typical devices and checks that the double, which knows Home
// Assistant's rules independently, accepts all of it and evaluates states
// and availability the way pinion's topic layout intends.
func TestDiscoveryOutputIsAccepted(t *testing.T) {
	url, srv := startBroker(t)
	ha := New(t, url)

	node := discovery.Node{ID: "garage", Name: "Garage Pi", Version: "1.0.0"}
	temp := drivers.Entity{ID: "temperature", Name: "Temperature", Kind: drivers.KindSensor, Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1}
	relay := drivers.Entity{ID: "relay", Kind: drivers.KindSwitch, Class: drivers.ClassOutlet, Precision: -1}
	devs := []discovery.Device{
		{ID: "attic", Name: "Attic", Info: drivers.Info{Manufacturer: "Bosch", Model: "BME280"}, Entities: []drivers.Entity{
			temp,
			{ID: "humidity", Name: "Humidity", Kind: drivers.KindSensor, Class: drivers.ClassHumidity, Unit: drivers.Percent, State: drivers.StateMeasurement, Precision: 0},
		}},
		{ID: "heater", Name: "Heater plug", Entities: []drivers.Entity{relay}},
		{ID: "door", Name: "Garage door", Entities: []drivers.Entity{{ID: "contact", Kind: drivers.KindBinarySensor, Class: drivers.ClassDoor}}},
	}
	msgs, err := discovery.Messages(node, devs)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		publish(t, srv, m.Topic, string(m.Payload), true)
	}
	if err := ha.WaitEntities(len(msgs), wait); err != nil {
		t.Fatal(err)
	}

	// Names as Home Assistant shows them.
	for uid, want := range map[string]string{
		"pinion_garage_attic_temperature":  "Attic Temperature",
		"pinion_garage_heater_relay":       "Heater plug",
		"pinion_garage_agent_connectivity": "Garage Pi Connectivity",
	} {
		if e, _ := ha.Entity(uid); e.FriendlyName != want {
			t.Errorf("%s: friendly name %q, want %q", uid, e.FriendlyName, want)
		}
	}

	// States formatted by discovery are read without complaint.
	state := func(e drivers.Entity, v drivers.Value) string {
		t.Helper()
		p, err := discovery.StatePayload(e, v)
		if err != nil {
			t.Fatal(err)
		}
		return string(p)
	}
	publish(t, srv, node.StateTopic("attic", "temperature"), state(temp, drivers.Number(21.46, drivers.Celsius)), true)
	publish(t, srv, node.StateTopic("heater", "relay"), state(relay, drivers.Bool(true)), true)
	publish(t, srv, node.StateTopic(discovery.AgentDeviceID, discovery.AgentStarted), "2024-05-01T07:30:00Z", true)
	if err := ha.WaitState("pinion_garage_attic_temperature", "21.5", wait); err != nil {
		t.Error(err)
	}
	if err := ha.WaitState("pinion_garage_heater_relay", "ON", wait); err != nil {
		t.Error(err)
	}

	// The agent online and the heater's device failing: only the heater's
	// entities go unavailable.
	publish(t, srv, node.StatusTopic(), discovery.PayloadOnline, true)
	for _, d := range []string{"attic", "door", "heater"} {
		publish(t, srv, node.DeviceStatusTopic(d), discovery.PayloadOnline, true)
	}
	publish(t, srv, node.DeviceStatusTopic("heater"), discovery.PayloadOffline, true)
	if err := ha.WaitAvailable("pinion_garage_heater_relay", false, wait); err != nil {
		t.Error(err)
	}
	if err := ha.WaitAvailable("pinion_garage_attic_temperature", true, wait); err != nil {
		t.Error(err)
	}
	if err := ha.WaitState("pinion_garage_agent_connectivity", "online", wait); err != nil {
		t.Error(err)
	}

	// The will fires: every entity goes unavailable except connectivity,
	// which stays available and reads "offline" (disconnected).
	publish(t, srv, node.StatusTopic(), discovery.PayloadOffline, true)
	if err := ha.WaitAvailable("pinion_garage_attic_temperature", false, wait); err != nil {
		t.Error(err)
	}
	if err := ha.WaitAvailable("pinion_garage_agent_version", false, wait); err != nil {
		t.Error(err)
	}
	if err := ha.WaitState("pinion_garage_agent_connectivity", "offline", wait); err != nil {
		t.Error(err)
	}
	if e, _ := ha.Entity("pinion_garage_agent_connectivity"); !e.Available {
		t.Error("connectivity is unavailable after the will; it should read disconnected")
	}

	if p := ha.Problems(); len(p) != 0 {
		t.Errorf("Home Assistant would complain about discovery's output:\n%s", strings.Join(p, "\n"))
	}
}
