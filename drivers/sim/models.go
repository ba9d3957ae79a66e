package sim

import (
	"fmt"
	"sync"

	"github.com/pinion-home/pinion/drivers"
)

// Model puts a simulated part of the kind a driver expects at one resource
// a device of that driver claims: a BME280 chip at an I2C address, an
// MH-Z19 peer at a serial port. It ignores resources its part does not sit
// on (a GPIO line exists already). seed varies the simulated readings
// between devices.
type Model func(h *Host, r drivers.Resource, seed int64) error

var models = struct {
	sync.RWMutex
	m map[string]Model
}{m: map[string]Model{}}

// RegisterModel registers the simulated model of a driver's hardware under
// the driver's name, for Attach. A driver package with a model registers
// it from init(), as it registers its driver. RegisterModel panics on an
// empty name, a nil model or a name registered twice: those are
// programming errors.
func RegisterModel(driver string, m Model) {
	if driver == "" {
		panic("sim: RegisterModel: empty driver name")
	}
	if m == nil {
		panic(fmt.Sprintf("sim: RegisterModel(%q): nil model", driver))
	}
	models.Lock()
	defer models.Unlock()
	if _, dup := models.m[driver]; dup {
		panic(fmt.Sprintf("sim: RegisterModel(%q): a model is already registered for this driver", driver))
	}
	models.m[driver] = m
}

// HasModel reports whether a model is registered for driver.
func HasModel(driver string) bool {
	models.RLock()
	defer models.RUnlock()
	_, ok := models.m[driver]
	return ok
}

// Attach puts the simulated parts that a device of driver expects at each
// resource it claims, through the model registered for the driver (see
// RegisterModel): a BME280 at a "bme280" device's I2C address, an MH-Z19
// at an "mhz19" device's serial port. seed varies the simulated readings
// between devices. A driver without a model gets nothing, as on an empty
// board: its I2C transactions are not acknowledged and its ports do not
// exist. Resources another device provides ("relays/GPA0") are that
// device's business and are skipped.
func Attach(h *Host, driver string, claims []drivers.Resource, seed int64) error {
	models.RLock()
	m, ok := models.m[driver]
	models.RUnlock()
	if !ok {
		return nil
	}
	for _, r := range claims {
		if r.Provider() != "" {
			continue
		}
		if err := m(h, r, seed); err != nil {
			return fmt.Errorf("sim: %s model at %s: %w", driver, r, err)
		}
	}
	return nil
}

func init() {
	RegisterModel("bme280", bme280Model)
	RegisterModel("mhz19", mhz19Model)
}

// bme280Model puts a BME280 in drifting weather at each I2C address, on
// the host's clock.
func bme280Model(h *Host, r drivers.Resource, seed int64) error {
	if r.Kind != drivers.ResourceI2C {
		return nil
	}
	chip := NewBME280(DriftingWeather(seed))
	chip.SetClock(hostClock{h})
	return h.AddI2CChip(r.Bus, r.Addr, chip)
}

// mhz19Model puts an MH-Z19 in a drifting room at each serial port, on
// the host's clock.
func mhz19Model(h *Host, r drivers.Resource, seed int64) error {
	if r.Kind != drivers.ResourceSerial {
		return nil
	}
	peer := NewMHZ19(DriftingCO2(seed))
	peer.SetClock(hostClock{h})
	_, err := h.AddSerialPeer(r.Name, peer)
	return err
}
