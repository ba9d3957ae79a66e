// Package drivers is pinion's driver API: the registry, the small role
// interfaces a device implements, the value types it reports, and the Host
// seam through which it reaches hardware.
//
// A driver package registers a Factory from init():
//
//	func init() { drivers.Register("bme280", New) }
//
// The agent calls the factory once per configured device with that device's
// configuration. The factory only decodes and validates: it must not touch
// hardware, so that `agent -check` and `agent -print-discovery` work on any
// machine. Hardware is claimed later, in Device.Open, through the Host.
// A factory checks every key, not only the first that is wrong, and returns
// one KeyError per bad value (BadKey), joined with errors.Join: the agent
// reports each at its own key and line, so a user fixes them all in one go.
//
// A Device describes its entities and implements the capabilities it has,
// discovered by type assertion:
//
//   - Reader: polled every interval (sensors);
//   - Setter: commanded (switches);
//   - Watcher: pushes readings as they happen (input edges).
//
// The agent calls Open, Read and Set from one goroutine per device, so a
// driver needs no locking of its own for them. Watch runs on a goroutine of
// its own; a device that implements Watcher and touches the same hardware
// from Read or Set must guard it itself.
//
// This package depends on the standard library and periph.io/x/conn only,
// because it is the surface shared with Go plugins and must stay small.
package drivers
