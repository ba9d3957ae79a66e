package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/internal/logbuf"
)

// fakeHost gives a device a logger and nothing else: the system driver must
// not ask the host for hardware.
type fakeHost struct{ log *slog.Logger }

func (h fakeHost) GPIO(string) (gpio.PinIO, error) { return nil, errors.New("no GPIO in this test") }
func (h fakeHost) I2C(string) (i2c.Bus, error)     { return nil, errors.New("no I2C in this test") }
func (h fakeHost) Serial(string, drivers.SerialMode) (drivers.Port, error) {
	return nil, errors.New("no serial in this test")
}
func (h fakeHost) Clock() drivers.Clock { return drivers.SystemClock{} }
func (h fakeHost) Logger() *slog.Logger { return h.log }
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
func statfsFixed(blocks, bfree, bavail uint64) func(string, *unix.Statfs_t) error {
	return func(_ string, st *unix.Statfs_t) error {
		*st = unix.Statfs_t{Blocks: blocks, Bfree: bfree, Bavail: bavail, Bsize: 4096}
		return nil
	}
}

// openAt builds and opens a device reading root, with the disk faked as
// 1000 blocks of which 300 are free and 250 available to users. keys are
// more of the device's keys.
func openAt(t *testing.T, root string, log *slog.Logger, keys ...string) *Device {
	t.Helper()
	dev, err := New(drivertest.Config(t, "host", fmt.Sprintf("root = %q\n%s", root, strings.Join(keys, "\n"))))
	if err != nil {
		t.Fatal(err)
	}
	d := dev.(*Device)
	d.statfs = statfsFixed(1000, 300, 250)
	if err := d.Open(context.Background(), fakeHost{log}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func abs(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readingsMap(t *testing.T, rs []drivers.Reading) map[string]drivers.Value {
	t.Helper()
	m := map[string]drivers.Value{}
	for _, r := range rs {
		if _, dup := m[r.Entity]; dup {
			t.Fatalf("entity %s read twice", r.Entity)
		}
		m[r.Entity] = r.Value
	}
	return m
}

func TestRegistered(t *testing.T) {
	drivertest.Registered[*Device](t, "system", SampleConfig, "")
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name     string
		keys     string
		wantDisk string
		wantRoot string
		wantCPU  cpuTemp
	}{
		{name: "defaults", wantDisk: "/", wantRoot: "/"},
		{name: "disk path", keys: `disk_path = "/mnt/data/"`, wantDisk: "/mnt/data", wantRoot: "/"},
		{name: "root for a container", keys: "root = \"/host\"\ndisk_path = \"/host\"", wantDisk: "/host", wantRoot: "/host"},
		{name: "cpu temperature auto", keys: `cpu_temperature = "auto"`, wantDisk: "/", wantRoot: "/", wantCPU: cpuAuto},
		{name: "cpu temperature on", keys: `cpu_temperature = true`, wantDisk: "/", wantRoot: "/", wantCPU: cpuOn},
		{name: "cpu temperature off", keys: `cpu_temperature = false`, wantDisk: "/", wantRoot: "/", wantCPU: cpuOff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := drivertest.Device[*Device](t, New, "host", tt.keys)
			if d.conf.DiskPath != tt.wantDisk || d.conf.Root != tt.wantRoot || d.conf.CPUTemperature != tt.wantCPU {
				t.Fatalf("disk_path, root, cpu_temperature = %q, %q, %v; want %q, %q, %v",
					d.conf.DiskPath, d.conf.Root, d.conf.CPUTemperature, tt.wantDisk, tt.wantRoot, tt.wantCPU)
			}
		})
	}
}

func TestNewConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		keys string
		key  string   // the key the error is on
		want []string // what the error on key says
	}{
		{name: "relative disk path", keys: `disk_path = "data"`, key: "disk_path", want: []string{`"data" is not an absolute path`}},
		{name: "empty disk path", keys: `disk_path = ""`, key: "disk_path", want: []string{`"" is not an absolute path`}},
		{name: "relative root", keys: `root = "testdata"`, key: "root", want: []string{`"testdata" is not an absolute path`, "leave root unset"}},
		{name: "cpu temperature word", keys: `cpu_temperature = "yes"`, key: "cpu_temperature", want: []string{`"yes" is not a setting`, `true`, `false`, `"auto"`}},
		{name: "cpu temperature number", keys: `cpu_temperature = 1`, key: "cpu_temperature", want: []string{`1 is not a setting`}},
		{name: "unknown key", keys: `disk = "/"`, key: "disk", want: []string{"unknown key"}},
		{name: "wrong type", keys: `disk_path = 3`, key: "disk_path", want: []string{"must be a string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(drivertest.Config(t, "host", tt.keys))
			drivertest.CheckError(t, err, `system "host": `)
			drivertest.CheckKeyError(t, err, tt.key, tt.want...)
		})
	}
	t.Run("all at once", func(t *testing.T) {
		drivertest.CheckProblems(t, drivertest.Problems(t, New, "host", "disk_path = \"data\"\n\nroot = \"rel\"\n"),
			drivertest.WantProblem{Line: 1, Key: "disk_path", Msg: `"data" is not an absolute path`},
			drivertest.WantProblem{Line: 3, Key: "root", Msg: `"rel" is not an absolute path`},
		)
	})
}

