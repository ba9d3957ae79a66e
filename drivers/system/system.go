// Package system is the "system" driver: diagnostic sensors for the machine
// pinion runs on — CPU temperature, load averages, memory and disk use, and
// uptime — read from Linux's /proc and /sys and from statfs(2).
//
// Configuration keys (all optional):
//
//	disk_path       = "/"     # the filesystem disk_used reports on
//	root            = "/"     # where /proc and /sys are read from
//	cpu_temperature = "auto"  # true, false, or "auto": where the board has a sensor
//
// root exists for tests and containers: a test points it at a testdata tree,
// and an agent in a container points it at the host's /proc and /sys mounted
// elsewhere (root = "/host" reads /host/proc/loadavg). disk_path is not
// joined to root; in a container set it to the host's mount too.
//
// The CPU temperature sensor is not on every board, and an entity that is
// always unknown is clutter in Home Assistant. With cpu_temperature =
// "auto", the default, the factory looks for a thermal zone that reads
// under <root>/sys/class/thermal and lists cpu_temperature only if it finds
// one; reading sysfs is not touching hardware, and the entities are fixed
// from then on, as the driver API wants. true lists it everywhere (Open logs
// once when the board has no sensor, and the entity stays unknown), false
// nowhere.
//
// Every entity is diagnostic: it describes the health of the machine, not
// what the user installed pinion to control.
package system

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pinion-home/pinion/drivers"
)

// SampleConfig is a commented sample [[device]] table for this driver, shown
// by the agent's CLI and in the documentation.
//
//go:embed sample.toml
var SampleConfig string

func init() {
	drivers.Register("system", New)
	drivers.RegisterSample("system", SampleConfig)
}

// Entity ids, which appear in topics and unique ids and so must never change.
const (
	EntityCPUTemperature = "cpu_temperature"
	EntityLoad1          = "load_1m"
	EntityLoad5          = "load_5m"
	EntityLoad15         = "load_15m"
	EntityMemoryUsed     = "memory_used"
	EntityDiskUsed       = "disk_used"
	EntityUptime         = "uptime"
)

// preferredZones are thermal zone types that measure the CPU or SoC, in the
// order they are preferred: the Raspberry Pi's and most ARM boards' names,
// then Intel's package sensor. When none is present, zone 0 (or the
// lowest-numbered zone) is used, which on most boards is the SoC.
var preferredZones = []string{"cpu-thermal", "cpu_thermal", "x86_pkg_temp", "soc_thermal", "soc-thermal"}

// config is the driver's own keys.
type config struct {
	DiskPath       string  `toml:"disk_path"`
	Root           string  `toml:"root"`
	CPUTemperature cpuTemp `toml:"cpu_temperature"`
}

// cpuTemp is the cpu_temperature key: "auto" (the zero value, the
// default), true or false.
type cpuTemp int

const (
	cpuAuto cpuTemp = iota
	cpuOn
	cpuOff
)

// UnmarshalTOML implements BurntSushi/toml's Unmarshaler, which sees the
// value's TOML type: the key takes a boolean or the string "auto".
func (c *cpuTemp) UnmarshalTOML(v any) error {
	const use = `use true (always list the CPU temperature), false (never) or "auto" (the default: where the board has a sensor)`
	switch v := v.(type) {
	case bool:
		*c = cpuOff
		if v {
			*c = cpuOn
		}
		return nil
	case string:
		if v == "auto" {
			*c = cpuAuto
			return nil
		}
		return fmt.Errorf("%q is not a setting: %s", v, use)
	}
	return fmt.Errorf("%v is not a setting: %s", v, use)
}

// Device reports the host machine's health. It implements drivers.Reader.
type Device struct {
	id   string
	conf config

	log *slog.Logger
	// cpu says whether cpu_temperature is listed, decided at construction.
	cpu bool
	// zone is the temp file of the chosen thermal zone; empty when the
	// board has none or cpu_temperature is not listed.
	zone string
	// statfs is unix.Statfs; tests replace it to give the disk any size.
	statfs func(path string, st *unix.Statfs_t) error
}

