package hatest

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// wait is the generous deadline of every wait in these tests; it is only
// reached when something is broken.
const wait = 10 * time.Second

// startBroker runs an embedded mochi broker on a free loopback port and
// returns its URL and the server, whose inline client publishes the
// hand-written messages.
func startBroker(t *testing.T) (string, *mochi.Server) {
	t.Helper()
	srv := mochi.New(&mochi.Options{
		InlineClient: true,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "test", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return "tcp://" + tcp.Address(), srv
}

func publish(t *testing.T, srv *mochi.Server, topic, payload string, retain bool) {
	t.Helper()
	if err := srv.Publish(topic, []byte(payload), retain, 1); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// A config as an agent following every rule publishes it.
const goodSwitch = `{
	"name": null,
	"unique_id": "pinion_garage_heater_relay",
	"default_entity_id": "switch.garage_heater_relay",
	"device_class": "outlet",
	"state_topic": "pinion/garage/heater/relay",
	"command_topic": "pinion/garage/heater/relay/set",
	"payload_on": "ON", "payload_off": "OFF",
	"availability": [{"topic": "pinion/garage/status"}, {"topic": "pinion/garage/heater/status"}],
	"availability_mode": "all",
	"device": {"identifiers": ["pinion_garage_heater"], "name": "Heater plug", "via_device": "pinion_garage"},
	"origin": {"name": "pinion", "sw_version": "1.0.0", "support_url": "https://github.com/pinion-home/pinion"}
}`

// The same kind of config written with abbreviations and a base topic, as
// other publishers do; Home Assistant expands both.
const abbreviatedSensor = `{
	"~": "pinion/garage/attic",
	"name": "Temperature",
	"uniq_id": "pinion_garage_attic_temperature",
	"dev_cla": "temperature",
	"unit_of_meas": "°C",
	"stat_cla": "measurement",
	"sug_dsp_prc": 1,
	"stat_t": "~/temperature",
	"avty_t": "pinion/garage/status",
	"dev": {"ids": "pinion_garage_attic", "name": "Attic", "mf": "Bosch", "mdl": "BME280"},
	"o": {"name": "pinion", "sw": "1.0.0", "url": "https://github.com/pinion-home/pinion"}
}`

const goodBinarySensor = `{
	"name": "Contact",
	"unique_id": "pinion_garage_door_contact",
	"device_class": "door",
	"state_topic": "pinion/garage/door/contact",
	"device": {"identifiers": ["pinion_garage_door"], "name": "Garage door", "model": 4, "hw_version": 1.2}
}`

func TestGoodConfigs(t *testing.T) {
	url, srv := startBroker(t)
	ha := New(t, url)
	publish(t, srv, "homeassistant/switch/garage/heater_relay/config", goodSwitch, true)
	publish(t, srv, "homeassistant/sensor/garage/attic_temperature/config", abbreviatedSensor, true)
	publish(t, srv, "homeassistant/binary_sensor/garage/door_contact/config", goodBinarySensor, true)
	if err := ha.WaitEntities(3, wait); err != nil {
		t.Fatal(err)
	}

	sw, ok := ha.Entity("pinion_garage_heater_relay")
	if !ok {
		t.Fatal("switch not found")
	}
	if sw.Component != "switch" || sw.NodeID != "garage" || sw.ObjectID != "heater_relay" ||
		sw.FriendlyName != "Heater plug" || sw.CommandTopic != "pinion/garage/heater/relay/set" {
		t.Errorf("switch = %+v", sw)
	}
	temp, _ := ha.Entity("pinion_garage_attic_temperature")
	if temp.StateTopic != "pinion/garage/attic/temperature" {
		t.Errorf("~ not expanded: state topic %q", temp.StateTopic)
	}
	if temp.FriendlyName != "Attic Temperature" || temp.Config["unit_of_measurement"] != "°C" {
		t.Errorf("abbreviations not expanded: %+v", temp)
	}
	door, _ := ha.Entity("pinion_garage_door_contact")
	if !door.Available {
		t.Error("an entity without availability topics is unavailable")
	}

	// States are read from the state topics the double subscribed to.
	publish(t, srv, "pinion/garage/heater/relay", "ON", true)
	publish(t, srv, "pinion/garage/attic/temperature", "21.5", true)
	publish(t, srv, "pinion/garage/door/contact", "OFF", true)
	for uid, want := range map[string]string{
		"pinion_garage_heater_relay":      "ON",
		"pinion_garage_attic_temperature": "21.5",
		"pinion_garage_door_contact":      "OFF",
	} {
		if err := ha.WaitState(uid, want, wait); err != nil {
			t.Error(err)
		}
	}

	// availability_mode all: both topics must say online.
	if sw.Available {
		t.Error("switch available before any availability message")
	}
	publish(t, srv, "pinion/garage/status", "online", true)
	if err := ha.WaitAvailable("pinion_garage_attic_temperature", true, wait); err != nil {
		t.Error(err)
	}
	if e, _ := ha.Entity("pinion_garage_heater_relay"); e.Available {
		t.Error("switch available with only the node online (mode all)")
	}
	publish(t, srv, "pinion/garage/heater/status", "online", true)
	if err := ha.WaitAvailable("pinion_garage_heater_relay", true, wait); err != nil {
		t.Error(err)
	}
	publish(t, srv, "pinion/garage/heater/status", "offline", true)
	if err := ha.WaitAvailable("pinion_garage_heater_relay", false, wait); err != nil {
		t.Error(err)
	}
	if e, _ := ha.Entity("pinion_garage_attic_temperature"); !e.Available {
		t.Error("a device going offline made another device's entity unavailable")
	}

	if p := ha.Problems(); len(p) != 0 {
		t.Errorf("problems with good configs:\n%s", strings.Join(p, "\n"))
	}
}

func TestBadConfigs(t *testing.T) {
	url, srv := startBroker(t)
	ha := New(t, url)
	const dev = `"device": {"identifiers": ["x"], "name": "X"}`
	tests := []struct {
		name, topic, payload string
		want                 string // substring of the problem
		added                bool   // whether Home Assistant still adds the entity
	}{
		{"not JSON", "homeassistant/sensor/n/notjson/config", `{"name": `, "unable to parse JSON", false},
		{"JSON array", "homeassistant/sensor/n/array/config", `[1, 2]`, "not a JSON object", false},
		{"dot in object id", "homeassistant/sensor/n/bad.id/config",
			`{"unique_id": "dot", "state_topic": "s/dot", ` + dev + `}`, "illegal discovery topic", false},
		{"unsupported component", "homeassistant/gizmo/n/g/config",
			`{"unique_id": "g", "state_topic": "s/g"}`, `component "gizmo" is not one Home Assistant supports`, false},
		{"missing unique_id", "homeassistant/sensor/n/nouid/config",
			`{"state_topic": "s/nouid", ` + dev + `}`, "unique_id missing", false},
		{"unknown device key", "homeassistant/sensor/n/devkey/config",
			`{"unique_id": "devkey", "state_topic": "s/devkey", "device": {"identifiers": ["x"], "name": "X", "ip": "10.0.0.2"}}`,
			`extra keys not allowed @ data['device']["ip"]`, false},
		{"device name a list", "homeassistant/sensor/n/devlist/config",
			`{"unique_id": "devlist", "state_topic": "s/devlist", "device": {"identifiers": ["x"], "name": ["X"]}}`,
			"device name must be a string", false},
		{"device identifier an object", "homeassistant/sensor/n/devid/config",
			`{"unique_id": "devid", "state_topic": "s/devid", "device": {"identifiers": [{"id": "x"}], "name": "X"}}`,
			"device identifiers must be strings", false},
		{"device without identifiers", "homeassistant/sensor/n/noids/config",
			`{"unique_id": "noids", "state_topic": "s/noids", "device": {"name": "X"}}`, "at least one identifying value", false},
		{"device without name", "homeassistant/sensor/n/noname/config",
			`{"unique_id": "noname", "state_topic": "s/noname", "device": {"identifiers": ["x"]}}`, "device has no name", true},
		{"origin without name", "homeassistant/sensor/n/orig/config",
			`{"unique_id": "orig", "state_topic": "s/orig", "origin": {"sw_version": "1"}, ` + dev + `}`, "origin needs a name", false},
		{"unknown origin key", "homeassistant/sensor/n/origkey/config",
			`{"unique_id": "origkey", "state_topic": "s/origkey", "origin": {"name": "p", "version": "1"}, ` + dev + `}`, `extra key "version" not allowed in origin`, false},
		{"both availability forms", "homeassistant/sensor/n/avail/config",
			`{"unique_id": "avail", "state_topic": "s/avail", "availability_topic": "s/status", "availability": [{"topic": "s/status"}], ` + dev + `}`,
			"mutually exclusive", false},
		{"wildcard command topic", "homeassistant/switch/n/wild/config",
			`{"unique_id": "wild", "command_topic": "s/+/set", ` + dev + `}`, "wildcards cannot be used in topic names", false},
		{"switch with a door class", "homeassistant/switch/n/swclass/config",
			`{"unique_id": "swclass", "command_topic": "s/swclass/set", "device_class": "door", ` + dev + `}`, `device_class "door" is not valid for switch`, false},
		{"unknown sensor class", "homeassistant/sensor/n/sclass/config",
			`{"unique_id": "sclass", "state_topic": "s/sclass", "device_class": "temp", ` + dev + `}`, `device_class "temp" is not valid for sensor`, false},
		{"unit not valid for class", "homeassistant/sensor/n/unit/config",
			`{"unique_id": "unit", "state_topic": "s/unit", "device_class": "temperature", "unit_of_measurement": "C", ` + dev + `}`,
			"the unit of measurement \"C\" is not valid together with device class temperature", false},
		{"unit on a class that takes none", "homeassistant/sensor/n/aqi/config",
			`{"unique_id": "aqi", "state_topic": "s/aqi", "device_class": "aqi", "unit_of_measurement": "AQI", ` + dev + `}`,
			`device class aqi, which takes no unit`, false},
		{"entity_category config on a sensor", "homeassistant/sensor/n/cat/config",
			`{"unique_id": "cat", "state_topic": "s/cat", "entity_category": "config", ` + dev + `}`, "entity_category config is not allowed on a sensor", false},
		{"sensor without state topic", "homeassistant/sensor/n/nostate/config",
			`{"unique_id": "nostate", ` + dev + `}`, "required key not provided: state_topic", false},
		{"icon without prefix", "homeassistant/sensor/n/icon/config",
			`{"unique_id": "icon", "state_topic": "s/icon", "icon": "fan", ` + dev + `}`, `icon "fan" must be written prefix:name`, false},
		{"misspelt option", "homeassistant/sensor/n/typo/config",
			`{"unique_id": "typo", "state_topic": "s/typo", "unit_of_measure": "W", ` + dev + `}`, `"unit_of_measure" is not an option of sensor`, true},
		{"removed object_id", "homeassistant/sensor/n/objid/config",
			`{"unique_id": "objid", "state_topic": "s/objid", "object_id": "x", ` + dev + `}`, "object_id was removed", true},
		{"boolean payload", "homeassistant/binary_sensor/n/boolpl/config",
			`{"unique_id": "boolpl", "state_topic": "s/boolpl", "payload_on": true, ` + dev + `}`, "payload_on is true, not a string", true},
		{"default_entity_id without domain", "homeassistant/sensor/n/defid/config",
			`{"unique_id": "defid", "state_topic": "s/defid", "default_entity_id": "garage_defid", ` + dev + `}`, "is not a valid sensor entity id", true},
		{"name repeats the device name", "homeassistant/sensor/n/rep/config",
			`{"unique_id": "rep", "name": "X power", "state_topic": "s/rep", ` + dev + `}`, "repeats the device name", true},
	}
	for _, tt := range tests {
		publish(t, srv, tt.topic, tt.payload, true)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.topic + ": "
			if !waitProblem(ha, want, tt.want) {
				t.Fatalf("no problem %q for %s; problems:\n%s", tt.want, tt.topic, strings.Join(ha.Problems(), "\n"))
			}
			added := false
			for _, e := range ha.Entities() {
				added = added || e.Topic == tt.topic
			}
			if added != tt.added {
				t.Errorf("entity added = %v, want %v", added, tt.added)
			}
		})
	}
}

// waitProblem waits for a problem that starts with prefix and contains s.
func waitProblem(ha *HA, prefix, s string) bool {
	return ha.waitFor(wait, func() bool {
		for _, p := range ha.problems {
			if strings.HasPrefix(p, prefix) && strings.Contains(p, s) {
				return true
			}
		}
		return false
	})
}

func TestDuplicateUniqueID(t *testing.T) {
	url, srv := startBroker(t)
	ha := New(t, url)
	cfg := `{"unique_id": "same", "state_topic": "s/a", "device": {"identifiers": ["x"], "name": "X"}}`
	publish(t, srv, "homeassistant/sensor/n/first/config", cfg, true)
	if err := ha.WaitEntities(1, wait); err != nil {
		t.Fatal(err)
	}
	publish(t, srv, "homeassistant/sensor/n/second/config", cfg, true)
	if !waitProblem(ha, "homeassistant/sensor/n/second/config: ", `unique_id "same" is already used by homeassistant/sensor/n/first/config`) {
		t.Fatalf("duplicate unique_id not reported; problems: %q", ha.Problems())
	}
	// Unique ids are per platform: a switch may share it.
	publish(t, srv, "homeassistant/switch/n/third/config",
		`{"unique_id": "same", "command_topic": "s/c/set", "device": {"identifiers": ["x"], "name": "X"}}`, true)
	if err := ha.WaitEntities(2, wait); err != nil {
		t.Fatal(err)
	}
	if len(ha.Problems()) != 1 {
		t.Errorf("problems: %q, want only the duplicate", ha.Problems())
	}
}

func TestStateProblems(t *testing.T) {
	url, srv := startBroker(t)
	ha := New(t, url)
	const dev = `"device": {"identifiers": ["x"], "name": "X"}`
	publish(t, srv, "homeassistant/sensor/n/power/config",
		`{"unique_id": "power", "state_topic": "s/power", "device_class": "power", "unit_of_measurement": "W", `+dev+`}`, true)
	publish(t, srv, "homeassistant/binary_sensor/n/door/config",
		`{"unique_id": "door", "state_topic": "s/door", "device_class": "door", `+dev+`}`, true)
	publish(t, srv, "homeassistant/sensor/n/boot/config",
		`{"unique_id": "boot", "state_topic": "s/boot", "device_class": "timestamp", `+dev+`}`, true)
	if err := ha.WaitEntities(3, wait); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ topic, payload, want string }{
		{"s/power", "12 W", `state "12 W" is not a number`},
		{"s/door", "open", `state "open" is neither "ON" nor "OFF"`},
		{"s/boot", "2024-05-01 07:30", "is not an ISO 8601 timestamp with a time zone"},
	}
	for _, tt := range tests {
		publish(t, srv, tt.topic, tt.payload, true)
	}
	for _, tt := range tests {
		if !waitProblem(ha, tt.topic+" (", tt.want) {
			t.Errorf("%s = %q: no problem %q; problems: %q", tt.topic, tt.payload, tt.want, ha.Problems())
		}
	}
	// Good states and the "None" (unknown) payload are not problems.
	before := len(ha.Problems())
	publish(t, srv, "s/power", "12.5", true)
	publish(t, srv, "s/door", "None", true)
	publish(t, srv, "s/boot", "2024-05-01T07:30:00Z", true)
	if err := ha.WaitNumericState("power", wait); err != nil {
		t.Error(err)
	}
	for uid, want := range map[string]string{"power": "12.5", "door": "None", "boot": "2024-05-01T07:30:00Z"} {
		if err := ha.WaitState(uid, want, wait); err != nil {
			t.Error(err)
		}
	}
	if p := ha.Problems(); len(p) != before {
		t.Errorf("good states reported: %q", p[before:])
	}
}

