package discovery

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pinion-home/pinion/drivers"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// garage is the node of the golden files.
var garage = Node{ID: "garage", Name: "Garage Pi", Version: "1.2.3"}

// Devices shaped like the ones drivers describe, chosen to cover every
// component and every kind of payload discovery emits (a class on a
// switch, a text sensor, a data size unit, a device with and without
// manufacturer, an entity disabled by default, a dimmable and an on/off
// light, a cover with a position and one that cannot stop, …). The
// built-in drivers' own payloads are pinned by
// agent/testdata/cli/demo-discovery.golden.
var (
	relayDevice = Device{
		ID:   "heater",
		Name: "Heater plug",
		Info: drivers.Info{Manufacturer: "Songle", Model: "SRD-05VDC relay"},
		Entities: []drivers.Entity{
			{ID: "relay", Spec: drivers.Switch{Class: drivers.ClassOutlet}},
		},
	}
	doorDevice = Device{
		ID:   "door",
		Name: "Garage door",
		Info: drivers.Info{Model: "GPIO input"},
		Entities: []drivers.Entity{
			{ID: "contact", Spec: drivers.BinarySensor{Class: drivers.ClassDoor}},
		},
	}
	bme280Device = Device{
		ID:   "attic",
		Name: "Attic",
		Info: drivers.Info{Manufacturer: "Bosch", Model: "BME280"},
		Entities: []drivers.Entity{
			{ID: "temperature", Name: "Temperature", Spec: drivers.Sensor{Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1}},
			{ID: "humidity", Name: "Humidity", Spec: drivers.Sensor{Class: drivers.ClassHumidity, Unit: drivers.Percent, State: drivers.StateMeasurement, Precision: 0}},
			{ID: "pressure", Name: "Pressure", Spec: &drivers.Sensor{Class: drivers.ClassPressure, Unit: drivers.HectoPascal, State: drivers.StateMeasurement, Precision: 1}},
		},
	}
	systemDevice = Device{
		ID:   "system",
		Name: "Garage Pi system",
		Info: drivers.Info{Manufacturer: "Raspberry Pi", Model: "Raspberry Pi 4 Model B"},
		Entities: []drivers.Entity{
			{ID: "cpu_temperature", Name: "CPU temperature", Diagnostic: true, Spec: drivers.Sensor{Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1}},
			{ID: "load", Name: "Load (1 min)", Diagnostic: true, Icon: "mdi:gauge", Spec: drivers.Sensor{State: drivers.StateMeasurement, Precision: 2}},
			{ID: "uptime", Name: "Uptime", Diagnostic: true, Spec: drivers.Sensor{Class: drivers.ClassDuration, Unit: drivers.Seconds, State: drivers.StateTotalIncreasing, Precision: -1}},
			{ID: "memory_free", Name: "Memory free", Diagnostic: true, DisabledByDefault: true, Spec: drivers.Sensor{Class: drivers.ClassDataSize, Unit: drivers.MebiBytes, State: drivers.StateMeasurement, Precision: 0}},
			{ID: "hostname", Name: "Hostname", Diagnostic: true, Icon: "mdi:dns", Spec: drivers.Sensor{Precision: -1}},
		},
	}
	buttonDevice = Device{
		ID:   "gate",
		Name: "Gate opener",
		Info: drivers.Info{Model: "GPIO pulse"},
		Entities: []drivers.Entity{
			{ID: "pulse", Spec: drivers.Button{}},
			{ID: "restart", Name: "Restart", Diagnostic: true, Spec: drivers.Button{Class: "restart"}},
		},
	}
	numberDevice = Device{
		ID:   "thermostat",
		Name: "Thermostat",
		Info: drivers.Info{Manufacturer: "pinion", Model: "setpoint"},
		Entities: []drivers.Entity{
			{ID: "setpoint", Name: "Set point", Spec: drivers.Number{Class: drivers.ClassTemperature, Min: 5, Max: 30, Step: 0.5, Unit: drivers.Celsius, Mode: drivers.NumberBox}},
			{ID: "fan_duty", Name: "Fan duty", Icon: "mdi:fan", Spec: drivers.Number{Max: 100, Unit: drivers.Percent, Mode: drivers.NumberSlider}},
			{ID: "offset", Name: "Offset", DisabledByDefault: true, Spec: drivers.Number{Min: -2.5, Max: 2.5, Step: 0.25}},
		},
	}
	lightDevice = Device{
		ID:   "porch",
		Name: "Porch",
		Info: drivers.Info{Model: "PWM LED"},
		Entities: []drivers.Entity{
			{ID: "led", Spec: drivers.Light{Brightness: true}},
			{ID: "lamp", Name: "Lamp", Spec: &drivers.Light{}},
		},
	}
	coverDevice = Device{
		ID:   "windows",
		Name: "Windows",
		Info: drivers.Info{Model: "Motor pair"},
		Entities: []drivers.Entity{
			{ID: "blind", Name: "Blind", Spec: drivers.Cover{Class: "blind", Position: true}},
			{ID: "garage", Name: "Garage door", Spec: drivers.Cover{Class: "garage", NoStop: true}},
		},
	}
	eventDevice = Device{
		ID:   "bell",
		Name: "Doorbell",
		Info: drivers.Info{Model: "GPIO input"},
		Entities: []drivers.Entity{
			{ID: "button", Spec: drivers.Event{Class: drivers.ClassDoorbell, Types: []string{"press", "double_press"}}},
		},
	}
	selectDevice = Device{
		ID:   "heatpump",
		Name: "Heat pump",
		Info: drivers.Info{Manufacturer: "Acme", Model: "HP-1"},
		Entities: []drivers.Entity{
			{ID: "mode", Name: "Mode", Icon: "mdi:tune", Spec: drivers.Select{Options: []string{"auto", "heat", "Eco mode"}}},
		},
	}

	// goldenDevices are all the devices above.
	goldenDevices = []Device{relayDevice, doorDevice, bme280Device, systemDevice, buttonDevice, numberDevice, lightDevice, coverDevice, eventDevice, selectDevice}
)

