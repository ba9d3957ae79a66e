package hatest

import (
	"strings"
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
)

// Devices with an entity of every component discovery emits.
var (
	node        = discovery.Node{ID: "garage", Name: "Garage Pi", Version: "1.0.0"}
	temperature = drivers.Entity{ID: "temperature", Name: "Temperature", Spec: drivers.Sensor{Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1}}
	humidity    = drivers.Entity{ID: "humidity", Name: "Humidity", Spec: drivers.Sensor{Class: drivers.ClassHumidity, Unit: drivers.Percent, State: drivers.StateMeasurement}}
	relay       = drivers.Entity{ID: "relay", Spec: drivers.Switch{Class: drivers.ClassOutlet}}
	contact     = drivers.Entity{ID: "contact", Spec: drivers.BinarySensor{Class: drivers.ClassDoor}}
	pulse       = drivers.Entity{ID: "pulse", Spec: drivers.Button{}}
	restart     = drivers.Entity{ID: "restart", Name: "Restart", Diagnostic: true, Spec: drivers.Button{Class: "restart"}}
	led         = drivers.Entity{ID: "led", Spec: drivers.Light{Brightness: true}}
	lamp        = drivers.Entity{ID: "lamp", Name: "Lamp", Spec: drivers.Light{}}
	blind       = drivers.Entity{ID: "blind", Name: "Blind", Spec: drivers.Cover{Class: "blind", Position: true}}
	garageDoor  = drivers.Entity{ID: "door", Name: "Door", Spec: drivers.Cover{Class: "garage", NoStop: true}}
	bellButton  = drivers.Entity{ID: "button", Spec: drivers.Event{Class: drivers.ClassDoorbell, Types: []string{"press", "double_press"}}}
	setpoint    = drivers.Entity{ID: "setpoint", Name: "Set point", Spec: drivers.Number{Class: drivers.ClassTemperature, Min: 5, Max: 30, Step: 0.5, Unit: drivers.Celsius, Mode: drivers.NumberBox}}
	duty        = drivers.Entity{ID: "duty", Name: "Duty", Icon: "mdi:fan", DisabledByDefault: true, Spec: drivers.Number{Max: 100, Unit: drivers.Percent, Mode: drivers.NumberSlider}}
	mode        = drivers.Entity{ID: "mode", Name: "Mode", Spec: drivers.Select{Options: []string{"auto", "heat", "Eco mode"}}}

	devices = []discovery.Device{
		{ID: "attic", Name: "Attic", Info: drivers.Info{Manufacturer: "Bosch", Model: "BME280"}, Entities: []drivers.Entity{temperature, humidity}},
		{ID: "heater", Name: "Heater plug", Entities: []drivers.Entity{relay}},
		{ID: "gate", Name: "Gate opener", Entities: []drivers.Entity{pulse, restart, contact}},
		{ID: "porch", Name: "Porch", Entities: []drivers.Entity{led, lamp}},
		{ID: "windows", Name: "Windows", Entities: []drivers.Entity{blind, garageDoor}},
		{ID: "bell", Name: "Doorbell", Entities: []drivers.Entity{bellButton}},
		{ID: "thermostat", Name: "Thermostat", Entities: []drivers.Entity{setpoint, duty, mode}},
	}
)

// deviceOf returns the id of the device in devices that has e.
func deviceOf(t *testing.T, e drivers.Entity) string {
	t.Helper()
	for _, d := range devices {
		for _, de := range d.Entities {
			if de.ID == e.ID && discovery.Component(de) == discovery.Component(e) {
				return d.ID
			}
		}
	}
	t.Fatalf("entity %s is in no device", e.ID)
	return ""
}

