package bme280

import (
	"testing"

	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/drivers/sim"
)

// TestConformance runs the driver API's conformance check on a simulated
// BME280 at each address.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		bus        string
		addr       uint16
	}{
		{"defaults", "", "1", 0x76},
		{"other address and bus", "address = 0x77\nbus = \"I2C3\"\noversampling = 16", "3", 0x77},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := drivertest.Host(t)
			if err := h.AddI2CChip(tc.bus, tc.addr, sim.NewBME280(nil)); err != nil {
				t.Fatal(err)
			}
			drivertest.Conformance(t, drivertest.Device[*Device](t, New, "attic", tc.toml), h)
		})
	}
}
