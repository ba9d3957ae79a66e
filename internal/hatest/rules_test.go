package hatest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseConfigExpansion(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		key     string // in the processed config
		want    any
	}{
		{"root abbreviation", `{"stat_t": "a/b"}`, "state_topic", "a/b"},
		{"short key wins", `{"stat_t": "short", "state_topic": "long"}`, "state_topic", "short"},
		{"device abbreviation", `{"dev": {"ids": ["x"], "mf": "Bosch"}}`, "device", map[string]any{"identifiers": []any{"x"}, "manufacturer": "Bosch"}},
		{"origin abbreviation", `{"o": {"name": "p", "sw": "1", "url": "https://x.org"}}`, "origin", map[string]any{"name": "p", "sw_version": "1", "support_url": "https://x.org"}},
		{"availability entry abbreviation", `{"avty": [{"t": "s", "pl_avail": "up"}]}`, "availability", []any{map[string]any{"topic": "s", "payload_available": "up"}}},
		{"base at the start", `{"~": "home/x", "stat_t": "~/state"}`, "state_topic", "home/x/state"},
		{"base at the end", `{"~": "x", "cmd_t": "home/~"}`, "command_topic", "home/x"},
		{"base in the middle is kept", `{"~": "x", "stat_t": "a/~/b"}`, "state_topic", "a/~/b"},
		{"base only in topics", `{"~": "x", "val_tpl": "~/y"}`, "value_template", "~/y"},
		{"base in availability", `{"~": "x", "avty": [{"t": "~/status"}]}`, "availability", []any{map[string]any{"topic": "x/status"}}},
		{"number kept exact", `{"sug_dsp_prc": 2}`, "suggested_display_precision", json.Number("2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseConfig("homeassistant", "homeassistant/sensor/n/o/config", []byte(tt.payload))
			got, _ := json.Marshal(p.cfg[tt.key])
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Errorf("%s = %s, want %s", tt.key, got, want)
			}
			if _, ok := p.cfg["~"]; ok {
				t.Error("~ left in the config")
			}
		})
	}
}

func TestParseConfigTopics(t *testing.T) {
	tests := []struct {
		topic             string
		component, node   string
		object            string
		removal, rejected bool
		payload, wantWhy  string
	}{
		{topic: "homeassistant/sensor/n/o/config", component: "sensor", node: "n", object: "o", payload: ""},
		{topic: "homeassistant/sensor/o/config", component: "sensor", object: "o", payload: "{}"},
		{topic: "homeassistant/sensor/n/o.x/config", rejected: true, wantWhy: "illegal discovery topic", payload: "{}"},
		{topic: "homeassistant/sensor/n/o x/config", rejected: true, wantWhy: "illegal discovery topic", payload: "{}"},
		{topic: "homeassistant/device/n/o/config", rejected: true, wantWhy: "device-based discovery", payload: "{}"},
		{topic: "homeassistant/thing/n/o/config", rejected: true, wantWhy: `component "thing"`, payload: "{}"},
	}
	for _, tt := range tests {
		p := parseConfig("homeassistant", tt.topic, []byte(tt.payload))
		if p.rejected() != tt.rejected {
			t.Errorf("%s: rejected %v, want %v (%v)", tt.topic, p.rejected(), tt.rejected, p.findings)
			continue
		}
		if tt.rejected {
			if !strings.Contains(p.findings[0].reason, tt.wantWhy) {
				t.Errorf("%s: reason %q, want %q", tt.topic, p.findings[0].reason, tt.wantWhy)
			}
			continue
		}
		if p.component != tt.component || p.nodeID != tt.node || p.objectID != tt.object || !p.removal {
			t.Errorf("%s: parsed %q %q %q removal %v", tt.topic, p.component, p.nodeID, p.objectID, p.removal)
		}
	}
}

