package sensor

import "github.com/pinion-home/pinion/drivers"

// init registers the driver, with its sample, when the package is
// imported, which is how a driver is compiled into an agent. It is alone
// in this file because it is the only part of the package that is about
// how the driver is built in rather than what it does: a Go plugin's
// wrapper builds the same record from the exported names.
func init() {
	drivers.Register(drivers.Driver{
		Name:            DriverName,
		New:             New,
		Sample:          SampleConfig,
		DefaultInterval: DefaultInterval,
		Description:     Description,
	})
}
