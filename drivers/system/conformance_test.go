package system

import (
	"fmt"
	"testing"

	"github.com/pinion-home/pinion/drivers/drivertest"
)

// TestConformance runs the driver API's conformance check on the machines
// in testdata. The host has no hardware to give: the driver must not ask
// for any.
func TestConformance(t *testing.T) {
	for _, root := range []string{"testdata/pi4", "testdata/x86"} {
		t.Run(root, func(t *testing.T) {
			dev, err := New(drivertest.Config(t, "host", fmt.Sprintf("root = %q", abs(t, root))))
			if err != nil {
				t.Fatal(err)
			}
			d := dev.(*Device)
			d.statfs = statfsFixed(1000, 300, 250)
			drivertest.Conformance(t, d, fakeHost{drivertest.Logger(t)})
		})
	}
}
