package gpio

import (
	"testing"

	"github.com/pinion-home/pinion/drivers/drivertest"
)

// TestConformance runs the driver API's conformance check on both modes,
// on the simulated board.
func TestConformance(t *testing.T) {
	for _, src := range []string{
		outputSrc(""),
		outputSrc("inverted = true\npower_on = \"on\"\non_exit = \"off\"\nclass = \"outlet\""),
		inputSrc(""),
		inputSrc("inverted = true\npoll = \"5ms\"\nclass = \"door\""),
	} {
		t.Run(src, func(t *testing.T) {
			drivertest.Conformance(t, newDevice(t, "dev", src), drivertest.Host(t))
		})
	}
}