func TestAvailabilityModes(t *testing.T) {
	// Each step publishes one payload on one topic; after it, the entity's
	// availability in each mode must be as listed.
	type step struct {
		topic, payload   string
		all, any, latest bool
	}
	steps := []step{
		{"a", "up", false, true, true},
		{"b", "garbage", false, true, true}, // matches neither payload: ignored
		{"b", "online", true, true, true},
		{"a", "online", true, true, true}, // not a's payload: ignored
		{"a", "down", false, true, false},
		{"b", "offline", false, false, false},
		{"b", "online", false, true, true},
		{"a", "up", true, true, true},
		{"b", "offline", false, true, false},
	}
	h := &HA{topics: map[string]*topicState{}}
	entity := func(mode string) *entity {
		return &entity{parsed: &parsed{availMode: mode, avail: []availEntry{
			{topic: "a", on: "up", off: "down"},
			{topic: "b", on: "online", off: "offline"},
		}}}
	}
	// Topic a has payloads of its own (up/down), so "online" on a is a
	// payload Home Assistant ignores for it.
	for i, s := range steps {
		ts := h.topics[s.topic]
		if ts == nil {
			ts = &topicState{seqOf: map[string]uint64{}}
			h.topics[s.topic] = ts
		}
		h.seq++
		ts.last, ts.seen = s.payload, true
		ts.seqOf[s.payload] = h.seq
		wantA := map[string]bool{"all": s.all, "any": s.any, "latest": s.latest}
		for mode, want := range wantA {
			if got := h.availableLocked(entity(mode)); got != want {
				t.Errorf("step %d (%s=%s): mode %s available %v, want %v", i, s.topic, s.payload, mode, got, want)
			}
		}
	}
}

func TestFriendlyName(t *testing.T) {
	tests := []struct {
		component, cfg, want string
	}{
		{"sensor", `{"name": "Temperature", "device": {"name": "Attic"}}`, "Attic Temperature"},
		{"switch", `{"name": null, "device": {"name": "Heater"}}`, "Heater"},
		{"sensor", `{"device_class": "carbon_dioxide", "device": {"name": "Office"}}`, "Office Carbon dioxide"},
		{"switch", `{"device_class": "outlet", "device": {"name": "Plug"}}`, "Plug MQTT Switch"},
		{"binary_sensor", `{"name": "Door"}`, "Door"},
	}
	for _, tt := range tests {
		var cfg map[string]any
		if err := json.Unmarshal([]byte(tt.cfg), &cfg); err != nil {
			t.Fatal(err)
		}
		if got := friendlyName(tt.component, cfg); got != tt.want {
			t.Errorf("friendlyName(%s, %s) = %q, want %q", tt.component, tt.cfg, got, tt.want)
		}
	}
}

