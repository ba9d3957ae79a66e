package discovery

import (
	"strings"
	"testing"
)

func TestTopics(t *testing.T) {
	tests := []struct {
		name                                              string
		node                                              Node
		status, devStatus, state, command, config, filter string
		entityStatus, commandFilter, birth                string
	}{
		{
			name:      "defaults",
			node:      Node{ID: "garage"},
			status:    "pinion/garage/status",
			devStatus: "pinion/garage/door/status",
			state:     "pinion/garage/door/relay",

			entityStatus: "pinion/garage/door/relay/status",
			command:      "pinion/garage/door/relay/set",
			config:       "homeassistant/switch/garage/door_relay/config",
			filter:       "homeassistant/+/garage/+/config",

			commandFilter: "pinion/garage/+/+/set",
			birth:         "homeassistant/status",
		},
		{
			name:      "custom prefixes",
			node:      Node{ID: "shed-1", TopicPrefix: "home/pinion", DiscoveryPrefix: "ha"},
			status:    "home/pinion/shed-1/status",
			devStatus: "home/pinion/shed-1/door/status",
			state:     "home/pinion/shed-1/door/relay",

			entityStatus: "home/pinion/shed-1/door/relay/status",
			command:      "home/pinion/shed-1/door/relay/set",
			config:       "ha/switch/shed-1/door_relay/config",
			filter:       "ha/+/shed-1/+/config",

			commandFilter: "home/pinion/shed-1/+/+/set",
			birth:         "ha/status",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.node
			for _, c := range []struct{ what, got, want string }{
				{"StatusTopic", n.StatusTopic(), tt.status},
				{"DeviceStatusTopic", n.DeviceStatusTopic("door"), tt.devStatus},
				{"EntityStatusTopic", n.EntityStatusTopic("door", "relay"), tt.entityStatus},
				{"StateTopic", n.StateTopic("door", "relay"), tt.state},
				{"CommandTopic", n.CommandTopic("door", "relay"), tt.command},
				{"ConfigTopic", n.ConfigTopic("switch", "door", "relay"), tt.config},
				{"ConfigFilter", n.ConfigFilter(), tt.filter},
				{"CommandFilter", n.CommandFilter(), tt.commandFilter},
				{"BirthTopic", n.BirthTopic(), tt.birth},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
			if !topicMatches(tt.filter, tt.config) {
				t.Errorf("ConfigFilter %q does not match ConfigTopic %q", tt.filter, tt.config)
			}
			if !topicMatches(tt.commandFilter, tt.command) {
				t.Errorf("CommandFilter %q does not match CommandTopic %q", tt.commandFilter, tt.command)
			}
			// Commands must not be confused with states or availability.
			for _, other := range []string{tt.status, tt.devStatus, tt.state, tt.entityStatus} {
				if topicMatches(tt.commandFilter, other) {
					t.Errorf("CommandFilter %q matches %q", tt.commandFilter, other)
				}
			}
			if d, e, ok := n.ParseCommandTopic(tt.command); !ok || d != "door" || e != "relay" {
				t.Errorf("ParseCommandTopic(%q) = %q, %q, %v", tt.command, d, e, ok)
			}
		})
	}
}

// topicMatches is MQTT filter matching for + (no #), to check that
// ConfigFilter matches what ConfigTopic builds.
func topicMatches(filter, topic string) bool {
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	if len(f) != len(tp) {
		return false
	}
	for i := range f {
		if f[i] != "+" && f[i] != tp[i] {
			return false
		}
	}
	return true
}

