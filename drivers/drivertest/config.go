package drivertest

import (
	"cmp"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/internal/devconf"
)

// File is the file name problems are reported in ("test.toml:3: pin: …"),
// where the agent names the configuration file.
const File = "test.toml"

// Problem is one thing wrong with a device's table, in the agent's terms:
// File is File; Line counts from 1 in the TOML the test gave (0 when the
// problem has none); Key is the key at fault, "pin", "sensor.offset", or
// for a table of a document "device[1].pin" (array elements are counted
// from 0). It is the agent's own type (agent.Problem), so a problem prints
// here as the agent prints it: "test.toml:3: pin: …".
type Problem = devconf.Problem

// ConfigError is every problem found in a table or document, sorted by
// line, as the agent prints them. Decode returns one, and a driver wraps
// it: `gpio "door": test.toml:3: pin: …`. It is the agent's own type
// (agent.ConfigError).
type ConfigError = devconf.ConfigError

// Config returns the drivers.Config the agent would pass to a driver's
// New for a [[device]] table with id id whose other keys are tomlBody:
// the driver's own keys, and optionally the common keys name and interval,
// which go to Config.Name and Config.Interval as in the agent, and
// [entity.<id>] tables, which are the agent's and never reach Decode
// (Build and Problems check them). Name
// defaults to id, and Interval to the agent's default of 30 s (the table
// names no driver, so its DefaultInterval is not known here; Tables
// resolves it).
//
// Decode decodes the driver's keys the way the agent's does: strictly, with
// every key the target does not take and every value of the wrong type
// reported at once as a *ConfigError whose problems name the line in
// tomlBody and the key, in the agent's words:
//
//	test.toml:3: pin: must be a string, not an integer (17)
//	test.toml:4: chanel: unknown key (did you mean "channel"?)
//
// Decode may be called once. The test fails at once if tomlBody is not
// TOML, holds id or driver, or if id is not a valid device id: those are
// mistakes in the test, which the agent rejects before any driver sees the
// table. Use ParseConfig to get them as an error instead.
func Config(t testing.TB, id, tomlBody string) drivers.Config {
	t.Helper()
	cfg, err := ParseConfig(id, tomlBody)
	if err != nil {
		t.Fatalf("drivertest.Config(%q): %v\n%s", id, err, tomlBody)
	}
	return cfg
}

// ParseConfig is Config for tests that feed arbitrary input, such as fuzz
// tests: it returns the problems with tomlBody itself (a TOML syntax error,
// a common key of the wrong type) as a *ConfigError instead of failing the
// test. The agent reports those without calling the driver's factory.
func ParseConfig(id, tomlBody string) (drivers.Config, error) {
	tb, err := parseBody(id, tomlBody)
	if err != nil {
		return drivers.Config{}, err
	}
	return tb.Config, nil
}

// Build builds a device with f, a driver's New, from a table as Config
// makes it, and then checks what the agent checks after New returns: a New
// that returns neither a device nor an error is a bug, one that never
// calls Decode takes no keys, so every key in tomlBody is reported as
// unknown, and an [entity.<id>] table (the agent's per-entity options:
// name, icon, disabled, enabled_by_default) must name an entity of the
// device. Decode fails once New has returned.
//
// A panic in f is not recovered: the test fails with its stack, where the
// agent would report "driver factory panicked".
func Build(t testing.TB, f func(drivers.Config) (drivers.Device, error), id, tomlBody string) (drivers.Device, error) {
	t.Helper()
	tb, err := parseBody(id, tomlBody)
	if err != nil {
		t.Fatalf("drivertest.Build(%q): %v\n%s", id, err, tomlBody)
	}
	return tb.Build(f)
}