func TestRemoval(t *testing.T) {
	url, srv := startBroker(t)
	ha := New(t, url)
	topic := "homeassistant/switch/garage/heater_relay/config"
	publish(t, srv, topic, goodSwitch, true)
	if err := ha.WaitEntities(1, wait); err != nil {
		t.Fatal(err)
	}
	publish(t, srv, topic, "", true)
	if err := ha.WaitRemoved(topic, wait); err != nil {
		t.Fatal(err)
	}
	if n := len(ha.Entities()); n != 0 {
		t.Fatalf("%d entities after the removal", n)
	}
	if got := ha.Removed(); len(got) != 1 || got[0] != topic {
		t.Errorf("Removed = %q, want [%s]", got, topic)
	}
	if _, ok := ha.Entity("pinion_garage_heater_relay"); ok {
		t.Error("Entity still finds the removed entity")
	}
	if n := ha.ConfigCount(topic); n != 2 {
		t.Errorf("ConfigCount = %d, want 2 (config and removal)", n)
	}

	// A double started later sees no retained config: the removal was
	// retained too.
	late := New(t, url)
	publish(t, srv, "homeassistant/binary_sensor/garage/door_contact/config", goodBinarySensor, true)
	if err := late.WaitEntities(1, wait); err != nil {
		t.Fatal(err)
	}
	if n := len(late.Entities()); n != 1 {
		t.Errorf("late double has %d entities, want only the door", n)
	}
}

