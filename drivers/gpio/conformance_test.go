package gpio

import (
	"testing"

	"github.com/pinion-home/pinion/drivers/drivertest"
)

// TestConformance runs the driver API's conformance check on every kind
// of line, on the simulated board.
func TestConformance(t *testing.T) {
	for _, src := range []string{
		outputSrc(""),
		outputSrc("inverted = true\npower_on = \"on\"\non_exit = \"off\"\nclass = \"outlet\""),
		pulseSrc(""),
		pulseSrc("inverted = true\nclass = \"restart\""),
		inputSrc(""),
		inputSrc("inverted = true\npoll = \"5ms\"\nclass = \"door\""),
		pressSrc(""),
		pressSrc("inverted = true\npoll = \"5ms\"\nclass = \"doorbell\""),
		pwmSrc(""),
		pwmSrc("inverted = true\npower_on = \"on\"\non_exit = \"off\"\nfrequency = \"200Hz\""),
		numberSrc(""),
		numberSrc("inverted = true\npower_on = \"on\"\non_exit = \"off\"\nfrequency = \"25kHz\""),
		numberSrc("power_on = \"on\"\non_exit = \"on\""),
	} {
		t.Run(src, func(t *testing.T) {
			drivertest.Conformance(t, newDevice(t, "dev", src), drivertest.Host(t))
		})
	}
}
