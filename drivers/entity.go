package drivers

// Kind says what role an entity plays.
type Kind int

const (
	// KindSensor is a read-only value: a number or a text.
	KindSensor Kind = iota + 1
	// KindBinarySensor is a read-only on/off.
	KindBinarySensor
	// KindSwitch is an on/off that can be commanded.
	KindSwitch
)

// String returns the kind's lower-case name.
func (k Kind) String() string {
	switch k {
	case KindSensor:
		return "sensor"
	case KindBinarySensor:
		return "binary_sensor"
	case KindSwitch:
		return "switch"
	}
	return "unknown"
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

// Entity is one thing a device exposes: a relay, a reading, an input.
type Entity struct {
	// ID is the entity's id within its device, made of [a-zA-Z0-9_-]:
	// "relay", "temperature".
	ID string
	// Name is the entity's own name without the device's ("Temperature").
	// Empty marks the device's main feature, shown with the device's name.
	Name string
	// Kind is the entity's role.
	Kind Kind
	// Class is what the value measures or what the switch drives, from the
	// Class* constants: ClassTemperature, ClassOutlet, ClassDoor, …
	// Empty means generic.
	Class string
	// Unit is the unit of a numeric sensor's values.
	Unit Unit
	// State says how numeric values relate over time.
	State StateClass
	// Precision is the number of decimals of a numeric sensor's state (one
	// with a unit, a state class or a numeric device class). The agent
	// rounds the published state to it, not only the display: the zero
	// value publishes whole numbers (21.37 goes out as "21"), 1 publishes
	// "21.4", and Home Assistant gets it as suggested_display_precision.
	// -1 publishes the number exactly as the driver gave it (the shortest
	// form that reads back the same) and suggests nothing. Other entities
	// ignore it; a sensor of text must leave it at 0 or -1.
	Precision int
	// Diagnostic marks entities about the device's health rather than its
	// purpose (uptime, signal, firmware).
	Diagnostic bool
	// Icon is an optional Material Design icon ("mdi:fan").
	Icon string
}

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