func TestSampleConfig(t *testing.T) {
	if !strings.Contains(SampleConfig, `driver = "system"`) {
		t.Fatalf("SampleConfig does not configure the system driver:\n%s", SampleConfig)
	}
	// The sample's commented-out keys must be real keys with their
	// defaults: uncommenting them must keep the config valid.
	uncommented, n := drivertest.SampleDefaults(SampleConfig)
	if n == 0 {
		t.Fatal("SampleConfig shows no commented-out defaults")
	}
	for _, doc := range []string{SampleConfig, uncommented} {
		devs := drivertest.SampleDevices[*Device](t, doc, "system", New)
		if len(devs) != 1 {
			t.Fatalf("sample config has %d [[device]] tables, want 1", len(devs))
		}
		if d := devs[0]; d.conf != (config{DiskPath: "/", Root: "/", CPUTemperature: cpuAuto}) {
			t.Fatalf("sample config gives %+v, want the defaults", d.conf)
		}
	}
	drivertest.CheckSample(t, SampleConfig)
}

var idRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// TestEntities checks the entities, and that cpu_temperature is listed
// where the setting and the board say, fixed from construction on.
func TestEntities(t *testing.T) {
	noSensor := t.TempDir()
	all := []string{"cpu_temperature", "load_1m", "load_5m", "load_15m", "memory_used", "disk_used", "uptime"}
	for _, tc := range []struct {
		name string
		keys string
		want []string
	}{
		{"auto with a sensor", fmt.Sprintf("root = %q", abs(t, "testdata/pi4")), all},
		{"auto on an x86 board", fmt.Sprintf("root = %q", abs(t, "testdata/x86")), all},
		{"auto without a sensor", fmt.Sprintf("root = %q", noSensor), all[1:]},
		{"on without a sensor", fmt.Sprintf("root = %q\ncpu_temperature = true", noSensor), all},
		{"off with a sensor", fmt.Sprintf("root = %q\ncpu_temperature = false", abs(t, "testdata/pi4")), all[1:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := drivertest.Device[*Device](t, New, "host", tc.keys)
			var ids []string
			for _, e := range dev.Entities() {
				ids = append(ids, e.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("entity ids %v, want %v", ids, tc.want)
			}
		})
	}

	dev, err := New(drivertest.Config(t, "host", fmt.Sprintf("root = %q", abs(t, "testdata/pi4"))))
	if err != nil {
		t.Fatal(err)
	}
	es := dev.Entities()
	for _, e := range es {
		if !idRE.MatchString(e.ID) {
			t.Errorf("entity id %q has characters outside [a-zA-Z0-9_-]", e.ID)
		}
		if !e.Diagnostic {
			t.Errorf("%s is not diagnostic", e.ID)
		}
		if e.Kind != drivers.KindSensor || e.Name == "" {
			t.Errorf("%s: kind %v, name %q; want a named sensor", e.ID, e.Kind, e.Name)
		}
		if e.Precision < 0 {
			t.Errorf("%s: precision unset", e.ID)
		}
	}

	// What Home Assistant validates: a unit must fit the device class, and
	// a sensor with no class may still carry '%' but load has no unit.
	byID := map[string]drivers.Entity{}
	for _, e := range es {
		byID[e.ID] = e
	}
	checks := []struct {
		id    string
		class string
		unit  drivers.Unit
		state drivers.StateClass
	}{
		{"cpu_temperature", drivers.ClassTemperature, drivers.Celsius, drivers.StateMeasurement},
		{"load_1m", "", "", drivers.StateMeasurement},
		{"load_5m", "", "", drivers.StateMeasurement},
		{"load_15m", "", "", drivers.StateMeasurement},
		{"memory_used", "", drivers.Percent, drivers.StateMeasurement},
		{"disk_used", "", drivers.Percent, drivers.StateMeasurement},
		{"uptime", drivers.ClassDuration, drivers.Seconds, drivers.StateTotalIncreasing},
	}
	for _, c := range checks {
		e := byID[c.id]
		if e.Class != c.class || e.Unit != c.unit || e.State != c.state {
			t.Errorf("%s: class %q unit %q state %v; want %q %q %v", c.id, e.Class, e.Unit, e.State, c.class, c.unit, c.state)
		}
	}
	if got := byID["load_1m"].Icon; got != "mdi:cpu-64-bit" {
		t.Errorf("load icon %q, want mdi:cpu-64-bit", got)
	}
	if info := dev.Info(); info.Manufacturer == "" || info.Model == "" {
		t.Errorf("Info() = %+v, want both fields set", info)
	}
}

func TestReadTestdata(t *testing.T) {
	tests := []struct {
		root      string
		want      map[string]drivers.Value
		wantModel string
	}{
		{
			root: "testdata/pi4",
			want: map[string]drivers.Value{
				"cpu_temperature": drivers.Num(48.312, drivers.Celsius),
				"load_1m":         drivers.Num(0.52, ""),
				"load_5m":         drivers.Num(0.58, ""),
				"load_15m":        drivers.Num(0.59, ""),
				// (3884096-3213736)/3884096 = 17.259…%
				"memory_used": drivers.Num(17.26, drivers.Percent),
				// 700 used of 700+250: the 50 blocks reserved for root
				// count as neither, like df.
				"disk_used": drivers.Num(73.68, drivers.Percent),
				"uptime":    drivers.Num(350735, drivers.Seconds),
			},
			wantModel: "Raspberry Pi 4 Model B Rev 1.4",
		},
		{
			// zone0 is acpitz; the x86_pkg_temp zones win, zone1's
			// sensor is broken, and zone2 comes before zone10.
			root: "testdata/x86",
			want: map[string]drivers.Value{
				"cpu_temperature": drivers.Num(52, drivers.Celsius),
				"load_1m":         drivers.Num(2.1, ""),
				"load_5m":         drivers.Num(1.75, ""),
				"load_15m":        drivers.Num(1.2, ""),
				"memory_used":     drivers.Num(75, drivers.Percent),
				"disk_used":       drivers.Num(73.68, drivers.Percent),
				"uptime":          drivers.Num(1234, drivers.Seconds),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			var logs logbuf.Buffer
			d := openAt(t, abs(t, tt.root), newLogger(&logs))
			rs, err := d.Read(context.Background())
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			got := readingsMap(t, rs)
			for id, w := range tt.want {
				if g, ok := got[id]; !ok || !g.Equal(w) {
					t.Errorf("%s = %v, want %v", id, g, w)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("read %d entities, want %d: %v", len(got), len(tt.want), got)
			}
			// Each reading carries its entity's unit, so the agent never
			// publishes a number in a unit Home Assistant was not told.
			for _, e := range d.Entities() {
				if v, ok := got[e.ID]; ok && v.Unit != e.Unit {
					t.Errorf("%s read in %q, entity declares %q", e.ID, v.Unit, e.Unit)
				}
			}
			if strings.Contains(logs.String(), "no CPU temperature") {
				t.Errorf("logged a missing sensor on a board that has one:\n%s", logs.String())
			}
			if tt.wantModel != "" && !strings.Contains(logs.String(), tt.wantModel) {
				t.Errorf("the board model %q was not logged:\n%s", tt.wantModel, logs.String())
			}
		})
	}
}

// copyTree copies the files under src into a new temporary root.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestNoThermalZone(t *testing.T) {
	root := copyTree(t, "testdata/pi4")
	if err := os.RemoveAll(filepath.Join(root, "sys/class/thermal/thermal_zone0")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		setting string
		listed  bool // cpu_temperature is an entity
	}{
		// auto leaves the entity out, so there is nothing to say.
		{`cpu_temperature = "auto"`, false},
		// true lists it: Open says once why it stays unknown.
		{`cpu_temperature = true`, true},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			var logs logbuf.Buffer
			d := openAt(t, root, newLogger(&logs), tc.setting)
			if got := slices.ContainsFunc(d.Entities(), func(e drivers.Entity) bool { return e.ID == EntityCPUTemperature }); got != tc.listed {
				t.Fatalf("cpu_temperature listed: %t, want %t", got, tc.listed)
			}
			for range 3 {
				rs, err := d.Read(context.Background())
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				got := readingsMap(t, rs)
				if _, ok := got["cpu_temperature"]; ok {
					t.Fatalf("read a CPU temperature on a board without a sensor: %v", got)
				}
				if len(got) != 6 {
					t.Fatalf("read %d entities, want the 6 other than cpu_temperature: %v", len(got), got)
				}
			}
			want := 0
			if tc.listed {
				want = 1
			}
			if n := strings.Count(logs.String(), "no CPU temperature sensor"); n != want {
				t.Fatalf("the missing sensor was logged %d times, want %d at Open:\n%s", n, want, logs.String())
			}
		})
	}
}