// New builds a system device from its configuration. It looks at the
// machine only for cpu_temperature = "auto", and then only reads
// <root>/sys/class/thermal; the rest waits for Open. Every bad value is a
// drivers.KeyError, and all of them are returned at once, with Decode's
// problems if it found any.
func New(cfg drivers.Config) (drivers.Device, error) {
	c := config{DiskPath: "/", Root: "/"}
	var errs []error
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			errs = append(errs, err) // the other keys are decoded: check them too
		}
	}
	if c.DiskPath == "" || !filepath.IsAbs(c.DiskPath) {
		errs = append(errs, drivers.BadKey("disk_path", `%q is not an absolute path: use one such as "/" or "/mnt/data"`, c.DiskPath))
	}
	if c.Root == "" || !filepath.IsAbs(c.Root) {
		errs = append(errs, drivers.BadKey("root", "%q is not an absolute path: use one, or leave root unset to read / (it exists for tests and containers)", c.Root))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("system %q: %w", cfg.ID, errors.Join(errs...))
	}
	c.DiskPath = filepath.Clean(c.DiskPath)
	c.Root = filepath.Clean(c.Root)
	d := &Device{id: cfg.ID, conf: c, log: slog.Default(), statfs: unix.Statfs}
	switch c.CPUTemperature {
	case cpuOn:
		d.cpu = true
	case cpuAuto:
		d.cpu = d.findZone() != ""
	}
	return d, nil
}

// Info implements drivers.Device. The board's model is hardware, so it is
// not looked up here; Open logs it.
func (d *Device) Info() drivers.Info {
	return drivers.Info{Manufacturer: "pinion", Model: "Linux host"}
}

// Entities implements drivers.Device. cpu_temperature is listed as the
// factory decided; see the package documentation.
func (d *Device) Entities() []drivers.Entity {
	load := func(id, name string) drivers.Entity {
		return drivers.Entity{ID: id, Name: name, Kind: drivers.KindSensor, State: drivers.StateMeasurement,
			Precision: 2, Diagnostic: true, Icon: "mdi:cpu-64-bit"}
	}
	var es []drivers.Entity
	if d.cpu {
		es = append(es, drivers.Entity{ID: EntityCPUTemperature, Name: "CPU temperature", Kind: drivers.KindSensor,
			Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1, Diagnostic: true})
	}
	return append(es,
		load(EntityLoad1, "Load 1 min"),
		load(EntityLoad5, "Load 5 min"),
		load(EntityLoad15, "Load 15 min"),
		drivers.Entity{ID: EntityMemoryUsed, Name: "Memory used", Kind: drivers.KindSensor, Unit: drivers.Percent,
			State: drivers.StateMeasurement, Precision: 1, Diagnostic: true, Icon: "mdi:memory"},
		drivers.Entity{ID: EntityDiskUsed, Name: "Disk used", Kind: drivers.KindSensor, Unit: drivers.Percent,
			State: drivers.StateMeasurement, Precision: 1, Diagnostic: true, Icon: "mdi:harddisk"},
		// Uptime is a counter that only rises until the machine reboots,
		// which is what total_increasing means; Home Assistant accepts every
		// state class for the duration class, and with this one a reboot is
		// recorded as a reset rather than as a sudden drop in a measurement.
		drivers.Entity{ID: EntityUptime, Name: "Uptime", Kind: drivers.KindSensor, Class: drivers.ClassDuration,
			Unit: drivers.Seconds, State: drivers.StateTotalIncreasing, Precision: 0, Diagnostic: true},
	)
}

// Open implements drivers.Device. It checks that the machine has Linux's
// /proc and that disk_path exists, picks the thermal zone when
// cpu_temperature is listed, and logs the board's model.
func (d *Device) Open(ctx context.Context, h drivers.Host) error {
	if l := h.Logger(); l != nil {
		d.log = l
	}
	if _, err := os.ReadFile(d.path("proc", "loadavg")); err != nil {
		return fmt.Errorf("system %q: %w (this driver needs Linux's /proc)", d.id, err)
	}
	if _, err := d.diskUsed(); err != nil {
		return fmt.Errorf("system %q: %w", d.id, err)
	}
	if d.cpu {
		d.zone = d.findZone()
		if d.zone == "" {
			d.log.Info("the board has no CPU temperature sensor; cpu_temperature will stay unknown (set cpu_temperature = \"auto\" or false to leave it out)",
				"looked_in", d.path("sys", "class", "thermal"))
		} else {
			d.log.Debug("reading the CPU temperature", "file", d.zone)
		}
	}
	if model := d.model(); model != "" {
		d.log.Info("board", "model", model)
	}
	return nil
}