// FuzzParseConfig feeds arbitrary payloads through the checks: whatever
// arrives on a discovery topic must be classified, never crash the double.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodSwitch))
	f.Add([]byte(abbreviatedSensor))
	f.Add([]byte(`{"~": 1, "avty": {"t": 2}, "dev": [], "o": "x"}`))
	f.Add([]byte(`{"availability": [null, {"topic": "a/#/b"}], "qos": 7}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		p := parseConfig("homeassistant", "homeassistant/sensor/n/o/config", payload)
		if p.removal && p.rejected() {
			t.Fatalf("payload %q is both a removal and rejected", payload)
		}
		if !p.removal && !p.rejected() && p.uniqueID == "" {
			t.Fatalf("payload %q accepted without a unique_id", payload)
		}
		if p.cfg != nil {
			friendlyName(p.component, p.cfg)
		}
	})
}

// FuzzReceive feeds arbitrary state payloads to an entity of every
// modelled component: whatever arrives on a state topic must leave a state
// Home Assistant could hold, never crash the double.
func FuzzReceive(f *testing.F) {
	f.Add(0, `{"state":"ON","brightness":128}`, false)
	f.Add(1, `{"state":"open","position":50}`, false)
	f.Add(2, `{"event_type":"press","n":[1,{"a":null}]}`, true)
	f.Add(3, `21.5`, false)
	f.Add(4, `{"state":"ON","brightness":1e400}`, false)
	f.Fuzz(func(t *testing.T, which int, payload string, retained bool) {
		if which < 0 {
			which = -which
		}
		c := componentConfigs[which%len(componentConfigs)]
		p := parseConfig("homeassistant", c.topic, []byte(c.payload))
		if p.rejected() {
			t.Fatalf("%s rejected: %v", c.topic, p.findings)
		}
		st := newHAState()
		for _, topic := range []string{p.stateTopic, p.positionTopic} {
			p.receive(st, topic, payload, retained)
		}
		if st.brightness < 0 || st.position < -1 || st.position > 100 {
			t.Fatalf("%s after %q: brightness %d, position %d", c.topic, payload, st.brightness, st.position)
		}
		if st.value == "" && p.component != "sensor" && p.component != "select" && p.component != "event" {
			t.Fatalf("%s after %q: empty value", c.topic, payload)
		}
	})
}

// deviceJSON is the device block the hand-written configs share.
const deviceJSON = `"device": {"identifiers": ["pinion:garage:dev"], "name": "Dev", "via_device": "pinion:garage"}`

// availJSON is pinion's per-entity availability: node, device, entity.
const availJSON = `"availability": [{"topic": "pinion/garage/status"}, {"topic": "pinion/garage/dev/status"}, {"topic": "pinion/garage/dev/%s/status"}], "availability_mode": "all"`

func cfgJSON(entity, body string) string {
	return "{" + body + `, "unique_id": "pinion:garage:dev:` + entity + `", ` + fmt.Sprintf(availJSON, entity) + ", " + deviceJSON +
		`, "origin": {"name": "pinion", "sw_version": "1.2.3", "support_url": "https://github.com/pinion-home/pinion"}}`
}

// componentConfigs are hand-written configs of every component pinion
// publishes, written from Home Assistant's documentation of each
// platform; Home Assistant accepts each without a word.
var componentConfigs = []struct {
	topic, payload string
}{
	{"homeassistant/light/garage/dev_led/config", cfgJSON("led", `"name": null, "schema": "json",
		"state_topic": "pinion/garage/dev/led", "command_topic": "pinion/garage/dev/led/set",
		"supported_color_modes": ["brightness"], "flash": false, "transition": false`)},
	{"homeassistant/cover/garage/dev_blind/config", cfgJSON("blind", `"name": "Blind", "device_class": "blind",
		"state_topic": "pinion/garage/dev/blind", "value_template": "{{ value_json.state }}",
		"command_topic": "pinion/garage/dev/blind/set",
		"position_topic": "pinion/garage/dev/blind", "position_template": "{{ value_json.position }}",
		"set_position_topic": "pinion/garage/dev/blind/set",
		"payload_open": "OPEN", "payload_close": "CLOSE", "payload_stop": "STOP"`)},
	{"homeassistant/event/garage/dev_bell/config", cfgJSON("bell", `"name": "Bell", "device_class": "doorbell",
		"state_topic": "pinion/garage/dev/bell", "event_types": ["press", "double_press"]`)},
	{"homeassistant/number/garage/dev_setpoint/config", cfgJSON("setpoint", `"name": "Set point", "device_class": "temperature",
		"unit_of_measurement": "°C", "state_topic": "pinion/garage/dev/setpoint",
		"command_topic": "pinion/garage/dev/setpoint/set", "min": 5, "max": 30, "step": 0.5, "mode": "box"`)},
	{"homeassistant/select/garage/dev_mode/config", cfgJSON("mode", `"name": "Mode", "icon": "mdi:tune",
		"state_topic": "pinion/garage/dev/mode", "command_topic": "pinion/garage/dev/mode/set",
		"options": ["auto", "heat", "Eco mode"]`)},
	{"homeassistant/switch/garage/dev_relay/config", cfgJSON("relay", `"name": "Relay", "device_class": "outlet",
		"state_topic": "pinion/garage/dev/relay", "command_topic": "pinion/garage/dev/relay/set",
		"payload_on": "ON", "payload_off": "OFF"`)},
	{"homeassistant/button/garage/dev_pulse/config", cfgJSON("pulse", `"name": "Pulse",
		"command_topic": "pinion/garage/dev/pulse/set", "payload_press": "PRESS"`)},
	{"homeassistant/sensor/garage/dev_temperature/config", cfgJSON("temperature", `"name": "Temperature",
		"device_class": "temperature", "unit_of_measurement": "°C", "state_class": "measurement",
		"suggested_display_precision": 1, "state_topic": "pinion/garage/dev/temperature"`)},
	{"homeassistant/binary_sensor/garage/dev_door/config", cfgJSON("door", `"name": "Door", "device_class": "door",
		"state_topic": "pinion/garage/dev/door"`)},
	{"homeassistant/light/garage/dev_lamp/config", cfgJSON("lamp", `"name": "Lamp", "schema": "json",
		"state_topic": "pinion/garage/dev/lamp", "command_topic": "pinion/garage/dev/lamp/set",
		"supported_color_modes": ["onoff"]`)},
	{"homeassistant/cover/garage/dev_gate/config", cfgJSON("gate", `"name": "Gate", "device_class": "gate",
		"state_topic": "pinion/garage/dev/gate", "value_template": "{{ value_json.state }}",
		"command_topic": "pinion/garage/dev/gate/set", "payload_stop": null`)},
}

func TestComponentConfigsAreAccepted(t *testing.T) {
	for _, c := range componentConfigs {
		p := parseConfig("homeassistant", c.topic, []byte(c.payload))
		if len(p.findings) != 0 {
			t.Errorf("%s: %v", c.topic, p.findings)
		}
		if len(p.avail) != 3 || p.availMode != "all" {
			t.Errorf("%s: availability %v mode %s", c.topic, p.avail, p.availMode)
		}
	}
}

// TestPlatformRules checks each platform's own options, with hand-written
// configs that break one rule each.
func TestPlatformRules(t *testing.T) {
	const dev = `"unique_id": "u", "device": {"identifiers": ["x"], "name": "X"}`
	tests := []struct {
		name, component, body string
		want                  string // substring of the one finding
		reject                bool
	}{
		{"number max not above min", "number", `"command_topic": "c", "min": 5, "max": 5`, "'max' must be > 'min'", true},
		{"number step too small", "number", `"command_topic": "c", "step": 0`, "step 0 must be at least 0.001", true},
		{"number mode", "number", `"command_topic": "c", "mode": "dial"`, "mode dial is not auto, box or slider", true},
		{"number min not a number", "number", `"command_topic": "c", "min": "low"`, "min must be a number", true},
		{"number min as text is coerced", "number", `"command_topic": "c", "min": "0", "max": "10"`, "", false},
		{"number without command topic", "number", `"state_topic": "s"`, "required key not provided: command_topic", true},
		{"number unit for its class", "number", `"command_topic": "c", "device_class": "temperature", "unit_of_measurement": "C"`, `"C" does not fit device class temperature`, false},
		{"number class", "number", `"command_topic": "c", "device_class": "timestamp"`, `device_class "timestamp" is not valid for number`, true},
		{"select without options", "select", `"command_topic": "c"`, "required key not provided: options", true},
		{"select empty options", "select", `"command_topic": "c", "options": []`, "options is empty", false},
		{"select option twice", "select", `"command_topic": "c", "options": ["a", "a"]`, `option "a" is listed twice`, false},
		{"select option none", "select", `"command_topic": "c", "options": ["a", "None"]`, `option "None" reads as unknown`, false},
		{"select options of objects", "select", `"command_topic": "c", "options": [{"a": 1}]`, "options must be a list of strings", true},
		{"event without types", "event", `"state_topic": "s"`, "required key not provided: event_types", true},
		{"event empty types", "event", `"state_topic": "s", "event_types": []`, "event_types is empty", false},
		{"event null class", "event", `"state_topic": "s", "event_types": ["press"], "device_class": null`, "device_class null is not accepted", true},
		{"event class", "event", `"state_topic": "s", "event_types": ["press"], "device_class": "press"`, `device_class "press" is not valid for event`, true},
		{"event without state topic", "event", `"event_types": ["press"]`, "required key not provided: state_topic", true},
		{"light schema", "light", `"command_topic": "c", "schema": "fancy"`, "schema fancy is not basic, json or template", true},
		{"light schema upper case", "light", `"command_topic": "c", "schema": "JSON", "supported_color_modes": ["onoff"]`, "", false},
		{"light onoff with brightness", "light", `"command_topic": "c", "schema": "json", "supported_color_modes": ["onoff", "brightness"]`, "Invalid supported_color_modes", true},
		{"light white alone", "light", `"command_topic": "c", "schema": "json", "supported_color_modes": ["white"]`, "white needs a color mode", true},
		{"light mode twice", "light", `"command_topic": "c", "schema": "json", "supported_color_modes": ["rgb", "rgb"]`, `"rgb" is listed twice`, true},
		{"light unknown mode", "light", `"command_topic": "c", "schema": "json", "supported_color_modes": ["dim"]`, `"dim" is not a color mode`, true},
		{"light empty modes", "light", `"command_topic": "c", "schema": "json", "supported_color_modes": []`, "the list is empty", true},
		{"light brightness scale", "light", `"command_topic": "c", "schema": "json", "brightness_scale": 0`, "brightness_scale 0 must be at least 1", true},
		{"light legacy flag", "light", `"command_topic": "c", "schema": "json", "color_mode": true`, `"color_mode" was removed`, false},
		{"light basic key on json", "light", `"command_topic": "c", "schema": "json", "brightness_command_topic": "b"`, `"brightness_command_topic" is not an option of light`, false},
		{"light without command topic", "light", `"schema": "json", "state_topic": "s"`, "required key not provided: command_topic", true},
		{"light flash not a boolean", "light", `"command_topic": "c", "schema": "json", "flash": "maybe"`, `flash "maybe" is not a boolean`, true},
		{"cover set position without position", "cover", `"command_topic": "c", "set_position_topic": "c"`, "set_position_topic needs position_topic", true},
		{"cover position template without topic", "cover", `"command_topic": "c", "position_template": "{{ value }}"`, "position_template needs position_topic", true},
		{"cover value template without state", "cover", `"command_topic": "c", "value_template": "{{ value }}"`, "value_template needs state_topic", true},
		{"cover state null", "cover", `"command_topic": "c", "state_topic": "s", "state_open": null`, "state_open is null", true},
		{"cover class", "cover", `"command_topic": "c", "device_class": "garage_door"`, `device_class "garage_door" is not valid for cover`, true},
		{"cover open equals closed", "cover", `"command_topic": "c", "position_open": 0`, "position_open and position_closed are both 0", true},
		{"cover cannot be driven", "cover", `"state_topic": "s"`, "neither command_topic nor set_position_topic", false},
		{"cover typo", "cover", `"command_topic": "c", "payload_halt": "STOP"`, `"payload_halt" is not an option of cover`, false},
		{"template hatest cannot evaluate", "sensor", `"state_topic": "s", "value_template": "{{ value | int }}"`, "hatest evaluates only", false},
		{"template with a key", "sensor", `"state_topic": "s", "value_template": "{{ value_json['t'] }}"`, "", false},
		{"value has no keys", "sensor", `"state_topic": "s", "value_template": "{{ value.t }}"`, "value is a string", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseConfig("homeassistant", "homeassistant/"+tt.component+"/n/o/config", []byte("{"+tt.body+", "+dev+"}"))
			switch {
			case tt.want == "" && len(p.findings) != 0:
				t.Fatalf("findings %v, want none", p.findings)
			case tt.want == "":
				return
			case len(p.findings) != 1 || !strings.Contains(p.findings[0].reason, tt.want):
				t.Fatalf("findings %v, want one with %q", p.findings, tt.want)
			}
			if p.rejected() != tt.reject {
				t.Errorf("rejected %v, want %v", p.rejected(), tt.reject)
			}
		})
	}
}

// TestReceive reads states as Home Assistant reads them, one message after
// the other: the value each leaves, and what Home Assistant logs.
func TestReceive(t *testing.T) {
	type step struct {
		payload    string
		retained   bool
		value      string
		brightness int // lights only
		position   int // covers only
		finding    string
	}
	tests := []struct {
		name, component, body string
		steps                 []step
	}{
		{"switch", "switch", `"command_topic": "c", "state_topic": "s"`, []step{
			{payload: "ON", value: "on"}, {payload: "OFF", value: "off"}, {payload: "None", value: Unknown},
			{payload: "on", value: Unknown, finding: `state "on" is neither "ON" nor "OFF"`},
		}},
		{"switch state_on", "switch", `"command_topic": "c", "state_topic": "s", "state_on": "1", "state_off": "0"`, []step{
			{payload: "1", value: "on"}, {payload: "ON", value: "on", finding: "neither"},
		}},
		{"binary sensor payloads", "binary_sensor", `"state_topic": "s", "payload_on": "open", "payload_off": "shut"`, []step{
			{payload: "open", value: "on"}, {payload: "shut", value: "off"},
		}},
		{"sensor", "sensor", `"state_topic": "s", "device_class": "temperature", "unit_of_measurement": "°C"`, []step{
			{payload: "21.5", value: "21.5"}, {payload: "warm", value: "21.5", finding: "is not a number"},
			{payload: "None", value: Unknown}, {payload: "", value: Unknown, finding: "empty state"},
		}},
		{"sensor text", "sensor", `"state_topic": "s"`, []step{
			{payload: "any text", value: "any text"},
			{payload: strings.Repeat("x", 256), value: "any text", finding: "at most 255"},
		}},
		{"sensor dates", "sensor", `"state_topic": "s", "device_class": "date"`, []step{
			{payload: "2024-05-01", value: "2024-05-01"}, {payload: "2024-13-01", value: "2024-05-01", finding: "not an ISO 8601 date"},
		}},
		{"sensor timestamp", "sensor", `"state_topic": "s", "device_class": "timestamp"`, []step{
			{payload: "2024-05-01T07:30:00Z", value: "2024-05-01T07:30:00Z"},
			{payload: "2024-05-01 07:30", value: "2024-05-01T07:30:00Z", finding: "with a time zone"},
		}},
		{"sensor template", "sensor", `"state_topic": "s", "unit_of_measurement": "W", "value_template": "{{ value_json.t }}"`, []step{
			{payload: `{"t": 1}`, value: "1"}, {payload: `{"t": 1.50}`, value: "1.5"},
			{payload: `{"u": 1}`, value: "1.5", finding: "'dict object' has no attribute 't'"},
			{payload: `not json`, value: "1.5", finding: "'value_json' is undefined"},
		}},
		{"number", "number", `"command_topic": "c", "state_topic": "s", "min": 5, "max": 30, "step": 0.5`, []step{
			{payload: "21.5", value: "21.5"}, {payload: "21", value: "21"}, {payload: "21.0", value: "21.0"},
			{payload: "40", value: "21.0", finding: "Invalid value 40 (range 5.0 - 30.0)"},
			{payload: "warm", value: "21.0", finding: "Payload 'warm' is not a Number"},
			{payload: "none", value: Unknown},
		}},
		{"select", "select", `"command_topic": "c", "state_topic": "s", "options": ["auto", "heat"]`, []step{
			{payload: "heat", value: "heat"}, {payload: "cool", value: "heat", finding: "Invalid option 'cool'"},
			{payload: "None", value: Unknown},
		}},
		{"dimmable light", "light", `"command_topic": "c", "state_topic": "s", "schema": "json", "supported_color_modes": ["brightness"]`, []step{
			{payload: `{"state":"ON","brightness":128}`, value: "on", brightness: 128},
			{payload: `{"state":"OFF"}`, value: "off", brightness: 128},
			{payload: `{"state":"ON","brightness":0}`, value: "on", brightness: 128},
			{payload: `{"state":null}`, value: Unknown, brightness: 128},
			{payload: `{"brightness":3}`, value: Unknown, brightness: 128, finding: `no "state" key`},
			{payload: `{"state":"on"}`, value: Unknown, brightness: 128, finding: `state on is not "ON", "OFF" or null`},
			{payload: `{"state":"ON","brightness":"x"}`, value: "on", brightness: 128, finding: "Invalid brightness value 'x'"},
			{payload: `{"state":"ON","brightness":300}`, value: "on", brightness: 128, finding: "brightness 300 is outside 1 to the brightness_scale 255.0"},
			{payload: `ON`, value: "on", brightness: 128, finding: "is not a JSON object"},
		}},
		{"light brightness scale", "light", `"command_topic": "c", "state_topic": "s", "schema": "json", "supported_color_modes": ["brightness"], "brightness_scale": 100`, []step{
			{payload: `{"state":"ON","brightness":50}`, value: "on", brightness: 127},
			{payload: `{"state":"ON","brightness":100}`, value: "on", brightness: 255},
		}},
		{"on/off light ignores brightness", "light", `"command_topic": "c", "state_topic": "s", "schema": "json", "supported_color_modes": ["onoff"]`, []step{
			{payload: `{"state":"ON","brightness":128}`, value: "on"},
		}},
		{"basic light", "light", `"command_topic": "c", "state_topic": "s"`, []step{
			{payload: "ON", value: "on"}, {payload: "dim", value: "on", finding: "neither"},
		}},
		{"cover with position", "cover", `"command_topic": "c", "state_topic": "s", "value_template": "{{ value_json.state }}",
			"position_topic": "s", "position_template": "{{ value_json.position }}", "set_position_topic": "c"`, []step{
			{payload: `{"state":"open","position":50}`, value: "open", position: 50},
			{payload: `{"state":"closing","position":20}`, value: "closing", position: 20},
			{payload: `{"state":"closed","position":0}`, value: "closed", position: 0},
			{payload: `{"state":"stopped","position":30}`, value: "open", position: 30},
			{payload: `{"state":"stopped","position":0}`, value: "closed", position: 0},
			{payload: `{"state":"ajar","position":10}`, value: "closed", position: 10, finding: "Payload is not supported"},
			{payload: `{"state":"open","position":50.5}`, value: "open", position: 10, finding: "Payload '50.5' is not numeric"},
			{payload: `{"state":null}`, value: Unknown, position: 10, finding: "'dict object' has no attribute 'position'"},
		}},
		{"cover without position", "cover", `"command_topic": "c", "state_topic": "s", "value_template": "{{ value_json.state }}"`, []step{
			{payload: `{"state":"opening"}`, value: "opening", position: -1},
			{payload: `{"state":"stopped"}`, value: "open", position: -1},
			{payload: `{"state":"closing"}`, value: "closing", position: -1},
			{payload: `{"state":"stopped"}`, value: "closed", position: -1},
			{payload: `{"state":null}`, value: Unknown, position: -1},
		}},
		{"cover position only", "cover", `"command_topic": "c", "position_topic": "s", "position_open": 255, "position_closed": 0`, []step{
			{payload: "255", value: "open", position: 100}, {payload: "0", value: "closed", position: 0},
			{payload: "51", value: "open", position: 20}, {payload: `{"position": 255}`, value: "open", position: 100},
			{payload: `{"pos": 1}`, value: "open", position: 100, finding: "JSON without position attribute"},
		}},
		{"event", "event", `"state_topic": "s", "event_types": ["press", "double_press"]`, []step{
			{payload: `{"event_type":"press"}`, value: "press"},
			{payload: `{"event_type":"double_press","count":2}`, value: "double_press"},
			{payload: `{"event_type":"press"}`, retained: true, value: "double_press", finding: "retained event"},
			{payload: `{"event_type":"triple_press"}`, value: "double_press", finding: "Invalid event type triple_press"},
			{payload: `{"type":"press"}`, value: "double_press", finding: "`event_type` missing"},
			{payload: `press`, value: "double_press", finding: "`event_type` missing"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseConfig("homeassistant", "homeassistant/"+tt.component+"/n/o/config",
				[]byte(`{`+tt.body+`, "unique_id": "u", "device": {"identifiers": ["x"], "name": "X"}}`))
			if p.rejected() {
				t.Fatalf("config rejected: %v", p.findings)
			}
			st := newHAState()
			for i, s := range tt.steps {
				got := p.receive(st, "s", s.payload, s.retained)
				switch {
				case s.finding == "" && len(got) != 0:
					t.Errorf("step %d %q: unexpected %q", i, s.payload, got)
				case s.finding != "" && (len(got) != 1 || !strings.Contains(got[0], s.finding)):
					t.Errorf("step %d %q: got %q, want one finding with %q", i, s.payload, got, s.finding)
				}
				if st.value != s.value {
					t.Errorf("step %d %q: value %q, want %q", i, s.payload, st.value, s.value)
				}
				if tt.component == "light" && st.brightness != s.brightness {
					t.Errorf("step %d %q: brightness %d, want %d", i, s.payload, st.brightness, s.brightness)
				}
				if tt.component == "cover" && st.position != s.position {
					t.Errorf("step %d %q: position %d, want %d", i, s.payload, st.position, s.position)
				}
			}
			if tt.component == "event" {
				want := []Event{{Type: "press"}, {Type: "double_press", Attributes: map[string]any{"count": json.Number("2")}}}
				if !reflect.DeepEqual(st.events, want) {
					t.Errorf("events %v, want %v", st.events, want)
				}
			}
		})
	}
}

func TestTemplates(t *testing.T) {
	tests := []struct {
		tpl, payload, want, warning string
	}{
		{"{{ value }}", " 21.5 ", "21.5", ""},
		{"{{value_json.state}}", `{"state": "open"}`, "open", ""},
		{`{{ value_json["a"]['b'] }}`, `{"a": {"b": 7}}`, "7", ""},
		{"{{ value_json.n }}", `{"n": null}`, "None", ""},
		{"{{ value_json.n }}", `{"n": true}`, "True", ""},
		{"{{ value_json.n }}", `{"n": 50.0}`, "50.0", ""},
		{"{{ value_json.n }}", `{"n": 5e1}`, "50.0", ""},
		{"{{ value_json.n }}", `{"n": 1e-7}`, "1e-07", ""},
		{"{{ value_json.n }}", `{"n": 12345678901234567}`, "12345678901234567", ""},
		{"{{ value_json.n }}", `{"n": [1, "a", {"b": false}]}`, "[1, 'a', {'b': False}]", ""},
		{"{{ value_json.n.m }}", `{"n": 3}`, "", "'int' object has no attribute 'm'"},
		{"{{ value_json }}", `{"a": "x"}`, "{'a': 'x'}", ""},
	}
	for _, tt := range tests {
		tpl, err := parseTemplate(tt.tpl)
		if err != nil {
			t.Errorf("%s: %v", tt.tpl, err)
			continue
		}
		got, warning := tpl.render(tt.payload)
		if got != tt.want || (tt.warning == "") != (warning == "") || !strings.Contains(warning, tt.warning) {
			t.Errorf("%s on %s = %q, %q; want %q, %q", tt.tpl, tt.payload, got, warning, tt.want, tt.warning)
		}
	}
	for _, bad := range []string{"{{ value | int }}", "{% if value %}1{% endif %}", "value_json.a", "{{ value_json.a }} W"} {
		if _, err := parseTemplate(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

// FuzzTemplate parses arbitrary templates and renders the ones it takes
// on arbitrary payloads: a config's template or a state never crashes the
// double, and what it renders is stripped like Home Assistant's.
func FuzzTemplate(f *testing.F) {
	f.Add("{{ value_json.state }}", `{"state": "open"}`)
	f.Add(`{{ value_json['a']["b"] }}`, `{"a": {"b": [1, 2.5, null]}}`)
	f.Add("{{ value }}", " x ")
	f.Add("{{ value_json.position }}", `{"state": null}`)
	f.Fuzz(func(t *testing.T, tpl, payload string) {
		parsed, err := parseTemplate(tpl)
		if err != nil {
			return
		}
		out, warning := parsed.render(payload)
		if out != strings.TrimSpace(out) {
			t.Fatalf("%s on %q rendered %q, not stripped", tpl, payload, out)
		}
		if warning != "" && out != "" {
			t.Fatalf("%s on %q: warning %q with output %q", tpl, payload, warning, out)
		}
	})
}
