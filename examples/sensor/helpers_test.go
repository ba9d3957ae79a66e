package sensor_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/examples/sensor"
)

// newFile builds a file sensor from src or fails the test.
func newFile(t *testing.T, src string) *sensor.File {
	t.Helper()
	return drivertest.Device[*sensor.File](t, sensor.New, "soc", src)
}

// open opens f through a board of its own: the file sensor asks the host
// for nothing but its logger.
func open(t *testing.T, f *sensor.File) {
	t.Helper()
	drivertest.Open(t, f, drivertest.Host(t))
}

// read reads the sensor and returns its one value.
func read(t *testing.T, f *sensor.File) drivers.Value {
	t.Helper()
	rs, err := f.Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(rs) != 1 || rs[0].Entity != sensor.EntityValue || rs[0].Value.Kind != drivers.ValueNumber {
		t.Fatalf("Read = %+v, want one number of %q", rs, sensor.EntityValue)
	}
	return rs[0].Value
}

// testdata returns the absolute path of a file under testdata, which holds
// copies of what Linux writes in /sys and /proc.
func testdata(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