func TestParseConfigTopic(t *testing.T) {
	n := Node{ID: "garage"}
	tests := []struct {
		topic             string
		component, object string
		ok                bool
	}{
		{"homeassistant/switch/garage/door_relay/config", "switch", "door_relay", true},
		{"homeassistant/binary_sensor/garage/agent_connectivity/config", "binary_sensor", "agent_connectivity", true},
		{"homeassistant/sensor/garage/Relay-Board_CH-1/config", "sensor", "Relay-Board_CH-1", true},
		{"homeassistant/switch/shed/door_relay/config", "", "", false},   // another node
		{"ha/switch/garage/door_relay/config", "", "", false},            // another prefix
		{"homeassistant/switch/garage/door_relay/state", "", "", false},  // not a config
		{"homeassistant/switch/garage/door.relay/config", "", "", false}, // HA rejects the dot
		{"homeassistant/switch/garage//config", "", "", false},
		{"homeassistant/switch/door_relay/config", "", "", false}, // no node level
		{"homeassistant/switch/garage/a/b/config", "", "", false},
		{"homeassistant/swi-tch/garage/door_relay/config", "", "", false},
		{"homeassistant/switch/garage/door_relay/config/", "", "", false},
		{"homeassistantx/switch/garage/door_relay/config", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		c, o, ok := n.ParseConfigTopic(tt.topic)
		if c != tt.component || o != tt.object || ok != tt.ok {
			t.Errorf("ParseConfigTopic(%q) = %q, %q, %v; want %q, %q, %v", tt.topic, c, o, ok, tt.component, tt.object, tt.ok)
		}
	}
}

func TestParseCommandTopic(t *testing.T) {
	n := Node{ID: "garage"}
	tests := []struct {
		topic          string
		device, entity string
		ok             bool
	}{
		{"pinion/garage/door/relay/set", "door", "relay", true},
		{"pinion/garage/Relay-Board/CH_1/set", "Relay-Board", "CH_1", true},
		{"pinion/garage/door/relay", "", "", false},         // the state topic
		{"pinion/garage/door/status", "", "", false},        // device availability
		{"pinion/garage/status", "", "", false},             // node availability
		{"pinion/shed/door/relay/set", "", "", false},       // another node
		{"other/garage/door/relay/set", "", "", false},      // another prefix
		{"pinion/garage/door/relay/set/x", "", "", false},   // too deep
		{"pinion/garage/door/re.lay/set", "", "", false},    // not an id
		{"pinion/garage//relay/set", "", "", false},         // empty device
		{"pinion/garagex/door/relay/set", "", "", false},    // node id prefix only
		{"pinion/garage/door/relay/SET", "", "", false},     // case matters
		{"pinion/garage/door/relay/set\x00", "", "", false}, // trailing junk
	}
	for _, tt := range tests {
		d, e, ok := n.ParseCommandTopic(tt.topic)
		if d != tt.device || e != tt.entity || ok != tt.ok {
			t.Errorf("ParseCommandTopic(%q) = %q, %q, %v; want %q, %q, %v", tt.topic, d, e, ok, tt.device, tt.entity, tt.ok)
		}
	}
}

// FuzzParseConfigTopic checks that whatever ParseConfigTopic accepts is
// exactly a topic ConfigTopic can build, so the agent never removes a topic
// it could not have published.
func FuzzParseConfigTopic(f *testing.F) {
	f.Add("homeassistant/switch/garage/door_relay/config")
	f.Add("homeassistant/sensor/garage/a_b_c/config")
	f.Add("homeassistant/sensor/garage/x/config")
	f.Add("homeassistant/+/garage/+/config")
	f.Add("homeassistant/switch/garage/door_relay/config/x")
	n := Node{ID: "garage"}
	f.Fuzz(func(t *testing.T, topic string) {
		component, obj, ok := n.ParseConfigTopic(topic)
		if !ok {
			if component != "" || obj != "" {
				t.Fatalf("ParseConfigTopic(%q) returned %q, %q with ok false", topic, component, obj)
			}
			return
		}
		if !validComponent(component) || !ValidID(obj) {
			t.Fatalf("ParseConfigTopic(%q) accepted component %q object %q", topic, component, obj)
		}
		rebuilt := "homeassistant/" + component + "/garage/" + obj + "/config"
		if rebuilt != topic {
			t.Fatalf("ParseConfigTopic(%q) = %q, %q, which builds %q", topic, component, obj, rebuilt)
		}
		if !topicMatches(n.ConfigFilter(), topic) {
			t.Fatalf("accepted topic %q is not matched by ConfigFilter %q", topic, n.ConfigFilter())
		}
	})
}

// FuzzParseCommandTopic checks that a topic is taken as a command exactly
// when it is the command topic of some device and entity of this node.
func FuzzParseCommandTopic(f *testing.F) {
	f.Add("pinion/garage/door/relay/set")
	f.Add("pinion/garage/door/relay")
	f.Add("pinion/garage/+/+/set")
	n := Node{ID: "garage"}
	f.Fuzz(func(t *testing.T, topic string) {
		d, e, ok := n.ParseCommandTopic(topic)
		if !ok {
			return
		}
		if got := n.CommandTopic(d, e); got != topic {
			t.Fatalf("ParseCommandTopic(%q) = %q, %q, whose command topic is %q", topic, d, e, got)
		}
		if !topicMatches(n.CommandFilter(), topic) {
			t.Fatalf("accepted command topic %q is not matched by CommandFilter", topic)
		}
	})
}

// Unique ids and device identifiers cannot collide across nodes: the
// separator is a character ids cannot contain, so node "garage" with
// device "pi_x" and node "garage_pi" with device "x" stay apart (issue 6).
func TestUniqueIDsDoNotCollide(t *testing.T) {
	a, b := Node{ID: "garage"}, Node{ID: "garage_pi"}
	if ua, ub := a.UniqueID("pi_x", "relay"), b.UniqueID("x", "relay"); ua == ub {
		t.Errorf("UniqueID: node garage device pi_x and node garage_pi device x both get %q", ua)
	}
	if ia, ib := a.deviceIdentifier("pi_x"), b.deviceIdentifier("x"); ia == ib {
		t.Errorf("deviceIdentifier: both get %q", ia)
	}
	if ua, ub := a.UniqueID("pi", "x_relay"), a.UniqueID("pi_x", "relay"); ua == ub {
		t.Errorf("UniqueID: device pi entity x_relay and device pi_x entity relay both get %q", ua)
	}
	// The agent's identifier is no configured device's.
	if a.agentIdentifier() == b.deviceIdentifier("agent") || strings.Count(a.agentIdentifier(), idSeparator) != 1 {
		t.Errorf("agentIdentifier %q meets a device identifier", a.agentIdentifier())
	}
	want := map[string]string{
		a.UniqueID("heater", "relay"): "pinion:garage:heater:relay",
		a.deviceIdentifier("heater"):  "pinion:garage:heater",
		a.agentIdentifier():           "pinion:garage",
	}
	for got, w := range want {
		if got != w {
			t.Errorf("got %q, want %q", got, w)
		}
	}
}

// FuzzUniqueID checks that a unique id splits back into exactly the node,
// device and entity it was made of, for any valid ids: so two different
// entities never share one.
func FuzzUniqueID(f *testing.F) {
	f.Add("garage", "pi_x", "relay")
	f.Add("garage_pi", "x", "relay")
	f.Add("a-b", "c", "d-e")
	f.Fuzz(func(t *testing.T, node, device, entity string) {
		if !ValidID(node) || !ValidID(device) || !ValidID(entity) {
			return
		}
		n := Node{ID: node}
		parts := strings.Split(n.UniqueID(device, entity), idSeparator)
		if len(parts) != 4 || parts[0] != "pinion" || parts[1] != node || parts[2] != device || parts[3] != entity {
			t.Fatalf("UniqueID(%q, %q, %q) = %q splits into %q", node, device, entity, n.UniqueID(device, entity), parts)
		}
		ids := strings.Split(n.deviceIdentifier(device), idSeparator)
		if len(ids) != 3 || ids[1] != node || ids[2] != device {
			t.Fatalf("deviceIdentifier(%q, %q) = %q splits into %q", node, device, n.deviceIdentifier(device), ids)
		}
	})
}
