package hatest

import (
	"errors"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// uid is the unique id of entity in componentConfigs.
func uid(entity string) string { return "pinion:garage:dev:" + entity }

// publishComponents publishes componentConfigs and waits for them, then
// makes everything available: node, device and each entity online.
func publishComponents(t *testing.T, srv *mochi.Server, ha *HA) {
	t.Helper()
	for _, c := range componentConfigs {
		publish(t, srv, c.topic, c.payload, true)
	}
	if err := ha.WaitEntities(len(componentConfigs), wait); err != nil {
		t.Fatal(err)
	}
	publish(t, srv, "pinion/garage/status", "online", true)
	publish(t, srv, "pinion/garage/dev/status", "online", true)
	for _, e := range ha.Entities() {
		entity := strings.TrimPrefix(e.UniqueID, uid(""))
		publish(t, srv, "pinion/garage/dev/"+entity+"/status", "online", true)
	}
	for _, e := range ha.Entities() {
		if err := ha.WaitAvailable(e.UniqueID, true, wait); err != nil {
			t.Fatal(err)
		}
	}
}

// commands collects what is published on pinion's command topics.
func commands(t *testing.T, srv *mochi.Server) <-chan packets.Packet {
	t.Helper()
	got := make(chan packets.Packet, 64)
	if err := srv.Subscribe("pinion/garage/dev/+/set", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) { got <- pk }); err != nil {
		t.Fatal(err)
	}
	return got
}

// Per-entity availability: node, device and entity status, all required
// (availability_mode all), as pinion publishes them.
func TestPerEntityAvailability(t *testing.T) {
	url, srv := startBroker(t)
	ha := New(t, url)
	for _, c := range componentConfigs {
		publish(t, srv, c.topic, c.payload, true)
	}
	if err := ha.WaitEntities(len(componentConfigs), wait); err != nil {
		t.Fatal(err)
	}
	relay, door := uid("relay"), uid("door")
	if e, _ := ha.Entity(relay); e.Available {
		t.Fatal("available before any status")
	}
	publish(t, srv, "pinion/garage/status", "online", true)
	publish(t, srv, "pinion/garage/dev/status", "online", true)
	publish(t, srv, "pinion/garage/dev/door/status", "online", true)
	if err := ha.WaitAvailable(door, true, wait); err != nil {
		t.Fatal(err)
	}
	if e, _ := ha.Entity(relay); e.Available {
		t.Error("relay available without its own status")
	}
	if err := ha.TurnOn(relay); err == nil || !strings.Contains(err.Error(), "is unavailable") {
		t.Errorf("TurnOn on an unavailable switch: %v", err)
	}
	publish(t, srv, "pinion/garage/dev/relay/status", "online", true)
	if err := ha.WaitAvailable(relay, true, wait); err != nil {
		t.Fatal(err)
	}
	// The entity fails alone; then the device takes both down.
	publish(t, srv, "pinion/garage/dev/relay/status", "offline", true)
	if err := ha.WaitAvailable(relay, false, wait); err != nil {
		t.Fatal(err)
	}
	if e, _ := ha.Entity(door); !e.Available {
		t.Error("an entity failing took another one down")
	}
	publish(t, srv, "pinion/garage/dev/status", "offline", true)
	if err := ha.WaitAvailable(door, false, wait); err != nil {
		t.Fatal(err)
	}
	publish(t, srv, "pinion/garage/dev/status", "online", true)
	if err := ha.WaitAvailable(door, true, wait); err != nil {
		t.Fatal(err)
	}
	if e, _ := ha.Entity(relay); e.Available {
		t.Error("the device coming back brought back an entity that is still offline")
	}
	if p := ha.Problems(); len(p) != 0 {
		t.Errorf("problems: %q", p)
	}
}