// Device is Build for a table the factory must accept: it returns the
// device as a D, the driver's device type (or drivers.Device for a factory
// that makes several types), and the test fails at once if the table is
// wrong, if f fails, or if it makes something else.
//
//	b := drivertest.Device[*relay.Board](t, relay.New, "blinds", `pins = ["GPIO20", "GPIO21"]`)
func Device[D drivers.Device](t testing.TB, f func(drivers.Config) (drivers.Device, error), id, tomlBody string) D {
	t.Helper()
	d, err := Build(t, f, id, tomlBody)
	if err != nil {
		t.Fatalf("drivertest.Device(%q): %v\n%s", id, err, tomlBody)
	}
	dd, ok := d.(D)
	if !ok {
		t.Fatalf("drivertest.Device(%q): the factory made a %T, want %v", id, d, reflect.TypeFor[D]())
	}
	return dd
}

// Table is one [[device]] table of a configuration document, ready for its
// driver's factory.
type Table struct {
	// Driver is the table's driver key.
	Driver string
	// Line is the line of the table's [[device]] header.
	Line int
	// Config is what the agent passes to the driver's factory: ID, Name
	// and Interval from the common keys, and a strict Decode of the rest.
	Config drivers.Config

	dec      *devconf.Decoder
	doc      *devconf.Doc
	path     devconf.Path            // of the table in doc
	entities []devconf.EntityOptions // its [device.entity.<id>] tables
}

// Problems builds a device with f, a driver's New, from a table as Config
// makes it and returns every problem the agent would report for the table,
// sorted by line, or nil when f accepts it: Decode's problems, each
// drivers.KeyError of f's error at its own key and line, the rest of f's
// error at the table (line 0 and no key, where the agent names the
// [[device]] line), and what Build checks after f returns, such as an
// [entity.<id>] table for an entity the device does not have. Lines count
// from 1 in tomlBody and keys are as tomlBody writes them ("power_on").
//
//	probs := drivertest.Problems(t, gpio.New, "door", "pin = \"GPIO17\"\nmode = \"output\"\npower_on = \"maybe\"")
//	drivertest.CheckProblems(t, probs, drivertest.WantProblem{Line: 3, Key: "power_on", Msg: `"maybe"`})
//
// A panic in f is not recovered, as in Build.
func Problems(t testing.TB, f func(drivers.Config) (drivers.Device, error), id, tomlBody string) []Problem {
	t.Helper()
	tb, err := parseBody(id, tomlBody)
	if err != nil {
		t.Fatalf("drivertest.Problems(%q): %v\n%s", id, err, tomlBody)
	}
	return tb.Problems(f)
}

// Problems calls f with the table's Config and returns every problem the
// agent would report, sorted by line; see the package function Problems.
// Lines count in the document and keys are the document's
// ("device[1].power_on"). Call it, or Build, once per Table.
func (tb Table) Problems(f func(drivers.Config) (drivers.Device, error)) []Problem {
	if tb.dec == nil {
		return []Problem{{File: File, Msg: "drivertest: Table.Problems on a Table not made by Tables or ParseTables"}}
	}
	dev, err := f(tb.Config)
	return tb.returned(dev, err)
}

