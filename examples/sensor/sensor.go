// Package sensor is an example of a custom pinion driver, "example-sensor":
// a sensor that reads a number from a file, such as the values Linux
// publishes under /sys (the SoC's temperature, a battery's charge, a fan's
// speed, bytes received on a network interface) or /proc. It is written to
// be read by someone writing their own driver; docs/writing-drivers.md walks
// through it.
//
//	[[device]]
//	id = "soc"
//	driver = "example-sensor"
//	name = "SoC"
//	path = "/sys/class/thermal/thermal_zone0/temp"   # 48312 is 48.312 °C
//	scale = 0.001
//	unit = "°C"
//	class = "temperature"
//
// The device has one sensor entity, "value", its device's main feature:
// Home Assistant shows it under the device's name. Each poll takes the
// file's number, or the field-th of its whitespace-separated fields, and
// reports number × scale + offset in unit through the drivers.Output it was
// opened with. A file that holds no number makes the entity unavailable,
// with the reason, until a poll reads one again.
//
// The driver reads files only through the host (drivers.ReadFile), as
// every driver reaches hardware, so the same code runs on a Raspberry Pi
// and on the simulated board of tests and demos, where the host serves the
// files. Hosts serve read-only files below /proc and /sys, so a path
// anywhere else is refused when the configuration is loaded, and a path
// under /dev with a hint of its own: devices are reached through the
// driver for their hardware.
//
// # Compiling it in
//
// The driver registers itself from init(), so importing the package is all
// it takes. Copy cmd/agent/main.go and add the import, as
// examples/cmd/pinion-custom does:
//
//	import (
//		"github.com/pinion-home/pinion/agent"
//		_ "github.com/pinion-home/pinion/drivers/all"
//		_ "github.com/pinion-home/pinion/examples/sensor"
//	)
//
//	func main() { agent.Main() }
//
// Then `pinion -sample example-sensor` prints SampleConfig. The
// registration is in register.go on its own; everything a Go plugin's
// wrapper needs to build the same drivers.Driver record (DriverName,
// Description, New, SampleConfig and DefaultInterval) is exported.
package sensor

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/pinion-home/pinion/drivers"
)

// DriverName is the name the driver registers under: the value of driver =
// in a [[device]] table.
const DriverName = "example-sensor"

// Description is the line `pinion -drivers` shows for the driver.
const Description = "example: a number read from a file below /sys or /proc, such as the SoC's temperature"

// DefaultInterval is how often the file is read when the [[device]] table
// sets no interval: the values Linux publishes there change slowly.
const DefaultInterval = 30 * time.Second

// EntityValue is the id of the device's one entity. It is part of the state
// topic, pinion/<node>/<device>/value, so it must never change.
const EntityValue = "value"

// SampleConfig is a commented sample [[device]] table, shown by
// `pinion -sample example-sensor`: every key, with the optional ones
// commented out at their defaults.
//
//go:embed sample.toml
var SampleConfig string

// maxFileSize bounds the file a sensor takes. A sysfs attribute is at most
// a page; a path pointing at a large file by mistake is an error, not a
// number found somewhere in it.
const maxFileSize = 4096

// maxPrecision is the most decimals precision may ask for; more than a
// float64 carries would only show noise.
const maxPrecision = 9

// numericClasses are the classes of drivers' vocabulary that measure a
// number, which is what this driver reports. Whether a class goes with the
// unit is Home Assistant's rule, checked by `pinion -check` and at start.
var numericClasses = []string{
	drivers.ClassTemperature, drivers.ClassHumidity, drivers.ClassPressure,
	drivers.ClassCO2, drivers.ClassDuration, drivers.ClassDataSize,
	drivers.ClassVoltage, drivers.ClassPower, drivers.ClassEnergy,
	drivers.ClassCurrent, drivers.ClassIlluminance,
}

// stateClasses maps state_class's values to the drivers' state classes.
var stateClasses = map[string]drivers.StateClass{
	"measurement":      drivers.StateMeasurement,
	"total":            drivers.StateTotal,
	"total_increasing": drivers.StateTotalIncreasing,
	"none":             drivers.StateNone,
}

// config is the driver's part of a [[device]] table, decoded strictly by
// Config.Decode: a key not listed here is an error naming its line.
// Optional keys whose zero value is valid input are pointers, so that
// the default applies only when the key is absent.
type config struct {
	Path       string   `toml:"path"`
	Field      int      `toml:"field"`
	Scale      *float64 `toml:"scale"`
	Offset     float64  `toml:"offset"`
	Unit       string   `toml:"unit"`
	Class      string   `toml:"class"`
	StateClass *string  `toml:"state_class"`
	Precision  *int     `toml:"precision"`
	Diagnostic bool     `toml:"diagnostic"`
}

