package sensor_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

// TestRead reads copies of files Linux writes and checks the value each
// configuration makes of them.
func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		keys string
		want drivers.Value
	}{
		{"SoC temperature in millidegrees", "sys/class/thermal/thermal_zone0/temp", "scale = 0.001\nunit = \"°C\"", drivers.Number(48.312, drivers.Celsius)},
		{"the raw number", "sys/class/thermal/thermal_zone0/temp", "", drivers.Number(48312, "")},
		{"a negative number", "sys/class/hwmon/hwmon0/temp1_input", "scale = 0.001\nunit = \"°C\"", drivers.Number(-5.25, drivers.Celsius)},
		{"a percentage", "sys/class/power_supply/BAT0/capacity", `unit = "%"`, drivers.Number(87, drivers.Percent)},
		{"a byte counter, exact", "sys/class/net/eth0/statistics/rx_bytes", `unit = "B"`, drivers.Number(48213590317, drivers.Bytes)},
		{"a byte counter in MiB", "sys/class/net/eth0/statistics/rx_bytes", "scale = 9.5367431640625e-7\nunit = \"MiB\"", drivers.Number(45980.062787056, drivers.MebiBytes)},
		{"load, field 1", "proc/loadavg", "field = 1", drivers.Number(0.52, "")},
		{"load, field 3", "proc/loadavg", "field = 3", drivers.Number(0.59, "")},
		{"uptime in hours", "proc/uptime", "field = 1\nscale = 0.000277777777777778\nunit = \"h\"", drivers.Number(97.4265194444445, "h")},
		{"offset", "sys/class/power_supply/BAT0/capacity", "scale = 0.5\noffset = -3.5", drivers.Number(40, "")},
		{"scale as an integer", "sys/class/power_supply/BAT0/capacity", "scale = 10", drivers.Number(870, "")},
		{"no binary noise", "sys/class/power_supply/BAT0/capacity", "scale = 0.1", drivers.Number(8.7, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFile(t, fmt.Sprintf("path = %q\n%s", testdata(t, tc.file), tc.keys))
			open(t, f)
			if got := read(t, f); !got.Equal(tc.want) {
				t.Errorf("Read = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestReadFollowsFile checks that each Read reads the file again: a sensor
// that reported the value it saw at Open would look alive and be wrong.
func TestReadFollowsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "temp")
	write(t, path, "21000\n")
	f := newFile(t, fmt.Sprintf("path = %q\nscale = 0.001", path))
	open(t, f)
	for _, v := range []string{"21500", "22000", "-1000", "0"} {
		write(t, path, v+"\n")
		n, _ := strconv.Atoi(v)
		if got := read(t, f); !got.Equal(drivers.Number(float64(n)/1000, "")) {
			t.Errorf("after the file became %s, Read = %v", v, got)
		}
	}
}

// TestOpenErrors checks that Open reports a file that cannot serve as a
// sensor, naming the device and the file, and that Read then fails too
// rather than report a number.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content *string // nil: no file is written
		path    string  // default: dir/name
		keys    string
		want    []string
	}{
		{name: "missing", want: []string{"no such file"}},
		{name: "a directory", path: dir, want: []string{"is not a regular file"}},
		{name: "a named pipe", path: fifo, want: []string{"is not a regular file", "named pipe"}},
		{name: "empty", content: ptr(""), want: []string{"empty: want a number"}},
		{name: "blank", content: ptr(" \n"), want: []string{"empty: want a number"}},
		{name: "text", content: ptr("enabled\n"), want: []string{`"enabled": not a decimal number`}},
		{name: "several fields", content: ptr("0.52 0.58 0.59 1/241 12345\n"), want: []string{`holds 5 fields ("0.52 0.58 0.59 1/241 12345")`, "set field"}},
		{name: "past the last field", content: ptr("0.52 0.58\n"), keys: "field = 3", want: []string{"holds 2 fields", "no field 3"}},
		{name: "field not a number", content: ptr("0.52 0.58 0.59 1/241 12345\n"), keys: "field = 4", want: []string{`field 4 "1/241": not a decimal number`}},
		{name: "NaN", content: ptr("NaN\n"), want: []string{"not a decimal number"}},
		{name: "infinity", content: ptr("inf\n"), want: []string{"not a decimal number"}},
		{name: "hexadecimal", content: ptr("0x1F\n"), want: []string{"not a decimal number"}},
		{name: "too large", content: ptr("1e400\n"), want: []string{"not a decimal number"}},
		{name: "too large once scaled", content: ptr("1e308\n"), keys: "scale = 10", want: []string{"too large"}},
		{name: "a large file", content: ptr(strings.Repeat("1", 5000)), want: []string{"longer than 4096 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			}
			if tc.content != nil {
				write(t, path, *tc.content)
			}
			f := newFile(t, fmt.Sprintf("path = %q\n%s", path, tc.keys))
			done := make(chan error, 1)
			go func() { done <- f.Open(context.Background(), drivertest.Host(t)) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Open blocked")
			}
			if err == nil {
				t.Fatalf("Open: no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `example-sensor "soc": `) || !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the device and %s", msg, path)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if _, err := f.Read(context.Background()); err == nil {
				t.Error("Read after a failed Open: no error")
			}
		})
	}
}

// TestReadErrors checks a file that goes bad after Open, as a hwmon file
// does when its sensor fails: Read reports the error, naming the file, and
// reads again once the file is good.
func TestReadErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "temp1_input")
	write(t, path, "40000\n")
	f := newFile(t, fmt.Sprintf("path = %q\nscale = 0.001", path))
	open(t, f)
	for _, tc := range []struct {
		name  string
		write func()
		want  string
	}{
		{"garbage", func() { write(t, path, "ERR\n") }, "not a decimal number"},
		{"gone", func() { os.Remove(path) }, "no such file"},
	} {
		tc.write()
		rs, err := f.Read(context.Background())
		if err == nil || !strings.HasPrefix(err.Error(), `example-sensor "soc": `) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: Read = %v, %v; want an error naming the device and the file and saying %q", tc.name, rs, err, tc.want)
		}
		if len(rs) != 0 {
			t.Errorf("%s: Read returned readings %v with its error", tc.name, rs)
		}
	}
	write(t, path, "41000\n")
	if got := read(t, f); !got.Equal(drivers.Number(41, "")) {
		t.Errorf("Read once the file is good again = %v, want 41", got)
	}
}

