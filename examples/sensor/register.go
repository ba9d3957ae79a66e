package sensor

import "github.com/pinion-home/pinion/drivers"

// init registers the driver and its sample when the package is imported,
// which is how a driver is compiled into an agent. It is alone in this file
// because it is the only part of the package that is about how the driver
// is built in rather than what it does.
func init() {
	drivers.Register(DriverName, New)
	drivers.RegisterSample(DriverName, SampleConfig)
}
