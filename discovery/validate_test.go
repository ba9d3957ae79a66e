package discovery

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
)

// allErrors flattens the joined errors of Validate into *Error values.
func allErrors(t *testing.T, err error) []*Error {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	var out []*Error
	for _, e := range errs {
		var de *Error
		if !errors.As(e, &de) {
			t.Fatalf("error %q is not a *discovery.Error", e)
		}
		out = append(out, de)
	}
	return out
}

func sensor(id string, class string, unit drivers.Unit, state drivers.StateClass) drivers.Entity {
	return drivers.Entity{ID: id, Spec: drivers.Sensor{Class: class, Unit: unit, State: state, Precision: 1}}
}

// entity returns an entity with id and spec.
func entity(id string, spec drivers.Spec) drivers.Entity {
	return drivers.Entity{ID: id, Spec: spec}
}

func dev(id string, es ...drivers.Entity) Device {
	return Device{ID: id, Name: id, Entities: es}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		node   Node
		devs   []Device
		device string // device and entity of the one expected error
		entity string
		want   string // substring of the reason
	}{
		{"unknown sensor class", garage,
			[]Device{dev("attic", sensor("t", "temp", drivers.Celsius, drivers.StateMeasurement))},
			"attic", "t", `device class "temp" is not valid for a sensor`},
		{"unit not allowed for class", garage,
			[]Device{dev("attic", sensor("t", drivers.ClassTemperature, "C", drivers.StateMeasurement))},
			"attic", "t", `unit "C" is not valid for device class temperature; use one of K, °C, °F`},
		{"missing unit for class", garage,
			[]Device{dev("attic", sensor("t", drivers.ClassTemperature, "", drivers.StateMeasurement))},
			"attic", "t", "device class temperature needs a unit"},
		{"energy as a measurement", garage,
			[]Device{dev("meter", sensor("energy", drivers.ClassEnergy, "kWh", drivers.StateMeasurement))},
			"meter", "energy", "state class measurement is not valid for device class energy (Home Assistant would keep no statistics); use total or total_increasing"},
		{"temperature as a total", garage,
			[]Device{dev("attic", sensor("t", drivers.ClassTemperature, drivers.Celsius, drivers.StateTotalIncreasing))},
			"attic", "t", "state class total_increasing is not valid for device class temperature"},
		{"unit on a class without units", garage,
			[]Device{dev("air", sensor("aqi", "aqi", "ppm", drivers.StateMeasurement))},
			"air", "aqi", "which takes no unit"},
		{"unit on timestamp", garage,
			[]Device{dev("sys", sensor("boot", drivers.ClassTimestamp, drivers.Seconds, drivers.StateNone))},
			"sys", "boot", "whose states are not numbers"},
		{"state class on timestamp", garage,
			[]Device{dev("sys", entity("boot", drivers.Sensor{Class: drivers.ClassTimestamp, State: drivers.StateMeasurement, Precision: -1}))},
			"sys", "boot", "state class measurement needs numbers"},
		{"monetary needs a currency code", garage,
			[]Device{dev("meter", sensor("cost", "monetary", "euro", drivers.StateTotal))},
			"meter", "cost", "ISO 4217"},
		{"switch with a binary sensor class", garage,
			[]Device{dev("plug", entity("relay", drivers.Switch{Class: drivers.ClassDoor}))},
			"plug", "relay", `device class "door" is not valid for a switch; use one of outlet, switch, or none`},
		{"binary sensor with a switch class", garage,
			[]Device{dev("door", entity("contact", drivers.BinarySensor{Class: drivers.ClassOutlet}))},
			"door", "contact", `device class "outlet" is not valid for a binary_sensor`},
		{"no spec", garage,
			[]Device{dev("x", drivers.Entity{ID: "y"})},
			"x", "y", "it has no Spec; set it to one of drivers.Sensor, BinarySensor, Switch, Button, Number, Light, Cover, Event or Select"},
		{"nil spec pointer", garage,
			[]Device{dev("x", entity("y", (*drivers.Number)(nil)))},
			"x", "y", "its Spec is a nil *drivers.Number; set it to one of"},
		{"icon without prefix", garage,
			[]Device{dev("fan", drivers.Entity{ID: "relay", Icon: "fan", Spec: drivers.Switch{}})},
			"fan", "relay", `icon "fan" must be written prefix:name`},
		{"precision on a text sensor", garage,
			[]Device{dev("sys", entity("host", drivers.Sensor{Precision: 2}))},
			"sys", "host", "precision is set on a text sensor"},
		{"sensor precision below -1", garage,
			[]Device{dev("sys", entity("load", drivers.Sensor{State: drivers.StateMeasurement, Precision: -2}))},
			"sys", "load", "precision -2 is not a number of decimals; use -1"},
		{"sensor precision beyond a float64", garage,
			[]Device{dev("sys", entity("load", drivers.Sensor{State: drivers.StateMeasurement, Precision: 16}))},
			"sys", "load", "precision 16 is more decimals than a float64 holds; use at most 15"},
		{"state class out of range", garage,
			[]Device{dev("sys", entity("load", drivers.Sensor{State: 9, Precision: -1}))},
			"sys", "load", "state class 9 is not one of the drivers.State* constants"},
		{"button with a sensor class", garage,
			[]Device{dev("gate", entity("pulse", drivers.Button{Class: drivers.ClassTemperature}))},
			"gate", "pulse", `device class "temperature" is not valid for a button; use one of identify, restart, update, or none`},
		{"number with max equal to min", garage,
			[]Device{dev("t", entity("set", drivers.Number{Min: 5, Max: 5}))},
			"t", "set", "Max (5) must be above Min (5); Home Assistant refuses the number otherwise"},
		{"number with max below min", garage,
			[]Device{dev("t", entity("set", drivers.Number{Min: 5}))},
			"t", "set", "Max (0) must be above Min (5)"},
		{"number with a negative step", garage,
			[]Device{dev("t", entity("set", drivers.Number{Max: 10, Step: -1}))},
			"t", "set", "Step -1 is negative; use a positive step, or 0 for 1"},
		{"number with a tiny step", garage,
			[]Device{dev("t", entity("set", drivers.Number{Max: 10, Step: 0.0001}))},
			"t", "set", "Step 0.0001 is below 0.001, the smallest Home Assistant accepts"},
		{"number with NaN", garage,
			[]Device{dev("t", entity("set", drivers.Number{Min: math.NaN(), Max: 10}))},
			"t", "set", "Min is NaN; it must be a finite number"},
		{"number with an infinite max", garage,
			[]Device{dev("t", entity("set", drivers.Number{Max: math.Inf(1)}))},
			"t", "set", "Max is +Inf; it must be a finite number"},
		{"number mode out of range", garage,
			[]Device{dev("t", entity("set", drivers.Number{Max: 10, Mode: 3}))},
			"t", "set", "mode 3 is not one of drivers.NumberAuto, NumberBox, NumberSlider"},
		{"number unit not allowed for its class", garage,
			[]Device{dev("t", entity("set", drivers.Number{Class: drivers.ClassTemperature, Max: 30, Unit: "C"}))},
			"t", "set", `unit "C" is not valid for device class temperature; use one of K, °C, °F`},
		{"number with a text class", garage,
			[]Device{dev("t", entity("set", drivers.Number{Class: drivers.ClassTimestamp, Max: 30}))},
			"t", "set", `device class "timestamp" is not valid for a number`},
		{"cover with a binary sensor class", garage,
			[]Device{dev("g", entity("door", drivers.Cover{Class: "garage_door"}))},
			"g", "door", `device class "garage_door" is not valid for a cover; use one of awning, blind`},
		{"event without types", garage,
			[]Device{dev("bell", entity("button", drivers.Event{}))},
			"bell", "button", "Types is empty; give at least one event type"},
		{"event type twice", garage,
			[]Device{dev("bell", entity("button", drivers.Event{Types: []string{"press", "press"}}))},
			"bell", "button", `event type "press" is listed twice`},
		{"empty event type", garage,
			[]Device{dev("bell", entity("button", drivers.Event{Types: []string{""}}))},
			"bell", "button", "an event type is empty"},
		{"event type too long", garage,
			[]Device{dev("bell", entity("button", drivers.Event{Types: []string{strings.Repeat("x", 256)}}))},
			"bell", "button", "has more than 255 characters"},
		{"event with a switch class", garage,
			[]Device{dev("bell", entity("button", drivers.Event{Class: drivers.ClassOutlet, Types: []string{"press"}}))},
			"bell", "button", `device class "outlet" is not valid for an event`},
		{"select without options", garage,
			[]Device{dev("hp", entity("mode", drivers.Select{}))},
			"hp", "mode", "Options is empty; give at least one option"},
		{"select option twice", garage,
			[]Device{dev("hp", entity("mode", drivers.Select{Options: []string{"auto", "eco", "auto"}}))},
			"hp", "mode", `option "auto" is listed twice; each must be different`},
		{"select option with white space", garage,
			[]Device{dev("hp", entity("mode", drivers.Select{Options: []string{"auto", "eco "}}))},
			"hp", "mode", `option "eco " has white space around it`},
		{"select option with a control character", garage,
			[]Device{dev("hp", entity("mode", drivers.Select{Options: []string{"a\nb"}}))},
			"hp", "mode", "contains a control character"},
		{"select option not UTF-8", garage,
			[]Device{dev("hp", entity("mode", drivers.Select{Options: []string{"\xff"}}))},
			"hp", "mode", "is not valid UTF-8"},
		{"select option read as unknown", garage,
			[]Device{dev("hp", entity("mode", drivers.Select{Options: []string{"auto", "none"}}))},
			"hp", "mode", `option "none" reads as "unknown" in Home Assistant`},
		{"icon not UTF-8", garage,
			[]Device{dev("fan", drivers.Entity{ID: "relay", Icon: "mdi:\xff", Spec: drivers.Switch{}})},
			"fan", "relay", "icon is not valid UTF-8"},
		{"name not UTF-8", garage,
			[]Device{dev("fan", drivers.Entity{ID: "relay", Name: "\xff", Spec: drivers.Switch{}})},
			"fan", "relay", "name is not valid UTF-8"},
		{"device id with a space", garage,
			[]Device{dev("my device", sensor("t", drivers.ClassTemperature, drivers.Celsius, drivers.StateMeasurement))},
			"my device", "", `device id "my device" must be one or more of`},
		{"entity id with a dot", garage,
			[]Device{dev("attic", sensor("temp.1", drivers.ClassTemperature, drivers.Celsius, drivers.StateMeasurement))},
			"attic", "temp.1", `entity id "temp.1" must be one or more of`},
		{"duplicate entity id", garage,
			[]Device{dev("attic", sensor("t", drivers.ClassTemperature, drivers.Celsius, drivers.StateMeasurement), sensor("t", drivers.ClassHumidity, drivers.Percent, drivers.StateMeasurement))},
			"attic", "t", "entity id is used twice in the device"},
		{"duplicate device id", garage,
			[]Device{dev("attic"), dev("attic")},
			"attic", "", "device id is used by device number 1 and 2"},
		{"reserved entity id", garage,
			[]Device{dev("plug", entity("status", drivers.BinarySensor{}))},
			"plug", "status", "its state topic would be the device's availability topic"},
		{"reserved device id", garage,
			[]Device{dev(AgentDeviceID, sensor("t", drivers.ClassTemperature, drivers.Celsius, drivers.StateMeasurement))},
			AgentDeviceID, "", "reserved for the agent's own device"},
		{"colliding object ids", garage,
			[]Device{
				dev("a_b", entity("c", drivers.Switch{})),
				dev("a", entity("b_c", drivers.Switch{})),
			},
			"a", "b_c", `homeassistant/switch/garage/a_b_c/config is also that of device "a_b" entity "c"`},
		{"bad node id", Node{ID: "garage.pi"}, nil,
			"", "", `id "garage.pi" must be one or more of`},
		{"wildcard in topic prefix", Node{ID: "garage", TopicPrefix: "home/+"}, nil,
			"", "", `topic prefix "home/+" contains an MQTT wildcard`},
		{"trailing slash in discovery prefix", Node{ID: "garage", DiscoveryPrefix: "homeassistant/"}, nil,
			"", "", `discovery prefix "homeassistant/" starts or ends with "/"`},
		{"same prefixes", Node{ID: "garage", TopicPrefix: "homeassistant"}, nil,
			"", "", `topic prefix and discovery prefix are both "homeassistant"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.node, tt.devs)
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			errs := allErrors(t, err)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), err)
			}
			e := errs[0]
			if e.Device != tt.device || e.Entity != tt.entity {
				t.Errorf("error names device %q entity %q, want %q %q", e.Device, e.Entity, tt.device, tt.entity)
			}
			if !strings.Contains(e.Reason, tt.want) {
				t.Errorf("reason %q does not contain %q", e.Reason, tt.want)
			}
			msgs, merr := Messages(tt.node, tt.devs)
			if merr == nil || msgs != nil {
				t.Errorf("Messages returned %d messages and error %v; want the same error as Validate", len(msgs), merr)
			} else if merr.Error() != err.Error() {
				t.Errorf("Messages error %q differs from Validate's %q", merr, err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Validate(garage, []Device{
		dev("attic",
			sensor("t", drivers.ClassTemperature, "C", drivers.StateMeasurement),
			sensor("h", "humid", drivers.Percent, drivers.StateMeasurement)),
		dev("bad id"),
	})
	errs := allErrors(t, err)
	if len(errs) != 3 {
		t.Fatalf("got %d errors, want 3 (one per problem):\n%v", len(errs), err)
	}
	msg := err.Error()
	for _, want := range []string{
		`discovery: device "attic" entity "t": unit "C"`,
		`discovery: device "attic" entity "h": device class "humid"`,
		`discovery: device "bad id": device id "bad id"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q:\n%s", want, msg)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		devs []Device
	}{
		{"golden devices", goldenDevices},
		{"no devices", nil},
		{"device without entities", []Device{dev("empty")}},
		{"legacy micro sign", []Device{dev("air", sensor("pm25", "pm25", "\u00b5g/m³", drivers.StateMeasurement))}},
		{"class that may have no unit", []Device{dev("grid", sensor("pf", "power_factor", "", drivers.StateMeasurement))}},
		{"monetary", []Device{dev("meter", sensor("cost", "monetary", "EUR", drivers.StateTotal))}},
		{"sensor without class takes any unit", []Device{dev("rain", sensor("rate", "", "drops/min", drivers.StateMeasurement))}},
		{"same object id on different components", []Device{
			dev("a_b", entity("c", drivers.Switch{})),
			dev("a", entity("b_c", drivers.BinarySensor{})),
		}},
		{"text sensor with zero precision", []Device{dev("sys", entity("host", drivers.Sensor{}))}},
		{"hyphens and capitals in ids", []Device{dev("Relay-Board", entity("CH-1", drivers.Switch{}))}},
		{"specs as pointers", []Device{dev("p", entity("s", &drivers.Sensor{Precision: -1}), entity("n", &drivers.Number{Max: 1, Step: 0.001}), entity("l", &drivers.Light{}))}},
		{"number without a class takes any unit", []Device{dev("p", entity("rate", drivers.Number{Max: 60, Unit: "drops/min"}))}},
		{"number that may have no unit", []Device{dev("p", entity("pf", drivers.Number{Class: "power_factor", Max: 1, Step: 0.01}))}},
		{"event and select names with spaces and Unicode", []Device{dev("p",
			entity("e", drivers.Event{Types: []string{"press", "long press", "appuyé"}}),
			entity("s", drivers.Select{Options: []string{"Eco mode", "été"}}))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Validate(garage, tt.devs); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if _, err := Messages(garage, tt.devs); err != nil {
				t.Fatalf("Messages: %v", err)
			}
		})
	}
}