func TestConfigCountAndRetainedConfigs(t *testing.T) {
	url, srv := startBroker(t)
	topic := "homeassistant/switch/garage/heater_relay/config"
	publish(t, srv, topic, goodSwitch, true)
	// Started after the publish: the config arrives retained.
	ha := New(t, url)
	if err := ha.WaitEntities(1, wait); err != nil {
		t.Fatal(err)
	}
	if n := ha.ConfigCount(topic); n != 1 {
		t.Fatalf("ConfigCount = %d after the retained config, want 1", n)
	}
	publish(t, srv, topic, goodSwitch, true) // a republish, as on birth
	if err := ha.WaitConfigCount(topic, 2, wait); err != nil {
		t.Fatal(err)
	}
	if n := len(ha.Entities()); n != 1 {
		t.Errorf("a republished config made %d entities", n)
	}
}

func TestCommandAndBirth(t *testing.T) {
	url, srv := startBroker(t)
	got := make(chan packets.Packet, 4)
	for _, f := range []string{"pinion/garage/heater/relay/set", "homeassistant/status"} {
		if err := srv.Subscribe(f, 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) { got <- pk }); err != nil {
			t.Fatal(err)
		}
	}
	ha := New(t, url)
	publish(t, srv, "homeassistant/switch/garage/heater_relay/config", goodSwitch, true)
	if err := ha.WaitEntities(1, wait); err != nil {
		t.Fatal(err)
	}
	if err := ha.Command("pinion_garage_heater_relay", "ON"); err != nil {
		t.Fatal(err)
	}
	pk := receive(t, got)
	if pk.TopicName != "pinion/garage/heater/relay/set" || string(pk.Payload) != "ON" || pk.FixedHeader.Retain {
		t.Errorf("command: topic %s payload %q retain %v", pk.TopicName, pk.Payload, pk.FixedHeader.Retain)
	}

	ha.SendBirth()
	pk = receive(t, got)
	if pk.TopicName != "homeassistant/status" || string(pk.Payload) != "online" || pk.FixedHeader.Retain || pk.FixedHeader.Qos != 0 {
		t.Errorf("birth: topic %s payload %q retain %v qos %d", pk.TopicName, pk.Payload, pk.FixedHeader.Retain, pk.FixedHeader.Qos)
	}

	if err := ha.Command("nope", "ON"); err == nil || !strings.Contains(err.Error(), `no entity with unique_id "nope"`) {
		t.Errorf("Command to an unknown entity: %v", err)
	}
	publish(t, srv, "homeassistant/binary_sensor/garage/door_contact/config", goodBinarySensor, true)
	if err := ha.WaitEntities(2, wait); err != nil {
		t.Fatal(err)
	}
	if err := ha.Command("pinion_garage_door_contact", "ON"); err == nil || !strings.Contains(err.Error(), "has no command_topic") {
		t.Errorf("Command to a binary sensor: %v", err)
	}
}