// New is the driver's factory, drivers.Driver's New. It decodes and checks
// the configuration and returns a *File. It does not look at the file,
// which may not exist on the machine running `pinion -check`; Open does.
func New(cfg drivers.Config) (drivers.Device, error) {
	if cfg.Decode == nil {
		return nil, fmt.Errorf("%s %q: no configuration to decode (Config.Decode is nil)", DriverName, cfg.ID)
	}
	var c config
	var errs []error
	if err := cfg.Decode(&c); err != nil {
		errs = append(errs, err) // the other keys are decoded: check them too
	}
	f, verrs := c.file(cfg.ID)
	if errs = append(errs, verrs...); len(errs) > 0 {
		return nil, fmt.Errorf("%s %q: %w", DriverName, cfg.ID, errors.Join(errs...))
	}
	return f, nil
}

// file checks the decoded keys and builds the device. It checks them all
// and returns a drivers.KeyError for each bad value, so that the agent
// reports every one at its own line in one go.
func (c *config) file(id string) (*File, []error) {
	f := &File{id: id, path: filepath.Clean(c.Path), field: c.Field, scale: 1, offset: c.Offset,
		unit: drivers.Unit(c.Unit), class: c.Class, state: drivers.StateMeasurement, precision: -1,
		diagnostic: c.Diagnostic}
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, drivers.BadKey(key, format, args...)) }
	switch {
	case c.Path == "":
		bad("path", `is required: the file to read, such as path = "/sys/class/thermal/thermal_zone0/temp"`)
	case !filepath.IsAbs(c.Path):
		bad("path", `%q is relative: write the absolute path, such as "/sys/class/thermal/thermal_zone0/temp"`, c.Path)
	case below(f.path, "/dev"):
		bad("path", `%q is a device: drivers never open /dev themselves, the agent hands hardware to them; use the driver for that hardware`, c.Path)
	case !strings.HasPrefix(f.path, "/sys/") && !strings.HasPrefix(f.path, "/proc/"):
		bad("path", `%q is not below /sys or /proc: the driver reads the files Linux publishes there, such as "/sys/class/thermal/thermal_zone0/temp"`, c.Path)
	}
	if c.Field < 0 {
		bad("field", "%d is not a field: count fields from 1, or leave field out when the file holds one number", c.Field)
	}
	if c.Scale != nil {
		if *c.Scale == 0 || math.IsNaN(*c.Scale) || math.IsInf(*c.Scale, 0) {
			bad("scale", "%v is not a scale: want a finite number other than 0, such as 0.001 for a file in thousandths", *c.Scale)
		}
		f.scale = *c.Scale
	}
	if math.IsNaN(c.Offset) || math.IsInf(c.Offset, 0) {
		bad("offset", "%v is not an offset: want a finite number", c.Offset)
	}
	if strings.TrimSpace(c.Unit) != c.Unit || strings.IndexFunc(c.Unit, unicode.IsControl) >= 0 {
		bad("unit", `%q has spaces around it or control characters in it: write the unit alone, such as "°C"`, c.Unit)
	}
	if c.Class != "" && !slices.Contains(numericClasses, c.Class) {
		bad("class", "%q is not a class of numeric sensor: use one of %s, or leave class out", c.Class, quoteList(numericClasses))
	}
	if c.StateClass != nil {
		if s, ok := stateClasses[*c.StateClass]; ok {
			f.state = s
		} else {
			bad("state_class", `%q is not a state class: use "measurement" (the default: a value measured now), "total_increasing" (a counter that only rises until it resets), "total" or "none"`, *c.StateClass)
		}
	} else if c.Class == drivers.ClassEnergy {
		// Energy is a meter's total: Home Assistant keeps no statistics
		// for it as a measurement.
		f.state = drivers.StateTotalIncreasing
	}
	if c.Precision != nil {
		if *c.Precision < 0 || *c.Precision > maxPrecision {
			bad("precision", "%d is not a precision: want 0 to %d decimals, or leave it out to publish the value as read", *c.Precision, maxPrecision)
		}
		f.precision = *c.Precision
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return f, nil
}

// below reports whether the clean absolute path p is dir or below it.
func below(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// File is a sensor read from a file. It implements drivers.Device and
// drivers.Poller.
//
// It has no lock: the agent calls Open, Poll and Close on the device's
// worker, one at a time.
type File struct {
	id         string
	path       string
	field      int // 0: the file is one number
	scale      float64
	offset     float64
	unit       drivers.Unit
	class      string
	state      drivers.StateClass
	precision  int
	diagnostic bool

	// h and out are the host and the Output of the opening under way; h
	// is nil while the sensor is not open.
	h   drivers.Host
	out drivers.Output
}

// Info implements drivers.Device.
func (f *File) Info() drivers.Info {
	return drivers.Info{Model: "File sensor (" + f.path + ")"}
}

// Entities implements drivers.Device: one sensor, the device's main
// feature. It depends on the configuration only, never on the file.
func (f *File) Entities() []drivers.Entity {
	return []drivers.Entity{{
		ID:         EntityValue,
		Diagnostic: f.diagnostic,
		Spec: drivers.Sensor{
			Class:     f.class,
			Unit:      f.unit,
			State:     f.state,
			Precision: f.precision,
		},
	}}
}

// Open implements drivers.Device. It reads the file once, so that a wrong
// path or a file that holds no number is reported when the device starts,
// naming the file, rather than as a sensor that stays unknown; and it
// reports that first value at once.
func (f *File) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	v, err := f.sample(h)
	if err != nil {
		return f.errorf("open: %w", err)
	}
	h.Logger().Debug("file sensor ready", "path", f.path, "value", v)
	f.h, f.out = h, out
	out.State(EntityValue, v)
	return nil
}

