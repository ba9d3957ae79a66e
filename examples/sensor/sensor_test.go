package sensor_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/examples/sensor"
)

// TestRead reads copies of files Linux writes and checks the value each
// configuration makes of them: Open reports it at once, and each Poll
// again.
func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		keys string
		want drivers.Value
	}{
		{"SoC temperature in millidegrees", "/sys/class/thermal/thermal_zone0/temp", "scale = 0.001\nunit = \"°C\"", drivers.Num(48.312, drivers.Celsius)},
		{"the raw number", "/sys/class/thermal/thermal_zone0/temp", "", drivers.Num(48312, "")},
		{"a negative number", "/sys/class/hwmon/hwmon0/temp1_input", "scale = 0.001\nunit = \"°C\"", drivers.Num(-5.25, drivers.Celsius)},
		{"a percentage", "/sys/class/power_supply/BAT0/capacity", `unit = "%"`, drivers.Num(87, drivers.Percent)},
		{"a byte counter, exact", "/sys/class/net/eth0/statistics/rx_bytes", `unit = "B"`, drivers.Num(48213590317, drivers.Bytes)},
		{"a byte counter in MiB", "/sys/class/net/eth0/statistics/rx_bytes", "scale = 9.5367431640625e-7\nunit = \"MiB\"", drivers.Num(45980.062787056, drivers.MebiBytes)},
		{"load, field 1", "/proc/loadavg", "field = 1", drivers.Num(0.52, "")},
		{"load, field 3", "/proc/loadavg", "field = 3", drivers.Num(0.59, "")},
		{"uptime in hours", "/proc/uptime", "field = 1\nscale = 0.000277777777777778\nunit = \"h\"", drivers.Num(97.4265194444445, "h")},
		{"offset", "/sys/class/power_supply/BAT0/capacity", "scale = 0.5\noffset = -3.5", drivers.Num(40, "")},
		{"scale as an integer", "/sys/class/power_supply/BAT0/capacity", "scale = 10", drivers.Num(870, "")},
		{"no binary noise", "/sys/class/power_supply/BAT0/capacity", "scale = 0.1", drivers.Num(8.7, "")},
		{"a path written loosely", "/sys/class//power_supply/./BAT0/capacity", "", drivers.Num(87, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFile(t, fmt.Sprintf("path = %q\n%s", tc.path, tc.keys))
			w := drivertest.Open(t, f, machine(t))
			if got := value(t, w); !got.Equal(tc.want) {
				t.Errorf("Open reported %v, want %v", got, tc.want)
			}
			if got := poll(t, w); !got.Equal(tc.want) {
				t.Errorf("Poll reported %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPollFollowsFile checks that each Poll reads the file again: a
// sensor that reported the value it saw at Open would look alive and be
// wrong.
func TestPollFollowsFile(t *testing.T) {
	const path = "/sys/class/hwmon/hwmon1/temp1_input"
	h := drivertest.Host(t)
	h.SetFile(path, []byte("21000\n"))
	w := drivertest.Open(t, newFile(t, fmt.Sprintf("path = %q\nscale = 0.001", path)), h)
	for _, v := range []string{"21500", "22000", "-1000", "0"} {
		h.SetFile(path, []byte(v+"\n"))
		n, _ := strconv.Atoi(v)
		if got := poll(t, w); !got.Equal(drivers.Num(float64(n)/1000, "")) {
			t.Errorf("after the file became %s, Poll reported %v", v, got)
		}
	}
}

// TestOpenErrors checks that Open reports a file that cannot serve as a
// sensor, naming the device and the file, and reports no state.
func TestOpenErrors(t *testing.T) {
	const dir = "/sys/test"
	for _, tc := range []struct {
		name    string
		content *string // nil: no file is set
		path    string  // default: dir/name
		keys    string
		want    []string
	}{
		{name: "missing", want: []string{"no such file"}},
		{name: "a directory", path: "/sys/class", want: []string{"is a directory"}},
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
			h := machine(t)
			path := tc.path
			if path == "" {
				path = dir + "/" + strings.ReplaceAll(tc.name, " ", "_")
			}
			if tc.content != nil {
				h.SetFile(path, []byte(*tc.content))
			}
			f := newFile(t, fmt.Sprintf("path = %q\n%s", path, tc.keys))
			w, err := drivertest.Start(t, f, h)
			if err == nil {
				t.Fatalf("Open: no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `example-sensor "soc": `) || !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the device and %s", msg, path)
			}
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if rs := w.Reports(); len(rs) != 0 {
				t.Errorf("a failed Open reported %v", rs)
			}
			if err := f.Poll(context.Background()); err == nil {
				t.Error("Poll after a failed Open: no error")
			}
		})
	}
}

// TestPollErrors checks a file that goes bad after Open, as a hwmon file
// does when its sensor fails: Poll makes the entity unavailable with the
// reason, naming the device and the file, without failing the device, and
// reports the value again once the file is good.
func TestPollErrors(t *testing.T) {
	const path = "/sys/class/hwmon/hwmon1/temp1_input"
	h := drivertest.Host(t)
	h.SetFile(path, []byte("40000\n"))
	w := drivertest.Open(t, newFile(t, fmt.Sprintf("path = %q\nscale = 0.001", path)), h)
	for _, tc := range []struct {
		name  string
		spoil func()
		want  string
	}{
		{"garbage", func() { h.SetFile(path, []byte("ERR\n")) }, "not a decimal number"},
		{"gone", func() { h.RemoveFile(path) }, "no such file"},
	} {
		tc.spoil()
		n := len(w.Reports())
		if err := w.Poll(t); err != nil {
			t.Errorf("%s: Poll = %v, want nil: the entity is unavailable, the device is fine", tc.name, err)
		}
		rs := w.Reports()[n:]
		if len(rs) != 1 || rs[0].Kind != "unavailable" || rs[0].Entity != sensor.EntityValue {
			t.Fatalf("%s: Poll reported %v, want %q unavailable", tc.name, rs, sensor.EntityValue)
		}
		err := w.Unavailable(sensor.EntityValue)
		if err == nil || !strings.HasPrefix(err.Error(), `example-sensor "soc": `) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: unavailable because %v; want a reason naming the device and the file and saying %q", tc.name, err, tc.want)
		}
	}
	h.SetFile(path, []byte("41000\n"))
	if got := poll(t, w); !got.Equal(drivers.Num(41, "")) {
		t.Errorf("Poll once the file is good again reported %v, want 41", got)
	}
	if err := w.Unavailable(sensor.EntityValue); err != nil {
		t.Errorf("still unavailable once the file is good again: %v", err)
	}
}

// TestNotOpen checks that a sensor that is not open says so, and that
// Close is harmless at any time.
func TestNotOpen(t *testing.T) {
	f := newFile(t, `path = "/sys/class/power_supply/BAT0/capacity"`)
	if err := f.Poll(context.Background()); err == nil {
		t.Error("Poll before Open: no error")
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close before Open: %v", err)
	}
	w := drivertest.Open(t, f, machine(t))
	if err := w.Close(t); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := f.Poll(context.Background()); err == nil {
		t.Error("Poll after Close: no error")
	}
	// Opened again, as the agent reopens a device, it works again.
	w = drivertest.Open(t, f, machine(t))
	if got := poll(t, w); !got.Equal(drivers.Num(87, "")) {
		t.Errorf("Poll after reopening reported %v, want 87", got)
	}
}

func TestPollCancelled(t *testing.T) {
	f := newFile(t, `path = "/sys/class/power_supply/BAT0/capacity"`)
	w := drivertest.Open(t, f, machine(t))
	n := len(w.Reports())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The worker is idle between calls, so calling the device from the
	// test's goroutine is still one call at a time.
	if err := f.Poll(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Poll with a cancelled context: error %v, want context.Canceled", err)
	}
	if rs := w.Reports()[n:]; len(rs) != 0 {
		t.Errorf("a cancelled Poll reported %v", rs)
	}
}

// TestNoFiles checks the error on a host that serves no files.
func TestNoFiles(t *testing.T) {
	f := newFile(t, `path = "/sys/class/power_supply/BAT0/capacity"`)
	_, err := drivertest.Start(t, f, bareHost{drivertest.Host(t)})
	if !errors.Is(err, drivers.ErrUnsupported) || !strings.Contains(err.Error(), "/sys/class/power_supply/BAT0/capacity") {
		t.Errorf("Open on a host without files: error %v, want ErrUnsupported naming the file", err)
	}
}

// bareHost is a host with a clock and a logger and no hardware at all.
type bareHost struct{ h drivers.Host }

func (b bareHost) Clock() drivers.Clock { return b.h.Clock() }
func (b bareHost) Logger() *slog.Logger { return b.h.Logger() }

func ptr(s string) *string { return &s }

// FuzzParse feeds arbitrary file contents to the sensor: Open and Poll
// must never panic and never report a value that is not a finite number,
// and a value reported must be the one number the file holds.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"48312\n", "0.52 0.58 0.59 1/241 12345\n", "-5250", "", "NaN", "1e400", "0x1p-2", "1_000", "+.5e-3\n"} {
		f.Add(s, 0)
		f.Add(s, 2)
	}
	const path = "/sys/fuzz/value"
	f.Fuzz(func(t *testing.T, content string, field int) {
		if field < 0 || field > 8 {
			return // the factory refuses a negative field; big ones add nothing
		}
		h := drivertest.Host(t)
		h.SetFile(path, []byte(content))
		d := newFile(t, fmt.Sprintf("path = %q\nfield = %d", path, field))
		w, err := drivertest.Start(t, d, h)
		if err == nil {
			if err := w.Poll(t); err != nil {
				t.Fatalf("Poll after a good Open: %v", err)
			}
			err = w.Unavailable(sensor.EntityValue)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), `example-sensor "soc": `) {
				t.Fatalf("error %q does not start with the driver and device", err)
			}
			return
		}
		vs := w.States(sensor.EntityValue)
		if len(vs) != 2 || !vs[0].Equal(vs[1]) {
			t.Fatalf("%q field %d: Open and Poll reported %v, want the same number twice", content, field, vs)
		}
		v := vs[0].Num
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
			f := newFile(t, "path = \"/sys/class/thermal/thermal_zone0/temp\"\n"+tc.keys)
			drivertest.Conformance(t, f, machine(t))
		})
	}
}