// TestCPUTemperatureOff checks that false reads no thermal zone at all, not
// even on a board that has one.
func TestCPUTemperatureOff(t *testing.T) {
	root := copyTree(t, "testdata/pi4")
	d := openAt(t, root, discard(), "cpu_temperature = false")
	// A zone that fails to read would be an error if it were read.
	if err := os.WriteFile(filepath.Join(root, "sys/class/thermal/thermal_zone0/temp"), []byte("hot\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, err := d.Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := readingsMap(t, rs); len(got) != 6 {
		t.Fatalf("read %v, want the 6 entities other than cpu_temperature", got)
	}
}

func TestOpenErrors(t *testing.T) {
	noProc := t.TempDir()
	tests := []struct {
		name    string
		keys    string
		statfs  func(string, *unix.Statfs_t) error
		wantErr []string
	}{
		{
			name:    "no /proc",
			keys:    fmt.Sprintf("root = %q", noProc),
			wantErr: []string{filepath.Join(noProc, "proc/loadavg"), "needs Linux's /proc"},
		},
		{
			name:    "missing disk",
			keys:    fmt.Sprintf("root = %q\ndisk_path = %q", abs(t, "testdata/pi4"), "/nonexistent-pinion-disk"),
			statfs:  unix.Statfs,
			wantErr: []string{`disk_path "/nonexistent-pinion-disk"`, "statfs", "no such file"},
		},
		{
			name:    "pseudo filesystem",
			keys:    fmt.Sprintf("root = %q", abs(t, "testdata/pi4")),
			statfs:  statfsFixed(0, 0, 0),
			wantErr: []string{`disk_path "/"`, "no size"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, err := New(drivertest.Config(t, "host", tt.keys))
			if err != nil {
				t.Fatal(err)
			}
			d := dev.(*Device)
			if tt.statfs != nil {
				d.statfs = tt.statfs
			}
			err = d.Open(context.Background(), fakeHost{discard()})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			for _, w := range append(tt.wantErr, `system "host"`) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		file    string
		content string
		missing []string
		wantErr string
	}{
		{"proc/loadavg", "0.5 x 0.1 1/2 3\n", []string{"load_1m", "load_5m", "load_15m"}, `field 2 (5 minute load) "x"`},
		{"proc/meminfo", "MemTotal: 100 kB\nMemAvailable: lots kB\n", []string{"memory_used"}, `field MemAvailable: "lots"`},
		{"proc/meminfo", "MemTotal: 100 kB\n", []string{"memory_used"}, "no MemAvailable field"},
		{"proc/uptime", "\n", []string{"uptime"}, "empty"},
		{"sys/class/thermal/thermal_zone0/temp", "hot\n", []string{"cpu_temperature"}, `"hot": want a whole number of millidegrees`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			root := copyTree(t, "testdata/pi4")
			d := openAt(t, root, discard())
			// The file goes bad after Open, as a flaky sensor would.
			if err := os.WriteFile(filepath.Join(root, tt.file), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			rs, err := d.Read(context.Background())
			if err == nil {
				t.Fatal("Read succeeded on a bad file")
			}
			for _, w := range []string{filepath.Join(root, tt.file), tt.wantErr, `system "host"`} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			got := readingsMap(t, rs)
			for _, id := range tt.missing {
				if _, ok := got[id]; ok {
					t.Errorf("%s read from a bad file: %v", id, got[id])
				}
			}
			// The other sources still report.
			if len(got) != 7-len(tt.missing) {
				t.Errorf("read %d entities, want %d: %v", len(got), 7-len(tt.missing), got)
			}
		})
	}

	t.Run("vanished file", func(t *testing.T) {
		root := copyTree(t, "testdata/pi4")
		d := openAt(t, root, discard())
		if err := os.Remove(filepath.Join(root, "proc/uptime")); err != nil {
			t.Fatal(err)
		}
		_, err := d.Read(context.Background())
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "proc/uptime") {
			t.Fatalf("err = %v, want a not-exist error naming proc/uptime", err)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		d := openAt(t, abs(t, "testdata/pi4"), discard())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := d.Read(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestDiskUsed(t *testing.T) {
	tests := []struct {
		name                  string
		blocks, bfree, bavail uint64
		want                  float64
		wantErr               string
	}{
		{name: "half", blocks: 1000, bfree: 500, bavail: 500, want: 50},
		{name: "reserved blocks excluded", blocks: 1000, bfree: 300, bavail: 250, want: 700.0 / 950 * 100},
		{name: "full for users", blocks: 1000, bfree: 50, bavail: 0, want: 100},
		{name: "empty", blocks: 1000, bfree: 1000, bavail: 950, want: 0},
		{name: "no size", wantErr: "no size"},
		{name: "free above total", blocks: 10, bfree: 11, bavail: 0, wantErr: "inconsistent"},
		{name: "available above free", blocks: 10, bfree: 5, bavail: 6, wantErr: "inconsistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Device{conf: config{DiskPath: "/data"}, statfs: statfsFixed(tt.blocks, tt.bfree, tt.bavail)}
			got, err := d.diskUsed()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `"/data"`) {
					t.Fatalf("err = %v, want one naming /data and containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("diskUsed = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRealMachine reads this machine's own /proc, /sys and root filesystem.
func TestRealMachine(t *testing.T) {
	if _, err := os.Stat("/proc/loadavg"); err != nil {
		t.Fatalf("this test needs Linux: %v", err)
	}
	dev, err := New(drivertest.Config(t, "host", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Open(context.Background(), fakeHost{discard()}); err != nil {
		t.Fatalf("Open on this machine: %v", err)
	}
	defer dev.Close()
	rs, err := dev.(drivers.Reader).Read(context.Background())
	if err != nil {
		t.Fatalf("Read on this machine: %v", err)
	}
	got := readingsMap(t, rs)
	uptime, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	up, err := parseUptime(uptime)
	if err != nil {
		t.Fatal(err)
	}
	ranges := map[string][2]float64{
		"load_1m":     {0, 1000},
		"load_5m":     {0, 1000},
		"load_15m":    {0, 1000},
		"memory_used": {0.01, 100},
		"disk_used":   {0, 100},
		// Read before the file above, so at most that many seconds.
		"uptime": {1, up},
		// Present only on machines with a thermal zone.
		"cpu_temperature": {-40, 125},
	}
	for id, r := range ranges {
		v, ok := got[id]
		if !ok {
			if id != "cpu_temperature" {
				t.Errorf("%s not read", id)
			}
			continue
		}
		if v.Kind != drivers.ValueNumber || math.IsNaN(v.Num) || v.Num < r[0] || v.Num > r[1] {
			t.Errorf("%s = %v, want a number in [%v, %v]", id, v, r[0], r[1])
		}
	}
}
