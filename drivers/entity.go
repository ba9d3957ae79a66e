package drivers

// Entity is one thing a device exposes: a relay, a reading, an input, a
// button. What it is, and what it needs to be shown and driven, is its
// Spec: a Sensor, Switch, Button, … value.
type Entity struct {
	// ID is the entity's id within its device, made of [a-zA-Z0-9_-]:
	// "relay", "temperature". It appears in topics, so it must not change.
	ID string
	// Name is the entity's own name without the device's ("Temperature").
	// Empty marks the device's main feature, shown with the device's name.
	Name string
	// Icon is an optional Material Design icon ("mdi:fan").
	Icon string
	// Diagnostic marks entities about the device's health rather than its
	// purpose (uptime, signal, firmware).
	Diagnostic bool
	// DisabledByDefault makes Home Assistant add the entity disabled, for
	// entities few people want (raw values, chip internals). A user can
	// enable it there, or override it in the config.
	DisabledByDefault bool
	// Spec is the component the entity is and its settings. It must not be
	// nil.
	Spec Spec
}

// Spec is what kind of entity an Entity is, with the settings of that
// kind. It is one of Sensor, BinarySensor, Switch, Button, Number, Light,
// Cover, Event and Select, as a value (a pointer to one is taken too); the
// set is closed, so only the discovery package needs to know how each is
// presented to Home Assistant.
type Spec interface {
	spec()
}

func (Sensor) spec()       {}
func (BinarySensor) spec() {}
func (Switch) spec()       {}
func (Button) spec()       {}
func (Number) spec()       {}
func (Light) spec()        {}
func (Cover) spec()        {}
func (Event) spec()        {}
func (Select) spec()       {}

// Sensor is a read-only value: a number with a unit, or a text. Its state
// is a Number or a Text value.
type Sensor struct {
	// Class is what the value measures, from the Class* constants:
	// ClassTemperature, ClassHumidity, … Empty means generic.
	Class string
	// Unit is the unit of the values.
	Unit Unit
	// State says how numeric values relate over time.
	State StateClass
	// Precision is the number of decimals of a numeric sensor's state
	// (one with a unit, a state class or a numeric class). The agent
	// rounds the published state to it, not only the display: the zero
	// value publishes whole numbers (21.37 goes out as "21"), 1 publishes
	// "21.4", and Home Assistant gets it as suggested_display_precision.
	// -1 publishes the number exactly as the driver gave it (the shortest
	// form that reads back the same) and suggests nothing. A sensor of
	// text must leave it at 0 or -1.
	Precision int
}

// BinarySensor is a read-only on/off: a contact, a motion sensor. Its
// state is a Bool value.
type BinarySensor struct {
	// Class is what ON means, one of BinaryClasses: a door is open, motion
	// is seen, a problem is present. Empty means generic on/off.
	Class string
}

// Switch is an on/off that can be commanded: a relay. It takes ActionOn
// and ActionOff (TOGGLE is turned into one of them by the agent, from the
// last state). Its state is a Bool value.
type Switch struct {
	// Class is ClassSwitch, ClassOutlet or empty.
	Class string
}

// Button is a stateless action: a momentary pulse, a restart. It takes
// ActionPress and has no state.
type Button struct {
	// Class is "identify", "restart", "update" or empty.
	Class string
}

// NumberMode says how Home Assistant shows a Number.
type NumberMode int

const (
	// NumberAuto lets Home Assistant choose: a slider for small ranges.
	NumberAuto NumberMode = iota
	// NumberBox shows an input box.
	NumberBox
	// NumberSlider shows a slider.
	NumberSlider
)

// Number is a numeric setting: a set point, a duration, a duty. It takes
// ActionSet with a Number value within [Min, Max]. Its state is a Number.
type Number struct {
	// Class is what the number measures (a sensor class such as
	// ClassTemperature), or empty.
	Class string
	// Min, Max and Step bound the value; Max must be above Min. A zero
	// Step means 1.
	Min, Max, Step float64
	// Unit is the unit of the value.
	Unit Unit
	// Mode is how Home Assistant shows it.
	Mode NumberMode
}

// Light is a lamp or an LED strip: on/off, and a brightness when
// Brightness is set. It takes ActionOn (with a Number value of the
// brightness, 1 to 255, or no value to keep the last one) and ActionOff.
// Its state is LightState's value.
type Light struct {
	// Brightness says the light can be dimmed.
	Brightness bool
}

// Cover is a blind, a shutter, a garage door, a gate. It takes ActionOpen,
// ActionClose and ActionStop, and with Position, ActionSet with a Number
// value from 0 (closed) to 100 (open). Its state is CoverState's value.
type Cover struct {
	// Class is one of CoverClasses, or empty.
	Class string
	// Position says the cover knows and takes a position.
	Position bool
	// NoStop says the cover cannot be stopped midway; it then takes no
	// ActionStop.
	NoStop bool
}

// Event is something that happens rather than a state: a button pressed,
// a doorbell rung. It is reported with Output.Event and has no state.
type Event struct {
	// Class is "button", "doorbell", "motion" or empty.
	Class string
	// Types are the event types the entity reports ("press",
	// "double_press"); at least one.
	Types []string
}

// Select is a choice among fixed options: a mode, a preset. It takes
// ActionSet with a Text value that is one of Options. Its state is a Text.
type Select struct {
	// Options are the choices, at least one, each different.
	Options []string
}

// StateClass says how a numeric sensor's values relate over time.
type StateClass int

const (
	// StateNone is a value without history semantics (text, versions).
	StateNone StateClass = iota
	// StateMeasurement is a value measured now (temperature, load).
	StateMeasurement
	// StateTotal is a running total that may go down.
	StateTotal
	// StateTotalIncreasing is a counter that only rises until it resets.
	StateTotalIncreasing
)

// Classes: what an entity measures or drives. The names follow the common
// vocabulary of home automation (and match Home Assistant's device classes,
// which the discovery package checks units against).
const (
	ClassTemperature = "temperature"
	ClassHumidity    = "humidity"
	ClassPressure    = "pressure"
	ClassCO2         = "carbon_dioxide"
	ClassDuration    = "duration"
	ClassTimestamp   = "timestamp"
	ClassDataSize    = "data_size"
	ClassVoltage     = "voltage"
	ClassPower       = "power"
	ClassEnergy      = "energy"
	ClassCurrent     = "current"
	ClassIlluminance = "illuminance"

	ClassOutlet = "outlet"
	ClassSwitch = "switch"

	ClassConnectivity = "connectivity"
	ClassDoor         = "door"
	ClassWindow       = "window"
	ClassMotion       = "motion"
	ClassOpening      = "opening"
	ClassProblem      = "problem"

	ClassButton   = "button"
	ClassDoorbell = "doorbell"
)

// BinaryClasses are the classes an on/off input can take: what its ON
// means. A door is open, a motion sensor sees motion, a problem is present.
var BinaryClasses = []string{
	"battery", "battery_charging", "carbon_monoxide", "cold", ClassConnectivity,
	ClassDoor, "garage_door", "gas", "heat", "light", "lock", "moisture",
	ClassMotion, "moving", "occupancy", ClassOpening, "plug", "power",
	"presence", ClassProblem, "running", "safety", "smoke", "sound", "tamper",
	"update", "vibration", ClassWindow,
}

// CoverClasses are the classes a cover can take.
var CoverClasses = []string{
	"awning", "blind", "curtain", "damper", "door", "garage", "gate",
	"shade", "shutter", "window",
}