func TestMessagesGolden(t *testing.T) {
	tests := []struct {
		name   string
		node   Node
		device *Device // nil: the agent's own device
	}{
		{"agent", garage, nil},
		{"relay", garage, &relayDevice},
		{"door", garage, &doorDevice},
		{"bme280", garage, &bme280Device},
		{"system", garage, &systemDevice},
		{"button", garage, &buttonDevice},
		{"number", garage, &numberDevice},
		{"light", garage, &lightDevice},
		{"cover", garage, &coverDevice},
		{"event", garage, &eventDevice},
		{"select", garage, &selectDevice},
		{"custom_prefixes", Node{ID: "shed", Name: "Shed", Version: "0.1.0", TopicPrefix: "home/pinion", DiscoveryPrefix: "ha"}, &relayDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var devs []Device
			want := AgentDeviceID
			if tt.device != nil {
				devs = []Device{*tt.device}
				want = tt.device.ID
			}
			msgs, err := Messages(tt.node, devs)
			if err != nil {
				t.Fatalf("Messages: %v", err)
			}
			var got bytes.Buffer
			for _, m := range msgs {
				if !belongsTo(tt.node, m.Topic, want, devs) {
					continue
				}
				var compact bytes.Buffer
				if err := json.Compact(&compact, m.Payload); err != nil {
					t.Fatalf("%s: payload is not JSON: %v\n%s", m.Topic, err, m.Payload)
				}
				if !bytes.Equal(compact.Bytes(), m.Payload) {
					t.Errorf("%s: payload is not compact JSON:\n%s", m.Topic, m.Payload)
				}
				// The golden file shows the payload indented for review;
				// json.Indent only adds whitespace outside strings, so it
				// pins the exact bytes of a compact payload.
				got.WriteString("# " + m.Topic + "\n")
				if err := json.Indent(&got, m.Payload, "", "  "); err != nil {
					t.Fatal(err)
				}
				got.WriteString("\n\n")
			}
			if got.Len() == 0 {
				t.Fatalf("no messages for device %q", want)
			}
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantBytes, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./discovery -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), wantBytes) {
				t.Errorf("payloads differ from %s (run go test ./discovery -update if the change is intended)\n--- got\n%s\n--- want\n%s", golden, got.Bytes(), wantBytes)
			}
		})
	}
}

// belongsTo reports whether config topic belongs to device id.
func belongsTo(n Node, topic, id string, devs []Device) bool {
	_, obj, ok := n.ParseConfigTopic(topic)
	if !ok {
		return false
	}
	d := n.agentDevice()
	for _, dev := range devs {
		if dev.ID == id {
			d = dev
		}
	}
	for _, e := range d.Entities {
		if obj == ObjectID(id, e.ID) {
			return true
		}
	}
	return false
}

