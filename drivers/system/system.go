// Package system is the "system" driver: diagnostic sensors for the machine
// pinion runs on — CPU temperature, load averages, memory and disk use, and
// uptime — read from Linux's /proc and /sys through the host
// (drivers.ReadFile) and from statfs(2).
//
// Configuration keys (all optional):
//
//	disk_path       = "/"     # the filesystem disk_used reports on
//	cpu_temperature = "auto"  # "auto", true or false
//
// Files under /proc and /sys are read through the host, never opened
// directly, so the simulated host can give the driver any machine and the
// real host decides where they come from. disk_path is a path of the
// machine's own filesystem, measured with statfs(2); in a container, point
// it at the host's mount.
//
// Entities depend on the configuration alone, so whether the board has a
// CPU temperature sensor cannot decide whether cpu_temperature is listed:
// the host is not known before Open. cpu_temperature = false leaves it out;
// "auto" (the default) and true list it. Open then looks for a thermal zone
// that reads under /sys/class/thermal, preferring the CPU's own; on a board
// without one the entity is reported unavailable, with the reason and the
// way to remove it, and every poll looks again (a thermal driver loaded
// late is picked up). With "auto" the missing sensor is logged at Open as
// information, with true as a warning, since the configuration says the
// board has one.
//
// Every entity is diagnostic: it describes the health of the machine, not
// what the user installed pinion to control. A source that fails (a file
// that does not parse) makes its own entities unavailable and the others
// are still reported; a poll in which every source fails is an error.
package system

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pinion-home/pinion/drivers"
)

// SampleConfig is a commented sample [[device]] table for this driver, shown
// by the agent's CLI and in the documentation.
//
//go:embed sample.toml
var SampleConfig string

// DefaultInterval is how often the machine is read when the device sets no
// interval: load and temperature change over minutes, not seconds.
const DefaultInterval = time.Minute

func init() {
	drivers.Register(drivers.Driver{
		Name:            "system",
		New:             New,
		Sample:          SampleConfig,
		DefaultInterval: DefaultInterval,
		Description:     "the machine pinion runs on: CPU temperature, load, memory and disk use, uptime",
	})
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

// Files the driver reads through the host.
const (
	fileLoadavg = "/proc/loadavg"
	fileMeminfo = "/proc/meminfo"
	fileUptime  = "/proc/uptime"
	dirThermal  = "/sys/class/thermal"
)

// modelFiles hold the board's model on machines with a device tree, in the
// order they are tried.
var modelFiles = []string{"/sys/firmware/devicetree/base/model", "/proc/device-tree/model"}

// maxZones bounds the thermal zones looked at: thermal_zone0 to
// thermal_zone63. The host reads files but lists no directories, so zones
// are probed by number; numbers have gaps when a driver was reloaded, and
// stay small.
const maxZones = 64

// preferredZones are thermal zone types that measure the CPU or SoC, in the
// order they are preferred: the Raspberry Pi's and most ARM boards' names,
// then Intel's package sensor. When none is present, the lowest-numbered
// zone that reads is used, which on most boards is the SoC.
var preferredZones = []string{"cpu-thermal", "cpu_thermal", "x86_pkg_temp", "soc_thermal", "soc-thermal"}

// ErrNoSensor is the reason cpu_temperature is unavailable on a board
// without a thermal zone that reads.
var ErrNoSensor = errors.New("the board has no CPU temperature sensor (no thermal zone under " + dirThermal +
	" reads); set cpu_temperature = false to leave the entity out")

// config is the driver's own keys.
type config struct {
	DiskPath       string  `toml:"disk_path"`
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
	const use = `use "auto" (the default: listed, and unavailable where the board has no sensor), true (the same, but a missing sensor is a warning) or false (never listed)`
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

// Device reports the host machine's health. It implements drivers.Poller.
type Device struct {
	id   string
	conf config

	// Set by Open.
	host drivers.Host
	out  drivers.Output
	log  *slog.Logger
	// zone is the temp file of the chosen thermal zone; empty when the
	// board has none or cpu_temperature is not listed.
	zone string
	// statfs is unix.Statfs; tests replace it to give the disk any size.
	statfs func(path string, st *unix.Statfs_t) error
}

// New builds a system device from its configuration, without looking at the
// machine: that waits for Open. Every bad value is a drivers.KeyError, and
// all of them are returned at once, with Decode's problems if it found any.
func New(cfg drivers.Config) (drivers.Device, error) {
	c := config{DiskPath: "/"}
	var errs []error
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			errs = append(errs, err) // the other keys are decoded: check them too
		}
	}
	if c.DiskPath == "" || !filepath.IsAbs(c.DiskPath) {
		errs = append(errs, drivers.BadKey("disk_path", `%q is not an absolute path: use one such as "/" or "/mnt/data"`, c.DiskPath))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("system %q: %w", cfg.ID, errors.Join(errs...))
	}
	c.DiskPath = filepath.Clean(c.DiskPath)
	return &Device{id: cfg.ID, conf: c, log: slog.New(slog.DiscardHandler), statfs: unix.Statfs}, nil
}