// Poll implements drivers.Poller: it reads the file again and reports its
// number, scaled, in unit. A file that cannot be read or holds no number
// makes the entity unavailable, saying why, and is no error of the
// device's: the next poll reads it again.
func (f *File) Poll(ctx context.Context) error {
	if f.h == nil {
		return f.errorf("poll: the sensor is not open")
	}
	if err := ctx.Err(); err != nil {
		return f.errorf("poll: %w", err)
	}
	v, err := f.sample(f.h)
	if err != nil {
		f.out.Unavailable(EntityValue, f.errorf("read: %w", err))
		return nil
	}
	f.out.State(EntityValue, v)
	return nil
}

// Close implements drivers.Device. The host reads the whole file at each
// poll, so there is nothing to release.
func (f *File) Close() error {
	f.h, f.out = nil, nil
	return nil
}

// sample reads the file through h and returns its value, scaled, in unit.
func (f *File) sample(h drivers.Host) (drivers.Value, error) {
	b, err := drivers.ReadFile(h, f.path)
	if err != nil {
		return drivers.Value{}, err // the host's error names the file
	}
	if len(b) > maxFileSize {
		return drivers.Value{}, fmt.Errorf("%s is longer than %d bytes: point path at a file holding a number", f.path, maxFileSize)
	}
	raw, err := parseValue(b, f.field)
	if err != nil {
		return drivers.Value{}, fmt.Errorf("%s: %w", f.path, err)
	}
	if f.scale == 1 && f.offset == 0 {
		return drivers.Num(raw, f.unit), nil // exact: a byte counter must not be rounded
	}
	// 48312 × 0.001 is 48.312000000000005 in binary floating point. Fifteen
	// significant digits are all a float64 holds reliably, and dropping the
	// rest publishes 48.312.
	v, _ := strconv.ParseFloat(strconv.FormatFloat(raw*f.scale+f.offset, 'g', 15, 64), 64)
	if math.IsInf(v, 0) {
		return drivers.Value{}, fmt.Errorf("%s: %v × scale %v + offset %v is too large for a number", f.path, raw, f.scale, f.offset)
	}
	return drivers.Num(v, f.unit), nil
}

// parseValue parses a file's content: one number when field is 0, else the
// field-th whitespace-separated field (counted from 1). A number is written
// in decimal, as the kernel writes them: "48312", "-5", "0.52", "1.5e3".
// Errors say what the file holds, so that the user can fix path or field.
func parseValue(b []byte, field int) (float64, error) {
	fields := strings.Fields(string(b))
	var s string
	switch {
	case len(fields) == 0:
		return 0, errors.New("empty: want a number")
	case field == 0 && len(fields) > 1:
		return 0, fmt.Errorf("holds %d fields (%s): set field to the one to read, counted from 1", len(fields), excerpt(string(b)))
	case field == 0:
		s = fields[0]
	case field > len(fields):
		return 0, fmt.Errorf("holds %d fields (%s): there is no field %d", len(fields), excerpt(string(b)), field)
	default:
		s = fields[field-1]
	}
	v, err := parseDecimal(s)
	if err != nil {
		if field == 0 {
			return 0, fmt.Errorf("%s: %w", excerpt(s), err)
		}
		return 0, fmt.Errorf("field %d %s: %w", field, excerpt(s), err)
	}
	return v, nil
}

// parseDecimal parses a decimal number. strconv.ParseFloat alone would also
// take "NaN", "Inf", hexadecimal and digits with underscores, none of which
// is a reading.
func parseDecimal(s string) (float64, error) {
	if strings.Trim(s, "+-.0123456789eE") != "" {
		return 0, errors.New("not a decimal number")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, errors.New("not a decimal number")
	}
	return v, nil
}

// excerpt quotes s for a message, shortened: the file may hold anything.
func excerpt(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 40
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return strconv.Quote(s)
}

// quoteList formats names as "a", "b" or "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// errorf prefixes an error with the driver and the device, as every error
// of a pinion driver is: example-sensor "soc": ...
func (f *File) errorf(format string, args ...any) error {
	return fmt.Errorf("%s %q: %w", DriverName, f.id, fmt.Errorf(format, args...))
}

// The compiler checks that File has the capabilities the package
// documentation promises.
var (
	_ drivers.Device = (*File)(nil)
	_ drivers.Poller = (*File)(nil)
)