// States of every component, read as Home Assistant reads them.
func TestStatesThroughTheBroker(t *testing.T) {
	url, srv := startBroker(t)
	ha := New(t, url)
	publishComponents(t, srv, ha)
	states := []struct {
		entity, payload string
		wait            func() error
	}{
		{"relay", "ON", func() error { return ha.WaitValue(uid("relay"), "on", wait) }},
		{"door", "OFF", func() error { return ha.WaitValue(uid("door"), "off", wait) }},
		{"temperature", "21.5", func() error { return ha.WaitValue(uid("temperature"), "21.5", wait) }},
		{"setpoint", "20.5", func() error { return ha.WaitValue(uid("setpoint"), "20.5", wait) }},
		{"mode", "Eco mode", func() error { return ha.WaitValue(uid("mode"), "Eco mode", wait) }},
		{"led", `{"state":"ON","brightness":77}`, func() error { return ha.WaitLight(uid("led"), true, 77, wait) }},
		{"lamp", `{"state":"OFF"}`, func() error { return ha.WaitLight(uid("lamp"), false, 0, wait) }},
		{"blind", `{"state":"closing","position":40}`, func() error { return ha.WaitCover(uid("blind"), "closing", 40, wait) }},
		{"gate", `{"state":"open"}`, func() error { return ha.WaitCover(uid("gate"), "open", -1, wait) }},
	}
	for _, s := range states {
		publish(t, srv, "pinion/garage/dev/"+s.entity, s.payload, true)
	}
	for _, s := range states {
		if err := s.wait(); err != nil {
			t.Error(err)
		}
	}
	if e, _ := ha.Entity(uid("pulse")); e.Value != Unknown || e.HasState {
		t.Errorf("button: value %q, has state %v", e.Value, e.HasState)
	}
	if p := ha.Problems(); len(p) != 0 {
		t.Errorf("problems: %q", p)
	}

	// A state that does not fit is a problem and leaves the value alone.
	publish(t, srv, "pinion/garage/dev/setpoint", "35", true)
	if !waitProblem(ha, "pinion/garage/dev/setpoint ("+uid("setpoint")+"): ", "Invalid value 35") {
		t.Errorf("no problem for a number out of range: %q", ha.Problems())
	}
	if e, _ := ha.Entity(uid("setpoint")); e.Value != "20.5" || e.State != "35" {
		t.Errorf("setpoint: value %q state %q, want 20.5 kept and 35 raw", e.Value, e.State)
	}

	err := ha.WaitValue(uid("relay"), "off", 50*time.Millisecond)
	if !errors.Is(err, errTimeout) || !strings.Contains(err.Error(), `value "on"`) {
		t.Errorf("WaitValue timing out: %v", err)
	}
}

// Each service publishes what Home Assistant's does, on the entity's
// command topic (or set_position_topic).
func TestServicesPublishLikeHomeAssistant(t *testing.T) {
	url, srv := startBroker(t)
	got := commands(t, srv)
	ha := New(t, url)
	publishComponents(t, srv, ha)
	publish(t, srv, "pinion/garage/dev/led", `{"state":"ON","brightness":77}`, true)
	if err := ha.WaitLight(uid("led"), true, 77, wait); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		call          func() error
		entity, value string
	}{
		{"switch on", func() error { return ha.TurnOn(uid("relay")) }, "relay", "ON"},
		{"switch off", func() error { return ha.TurnOff(uid("relay")) }, "relay", "OFF"},
		{"light on", func() error { return ha.TurnOn(uid("led")) }, "led", `{"state":"ON"}`},
		{"light brightness", func() error { return ha.LightOn(uid("led"), 128) }, "led", `{"state":"ON","brightness":128}`},
		{"light brightness 0", func() error { return ha.LightOn(uid("led"), 0) }, "led", `{"state":"OFF"}`},
		{"on/off light off", func() error { return ha.TurnOff(uid("lamp")) }, "lamp", `{"state":"OFF"}`},
		{"press", func() error { return ha.Press(uid("pulse")) }, "pulse", "PRESS"},
		{"number", func() error { return ha.SetNumber(uid("setpoint"), 21.5) }, "setpoint", "21.5"},
		{"whole number", func() error { return ha.SetNumber(uid("setpoint"), 21) }, "setpoint", "21"},
		{"select", func() error { return ha.SelectOption(uid("mode"), "Eco mode") }, "mode", "Eco mode"},
		{"open", func() error { return ha.OpenCover(uid("blind")) }, "blind", "OPEN"},
		{"stop", func() error { return ha.StopCover(uid("blind")) }, "blind", "STOP"},
		{"close", func() error { return ha.CloseCover(uid("gate")) }, "gate", "CLOSE"},
		{"position", func() error { return ha.SetCoverPosition(uid("blind"), 40) }, "blind", "40"},
		{"raw command", func() error { return ha.Command(uid("relay"), "TOGGLE") }, "relay", "TOGGLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			pk := receive(t, got)
			if want := "pinion/garage/dev/" + tt.entity + "/set"; pk.TopicName != want || string(pk.Payload) != tt.value || pk.FixedHeader.Retain {
				t.Errorf("published %q on %s (retain %v), want %q on %s", pk.Payload, pk.TopicName, pk.FixedHeader.Retain, tt.value, want)
			}
		})
	}

	// What Home Assistant refuses is not published at all.
	refusals := []struct {
		name string
		call func() error
		want string
	}{
		{"brightness of an on/off light", func() error { return ha.LightOn(uid("lamp"), 128) }, "cannot be dimmed"},
		{"brightness out of range", func() error { return ha.LightOn(uid("led"), 256) }, "outside 0 to 255"},
		{"stop a cover that cannot stop", func() error { return ha.StopCover(uid("gate")) }, "payload_stop is null"},
		{"position of a cover without one", func() error { return ha.SetCoverPosition(uid("gate"), 50) }, "no set_position_topic"},
		{"position out of range", func() error { return ha.SetCoverPosition(uid("blind"), 101) }, "outside 0 to 100"},
		{"number out of range", func() error { return ha.SetNumber(uid("setpoint"), 40) }, "outside valid range 5.0 - 30.0"},
		{"option not offered", func() error { return ha.SelectOption(uid("mode"), "cool") }, `option "cool" is not one of`},
		{"press a switch", func() error { return ha.Press(uid("relay")) }, "is a switch; the service is for button"},
		{"turn on a sensor", func() error { return ha.TurnOn(uid("temperature")) }, "is a sensor"},
		{"unknown entity", func() error { return ha.Press("nope") }, `no entity with unique_id "nope"`},
	}
	for _, r := range refusals {
		if err := r.call(); err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("%s: %v, want an error with %q", r.name, err, r.want)
		}
	}
	if err := ha.Press(uid("pulse")); err != nil {
		t.Fatal(err)
	}
	if pk := receive(t, got); string(pk.Payload) != "PRESS" {
		t.Errorf("a refused call was published: %s %q", pk.TopicName, pk.Payload)
	}
	if p := ha.Problems(); len(p) != 0 {
		t.Errorf("problems: %q", p)
	}
}