// Info implements drivers.Device. The board's model is hardware, so it is
// not looked up here; Open logs it.
func (d *Device) Info() drivers.Info {
	return drivers.Info{Manufacturer: "pinion", Model: "Linux host"}
}

// cpuListed reports whether cpu_temperature is an entity.
func (d *Device) cpuListed() bool { return d.conf.CPUTemperature != cpuOff }

// Entities implements drivers.Device. cpu_temperature is listed unless the
// configuration says false; see the package documentation.
func (d *Device) Entities() []drivers.Entity {
	load := func(id, name string) drivers.Entity {
		return drivers.Entity{ID: id, Name: name, Icon: "mdi:cpu-64-bit", Diagnostic: true,
			Spec: drivers.Sensor{State: drivers.StateMeasurement, Precision: 2}}
	}
	var es []drivers.Entity
	if d.cpuListed() {
		es = append(es, drivers.Entity{ID: EntityCPUTemperature, Name: "CPU temperature", Diagnostic: true,
			Spec: drivers.Sensor{Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1}})
	}
	return append(es,
		load(EntityLoad1, "Load 1 min"),
		load(EntityLoad5, "Load 5 min"),
		load(EntityLoad15, "Load 15 min"),
		drivers.Entity{ID: EntityMemoryUsed, Name: "Memory used", Icon: "mdi:memory", Diagnostic: true,
			Spec: drivers.Sensor{Unit: drivers.Percent, State: drivers.StateMeasurement, Precision: 1}},
		drivers.Entity{ID: EntityDiskUsed, Name: "Disk used", Icon: "mdi:harddisk", Diagnostic: true,
			Spec: drivers.Sensor{Unit: drivers.Percent, State: drivers.StateMeasurement, Precision: 1}},
		// Uptime is a counter that only rises until the machine reboots,
		// which is what total_increasing means; Home Assistant accepts every
		// state class for the duration class, and with this one a reboot is
		// recorded as a reset rather than as a sudden drop in a measurement.
		drivers.Entity{ID: EntityUptime, Name: "Uptime", Diagnostic: true,
			Spec: drivers.Sensor{Class: drivers.ClassDuration, Unit: drivers.Seconds, State: drivers.StateTotalIncreasing, Precision: 0}},
	)
}

// Open implements drivers.Device. It checks that the host serves Linux's
// /proc and that disk_path exists, picks the thermal zone when
// cpu_temperature is listed, and logs the board's model.
func (d *Device) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("system %q: open: %w", d.id, err)
	}
	d.host, d.out, d.zone = h, out, ""
	if l := h.Logger(); l != nil {
		d.log = l
	}
	if _, err := d.read(fileLoadavg); err != nil {
		return fmt.Errorf("system %q: open: %w (this driver needs Linux's /proc)", d.id, err)
	}
	if _, err := d.diskUsed(); err != nil {
		return fmt.Errorf("system %q: open: %w", d.id, err)
	}
	if d.cpuListed() {
		d.zone = d.findZone()
		switch {
		case d.zone != "":
			d.log.Debug("reading the CPU temperature", "file", d.zone)
		case d.conf.CPUTemperature == cpuOn:
			d.log.Warn("cpu_temperature = true, but the board has no CPU temperature sensor: the entity stays unavailable until one reads",
				"looked_in", dirThermal)
		default:
			d.log.Info("the board has no CPU temperature sensor: cpu_temperature stays unavailable (set cpu_temperature = false to leave it out)",
				"looked_in", dirThermal)
		}
	}
	if model := d.model(); model != "" {
		d.log.Info("board", "model", model)
	}
	return nil
}