// returned returns the problems the agent finds once New returned dev and
// err, sorted by line.
func (tb Table) returned(dev drivers.Device, err error) []Problem {
	probs := tb.dec.Returned(dev, err)
	if err == nil && dev != nil {
		probs = append(probs, tb.entityProblems(dev)...)
		slices.SortStableFunc(probs, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	}
	return probs
}

// entityProblems applies the table's entity tables to the entities of
// dev, as the agent does once a device is built, and returns the problems
// with them: a table for an entity that dev does not have.
func (tb Table) entityProblems(dev drivers.Device) []Problem {
	if len(tb.entities) == 0 {
		return nil
	}
	tb.doc.ApplyEntities(tb.Config.ID, tb.entities, dev.Entities())
	var ce *ConfigError
	if !errors.As(tb.doc.Err(), &ce) {
		return nil
	}
	// The document had no problems when the table was made, so those
	// under the table's entity key are the ones just found.
	prefix := tb.path.Key(devconf.EntityKey).String()
	var probs []Problem
	for _, p := range ce.Problems {
		if p.Key == prefix || strings.HasPrefix(p.Key, prefix+".") {
			probs = append(probs, p)
		}
	}
	return probs
}

// Build calls f with the table's Config and checks its result as the agent
// does; see the package function Build. Call it once per Table.
func (tb Table) Build(f func(drivers.Config) (drivers.Device, error)) (drivers.Device, error) {
	if tb.dec == nil {
		return nil, errors.New("drivertest: Table.Build on a Table not made by Tables or ParseTables")
	}
	dev, err := f(tb.Config)
	probs := tb.returned(dev, err)
	switch {
	case err != nil:
		return nil, err
	case len(probs) > 0:
		return nil, &ConfigError{Problems: probs}
	}
	return dev, nil
}

// Tables parses a configuration document in the agent's layout, such as a
// driver's sample configuration, and returns its [[device]] tables in file
// order. Problems are reported as the agent reports them, with lines
// counted in doc and keys such as "device[0].pin". Other top-level tables
// ([agent], [mqtt], …) are left to the agent and ignored here. The test
// fails at once if the document or a table's common keys (id, driver, name,
// interval) are wrong; use ParseTables to get that as an error.
func Tables(t testing.TB, doc string) []Table {
	t.Helper()
	tbs, err := ParseTables(doc)
	if err != nil {
		t.Fatalf("drivertest.Tables: %v\n%s", err, doc)
	}
	return tbs
}

// ParseTables is Tables returning the document's problems as a
// *ConfigError instead of failing the test.
func ParseTables(doc string) ([]Table, error) {
	root, d, err := devconf.Parse(File, []byte(doc))
	if err != nil {
		return nil, err
	}
	var out []Table
	ids := devconf.IDs{}
	for i, m := range d.DeviceTables(root) {
		out = append(out, table(d, devconf.Path{"device"}.Index(i), m, ids, i))
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseBody parses the keys of one device table given without its id and
// driver, as Config takes them.
func parseBody(id, body string) (Table, error) {
	root, d, err := devconf.Parse(File, []byte(body))
	if err != nil {
		return Table{}, err
	}
	for _, k := range []string{"id", "driver"} {
		if _, ok := root[k]; ok {
			d.Add(devconf.Path{}.Key(k), nil, "is not one of the driver's keys: pass the device's id to Config, and leave id and driver out of the body")
		}
	}
	m := make(map[string]any, len(root)+1)
	for k, v := range root {
		if k != "id" && k != "driver" {
			m[k] = v
		}
	}
	m["id"] = id
	tb := table(d, devconf.Path{}, m, devconf.IDs{}, 0)
	if err := d.Err(); err != nil {
		return Table{}, err
	}
	return tb, nil
}

// table checks the common keys of the device table m at path, as the agent
// does, and returns the table with a strict decoder of the other keys. A
// table of a document (a non-empty path) names its driver; a body does
// not. ids are the ids seen so far.
func table(d *devconf.Doc, path devconf.Path, m map[string]any, ids devconf.IDs, index int) Table {
	common, _ := d.Device(path, m, ids, index, len(path) > 0)
	dec := d.Decoder(path, common.Driver, m)
	return Table{
		Driver:   common.Driver,
		Line:     common.Line,
		Config:   drivers.Config{ID: common.ID, Name: common.Name, Interval: interval(common.Interval, common.Driver), Decode: dec.Decode},
		dec:      dec,
		doc:      d,
		path:     path,
		entities: common.Entities,
	}
}

// defaultInterval is the agent's interval for a device whose table sets
// none and whose driver has no DefaultInterval.
const defaultInterval = 30 * time.Second

// interval resolves a device's interval as the agent does: its interval
// key, else its driver's DefaultInterval (when driver is registered), else
// the agent's default.
func interval(key time.Duration, driver string) time.Duration {
	if key > 0 {
		return key
	}
	if drv, ok := drivers.Lookup(driver); ok && drv.DefaultInterval > 0 {
		return drv.DefaultInterval
	}
	return defaultInterval
}
