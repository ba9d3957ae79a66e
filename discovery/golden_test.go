package discovery

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// garage is the node of the golden files.
var garage = Node{ID: "garage", Name: "Garage Pi", Version: "1.2.3"}

// Devices shaped like the ones drivers describe, chosen to cover every kind
// of payload discovery emits (a class on a switch, a text sensor, a data
// size unit, a device with and without manufacturer). The built-in drivers'
// own payloads are pinned by agent/testdata/cli/demo-discovery.golden.
var (
	relayDevice = Device{
		ID:   "heater",
		Name: "Heater plug",
		Info: drivers.Info{Manufacturer: "Songle", Model: "SRD-05VDC relay"},
		Entities: []drivers.Entity{
			{ID: "relay", Kind: drivers.KindSwitch, Class: drivers.ClassOutlet, Precision: -1},
		},
	}
	doorDevice = Device{
		ID:   "door",
		Name: "Garage door",
		Info: drivers.Info{Model: "GPIO input"},
		Entities: []drivers.Entity{
			{ID: "contact", Kind: drivers.KindBinarySensor, Class: drivers.ClassDoor, Precision: -1},
		},
	}
	bme280Device = Device{
		ID:   "attic",
		Name: "Attic",
		Info: drivers.Info{Manufacturer: "Bosch", Model: "BME280"},
		Entities: []drivers.Entity{
			{ID: "temperature", Name: "Temperature", Kind: drivers.KindSensor, Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1},
			{ID: "humidity", Name: "Humidity", Kind: drivers.KindSensor, Class: drivers.ClassHumidity, Unit: drivers.Percent, State: drivers.StateMeasurement, Precision: 0},
			{ID: "pressure", Name: "Pressure", Kind: drivers.KindSensor, Class: drivers.ClassPressure, Unit: drivers.HectoPascal, State: drivers.StateMeasurement, Precision: 1},
		},
	}
	systemDevice = Device{
		ID:   "system",
		Name: "Garage Pi system",
		Info: drivers.Info{Manufacturer: "Raspberry Pi", Model: "Raspberry Pi 4 Model B"},
		Entities: []drivers.Entity{
			{ID: "cpu_temperature", Name: "CPU temperature", Kind: drivers.KindSensor, Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1, Diagnostic: true},
			{ID: "load", Name: "Load (1 min)", Kind: drivers.KindSensor, State: drivers.StateMeasurement, Precision: 2, Diagnostic: true, Icon: "mdi:gauge"},
			{ID: "uptime", Name: "Uptime", Kind: drivers.KindSensor, Class: drivers.ClassDuration, Unit: drivers.Seconds, State: drivers.StateTotalIncreasing, Precision: -1, Diagnostic: true},
			{ID: "memory_free", Name: "Memory free", Kind: drivers.KindSensor, Class: drivers.ClassDataSize, Unit: drivers.MebiBytes, State: drivers.StateMeasurement, Precision: 0, Diagnostic: true},
			{ID: "hostname", Name: "Hostname", Kind: drivers.KindSensor, Precision: -1, Diagnostic: true, Icon: "mdi:dns"},
		},
	}
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
	devs := []Device{systemDevice, relayDevice, bme280Device, doorDevice}
	msgs, err := Messages(garage, devs)
	if err != nil {
		t.Fatal(err)
	}
	wantCount := len(AgentEntities())
	for _, d := range devs {
		wantCount += len(d.Entities)
	}
	if len(msgs) != wantCount {
		t.Fatalf("got %d messages, want one per entity: %d", len(msgs), wantCount)
	}
	seenUID := map[string]bool{}
	for i, m := range msgs {
		if i > 0 && msgs[i-1].Topic >= m.Topic {
			t.Errorf("messages not sorted by topic: %s before %s", msgs[i-1].Topic, m.Topic)
		}
		component, obj, ok := garage.ParseConfigTopic(m.Topic)
		if !ok {
			t.Errorf("ParseConfigTopic(%q) rejects a topic Messages produced", m.Topic)
		}
		var p struct {
			UniqueID        string `json:"unique_id"`
			DefaultEntityID string `json:"default_entity_id"`
			StateTopic      string `json:"state_topic"`
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if seenUID[p.UniqueID] {
			t.Errorf("unique_id %s used twice", p.UniqueID)
		}
		seenUID[p.UniqueID] = true
		if p.UniqueID != "pinion_garage_"+obj {
			t.Errorf("%s: unique_id %q, want pinion_garage_%s", m.Topic, p.UniqueID, obj)
		}
		if !strings.HasPrefix(p.DefaultEntityID, component+".garage_") {
			t.Errorf("%s: default_entity_id %q does not start with %s.garage_", m.Topic, p.DefaultEntityID, component)
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
