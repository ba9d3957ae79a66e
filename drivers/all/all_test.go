//go:build !custom

package all

import (
	"slices"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

// TestRegistersEveryBuiltInDriver checks that the default build registers
// every built-in driver with a complete record: a one-line description and
// a sample whose devices its own New builds, as `pinion -drivers` and
// `pinion -sample` show them.
func TestRegistersEveryBuiltInDriver(t *testing.T) {
	builtIn := []string{"bme280", "gpio", "mhz19", "system"}
	names := drivers.Names()
	for _, name := range builtIn {
		t.Run(name, func(t *testing.T) {
			if !slices.Contains(names, name) {
				t.Fatalf("%s is not registered; registered: %v", name, names)
			}
			d, _ := drivers.Lookup(name)
			if d.Description == "" || strings.Contains(d.Description, "\n") {
				t.Errorf("Description = %q, want one line", d.Description)
			}
			if d.DefaultInterval < 0 {
				t.Errorf("DefaultInterval = %v", d.DefaultInterval)
			}
			if devs := drivertest.SampleDevices[drivers.Device](t, d.Sample, name, d.New); len(devs) == 0 {
				t.Errorf("the sample configures no %s device", name)
			}
		})
	}
}
