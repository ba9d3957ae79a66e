package mhz19

import (
	"testing"

	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/drivers/sim"
)

// TestConformance runs the driver API's conformance check on a simulated
// MH-Z19 over a pseudo-terminal, with and without setup commands.
func TestConformance(t *testing.T) {
	for _, snippet := range []string{
		`port = "/dev/serial0"`,
		"port = \"/dev/serial0\"\nabc = false\nrange = 5000",
	} {
		t.Run(snippet, func(t *testing.T) {
			h := drivertest.Host(t)
			if _, err := h.AddSerialPeer("/dev/serial0", sim.NewMHZ19(sim.StaticCO2(650))); err != nil {
				t.Fatal(err)
			}
			drivertest.Conformance(t, drivertest.Device[*Device](t, New, "co2", snippet), h)
		})
	}
}
