package sensor_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/examples/sensor"
)

// newFile builds a file sensor from src or fails the test.
func newFile(t *testing.T, src string) *sensor.File {
	t.Helper()
	return drivertest.Device[*sensor.File](t, sensor.New, "soc", src)
}

// machine returns a simulated board whose /sys and /proc hold the files
// under testdata, copies of what Linux writes there: testdata/proc/loadavg
// is served as /proc/loadavg.
func machine(t *testing.T) *sim.Host {
	t.Helper()
	h := drivertest.Host(t)
	err := filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("testdata", p)
		if err != nil {
			return err
		}
		h.SetFile("/"+filepath.ToSlash(rel), b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// value returns the sensor's latest state, failing the test if there is
// none or if it is not a number of the sensor's one entity.
func value(t *testing.T, w *drivertest.Worker) drivers.Value {
	t.Helper()
	v, ok := w.State(sensor.EntityValue)
	if !ok || v.Kind != drivers.ValueNumber {
		t.Fatalf("state %v (reported: %t), want a number; the sensor reported %v", v, ok, w.Reports())
	}
	return v
}

// poll polls the sensor and returns the state that poll reported, failing
// the test if Poll failed or reported anything else.
func poll(t *testing.T, w *drivertest.Worker) drivers.Value {
	t.Helper()
	n := len(w.Reports())
	if err := w.Poll(t); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	rs := w.Reports()[n:]
	if len(rs) != 1 || rs[0].Kind != "state" || rs[0].Entity != sensor.EntityValue || rs[0].Value.Kind != drivers.ValueNumber {
		t.Fatalf("Poll reported %v, want one number of %q", rs, sensor.EntityValue)
	}
	return rs[0].Value
}
