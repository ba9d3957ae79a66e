package drivertest

import (
	"fmt"

	"github.com/pinion-home/pinion/drivers"
)

// Probe drivers, registered in this test binary only, through which the
// agent's loader and drivertest decode the same documents.
const (
	probeDriver  = "drivertest-probe"  // decodes into a probe
	noKeysDriver = "drivertest-nokeys" // never calls Decode
	nilDriver    = "drivertest-nil"    // returns neither device nor error
	keyedDriver  = "drivertest-keyed"  // checks its values: keyedProbe
	// entitiesDriver takes no keys and makes a device with a relay and a
	// temperature, for [device.entity.<id>] tables.
	entitiesDriver = "drivertest-entities"
)

var probeFactories = map[string]newFunc{
	probeDriver: func(cfg drivers.Config) (drivers.Device, error) {
		var p probe
		if err := cfg.Decode(&p); err != nil {
			return nil, fmt.Errorf("%s %q: %w", probeDriver, cfg.ID, err)
		}
		return emptyDevice{}, nil
	},
	noKeysDriver: func(drivers.Config) (drivers.Device, error) { return emptyDevice{}, nil },
	nilDriver:    func(drivers.Config) (drivers.Device, error) { return nil, nil },
	keyedDriver:  keyedProbe,
	entitiesDriver: func(drivers.Config) (drivers.Device, error) {
		f := newFake()
		f.entities = func(bool) []drivers.Entity { return goodEntities()[:3:3] }
		return f, nil
	},
}

func init() {
	for name, f := range probeFactories {
		drivers.Register(drivers.Driver{Name: name, New: f})
	}
}