func TestMessagesSortedAndConsistent(t *testing.T) {
	devs := goldenDevices
	msgs, err := Messages(garage, devs)
	if err != nil {
		t.Fatal(err)
	}
	// Every entity of every device has its config topic, with the unique
	// id and availability of its own.
	type want struct{ uid, entityID, state, command, status string }
	wants := map[string]want{}
	for _, e := range AgentEntities() {
		wants[garage.ConfigTopic(Component(e), AgentDeviceID, e.ID)] = want{uid: garage.UniqueID(AgentDeviceID, e.ID), entityID: garage.DefaultEntityID(Component(e), AgentDeviceID, e.ID)}
	}
	components := map[string]bool{}
	for _, d := range devs {
		for _, e := range d.Entities {
			components[Component(e)] = true
			w := want{
				uid:      garage.UniqueID(d.ID, e.ID),
				entityID: garage.DefaultEntityID(Component(e), d.ID, e.ID),
				status:   garage.EntityStatusTopic(d.ID, e.ID),
			}
			if Stateful(e) || Component(e) == "event" {
				w.state = garage.StateTopic(d.ID, e.ID)
			}
			if Commandable(e) {
				w.command = garage.CommandTopic(d.ID, e.ID)
			}
			wants[garage.ConfigTopic(Component(e), d.ID, e.ID)] = w
		}
	}
	if len(components) != 9 {
		t.Errorf("the golden devices cover %d components, want all 9: %v", len(components), components)
	}
	if len(msgs) != len(wants) {
		t.Fatalf("got %d messages, want one per entity: %d", len(msgs), len(wants))
	}
	seenUID := map[string]bool{}
	for i, m := range msgs {
		if i > 0 && msgs[i-1].Topic >= m.Topic {
			t.Errorf("messages not sorted by topic: %s before %s", msgs[i-1].Topic, m.Topic)
		}
		if _, _, ok := garage.ParseConfigTopic(m.Topic); !ok {
			t.Errorf("ParseConfigTopic(%q) rejects a topic Messages produced", m.Topic)
		}
		w, ok := wants[m.Topic]
		if !ok {
			t.Errorf("unexpected config topic %s", m.Topic)
			continue
		}
		var p struct {
			UniqueID        string `json:"unique_id"`
			DefaultEntityID string `json:"default_entity_id"`
			StateTopic      string `json:"state_topic"`
			CommandTopic    string `json:"command_topic"`
			Availability    []struct {
				Topic string `json:"topic"`
			} `json:"availability"`
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if seenUID[p.UniqueID] {
			t.Errorf("unique_id %s used twice", p.UniqueID)
		}
		seenUID[p.UniqueID] = true
		if p.UniqueID != w.uid || p.DefaultEntityID != w.entityID {
			t.Errorf("%s: unique_id %q, default_entity_id %q; want %q, %q", m.Topic, p.UniqueID, p.DefaultEntityID, w.uid, w.entityID)
		}
		if w.status == "" {
			continue // the agent's own entities
		}
		if p.StateTopic != w.state || p.CommandTopic != w.command {
			t.Errorf("%s: state_topic %q, command_topic %q; want %q, %q", m.Topic, p.StateTopic, p.CommandTopic, w.state, w.command)
		}
		var avail []string
		for _, a := range p.Availability {
			avail = append(avail, a.Topic)
		}
		if len(avail) != 3 || avail[2] != w.status {
			t.Errorf("%s: availability %q, want node, device and entity status (%s)", m.Topic, avail, w.status)
		}
	}
	// The same input gives the same bytes: Home Assistant ignores unchanged
	// configs, so a republish on birth must not look like an update.
	again, err := Messages(garage, devs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		if !bytes.Equal(msgs[i].Payload, again[i].Payload) {
			t.Errorf("%s: payload differs between two calls", msgs[i].Topic)
		}
	}
}

// Entities disabled by default are added disabled: enabled_by_default is
// false in their config and absent from all others.
func TestDisabledByDefault(t *testing.T) {
	msgs, err := Messages(garage, goldenDevices)
	if err != nil {
		t.Fatal(err)
	}
	disabled := map[string]bool{}
	for _, d := range goldenDevices {
		for _, e := range d.Entities {
			if e.DisabledByDefault {
				disabled[garage.ConfigTopic(Component(e), d.ID, e.ID)] = true
			}
		}
	}
	if len(disabled) == 0 {
		t.Fatal("no golden entity is disabled by default")
	}
	for _, m := range msgs {
		var p map[string]any
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		got, has := p["enabled_by_default"]
		switch {
		case disabled[m.Topic] && got != false:
			t.Errorf("%s: enabled_by_default = %v, want false", m.Topic, got)
		case !disabled[m.Topic] && has:
			t.Errorf("%s: enabled_by_default = %v, want it left out (Home Assistant's default is true)", m.Topic, got)
		}
	}
}

func TestDefaultEntityIDIsValidForHomeAssistant(t *testing.T) {
	n := Node{ID: "Garage-Pi"}
	tests := []struct{ device, entity, want string }{
		{"attic", "temperature", "sensor.garage_pi_attic_temperature"},
		{"Relay-Board", "CH_1", "sensor.garage_pi_relay_board_ch_1"},
		{"a__b", "_c", "sensor.garage_pi_a_b_c"},
	}
	for _, tt := range tests {
		if got := n.DefaultEntityID("sensor", tt.device, tt.entity); got != tt.want {
			t.Errorf("DefaultEntityID(%q, %q) = %q, want %q", tt.device, tt.entity, got, tt.want)
		}
	}
}