// Events are recorded in order; WaitEvent takes them one at a time; an
// event left retained on the broker is a problem.
func TestEvents(t *testing.T) {
	url, srv := startBroker(t)
	ha := New(t, url)
	publishComponents(t, srv, ha)
	bell, topic := uid("bell"), "pinion/garage/dev/bell"

	publish(t, srv, topic, `{"event_type":"press"}`, false)
	publish(t, srv, topic, `{"event_type":"press"}`, false)
	publish(t, srv, topic, `{"event_type":"double_press","count":2}`, false)
	for _, want := range []string{"press", "press", "double_press"} {
		if err := ha.WaitEvent(bell, want, wait); err != nil {
			t.Fatal(err)
		}
	}
	if evs := ha.Events(bell); len(evs) != 3 || evs[2].Attributes["count"] == nil {
		t.Errorf("events %v", evs)
	}
	if err := ha.WaitEvent(bell, "press", 50*time.Millisecond); !errors.Is(err, errTimeout) {
		t.Errorf("WaitEvent with no new event: %v", err)
	}
	publish(t, srv, topic, `{"event_type":"double_press"}`, false)
	if err := ha.WaitEvent(bell, "press", wait); err == nil || !strings.Contains(err.Error(), `fired event "double_press", want "press"`) {
		t.Errorf("WaitEvent for the wrong type: %v", err)
	}
	if p := ha.Problems(); len(p) != 0 {
		t.Fatalf("problems: %q", p)
	}

	// Published retained, the event reaches the double (already
	// subscribed) without its retain flag; WaitEvent finds it on the
	// broker.
	publish(t, srv, topic, `{"event_type":"press"}`, true)
	if err := ha.WaitEvent(bell, "press", wait); err != nil {
		t.Fatal(err)
	}
	if !waitProblem(ha, topic+" ("+bell+"): ", "retained event") {
		t.Errorf("a retained event is not a problem: %q", ha.Problems())
	}
	// A double subscribing now gets it with the flag, and ignores it as
	// Home Assistant does.
	late := New(t, url)
	if err := late.WaitEntities(len(componentConfigs), wait); err != nil {
		t.Fatal(err)
	}
	if !waitProblem(late, topic+" ("+bell+"): ", "retained event") {
		t.Errorf("a retained event replayed at subscription is not a problem: %q", late.Problems())
	}
	if evs := late.Events(bell); len(evs) != 0 {
		t.Errorf("the late double took a retained event: %v", evs)
	}
}