func TestNotOpen(t *testing.T) {
	f := newFile(t, fmt.Sprintf("path = %q", testdata(t, "sys/class/power_supply/BAT0/capacity")))
	if _, err := f.Read(context.Background()); err == nil {
		t.Error("Read before Open: no error")
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close before Open: %v", err)
	}
	open(t, f)
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.Read(context.Background()); err == nil {
		t.Error("Read after Close: no error")
	}
}

func TestReadCancelled(t *testing.T) {
	f := newFile(t, fmt.Sprintf("path = %q", testdata(t, "sys/class/power_supply/BAT0/capacity")))
	open(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled context: error %v, want context.Canceled", err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	// Write a new file and rename it over the old one, so that a reader
	// never sees it half written.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func ptr(s string) *string { return &s }

// FuzzParse feeds arbitrary file contents to the sensor: Read must never
// panic and never report a value that is not a finite number, and a value
// it reports must be the one number the file holds.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"48312\n", "0.52 0.58 0.59 1/241 12345\n", "-5250", "", "NaN", "1e400", "0x1p-2", "1_000", "+.5e-3\n"} {
		f.Add(s, 0)
		f.Add(s, 2)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string, field int) {
		if field < 0 || field > 8 {
			return // the factory refuses a negative field; big ones add nothing
		}
		path := filepath.Join(dir, "value")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		d := newFile(t, fmt.Sprintf("path = %q\nfield = %d", path, field))
		err := d.Open(context.Background(), drivertest.Host(t))
		var rs []drivers.Reading
		if err == nil {
			rs, err = d.Read(context.Background())
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), `example-sensor "soc": `) {
				t.Fatalf("error %q does not start with the driver and device", err)
			}
			return
		}
		v := rs[0].Value.Num
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("%q field %d read as %v", content, field, v)
		}
		fields := strings.Fields(content)
		if field == 0 && len(fields) != 1 {
			t.Fatalf("%q read as %v, but it holds %d fields and no field was chosen", content, v, len(fields))
		}
		i := max(field, 1) - 1
		if want, err := strconv.ParseFloat(fields[i], 64); err != nil || want != v {
			t.Fatalf("%q field %d read as %v, want %v (%v)", content, field, v, want, err)
		}
	})
}

// TestConformance runs the sensor through drivertest's check of the
// contract the agent relies on.
func TestConformance(t *testing.T) {
	for _, tc := range []struct{ name, keys string }{
		{"temperature", "scale = 0.001\nunit = \"°C\"\nclass = \"temperature\"\nprecision = 1"},
		{"plain number", "state_class = \"none\"\ndiagnostic = true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFile(t, fmt.Sprintf("path = %q\n%s", testdata(t, "sys/class/thermal/thermal_zone0/temp"), tc.keys))
			drivertest.Conformance(t, f, drivertest.Host(t))
		})
	}
}
