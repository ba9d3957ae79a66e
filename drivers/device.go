package drivers

import (
	"context"
	"time"
)

// Config is one configured device as its factory sees it.
type Config struct {
	// ID is the device's id from the config, unique on this node and made of
	// [a-zA-Z0-9_-]. It appears in topics and unique ids.
	ID string
	// Name is the human name; it defaults to the ID.
	Name string
	// Interval is how often a Reader is polled and states are republished.
	// Zero means the agent's default, 30 seconds.
	Interval time.Duration
	// Decode decodes the driver's own keys of the device's table into v,
	// strictly: a key that v does not take (keys match v's toml names
	// exactly, case included) or a value of the wrong type is an error
	// naming the file, the line and the key, every one of them at once.
	// When it fails, v still holds the keys that decoded (every other one,
	// unless the table has dozens of mistakes), so that the factory can
	// check those values too and return Decode's error joined with its own
	// KeyErrors; the agent leaves out a KeyError on a key Decode reported. The common keys (id, driver, name, interval)
	// are not passed on. Decode may be called once.
	Decode func(v any) error
}

// Info names the hardware behind a device, for people and for Home
// Assistant's device registry.
type Info struct {
	Manufacturer string
	Model        string
}

// Device is one configured piece of hardware: it describes itself and its
// entities, is opened until an Open succeeds, and is closed once.
type Device interface {
	// Info describes the hardware.
	Info() Info
	// Entities lists what the device exposes. It must not depend on the
	// hardware: it is called before Open, and by -print-discovery.
	Entities() []Entity
	// Open claims the hardware through the host and prepares it. An error
	// leaves the device unavailable, and the agent calls Open again after
	// 1 s, 2 s, 4 s, … (at most a minute apart) until it succeeds or the
	// agent stops, without calling Close in between. So an Open that fails
	// must close what it opened itself (a serial port) before it returns,
	// and leave nothing behind that makes the next attempt fail; what the
	// host keeps (GPIO lines, I2C buses) the next attempt simply asks for
	// again. Once an Open succeeds the agent does not call it again.
	Open(ctx context.Context, h Host) error
	// Close releases what Open claimed and leaves the hardware in the state
	// the configuration asks for on exit. The agent calls it once, when it
	// stops, whether Open succeeded or every attempt failed, so Close
	// after a failed Open must succeed and release whatever is left.
	// drivertest.Conformance also calls it before any Open and twice in a
	// row, so both must be harmless.
	Close() error
}

// Reader is a device that is polled: each call reads every entity it can.
type Reader interface {
	Read(ctx context.Context) ([]Reading, error)
}

// Setter is a device that accepts commands for its commandable entities.
// It returns the state after the command, as the device now holds it.
type Setter interface {
	Set(ctx context.Context, entity string, v Value) (Value, error)
}

// Watcher is a device that pushes readings when they happen, such as input
// edges. Watch blocks until ctx is done or the hardware fails; it reports the
// current state first, then every change.
type Watcher interface {
	Watch(ctx context.Context, emit func(Reading)) error
}

// Claimer is a device that uses exclusive resources; the agent rejects a
// config in which two devices claim the same one. Resources are strings such
// as "gpio:GPIO17", "i2c:1:0x76" or "serial:/dev/serial0".
type Claimer interface {
	Claims() []string
}

// Reading is one entity's value at a moment.
type Reading struct {
	Entity string
	Value  Value
}