// A config republished (Home Assistant's birth) keeps the entity's events.
func TestRepublishedConfigKeepsEvents(t *testing.T) {
	url, srv := startBroker(t)
	ha := New(t, url)
	publishComponents(t, srv, ha)
	bell := uid("bell")
	publish(t, srv, "pinion/garage/dev/bell", `{"event_type":"press"}`, false)
	if err := ha.WaitEvent(bell, "press", wait); err != nil {
		t.Fatal(err)
	}
	var cfg string
	for _, c := range componentConfigs {
		if strings.Contains(c.topic, "dev_bell") {
			cfg = c.topic
			publish(t, srv, c.topic, c.payload, true)
		}
	}
	if err := ha.WaitConfigCount(cfg, 2, wait); err != nil {
		t.Fatal(err)
	}
	if evs := ha.Events(bell); len(evs) != 1 {
		t.Errorf("events after a republish: %v", evs)
	}
	publish(t, srv, "pinion/garage/dev/bell", `{"event_type":"double_press"}`, false)
	if err := ha.WaitEvent(bell, "double_press", wait); err != nil {
		t.Fatal(err)
	}
}

// Services scale to the entity's own ranges, as Home Assistant does: a
// brightness to brightness_scale (never below 1), a position to
// position_closed…position_open; numbers go out as Python prints them.
func TestServicesScale(t *testing.T) {
	url, srv := startBroker(t)
	got := commands(t, srv)
	ha := New(t, url)
	configs := map[string]string{
		"homeassistant/light/garage/dev_dim/config": cfgJSON("dim", `"schema": "json", "command_topic": "pinion/garage/dev/dim/set",
			"supported_color_modes": ["brightness"], "brightness_scale": 100`),
		"homeassistant/cover/garage/dev_shade/config": cfgJSON("shade", `"command_topic": "pinion/garage/dev/shade/set",
			"position_topic": "pinion/garage/dev/shade", "set_position_topic": "pinion/garage/dev/shade/set",
			"position_open": 255, "position_closed": 5`),
		"homeassistant/number/garage/dev_tiny/config": cfgJSON("tiny", `"command_topic": "pinion/garage/dev/tiny/set",
			"min": -1e-3, "max": 1e17, "step": 0.001`),
	}
	for topic, payload := range configs {
		publish(t, srv, topic, payload, true)
	}
	if err := ha.WaitEntities(len(configs), wait); err != nil {
		t.Fatal(err)
	}
	publish(t, srv, "pinion/garage/status", "online", true)
	publish(t, srv, "pinion/garage/dev/status", "online", true)
	for _, e := range []string{"dim", "shade", "tiny"} {
		publish(t, srv, "pinion/garage/dev/"+e+"/status", "online", true)
		if err := ha.WaitAvailable(uid(e), true, wait); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		call func() error
		want string
	}{
		{func() error { return ha.LightOn(uid("dim"), 255) }, `{"state":"ON","brightness":100}`},
		{func() error { return ha.LightOn(uid("dim"), 128) }, `{"state":"ON","brightness":50}`},
		{func() error { return ha.LightOn(uid("dim"), 1) }, `{"state":"ON","brightness":1}`},
		{func() error { return ha.SetCoverPosition(uid("shade"), 100) }, "255"},
		{func() error { return ha.SetCoverPosition(uid("shade"), 0) }, "5"},
		{func() error { return ha.SetCoverPosition(uid("shade"), 50) }, "130"},
		{func() error { return ha.SetNumber(uid("tiny"), 0.0005) }, "0.0005"},
		{func() error { return ha.SetNumber(uid("tiny"), 0.00005) }, "5e-05"},
		{func() error { return ha.SetNumber(uid("tiny"), 1e16) }, "10000000000000000"},
		{func() error { return ha.SetNumber(uid("tiny"), 1.5e16) }, "15000000000000000"},
		{func() error { return ha.SetNumber(uid("tiny"), 12.25) }, "12.25"},
	}
	for _, tt := range tests {
		if err := tt.call(); err != nil {
			t.Fatal(err)
		}
		if pk := receive(t, got); string(pk.Payload) != tt.want {
			t.Errorf("published %q on %s, want %q", pk.Payload, pk.TopicName, tt.want)
		}
	}
	if p := ha.Problems(); len(p) != 0 {
		t.Errorf("problems: %q", p)
	}
}