// Read implements drivers.Reader. It returns every reading it could take;
// when a source fails, the error names it and the other readings are still
// returned.
func (d *Device) Read(ctx context.Context) ([]drivers.Reading, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []drivers.Reading
	var errs []error
	add := func(entity string, v drivers.Value) {
		out = append(out, drivers.Reading{Entity: entity, Value: v})
	}
	fail := func(err error) { errs = append(errs, err) }

	if d.zone != "" {
		if t, err := readParsed(d.zone, parseMillidegrees); err != nil {
			fail(err)
		} else {
			add(EntityCPUTemperature, drivers.Num(t, drivers.Celsius))
		}
	}
	if l, err := readParsed(d.path("proc", "loadavg"), parseLoadavg); err != nil {
		fail(err)
	} else {
		add(EntityLoad1, drivers.Num(l[0], ""))
		add(EntityLoad5, drivers.Num(l[1], ""))
		add(EntityLoad15, drivers.Num(l[2], ""))
	}
	if m, err := readParsed(d.path("proc", "meminfo"), parseMeminfo); err != nil {
		fail(err)
	} else {
		add(EntityMemoryUsed, drivers.Num(round2(m.UsedPercent()), drivers.Percent))
	}
	if p, err := d.diskUsed(); err != nil {
		fail(err)
	} else {
		add(EntityDiskUsed, drivers.Num(round2(p), drivers.Percent))
	}
	if s, err := readParsed(d.path("proc", "uptime"), parseUptime); err != nil {
		fail(err)
	} else {
		add(EntityUptime, drivers.Num(math.Floor(s), drivers.Seconds))
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("system %q: %w", d.id, errors.Join(errs...))
	}
	return out, nil
}

// Close implements drivers.Device. The driver holds nothing open between
// reads.
func (d *Device) Close() error { return nil }

// path returns a file under the configured root.
func (d *Device) path(elem ...string) string {
	return filepath.Join(append([]string{d.conf.Root}, elem...)...)
}

// readParsed reads the file at path and parses it, naming the file in any
// error.
func readParsed[T any](path string, parse func([]byte) (T, error)) (T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var zero T
		return zero, err // *PathError already names the file.
	}
	v, err := parse(b)
	if err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// diskUsed returns the share of disk_path's filesystem in use, the way df
// counts it: blocks reserved for root count neither as used nor as
// available, so a full disk reads 100% even though root can still write.
func (d *Device) diskUsed() (float64, error) {
	var st unix.Statfs_t
	if err := d.statfs(d.conf.DiskPath, &st); err != nil {
		return 0, fmt.Errorf("disk_path %q: statfs: %w", d.conf.DiskPath, err)
	}
	if st.Bfree > st.Blocks || st.Bavail > st.Bfree {
		return 0, fmt.Errorf("disk_path %q: statfs: inconsistent block counts (total %d, free %d, available %d)",
			d.conf.DiskPath, st.Blocks, st.Bfree, st.Bavail)
	}
	used := st.Blocks - st.Bfree
	if used+st.Bavail == 0 {
		return 0, fmt.Errorf("disk_path %q: the filesystem has no size (a pseudo filesystem?); point disk_path at a disk", d.conf.DiskPath)
	}
	return float64(used) / float64(used+st.Bavail) * 100, nil
}

// findZone returns the temp file of the thermal zone that measures the CPU,
// or "" when the board has none that reads. Zones are tried in order of
// preference so that a zone whose sensor errors (some Wi-Fi chips' zones do
// while the interface is down) does not hide a working one.
func (d *Device) findZone() string {
	dirs, _ := filepath.Glob(d.path("sys", "class", "thermal", "thermal_zone*"))
	type zone struct {
		dir  string
		num  int
		rank int
	}
	var zones []zone
	for _, dir := range dirs {
		n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "thermal_zone"))
		if err != nil {
			continue
		}
		typ, _ := os.ReadFile(filepath.Join(dir, "type"))
		rank := slices.Index(preferredZones, strings.TrimSpace(string(typ)))
		if rank < 0 {
			rank = len(preferredZones)
		}
		zones = append(zones, zone{dir: dir, num: n, rank: rank})
	}
	slices.SortFunc(zones, func(a, b zone) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.num, b.num))
	})
	for _, z := range zones {
		temp := filepath.Join(z.dir, "temp")
		_, err := readParsed(temp, parseMillidegrees)
		if err == nil {
			return temp
		}
		d.log.Debug("skipping thermal zone", "err", err)
	}
	return ""
}

// model returns the board's model from the device tree ("Raspberry Pi 4
// Model B Rev 1.4"), or "" on machines without one.
func (d *Device) model() string {
	for _, p := range [][]string{
		{"sys", "firmware", "devicetree", "base", "model"},
		{"proc", "device-tree", "model"},
	} {
		if b, err := os.ReadFile(d.path(p...)); err == nil {
			if m := strings.TrimSpace(strings.TrimRight(string(b), "\x00")); m != "" {
				return m
			}
		}
	}
	return ""
}

// round2 rounds to two decimals: finer digits are noise in a percentage and
// only make payloads longer.
func round2(v float64) float64 { return math.Round(v*100) / 100 }

var _ drivers.Reader = (*Device)(nil)
