package hatest

import (
	"encoding/json"
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

func TestStateFindings(t *testing.T) {
	tests := []struct {
		component string
		cfg       string
		payload   string
		want      string // "" for none
	}{
		{"binary_sensor", `{}`, "ON", ""},
		{"binary_sensor", `{"payload_on": "open", "payload_off": "closed"}`, "ON", `neither "open" nor "closed"`},
		{"switch", `{"state_on": "1", "state_off": "0"}`, "1", ""},
		{"switch", `{"payload_on": "on"}`, "ON", `neither "on" nor "OFF"`},
		{"switch", `{}`, "None", ""},
		{"sensor", `{}`, "any text", ""},
		{"sensor", `{"unit_of_measurement": "W"}`, "12.5", ""},
		{"sensor", `{"state_class": "measurement"}`, "nan", "is not a number"},
		{"sensor", `{"device_class": "temperature"}`, "warm", "is not a number"},
		{"sensor", `{"device_class": "enum"}`, "warm", ""},
		{"sensor", `{"device_class": "date"}`, "2024-13-01", "not an ISO 8601 date"},
		{"sensor", `{}`, strings.Repeat("x", 256), "at most 255"},
		{"sensor", `{}`, "", "empty state"},
		{"sensor", `{"value_template": "{{ value_json.t }}", "unit_of_measurement": "W"}`, `{"t": 1}`, ""},
	}
	for _, tt := range tests {
		var cfg map[string]any
		if err := json.Unmarshal([]byte(tt.cfg), &cfg); err != nil {
			t.Fatal(err)
		}
		got := stateFindings(tt.component, cfg, tt.payload)
		switch {
		case tt.want == "" && len(got) != 0:
			t.Errorf("%s %s %q: unexpected %q", tt.component, tt.cfg, tt.payload, got)
		case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
			t.Errorf("%s %s %q: got %q, want one finding with %q", tt.component, tt.cfg, tt.payload, got, tt.want)
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
			stateFindings(p.component, p.cfg, "1")
		}
	})
}