func receive(t *testing.T, ch <-chan packets.Packet) packets.Packet {
	t.Helper()
	select {
	case pk := <-ch:
		return pk
	case <-time.After(wait):
		t.Fatal("nothing received")
	}
	return packets.Packet{}
}

func TestWaitErrorsName(t *testing.T) {
	url, _ := startBroker(t)
	ha := New(t, url)
	short := 50 * time.Millisecond
	if err := ha.WaitEntities(1, short); err == nil || !strings.Contains(err.Error(), "have 0") {
		t.Errorf("WaitEntities: %v", err)
	}
	if err := ha.WaitState("x", "ON", short); err == nil || !strings.Contains(err.Error(), `no entity with unique_id "x"`) {
		t.Errorf("WaitState: %v", err)
	}
	if err := ha.WaitAvailable("x", true, short); err == nil || !strings.Contains(err.Error(), `no entity with unique_id "x"`) {
		t.Errorf("WaitAvailable: %v", err)
	}
	if err := ha.WaitNumericState("x", short); err == nil || !strings.Contains(err.Error(), "(no entity)") {
		t.Errorf("WaitNumericState: %v", err)
	}
	if err := ha.WaitConfigCount("t", 1, short); err == nil || !strings.Contains(err.Error(), "have 0") {
		t.Errorf("WaitConfigCount: %v", err)
	}
	if err := ha.WaitRemoved("t", short); err == nil || !strings.Contains(err.Error(), "waiting for t to be removed") {
		t.Errorf("WaitRemoved: %v", err)
	}
	if err := ha.WaitEvent("x", "press", short); err == nil || !strings.Contains(err.Error(), `no entity with unique_id "x"`) {
		t.Errorf("WaitEvent: %v", err)
	}
	if err := ha.WaitValue("x", "on", short); err == nil || !strings.Contains(err.Error(), `no entity with unique_id "x"`) {
		t.Errorf("WaitValue: %v", err)
	}
	if err := ha.WaitLight("x", true, 3, short); err == nil || !strings.Contains(err.Error(), `waiting for on at brightness 3`) {
		t.Errorf("WaitLight: %v", err)
	}
	if err := ha.WaitCover("x", "open", 50, short); err == nil || !strings.Contains(err.Error(), `waiting for "open" at position 50`) {
		t.Errorf("WaitCover: %v", err)
	}
	for _, err := range []error{ha.WaitEntities(1, short), ha.WaitState("x", "ON", short), ha.WaitEvent("x", "press", short), ha.WaitValue("x", "on", short)} {
		if !errors.Is(err, errTimeout) {
			t.Errorf("%v does not wrap errTimeout", err)
		}
	}
}