// Poll implements drivers.Poller. It reports every reading it could take;
// a source that fails makes its entities unavailable, with the error naming
// the file. When every source fails, Poll returns their errors instead.
func (d *Device) Poll(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.out == nil {
		return fmt.Errorf("system %q: poll: the device is not open", d.id)
	}
	type report struct {
		entity string
		v      drivers.Value
	}
	var ok []report
	type failure struct {
		entities []string
		err      error
	}
	var failed []failure
	fail := func(err error, entities ...string) { failed = append(failed, failure{entities, err}) }

	if d.cpuListed() {
		if d.zone == "" {
			if d.zone = d.findZone(); d.zone != "" {
				d.log.Info("found a CPU temperature sensor", "file", d.zone)
			}
		}
		if d.zone == "" {
			fail(ErrNoSensor, EntityCPUTemperature)
		} else if t, err := readParsed(d, d.zone, parseMillidegrees); err != nil {
			fail(err, EntityCPUTemperature)
		} else {
			ok = append(ok, report{EntityCPUTemperature, drivers.Num(t, drivers.Celsius)})
		}
	}
	if l, err := readParsed(d, fileLoadavg, parseLoadavg); err != nil {
		fail(err, EntityLoad1, EntityLoad5, EntityLoad15)
	} else {
		ok = append(ok, report{EntityLoad1, drivers.Num(l[0], "")}, report{EntityLoad5, drivers.Num(l[1], "")},
			report{EntityLoad15, drivers.Num(l[2], "")})
	}
	if m, err := readParsed(d, fileMeminfo, parseMeminfo); err != nil {
		fail(err, EntityMemoryUsed)
	} else {
		ok = append(ok, report{EntityMemoryUsed, drivers.Num(round2(m.UsedPercent()), drivers.Percent)})
	}
	if p, err := d.diskUsed(); err != nil {
		fail(err, EntityDiskUsed)
	} else {
		ok = append(ok, report{EntityDiskUsed, drivers.Num(round2(p), drivers.Percent)})
	}
	if s, err := readParsed(d, fileUptime, parseUptime); err != nil {
		fail(err, EntityUptime)
	} else {
		ok = append(ok, report{EntityUptime, drivers.Num(math.Floor(s), drivers.Seconds)})
	}

	if len(ok) == 0 {
		errs := make([]error, len(failed))
		for i, f := range failed {
			errs[i] = f.err
		}
		return fmt.Errorf("system %q: poll: %w", d.id, errors.Join(errs...))
	}
	for _, r := range ok {
		d.out.State(r.entity, r.v)
	}
	for _, f := range failed {
		err := fmt.Errorf("system %q: poll: %w", d.id, f.err)
		for _, e := range f.entities {
			d.out.Unavailable(e, err)
		}
	}
	return nil
}

// Close implements drivers.Device. The driver holds nothing open between
// polls; it forgets the host, so a Poll after Close fails.
func (d *Device) Close() error {
	d.host, d.out, d.zone = nil, nil, ""
	return nil
}

// read reads a file through the host, naming it in the error.
func (d *Device) read(path string) ([]byte, error) {
	b, err := drivers.ReadFile(d.host, path)
	if err != nil && !strings.Contains(err.Error(), path) {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return b, err
}

// readParsed reads the file at path through the host and parses it, naming
// the file in any error.
func readParsed[T any](d *Device, path string, parse func([]byte) (T, error)) (T, error) {
	b, err := d.read(path)
	if err != nil {
		var zero T
		return zero, err
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
	type zone struct {
		dir  string
		num  int
		rank int
	}
	var zones []zone
	for n := range maxZones {
		dir := dirThermal + "/thermal_zone" + strconv.Itoa(n)
		typ, err := drivers.ReadFile(d.host, dir+"/type")
		if err != nil {
			continue
		}
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
		temp := z.dir + "/temp"
		_, err := readParsed(d, temp, parseMillidegrees)
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
	for _, p := range modelFiles {
		if b, err := drivers.ReadFile(d.host, p); err == nil {
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

var (
	_ drivers.Device = (*Device)(nil)
	_ drivers.Poller = (*Device)(nil)
)