// The driver API's class and unit constants are what drivers use; each
// pairing a driver would make must pass validation.
func TestDriverConstantsAreAccepted(t *testing.T) {
	sensors := []struct {
		class string
		units []drivers.Unit
		state drivers.StateClass
	}{
		{drivers.ClassTemperature, []drivers.Unit{drivers.Celsius}, drivers.StateMeasurement},
		{drivers.ClassHumidity, []drivers.Unit{drivers.Percent}, drivers.StateMeasurement},
		{drivers.ClassPressure, []drivers.Unit{drivers.HectoPascal}, drivers.StateMeasurement},
		{drivers.ClassCO2, []drivers.Unit{drivers.PPM}, drivers.StateMeasurement},
		{drivers.ClassDuration, []drivers.Unit{drivers.Seconds}, drivers.StateTotalIncreasing},
		{drivers.ClassDataSize, []drivers.Unit{drivers.Bytes, drivers.MebiBytes, drivers.GibiBytes}, drivers.StateMeasurement},
		{drivers.ClassVoltage, []drivers.Unit{drivers.Volt}, drivers.StateMeasurement},
		{drivers.ClassPower, []drivers.Unit{drivers.Watt}, drivers.StateMeasurement},
		{drivers.ClassEnergy, []drivers.Unit{"kWh"}, drivers.StateTotalIncreasing},
		{drivers.ClassCurrent, []drivers.Unit{"A"}, drivers.StateMeasurement},
		{drivers.ClassIlluminance, []drivers.Unit{drivers.Lux}, drivers.StateMeasurement},
	}
	for _, s := range sensors {
		for _, u := range s.units {
			d := dev("d", sensor("e", s.class, u, s.state))
			if err := Validate(garage, []Device{d}); err != nil {
				t.Errorf("sensor %s in %s: %v", s.class, u, err)
			}
		}
	}
	for _, c := range []string{drivers.ClassOutlet, drivers.ClassSwitch} {
		if err := Validate(garage, []Device{dev("d", entity("e", drivers.Switch{Class: c}))}); err != nil {
			t.Errorf("switch %s: %v", c, err)
		}
	}
	for _, c := range []string{drivers.ClassConnectivity, drivers.ClassDoor, drivers.ClassWindow, drivers.ClassMotion, drivers.ClassOpening, drivers.ClassProblem} {
		if err := Validate(garage, []Device{dev("d", entity("e", drivers.BinarySensor{Class: c}))}); err != nil {
			t.Errorf("binary_sensor %s: %v", c, err)
		}
	}
	for _, c := range drivers.BinaryClasses {
		if err := Validate(garage, []Device{dev("d", entity("e", drivers.BinarySensor{Class: c}))}); err != nil {
			t.Errorf("binary_sensor %s: %v", c, err)
		}
	}
	for _, c := range drivers.CoverClasses {
		if err := Validate(garage, []Device{dev("d", entity("e", drivers.Cover{Class: c, Position: true}))}); err != nil {
			t.Errorf("cover %s: %v", c, err)
		}
	}
	for _, c := range []string{drivers.ClassButton, drivers.ClassDoorbell, drivers.ClassMotion} {
		if err := Validate(garage, []Device{dev("d", entity("e", drivers.Event{Class: c, Types: []string{"press"}}))}); err != nil {
			t.Errorf("event %s: %v", c, err)
		}
	}
	for _, s := range sensors {
		n := drivers.Number{Class: s.class, Unit: s.units[0], Min: 0, Max: 100}
		if err := Validate(garage, []Device{dev("d", entity("e", n))}); err != nil {
			t.Errorf("number %s in %s: %v", s.class, s.units[0], err)
		}
	}
	ts := entity("e", drivers.Sensor{Class: drivers.ClassTimestamp, Precision: -1})
	if err := Validate(garage, []Device{dev("d", ts)}); err != nil {
		t.Errorf("timestamp sensor: %v", err)
	}
}
