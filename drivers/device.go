package drivers

import (
	"context"
	"time"
)

// Config is one configured device as its driver's New sees it.
type Config struct {
	// ID is the device's id from the config, unique on this node and made of
	// [a-zA-Z0-9_-]. It appears in topics and unique ids.
	ID string
	// Name is the human name; it defaults to the ID.
	Name string
	// Interval is how often a Poller is polled and states are republished:
	// the device's interval key, else the driver's DefaultInterval, else
	// the agent's default (30 s). It is never zero.
	Interval time.Duration
	// Decode decodes the driver's own keys of the device's table into v,
	// strictly: a key that v does not take (keys match v's toml names
	// exactly, case included) or a value of the wrong type is an error
	// naming the file, the line and the key, every one of them at once.
	// When it fails, v still holds the keys that decoded, so that New can
	// check those values too and return Decode's error joined with its own
	// KeyErrors; the agent leaves out a KeyError on a key Decode reported.
	// The common keys (id, driver, name, interval, and the entity table)
	// are the agent's and not passed on. Decode may be called once.
	Decode func(v any) error
}

// Info names the hardware behind a device, for people and for Home
// Assistant's device registry.
type Info struct {
	Manufacturer string
	Model        string
}

// Device is one configured piece of hardware. It describes itself and its
// entities from its configuration alone, is opened with a Host and an
// Output, and is closed.
//
// One goroutine, the device's worker, calls every method that touches the
// hardware: Open, Poll, Command, Handle and Close, never two at once. A
// driver takes no locks for them. Work that must wait outside the worker
// (an input edge, a frame on a serial line, the end of a pulse) is started
// with Output.Go: it only waits, and hands what it saw to Handle.
type Device interface {
	// Info describes the hardware.
	Info() Info
	// Entities lists what the device exposes. It must not depend on the
	// hardware: it is called before Open, and by -print-discovery.
	Entities() []Entity
	// Open claims the hardware through the host, prepares it, and reports
	// the states it knows through out (which stays valid until Close
	// returns). An error leaves the device unavailable, and the agent
	// calls Close, then Open again after a backoff (1 s, 2 s, 4 s, … at
	// most a minute, jittered), until one succeeds or the agent stops.
	Open(ctx context.Context, h Host, out Output) error
	// Close releases what Open claimed and leaves the hardware in the
	// state the configuration asks for on exit. The agent calls it after
	// every Open, whether that Open succeeded or failed, and before the
	// next Open: so Close after a failed Open must succeed and release
	// whatever is left, and Open after Close must work again.
	Close() error
}

// Poller is a device that is read periodically. Poll reports what it
// reads through the Output given to Open: State for each entity it read,
// Unavailable for each it could not. An error means the whole device
// failed this time: its entities go unavailable at once, and Poll is
// called again after a backoff (at most the device's interval, at most a
// minute) until one succeeds. The device stays open meanwhile, so Poll
// must be able to start again from scratch; a device whose hardware is
// gone calls Output.Reopen instead.
type Poller interface {
	Poll(ctx context.Context) error
}

// Commander is a device with entities that take commands (a switch, a
// button, a number, a light, a cover, a select). The agent parses each
// payload for its entity's spec, so Command only sees commands the entity
// accepts. It reports the entity's new state through the Output, and any
// side effect too (an interlocked relay switched off). An error means the
// command was not carried out; the agent logs it and republishes the
// entity's last state, so Home Assistant shows what the device holds. An
// error wrapping ErrUnsupported (a command the device cannot take) ends
// there. Any other error is also a failure of the device, which becomes
// unavailable: a Poller
// until a Poll succeeds, any other device until it has been closed and
// opened again. Commands for an unavailable device are refused, never
// kept for later: Command never gets one that waited for the device.
type Commander interface {
	Command(ctx context.Context, entity string, c Command) error
}

// Handler is a device that reacts to what its waiters (started with
// Output.Go) deliver: an edge, a frame, a timer. Handle runs on the
// worker, like Poll and Command. An error means the device failed: it is
// closed and opened again.
type Handler interface {
	Handle(ctx context.Context, ev any) error
}

// Claimer is a device that uses exclusive resources; the agent rejects a
// config in which two devices claim the same one, and opens a device after
// the devices that provide what it claims.
type Claimer interface {
	Claims() []Resource
}

// Output is how a device reports to the agent. Its methods are safe to
// call from any goroutine, but drivers call them from their worker methods
// (Open, Poll, Command, Handle); the agent never blocks them on the
// network.
type Output interface {
	// State reports an entity's current state. The agent rounds it to the
	// entity's precision, publishes it when the published form changes and
	// republishes it every interval.
	State(entity string, v Value)
	// Event reports that something happened (a button was pressed): it is
	// published once, never deduplicated, never republished. eventType is
	// one of the entity's Event.Types.
	Event(entity, eventType string)
	// Unavailable reports that one entity cannot be read or driven now,
	// and why; it is shown unavailable until its next State.
	Unavailable(entity string, err error)
	// Reopen reports that the device's hardware went away (a USB adapter
	// unplugged): the agent closes the device and opens it again with
	// backoff. Calls after the first, until it is reopened, do nothing.
	Reopen(err error)
	// Go runs wait on a goroutine of its own until the device is closed
	// (its ctx is then cancelled). wait only waits, for an edge, a frame
	// or a time, and hands what it saw to the worker with deliver, which
	// calls the device's Handle with it; deliver blocks until the worker
	// takes it and returns false once ctx is done. A non-nil error other
	// than ctx's means the hardware failed: the device is reopened.
	Go(wait func(ctx context.Context, deliver func(ev any) bool) error)
}
