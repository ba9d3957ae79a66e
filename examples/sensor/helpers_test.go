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
	d, err := sensor.New(drivertest.Config(t, "soc", src))
	if err != nil {
		t.Fatalf("New(%q): %v", src, err)
	}
	f, ok := d.(*sensor.File)
	if !ok {
		t.Fatalf("New made a %T, want *sensor.File", d)
	}
	return f
}

func open(t *testing.T, f *sensor.File) {
	t.Helper()
	// The file sensor asks the host for nothing but its logger.
	if err := f.Open(context.Background(), drivertest.Host(t)); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
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
