// Package drivers is pinion's driver API (version 2, see APIVersion): the
// registry, the Device a driver builds and the small role interfaces it
// may add, the entity specs and values it reports, the Output it reports
// through, and the Host through which it reaches hardware.
//
// A driver package registers one record from init():
//
//	func init() {
//		drivers.Register(drivers.Driver{
//			Name:            "bme280",
//			New:             New,
//			Sample:          SampleConfig,
//			DefaultInterval: time.Minute,
//		})
//	}
//
// The agent calls New once per configured device with that device's
// configuration. New only decodes and validates: it must not touch
// hardware, so that `pinion -check` and `pinion -print-discovery` work on
// any machine. New checks every key, not only the first that is wrong, and
// returns one KeyError per bad value (BadKey), joined with errors.Join:
// the agent reports each at its own key and line.
//
// A Device describes its hardware (Info) and its entities (Entities, from
// the configuration alone), each with a Spec of its component: Sensor,
// BinarySensor, Switch, Button, Number, Light, Cover, Event or Select.
// Open claims the hardware through the Host and gets an Output, through
// which the device reports everything: states, events, an entity that
// failed, hardware that went away. A device adds capabilities, found by
// type assertion:
//
//   - Poller: polled every interval (sensors);
//   - Commander: takes commands, already parsed for the entity's spec;
//   - Handler: handles what its waiters (Output.Go) deliver: an input edge,
//     a frame from a serial line, a timer;
//   - Claimer: names the hardware it uses, so two devices cannot share it;
//   - GPIOProvider, I2CProvider: offers lines or buses to other devices.
//
// One goroutine, the device's worker, runs Open, Poll, Command, Handle and
// Close, one at a time; a driver takes no locks for them. A panic in any
// driver method is recovered by the agent and treated as the device
// failing.
//
// This package depends on the standard library and periph.io/x/conn only,
// because it is the surface shared with Go plugins and must stay small.
package drivers