// Two devices sharing an identifier are one device in Home Assistant: the
// collision that ids with an ambiguous separator cause (node "garage" and
// device "pi_x", node "garage_pi" and device "x").
func TestDeviceIdentifierCollision(t *testing.T) {
	url, srv := startBroker(t)
	ha := New(t, url)
	cfg := func(uid, name string) string {
		return `{"unique_id": "` + uid + `", "state_topic": "s/` + uid + `", "device": {"identifiers": ["pinion_garage_pi_x"], "name": "` + name + `"}}`
	}
	publish(t, srv, "homeassistant/sensor/garage/pi_x_t/config", cfg("a", "Pi X"), true)
	publish(t, srv, "homeassistant/sensor/garage/pi_x_h/config", cfg("b", "Pi X"), true)
	if err := ha.WaitEntities(2, wait); err != nil {
		t.Fatal(err)
	}
	if p := ha.Problems(); len(p) != 0 {
		t.Fatalf("one device with two entities: %q", p)
	}
	publish(t, srv, "homeassistant/sensor/garage_pi/x_t/config", cfg("c", "X"), true)
	if !waitProblem(ha, "homeassistant/sensor/garage_pi/x_t/config: ", `device identifier "pinion_garage_pi_x" is also the identifier of device "Pi X"`) {
		t.Errorf("colliding device identifiers not reported: %q", ha.Problems())
	}
}