// TestDiscoveryOutputIsAccepted publishes what package discovery produces
// for an entity of every component and checks that the double, which
// knows Home Assistant's rules independently, accepts all of it, reads the
// states discovery formats as intended, sees per-entity availability, and
// that what Home Assistant's services publish parses back, with
// discovery.ParseCommand, to the command a user meant.
func TestDiscoveryOutputIsAccepted(t *testing.T) {
	url, srv := startBroker(t)
	ha := New(t, url)
	got := make(chan packets.Packet, 64)
	if err := srv.Subscribe(node.CommandFilter(), 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) { got <- pk }); err != nil {
		t.Fatal(err)
	}

	msgs, err := discovery.Messages(node, devices)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		publish(t, srv, m.Topic, string(m.Payload), true)
	}
	if err := ha.WaitEntities(len(msgs), wait); err != nil {
		t.Fatal(err)
	}
	uid := func(e drivers.Entity) string { return node.UniqueID(deviceOf(t, e), e.ID) }

	// Names as Home Assistant shows them.
	for e, want := range map[drivers.Entity]string{
		temperature: "Attic Temperature",
		relay:       "Heater plug",
		lamp:        "Porch Lamp",
	} {
		if got, _ := ha.Entity(uid(e)); got.FriendlyName != want {
			t.Errorf("%s: friendly name %q, want %q", uid(e), got.FriendlyName, want)
		}
	}

	// Everything online: the node, each device, each entity.
	publish(t, srv, node.StatusTopic(), discovery.PayloadOnline, true)
	for _, d := range devices {
		publish(t, srv, node.DeviceStatusTopic(d.ID), discovery.PayloadOnline, true)
		for _, e := range d.Entities {
			publish(t, srv, node.EntityStatusTopic(d.ID, e.ID), discovery.PayloadOnline, true)
		}
	}
	for _, d := range devices {
		for _, e := range d.Entities {
			if err := ha.WaitAvailable(uid(e), true, wait); err != nil {
				t.Fatal(err)
			}
		}
	}

	// States formatted by discovery are read as meant.
	states := []struct {
		e     drivers.Entity
		v     drivers.Value
		check func(Entity) bool
	}{
		{temperature, drivers.Num(21.46, drivers.Celsius), func(e Entity) bool { return e.Value == "21.5" }},
		{humidity, drivers.Num(55.4, drivers.Percent), func(e Entity) bool { return e.Value == "55" }},
		{relay, drivers.Bool(true), func(e Entity) bool { return e.Value == "on" }},
		{contact, drivers.Bool(false), func(e Entity) bool { return e.Value == "off" }},
		{led, drivers.LightState(true, 128), func(e Entity) bool { return e.Value == "on" && e.Brightness == 128 }},
		{lamp, drivers.LightState(false, 0), func(e Entity) bool { return e.Value == "off" }},
		{blind, drivers.CoverState(drivers.CoverClosing, 40), func(e Entity) bool { return e.Value == "closing" && e.Position == 40 }},
		{garageDoor, drivers.CoverState(drivers.CoverOpen, 0), func(e Entity) bool { return e.Value == "open" && e.Position == -1 }},
		{setpoint, drivers.Num(20.5, drivers.Celsius), func(e Entity) bool { return e.Value == "20.5" }},
		{duty, drivers.Num(40, drivers.Percent), func(e Entity) bool { return e.Value == "40" }},
		{mode, drivers.Text("Eco mode"), func(e Entity) bool { return e.Value == "Eco mode" }},
		// Unknown: what Home Assistant reads as unknown.
		{lamp, drivers.Value{}, func(e Entity) bool { return e.Value == Unknown }},
		{garageDoor, drivers.Value{}, func(e Entity) bool { return e.Value == Unknown }},
	}
	for _, s := range states {
		p, err := discovery.StatePayload(s.e, s.v)
		if err != nil {
			t.Fatal(err)
		}
		publish(t, srv, node.StateTopic(deviceOf(t, s.e), s.e.ID), string(p), true)
		if err := ha.WaitEntity(uid(s.e), s.v.String()+" from "+string(p), s.check, wait); err != nil {
			t.Error(err)
		}
	}

	// Events formatted by discovery fire in Home Assistant.
	for _, typ := range []string{"press", "double_press", "press"} {
		p, err := discovery.EventPayload(bellButton, typ)
		if err != nil {
			t.Fatal(err)
		}
		publish(t, srv, node.StateTopic("bell", bellButton.ID), string(p), false)
		if err := ha.WaitEvent(uid(bellButton), typ, wait); err != nil {
			t.Fatal(err)
		}
	}

	// Home Assistant's services publish what discovery parses back.
	on := drivers.Command{Action: drivers.ActionOn}
	commands := []struct {
		e    drivers.Entity
		call func() error
		want discovery.Command
	}{
		{relay, func() error { return ha.TurnOn(uid(relay)) }, discovery.Command{Command: on}},
		{relay, func() error { return ha.TurnOff(uid(relay)) }, discovery.Command{Command: drivers.Command{Action: drivers.ActionOff}}},
		{pulse, func() error { return ha.Press(uid(pulse)) }, discovery.Command{Command: drivers.Command{Action: drivers.ActionPress}}},
		{restart, func() error { return ha.Press(uid(restart)) }, discovery.Command{Command: drivers.Command{Action: drivers.ActionPress}}},
		{led, func() error { return ha.TurnOn(uid(led)) }, discovery.Command{Command: on}},
		{led, func() error { return ha.LightOn(uid(led), 200) }, discovery.Command{Command: drivers.Command{Action: drivers.ActionOn, Value: drivers.Num(200, "")}}},
		{lamp, func() error { return ha.TurnOn(uid(lamp)) }, discovery.Command{Command: on}},
		{lamp, func() error { return ha.TurnOff(uid(lamp)) }, discovery.Command{Command: drivers.Command{Action: drivers.ActionOff}}},
		{blind, func() error { return ha.OpenCover(uid(blind)) }, discovery.Command{Command: drivers.Command{Action: drivers.ActionOpen}}},
		{blind, func() error { return ha.StopCover(uid(blind)) }, discovery.Command{Command: drivers.Command{Action: drivers.ActionStop}}},
		{blind, func() error { return ha.SetCoverPosition(uid(blind), 30) }, discovery.Command{Command: drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(30, "")}}},
		{garageDoor, func() error { return ha.CloseCover(uid(garageDoor)) }, discovery.Command{Command: drivers.Command{Action: drivers.ActionClose}}},
		{setpoint, func() error { return ha.SetNumber(uid(setpoint), 22.5) }, discovery.Command{Command: drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(22.5, drivers.Celsius)}}},
		{duty, func() error { return ha.SetNumber(uid(duty), 75) }, discovery.Command{Command: drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(75, drivers.Percent)}}},
		{mode, func() error { return ha.SelectOption(uid(mode), "Eco mode") }, discovery.Command{Command: drivers.Command{Action: drivers.ActionSet, Value: drivers.Text("Eco mode")}}},
	}
	for _, c := range commands {
		if err := c.call(); err != nil {
			t.Fatal(err)
		}
		pk := receive(t, got)
		dev, ent, ok := node.ParseCommandTopic(pk.TopicName)
		if !ok || dev != deviceOf(t, c.e) || ent != c.e.ID {
			t.Errorf("%s: published on %s", c.e.ID, pk.TopicName)
			continue
		}
		cmd, err := discovery.ParseCommand(c.e, pk.Payload)
		if err != nil {
			t.Errorf("%s: Home Assistant's %q does not parse: %v", c.e.ID, pk.Payload, err)
			continue
		}
		if cmd.Toggle != c.want.Toggle || cmd.Action != c.want.Action || !cmd.Value.Equal(c.want.Value) {
			t.Errorf("%s: %q parses to %v, want %v", c.e.ID, pk.Payload, cmd, c.want)
		}
	}
	// Home Assistant offers no stop for a cover that cannot stop.
	if err := ha.StopCover(uid(garageDoor)); err == nil {
		t.Error("a cover with NoStop takes a stop")
	}

	// An entity failing alone, then the device: only theirs go.
	publish(t, srv, node.EntityStatusTopic("porch", lamp.ID), discovery.PayloadOffline, true)
	if err := ha.WaitAvailable(uid(lamp), false, wait); err != nil {
		t.Error(err)
	}
	if e, _ := ha.Entity(uid(led)); !e.Available {
		t.Error("one entity failing took its sibling down")
	}
	publish(t, srv, node.DeviceStatusTopic("heater"), discovery.PayloadOffline, true)
	if err := ha.WaitAvailable(uid(relay), false, wait); err != nil {
		t.Error(err)
	}
	if e, _ := ha.Entity(uid(temperature)); !e.Available {
		t.Error("a device failing took another device's entity down")
	}

	// The agent's own device: connectivity reads the node status.
	publish(t, srv, node.StateTopic(discovery.AgentDeviceID, discovery.AgentStarted), "2024-05-01T07:30:00Z", true)
	connectivity := node.UniqueID(discovery.AgentDeviceID, discovery.AgentConnectivity)
	if err := ha.WaitValue(connectivity, "on", wait); err != nil {
		t.Error(err)
	}
	// The will fires: every entity goes unavailable except connectivity,
	// which stays available and reads off (disconnected).
	publish(t, srv, node.StatusTopic(), discovery.PayloadOffline, true)
	if err := ha.WaitAvailable(uid(temperature), false, wait); err != nil {
		t.Error(err)
	}
	if err := ha.WaitAvailable(node.UniqueID(discovery.AgentDeviceID, discovery.AgentVersion), false, wait); err != nil {
		t.Error(err)
	}
	if err := ha.WaitValue(connectivity, "off", wait); err != nil {
		t.Error(err)
	}
	if e, _ := ha.Entity(connectivity); !e.Available {
		t.Error("connectivity is unavailable after the will; it should read disconnected")
	}

	if p := ha.Problems(); len(p) != 0 {
		t.Errorf("Home Assistant would complain about discovery's output:\n%s", strings.Join(p, "\n"))
	}
}
