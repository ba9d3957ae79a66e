package system

import (
	"testing"

	"github.com/pinion-home/pinion/drivers/drivertest"
)

// TestConformance runs the driver API's conformance check on the machines
// in testdata, served by the simulated host, and on one whose board has
// no CPU temperature sensor. The driver asks the host for files only.
func TestConformance(t *testing.T) {
	for _, tc := range []struct{ name, tree, keys string }{
		{"pi4", "testdata/pi4", ""},
		{"x86", "testdata/x86", ""},
		{"x86 without cpu_temperature", "testdata/x86", "cpu_temperature = false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drivertest.Conformance(t, newDevice(t, tc.keys), machine(t, tc.tree, nil))
		})
	}
	t.Run("no sensor", func(t *testing.T) {
		h := machine(t, "testdata/pi4", nil)
		h.RemoveFile("/sys/class/thermal/thermal_zone0/type")
		drivertest.Conformance(t, newDevice(t), h)
	})
}
