package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/logbuf"
)

// all is every entity id, in the order Entities lists them.
var all = []string{"cpu_temperature", "load_1m", "load_5m", "load_15m", "memory_used", "disk_used", "uptime"}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func statfsFixed(blocks, bfree, bavail uint64) func(string, *unix.Statfs_t) error {
	return func(_ string, st *unix.Statfs_t) error {
		*st = unix.Statfs_t{Blocks: blocks, Bfree: bfree, Bavail: bavail, Bsize: 4096}
		return nil
	}
}

// setFile gives the simulated machine a file below /proc or /sys.
func setFile(h *sim.Host, path, content string) { h.SetFile(path, []byte(content)) }

// machine returns a simulated host whose /proc and /sys hold the files of a
// testdata tree ("testdata/pi4"), logging to log (to t.Log when nil).
func machine(t *testing.T, tree string, log *slog.Logger) *sim.Host {
	t.Helper()
	var h *sim.Host
	if log == nil {
		h = drivertest.Host(t)
	} else {
		h = sim.NewHost(log)
		t.Cleanup(func() { h.Close() })
	}
	if tree == "" {
		return h
	}
	err := filepath.WalkDir(tree, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(tree, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		setFile(h, "/"+filepath.ToSlash(rel), string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// files is a simulated host that records every file the driver reads.
type files struct {
	*sim.Host

	mu   sync.Mutex
	read []string
}

func newFiles(h *sim.Host) *files { return &files{Host: h} }

// ReadFile implements drivers.FileHost.
func (f *files) ReadFile(path string) ([]byte, error) {
	f.mu.Lock()
	f.read = append(f.read, path)
	f.mu.Unlock()
	return f.Host.ReadFile(path)
}

// reads returns the files read since the last call.
func (f *files) reads() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.read
	f.read = nil
	return r
}

// newDevice builds a device with keys, with the disk faked as 1000 blocks
// of which 300 are free and 250 available to users.
func newDevice(t *testing.T, keys ...string) *Device {
	t.Helper()
	d := drivertest.Device[*Device](t, New, "host", strings.Join(keys, "\n"))
	d.statfs = statfsFixed(1000, 300, 250)
	return d
}

// poll polls through w and returns what that poll reported: the states
// and the entities made unavailable, each at most once.
func poll(t *testing.T, w *drivertest.Worker) (map[string]drivers.Value, map[string]error) {
	t.Helper()
	before := len(w.Reports())
	if err := w.Poll(t); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	states, unavailable := map[string]drivers.Value{}, map[string]error{}
	for _, r := range w.Reports()[before:] {
		switch r.Kind {
		case "state":
			if _, dup := states[r.Entity]; dup {
				t.Fatalf("%s reported twice in one poll", r.Entity)
			}
			states[r.Entity] = r.Value
		case "unavailable":
			if _, dup := unavailable[r.Entity]; dup {
				t.Fatalf("%s made unavailable twice in one poll", r.Entity)
			}
			unavailable[r.Entity] = r.Err
		default:
			t.Fatalf("a poll reported %+v", r)
		}
	}
	for id := range states {
		if _, both := unavailable[id]; both {
			t.Fatalf("%s both read and unavailable in one poll", id)
		}
	}
	return states, unavailable
}

func TestRegistered(t *testing.T) {
	drivertest.Registered[*Device](t, "system", SampleConfig, "")
	d, ok := drivers.Lookup("system")
	if !ok {
		t.Fatal("system is not registered")
	}
	if d.DefaultInterval != time.Minute {
		t.Errorf("DefaultInterval = %v, want 1m: load and temperature change over minutes", d.DefaultInterval)
	}
	if d.Description == "" || strings.Contains(d.Description, "\n") {
		t.Errorf("Description = %q, want one line", d.Description)
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name     string
		keys     string
		wantDisk string
		wantCPU  cpuTemp
	}{
		{name: "defaults", wantDisk: "/"},
		{name: "disk path", keys: `disk_path = "/mnt/data/"`, wantDisk: "/mnt/data"},
		{name: "disk path cleaned", keys: `disk_path = "/mnt/./data/../disk"`, wantDisk: "/mnt/disk"},
		{name: "cpu temperature auto", keys: `cpu_temperature = "auto"`, wantDisk: "/", wantCPU: cpuAuto},
		{name: "cpu temperature on", keys: `cpu_temperature = true`, wantDisk: "/", wantCPU: cpuOn},
		{name: "cpu temperature off", keys: `cpu_temperature = false`, wantDisk: "/", wantCPU: cpuOff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := drivertest.Device[*Device](t, New, "host", tt.keys)
			if d.conf.DiskPath != tt.wantDisk || d.conf.CPUTemperature != tt.wantCPU {
				t.Fatalf("disk_path, cpu_temperature = %q, %v; want %q, %v",
					d.conf.DiskPath, d.conf.CPUTemperature, tt.wantDisk, tt.wantCPU)
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
		{name: "cpu temperature word", keys: `cpu_temperature = "yes"`, key: "cpu_temperature", want: []string{`"yes" is not a setting`, `true`, `false`, `"auto"`}},
		{name: "cpu temperature number", keys: `cpu_temperature = 1`, key: "cpu_temperature", want: []string{`1 is not a setting`}},
		{name: "unknown key", keys: `disk = "/"`, key: "disk", want: []string{"unknown key"}},
		// /proc and /sys come from the host now: root is no key of the
		// driver's.
		{name: "root", keys: `root = "/host"`, key: "root", want: []string{"unknown key"}},
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
		drivertest.CheckProblems(t, drivertest.Problems(t, New, "host", "disk_path = \"data\"\n\ncpu_temperature = \"maybe\"\n"),
			drivertest.WantProblem{Line: 1, Key: "disk_path", Msg: `"data" is not an absolute path`},
			drivertest.WantProblem{Line: 3, Key: "cpu_temperature", Msg: `"maybe" is not a setting`},
		)
	})
}

// FuzzNew checks the factory on any table: it refuses with the driver and
// device first, or builds a device with a clean absolute disk_path and a
// cpu_temperature setting it knows.
func FuzzNew(f *testing.F) {
	for _, s := range []string{"", `disk_path = "/mnt//data/"`, `cpu_temperature = "auto"`, "cpu_temperature = false\ndisk_path = \"x\"", `root = "/"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, snippet string) {
		dev := drivertest.FuzzFactory(t, New, "fuzz", `system "fuzz": `, snippet)
		if dev == nil {
			return
		}
		c := dev.(*Device).conf
		if !filepath.IsAbs(c.DiskPath) || filepath.Clean(c.DiskPath) != c.DiskPath || c.CPUTemperature < cpuAuto || c.CPUTemperature > cpuOff {
			t.Fatalf("accepted %q as %+v", snippet, c)
		}
		if got, want := len(dev.Entities()), 6+map[bool]int{true: 1}[c.CPUTemperature != cpuOff]; got != want {
			t.Fatalf("accepted %q with %d entities, want %d", snippet, got, want)
		}
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
		if d := devs[0]; d.conf != (config{DiskPath: "/", CPUTemperature: cpuAuto}) {
			t.Fatalf("sample config gives %+v, want the defaults", d.conf)
		}
	}
	// The interval the sample shows is the driver's default.
	tbs := drivertest.Tables(t, uncommented)
	if got := tbs[0].Config.Interval; got != DefaultInterval {
		t.Errorf("the sample's interval is %v, want the driver's default %v", got, DefaultInterval)
	}
	drivertest.CheckSample(t, SampleConfig)
}

var idRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// TestEntities checks the entities, and that cpu_temperature is listed as
// the setting says, from the configuration alone.
func TestEntities(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys string
		want []string
	}{
		{"auto", "", all},
		{"auto written", `cpu_temperature = "auto"`, all},
		{"on", `cpu_temperature = true`, all},
		{"off", `cpu_temperature = false`, all[1:]},
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

	dev := drivertest.Device[*Device](t, New, "host", "")
	es := dev.Entities()
	byID := map[string]drivers.Sensor{}
	for _, e := range es {
		if !idRE.MatchString(e.ID) {
			t.Errorf("entity id %q has characters outside [a-zA-Z0-9_-]", e.ID)
		}
		if !e.Diagnostic {
			t.Errorf("%s is not diagnostic", e.ID)
		}
		s, ok := e.Spec.(drivers.Sensor)
		if !ok || e.Name == "" {
			t.Errorf("%s: spec %T, name %q; want a named sensor", e.ID, e.Spec, e.Name)
		}
		if s.Precision < 0 {
			t.Errorf("%s: precision unset", e.ID)
		}
		byID[e.ID] = s
	}

	// What Home Assistant validates: a unit must fit the device class, and
	// a sensor with no class may still carry '%' but load has no unit.
	checks := []struct {
		id    string
		class string
		unit  drivers.Unit
		state drivers.StateClass
		prec  int
	}{
		{"cpu_temperature", drivers.ClassTemperature, drivers.Celsius, drivers.StateMeasurement, 1},
		{"load_1m", "", "", drivers.StateMeasurement, 2},
		{"load_5m", "", "", drivers.StateMeasurement, 2},
		{"load_15m", "", "", drivers.StateMeasurement, 2},
		{"memory_used", "", drivers.Percent, drivers.StateMeasurement, 1},
		{"disk_used", "", drivers.Percent, drivers.StateMeasurement, 1},
		{"uptime", drivers.ClassDuration, drivers.Seconds, drivers.StateTotalIncreasing, 0},
	}
	for _, c := range checks {
		s := byID[c.id]
		if s.Class != c.class || s.Unit != c.unit || s.State != c.state || s.Precision != c.prec {
			t.Errorf("%s: %+v; want class %q unit %q state %v precision %d", c.id, s, c.class, c.unit, c.state, c.prec)
		}
	}
	if got := es[1].Icon; got != "mdi:cpu-64-bit" {
		t.Errorf("load icon %q, want mdi:cpu-64-bit", got)
	}
	if info := dev.Info(); info.Manufacturer == "" || info.Model == "" {
		t.Errorf("Info() = %+v, want both fields set", info)
	}
}

func TestPollTestdata(t *testing.T) {
	tests := []struct {
		tree      string
		want      map[string]drivers.Value
		wantModel string
	}{
		{
			tree: "testdata/pi4",
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
			tree: "testdata/x86",
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
		t.Run(tt.tree, func(t *testing.T) {
			var logs logbuf.Buffer
			h := machine(t, tt.tree, newLogger(&logs))
			d := newDevice(t)
			w := drivertest.Open(t, d, h)
			for i := range 2 { // a second poll reads afresh, the same
				got, unavailable := poll(t, w)
				if len(unavailable) > 0 {
					t.Errorf("poll %d: unavailable %v", i, unavailable)
				}
				for id, want := range tt.want {
					if g, ok := got[id]; !ok || !g.Equal(want) {
						t.Errorf("poll %d: %s = %v, want %v", i, id, g, want)
					}
				}
				if len(got) != len(tt.want) {
					t.Errorf("poll %d: read %d entities, want %d: %v", i, len(got), len(tt.want), got)
				}
				// Each state carries its entity's unit, so the agent never
				// publishes a number in a unit Home Assistant was not told.
				for _, e := range d.Entities() {
					if v, ok := got[e.ID]; ok && v.Unit != e.Spec.(drivers.Sensor).Unit {
						t.Errorf("%s read in %q, entity declares %q", e.ID, v.Unit, e.Spec.(drivers.Sensor).Unit)
					}
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

// TestModelFromProc checks the other place a device tree shows the model.
func TestModelFromProc(t *testing.T) {
	var logs logbuf.Buffer
	h := machine(t, "testdata/x86", newLogger(&logs))
	setFile(h, "/proc/device-tree/model", "Orange Pi 5\x00")
	drivertest.Open(t, newDevice(t), h)
	if !strings.Contains(logs.String(), `model="Orange Pi 5"`) {
		t.Errorf("the board model was not logged:\n%s", logs.String())
	}
}

// TestNoThermalZone checks a board without a CPU temperature sensor: the
// entity is listed (the entities come from the configuration alone), shown
// unavailable with the reason, and read once a sensor appears.
func TestNoThermalZone(t *testing.T) {
	for _, tc := range []struct {
		setting string
		level   string // the level Open logs the missing sensor at
	}{
		{`cpu_temperature = "auto"`, "level=INFO"},
		{`cpu_temperature = true`, "level=WARN"},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			var logs logbuf.Buffer
			h := machine(t, "testdata/x86", newLogger(&logs))
			for _, n := range []string{"0", "1", "2", "10"} {
				h.RemoveFile("/sys/class/thermal/thermal_zone" + n + "/type")
			}
			d := newDevice(t, tc.setting)
			w := drivertest.Open(t, d, h)
			for i := range 3 {
				got, unavailable := poll(t, w)
				if _, ok := got["cpu_temperature"]; ok {
					t.Fatalf("poll %d: read a CPU temperature on a board without a sensor: %v", i, got)
				}
				if len(got) != 6 {
					t.Fatalf("poll %d: read %d entities, want the 6 other than cpu_temperature: %v", i, len(got), got)
				}
				err := unavailable["cpu_temperature"]
				if !errors.Is(err, ErrNoSensor) || !strings.Contains(err.Error(), "cpu_temperature = false") {
					t.Fatalf("poll %d: cpu_temperature unavailable with %v, want ErrNoSensor saying how to leave it out", i, err)
				}
				if len(unavailable) != 1 {
					t.Fatalf("poll %d: unavailable %v, want only cpu_temperature", i, unavailable)
				}
			}
			if n := strings.Count(logs.String(), "no CPU temperature sensor"); n != 1 {
				t.Fatalf("the missing sensor was logged %d times, want once, at Open:\n%s", n, logs.String())
			}
			line := logs.String()[:strings.Index(logs.String(), "no CPU temperature sensor")]
			if line = line[strings.LastIndex(line, "\n")+1:]; !strings.Contains(line, tc.level) {
				t.Errorf("the missing sensor was logged as %q, want %s", line, tc.level)
			}

			// A thermal driver loaded late: the next poll finds it.
			setFile(h, "/sys/class/thermal/thermal_zone3/type", "cpu-thermal\n")
			setFile(h, "/sys/class/thermal/thermal_zone3/temp", "45500\n")
			got, unavailable := poll(t, w)
			if v := got["cpu_temperature"]; !v.Equal(drivers.Num(45.5, drivers.Celsius)) || len(unavailable) != 0 {
				t.Fatalf("after a sensor appeared: cpu_temperature = %v, unavailable %v; want 45.5 °C", v, unavailable)
			}
			if w.Unavailable("cpu_temperature") != nil {
				t.Errorf("cpu_temperature still unavailable after a state: %v", w.Unavailable("cpu_temperature"))
			}
		})
	}
}

// TestCPUTemperatureOff checks that false reads no thermal zone at all, not
// even on a board that has one.
func TestCPUTemperatureOff(t *testing.T) {
	fh := newFiles(machine(t, "testdata/pi4", nil))
	w := drivertest.Open(t, newDevice(t, "cpu_temperature = false"), fh)
	got, unavailable := poll(t, w)
	if len(got) != 6 || len(unavailable) != 0 {
		t.Fatalf("read %v, unavailable %v; want the 6 entities other than cpu_temperature", got, unavailable)
	}
	reads := fh.reads()
	if len(reads) == 0 {
		t.Fatal("the recording host saw no reads; the test cannot tell what was read")
	}
	for _, p := range reads {
		if strings.HasPrefix(p, "/sys/class/thermal") {
			t.Errorf("read %s with cpu_temperature = false", p)
		}
	}
}

// TestReadsOnlyThroughTheHost checks that the driver reads the machine
// only through the host: every file it needs comes from the simulated
// machine, none from the one running the test.
func TestReadsOnlyThroughTheHost(t *testing.T) {
	fh := newFiles(machine(t, "testdata/pi4", nil))
	w := drivertest.Open(t, newDevice(t), fh)
	poll(t, w)
	reads := fh.reads()
	for _, want := range []string{"/proc/loadavg", "/proc/meminfo", "/proc/uptime", "/sys/class/thermal/thermal_zone0/temp"} {
		if !slices.Contains(reads, want) {
			t.Errorf("%s was not read through the host; it read %v", want, reads)
		}
	}
	for _, p := range reads {
		if !strings.HasPrefix(p, "/proc/") && !strings.HasPrefix(p, "/sys/") {
			t.Errorf("read %s through the host, which serves /proc and /sys only", p)
		}
	}
}

// bareHost is a host with a clock and a logger and nothing else.
type bareHost struct{}

func (bareHost) Clock() drivers.Clock { return drivers.SystemClock{} }
func (bareHost) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		host    func(t *testing.T) drivers.Host
		keys    string
		statfs  func(string, *unix.Statfs_t) error
		wantErr []string
		wantIs  error
	}{
		{
			name:    "no /proc",
			host:    func(t *testing.T) drivers.Host { return machine(t, "", nil) },
			wantErr: []string{"/proc/loadavg", "needs Linux's /proc"},
		},
		{
			name:    "a host without files",
			host:    func(*testing.T) drivers.Host { return bareHost{} },
			wantErr: []string{"/proc/loadavg", "needs Linux's /proc"},
			wantIs:  drivers.ErrUnsupported,
		},
		{
			name:    "missing disk",
			host:    func(t *testing.T) drivers.Host { return machine(t, "testdata/pi4", nil) },
			keys:    fmt.Sprintf("disk_path = %q", "/nonexistent-pinion-disk"),
			statfs:  unix.Statfs,
			wantErr: []string{`disk_path "/nonexistent-pinion-disk"`, "statfs", "no such file"},
			wantIs:  unix.ENOENT,
		},
		{
			name:    "pseudo filesystem",
			host:    func(t *testing.T) drivers.Host { return machine(t, "testdata/pi4", nil) },
			statfs:  statfsFixed(0, 0, 0),
			wantErr: []string{`disk_path "/"`, "no size"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDevice(t, tt.keys)
			if tt.statfs != nil {
				d.statfs = tt.statfs
			}
			_, err := drivertest.Start(t, d, tt.host(t))
			if err == nil {
				t.Fatal("Open succeeded")
			}
			for _, w := range append(tt.wantErr, `system "host": open: `) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tt.wantIs)
			}
		})
	}
}

// TestPollPartialFailure checks that a source that goes bad makes its own
// entities unavailable, with an error naming the file, and that the others
// are still reported.
func TestPollPartialFailure(t *testing.T) {
	tests := []struct {
		file    string
		content string
		missing []string
		wantErr string
	}{
		{"/proc/loadavg", "0.5 x 0.1 1/2 3\n", []string{"load_1m", "load_5m", "load_15m"}, `field 2 (5 minute load) "x"`},
		{"/proc/meminfo", "MemTotal: 100 kB\nMemAvailable: lots kB\n", []string{"memory_used"}, `field MemAvailable: "lots"`},
		{"/proc/meminfo", "MemTotal: 100 kB\n", []string{"memory_used"}, "no MemAvailable field"},
		{"/proc/uptime", "\n", []string{"uptime"}, "empty"},
		{"/sys/class/thermal/thermal_zone0/temp", "hot\n", []string{"cpu_temperature"}, `"hot": want a whole number of millidegrees`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			h := machine(t, "testdata/pi4", nil)
			w := drivertest.Open(t, newDevice(t), h)
			// The file goes bad after Open, as a flaky sensor would.
			setFile(h, tt.file, tt.content)
			got, unavailable := poll(t, w)
			for _, id := range tt.missing {
				if _, ok := got[id]; ok {
					t.Errorf("%s read from a bad file: %v", id, got[id])
				}
				err := unavailable[id]
				if err == nil {
					t.Errorf("%s not made unavailable", id)
					continue
				}
				for _, want := range []string{`system "host": poll: `, tt.file, tt.wantErr} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s unavailable with %q, which does not contain %q", id, err, want)
					}
				}
			}
			if len(unavailable) != len(tt.missing) {
				t.Errorf("unavailable %v, want only %v", unavailable, tt.missing)
			}
			// The other sources still report.
			if len(got) != 7-len(tt.missing) {
				t.Errorf("read %d entities, want %d: %v", len(got), 7-len(tt.missing), got)
			}
		})
	}

	t.Run("vanished file", func(t *testing.T) {
		h := machine(t, "testdata/pi4", nil)
		w := drivertest.Open(t, newDevice(t), h)
		h.RemoveFile("/proc/uptime")
		got, unavailable := poll(t, w)
		if err := unavailable["uptime"]; !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "/proc/uptime") {
			t.Fatalf("uptime unavailable with %v, want a not-exist error naming /proc/uptime", err)
		}
		if len(got) != 6 {
			t.Errorf("read %v, want the 6 other entities", got)
		}
	})

	t.Run("disk", func(t *testing.T) {
		d := newDevice(t)
		w := drivertest.Open(t, d, machine(t, "testdata/pi4", nil))
		// Poll runs on the worker, after this write: the worker takes
		// each call through a channel.
		d.statfs = statfsFixed(10, 11, 0)
		got, unavailable := poll(t, w)
		if err := unavailable["disk_used"]; err == nil || !strings.Contains(err.Error(), "inconsistent block counts") {
			t.Fatalf("disk_used unavailable with %v, want the statfs problem", err)
		}
		if len(got) != 6 {
			t.Errorf("read %v, want the 6 other entities", got)
		}
	})
}

// TestPollAllFail checks that a poll in which no source reads is an error
// naming each, and reports nothing.
func TestPollAllFail(t *testing.T) {
	h := machine(t, "testdata/pi4", nil)
	d := newDevice(t)
	w := drivertest.Open(t, d, h)
	for _, p := range []string{"/proc/loadavg", "/proc/meminfo", "/proc/uptime", "/sys/class/thermal/thermal_zone0/temp"} {
		h.RemoveFile(p)
	}
	d.statfs = func(string, *unix.Statfs_t) error { return unix.EIO }
	before := len(w.Reports())
	err := w.Poll(t)
	if err == nil {
		t.Fatal("Poll succeeded with every source failing")
	}
	for _, want := range []string{`system "host": poll: `, "/proc/loadavg", "/proc/meminfo", "/proc/uptime", "thermal_zone0/temp", `disk_path "/"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, unix.EIO) {
		t.Errorf("error %q does not wrap its causes", err)
	}
	if r := w.Reports()[before:]; len(r) != 0 {
		t.Errorf("a failed poll reported %+v; the error says it all", r)
	}
}

func TestPollCancelled(t *testing.T) {
	d := newDevice(t)
	drivertest.Open(t, d, machine(t, "testdata/pi4", nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Called directly: the worker is idle between calls.
	if err := d.Poll(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestPollAfterClose(t *testing.T) {
	d := newDevice(t)
	w := drivertest.Open(t, d, machine(t, "testdata/pi4", nil))
	if err := w.Close(t); err != nil {
		t.Fatal(err)
	}
	if err := d.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Fatalf("Poll after Close: err = %v, want not open", err)
	}
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

// realFiles is a host that serves this machine's own /proc and /sys, as
// the real host does.
type realFiles struct{ *sim.Host }

// ReadFile implements drivers.FileHost.
func (realFiles) ReadFile(path string) ([]byte, error) {
	if !strings.HasPrefix(path, "/proc/") && !strings.HasPrefix(path, "/sys/") {
		return nil, fmt.Errorf("%s: not below /proc or /sys", path)
	}
	return os.ReadFile(path)
}

// TestRealMachine reads this machine's own /proc, /sys and root filesystem.
func TestRealMachine(t *testing.T) {
	if _, err := os.Stat("/proc/loadavg"); err != nil {
		t.Fatalf("this test needs Linux: %v", err)
	}
	w := drivertest.Open(t, drivertest.Device[*Device](t, New, "host", ""), realFiles{drivertest.Host(t)})
	got, unavailable := poll(t, w)
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
			if id != "cpu_temperature" || !errors.Is(unavailable[id], ErrNoSensor) {
				t.Errorf("%s not read: %v", id, unavailable[id])
			}
			continue
		}
		if v.Kind != drivers.ValueNumber || math.IsNaN(v.Num) || v.Num < r[0] || v.Num > r[1] {
			t.Errorf("%s = %v, want a number in [%v, %v]", id, v, r[0], r[1])
		}
	}
}
