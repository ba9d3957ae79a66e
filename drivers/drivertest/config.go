package drivertest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/pinion-home/pinion/drivers"
)

// File is the file name problems are reported in ("test.toml:3: pin: …"),
// where the agent names the configuration file.
const File = "test.toml"

// Problem is one thing wrong with a device's table, in the agent's terms.
type Problem struct {
	// File is File.
	File string
	// Line is the line of the key at fault, counted from 1 in the TOML
	// the test gave; 0 when the problem has none.
	Line int
	// Key is the key at fault: "pin", "sensor.offset", or for a table of
	// a document "device[1].pin" (array elements are counted from 0).
	Key string
	// Msg says what is wrong, in the agent's words.
	Msg string
	// Err is the underlying error, if any (a toml error), for errors.Is
	// and errors.As.
	Err error
}

// String formats the problem as the agent does: "file:line: key: msg",
// leaving out the parts it does not have.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ConfigError is every problem found in a table or document. Decode returns
// one, and a driver wraps it: `gpio "door": test.toml:3: pin: …`.
type ConfigError struct {
	// Problems are sorted by line, as the agent prints them.
	Problems []Problem
}

// Error lists the problems, one per line, as the agent prints them.
func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems' underlying errors, for errors.Is and
// errors.As.
func (e *ConfigError) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}

// Config returns the drivers.Config the agent would pass to a driver's
// factory for a [[device]] table with id id whose other keys are tomlBody:
// the driver's own keys, and optionally the common keys name and interval,
// which go to Config.Name and Config.Interval as in the agent (Name
// defaults to id).
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

// Build builds a device with factory f from a table as Config makes it, and
// then checks what the agent checks after a factory returns: a factory that
// returns neither a device nor an error is a bug, and one that never calls
// Decode takes no keys, so every key in tomlBody is reported as unknown.
// Decode fails once the factory has returned.
//
// A panic in f is not recovered: the test fails with its stack, where the
// agent would report "driver factory panicked".
func Build(t testing.TB, f drivers.Factory, id, tomlBody string) (drivers.Device, error) {
	t.Helper()
	tb, err := parseBody(id, tomlBody)
	if err != nil {
		t.Fatalf("drivertest.Build(%q): %v\n%s", id, err, tomlBody)
	}
	return tb.Build(f)
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

	dec *decoder
}

// Build calls f with the table's Config and checks its result as the agent
// does; see the package function Build. Call it once per Table.
func (tb Table) Build(f drivers.Factory) (drivers.Device, error) {
	if tb.dec == nil {
		return nil, errors.New("drivertest: Table.Build on a Table not made by Tables or ParseTables")
	}
	dev, err := f(tb.Config)
	tb.dec.closed = true
	switch {
	case err != nil:
		return nil, err
	case dev == nil:
		driver := tb.dec.driverName()
		return nil, &ConfigError{Problems: []Problem{tb.dec.p.problem(tb.dec.path, nil,
			"%s returned no device and no error (a bug in the driver)", driver)}}
	}
	if !tb.dec.called && len(tb.dec.keys) > 0 {
		// The driver takes no keys of its own, so any left are typos.
		var probs []Problem
		for _, k := range sortedKeys(tb.dec.keys) {
			hint := ""
			if s := suggest(k, commonKeys); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			probs = append(probs, tb.dec.p.problem(tb.dec.path.key(k), nil, "unknown key%s: %s takes no keys of its own", hint, tb.dec.driverName()))
		}
		sortByLine(probs)
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
	root, p, err := parseDoc(doc)
	if err != nil {
		return nil, err
	}
	v, ok := root["device"]
	if !ok {
		return nil, nil
	}
	base := keyPath{"device"}
	list, ok := tables(v)
	if !ok {
		hint := ""
		if _, isTable := v.(map[string]any); isTable {
			hint = ": write [[device]], not [device]"
		}
		p.add(base, nil, "must be an array of tables ([[device]] sections), not %s%s", typeName(v), hint)
		return nil, &ConfigError{Problems: p.problems}
	}
	var out []Table
	ids := map[string]int{}
	for i, m := range list {
		tb := p.device(base.index(i), m, ids, i)
		out = append(out, tb)
	}
	if len(p.problems) > 0 {
		sortByLine(p.problems)
		return nil, &ConfigError{Problems: p.problems}
	}
	return out, nil
}

// parseBody parses the keys of one device table given without its id and
// driver, as Config takes them.
func parseBody(id, body string) (Table, error) {
	root, p, err := parseDoc(body)
	if err != nil {
		return Table{}, err
	}
	for _, k := range []string{"id", "driver"} {
		if _, ok := root[k]; ok {
			p.add(keyPath{}.key(k), nil, "is not one of the driver's keys: pass the device's id to Config, and leave id and driver out of the body")
		}
	}
	m := make(map[string]any, len(root)+1)
	for k, v := range root {
		if k != "id" && k != "driver" {
			m[k] = v
		}
	}
	m["id"] = id
	tb := p.device(keyPath{}, m, map[string]int{}, 0)
	if len(p.problems) > 0 {
		sortByLine(p.problems)
		return Table{}, &ConfigError{Problems: p.problems}
	}
	return tb, nil
}

// parseDoc parses TOML into plain maps, as the agent's loader does first,
// and scans it for the lines of its keys.
func parseDoc(doc string) (map[string]any, *parser, error) {
	var root map[string]any
	if err := toml.Unmarshal([]byte(doc), &root); err != nil {
		prob := Problem{File: File, Msg: strings.TrimPrefix(err.Error(), "toml: "), Err: err}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			// toml counts one line too many when the offending byte is
			// the newline itself, so count from the byte offset.
			prob.Line = pe.Position.Line
			if text := stripBOM([]byte(doc)); pe.Position.Start >= 0 && pe.Position.Start <= len(text) {
				prob.Line = 1 + bytes.Count(text[:pe.Position.Start], []byte("\n"))
			}
			prob.Msg = pe.Message
		}
		return nil, nil, &ConfigError{Problems: []Problem{prob}}
	}
	return root, &parser{file: File, lines: scanLines(string(stripBOM([]byte(doc))))}, nil
}

// sortByLine sorts problems by line, keeping the order of those on one
// line.
func sortByLine(probs []Problem) {
	slices.SortStableFunc(probs, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
}

// parser collects the problems of one document.
type parser struct {
	file     string
	lines    map[string]int
	problems []Problem
}

// problem builds a Problem at path, with the line the scanner found for the
// path or its nearest enclosing key.
func (p *parser) problem(path keyPath, err error, format string, args ...any) Problem {
	return Problem{File: p.file, Line: p.line(path), Key: path.String(), Msg: fmt.Sprintf(format, args...), Err: err}
}

// add records a problem at path.
func (p *parser) add(path keyPath, err error, format string, args ...any) {
	p.problems = append(p.problems, p.problem(path, err, format, args...))
}

// line returns the line of path, or of the nearest enclosing key that the
// scanner found (an inline table's keys have the line of the table).
func (p *parser) line(path keyPath) int {
	for k := len(path); k > 0; k-- {
		if l, ok := p.lines[path[:k].String()]; ok {
			return l
		}
	}
	return 0
}

// device checks the common keys of one device table at path, as the agent
// does, and returns the table with a strict decoder of the other keys. ids
// maps the ids seen so far to their table's index.
func (p *parser) device(path keyPath, m map[string]any, ids map[string]int, index int) Table {
	tb := Table{Line: p.line(path)}
	var cfg drivers.Config
	if id, ok := p.str(path, m, "id"); ok {
		switch {
		case !validID(id):
			p.add(path.key("id"), nil, "%q is not a valid id: use only letters, digits, '_' and '-' (it is part of MQTT topics)", id)
		case id == "agent":
			p.add(path.key("id"), nil, "%q is reserved for the agent's own device: choose another id", id)
		default:
			if first, dup := ids[id]; dup {
				fp := keyPath{"device"}.index(first)
				p.add(path.key("id"), nil, "duplicate id %q: %s (line %d) already uses it", id, fp, p.line(fp))
			} else {
				ids[id] = index
			}
		}
		cfg.ID = id
	} else if _, has := m["id"]; !has {
		p.add(path.key("id"), nil, `is required: give each device a unique id, such as "porch_light"`)
	}
	cfg.Name = cfg.ID
	if name, ok := p.str(path, m, "name"); ok {
		if strings.TrimSpace(name) == "" {
			p.add(path.key("name"), nil, "must not be empty (leave it out to use the id)")
		}
		cfg.Name = name
	}
	if v, ok := m["interval"]; ok {
		cfg.Interval = p.interval(path.key("interval"), v)
	}
	if len(path) > 0 { // a table of a document names its driver; a body does not
		if driver, ok := p.str(path, m, "driver"); ok {
			tb.Driver = driver
		} else if _, has := m["driver"]; !has {
			p.add(path.key("driver"), nil, "is required: %s", knownDrivers())
		}
	}
	own := map[string]any{}
	for k, v := range m {
		if !slices.Contains(commonKeys, k) {
			own[k] = v
		}
	}
	tb.dec = &decoder{p: p, path: path, driver: tb.Driver, keys: own}
	cfg.Decode = tb.dec.decode
	tb.Config = cfg
	return tb
}

// interval checks the interval key: a positive duration written as a
// string. Integers are refused: toml would read them as nanoseconds.
func (p *parser) interval(path keyPath, v any) time.Duration {
	s, ok := v.(string)
	if !ok {
		p.add(path, nil, `must be a duration string such as "30s" or "500ms", not %s`, describe(v))
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.add(path, err, `invalid duration %q: use a number with a unit, such as "30s" or "500ms"`, s)
		return 0
	}
	if d <= 0 {
		p.add(path, nil, "%v must be positive (leave it out for the driver's default)", d)
	}
	return d
}

// str returns the string at key of the table m at path; ok is false when it
// is missing or not a string (then a problem is recorded).
func (p *parser) str(path keyPath, m map[string]any, key string) (string, bool) {
	v, ok := m[key]
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		p.add(path.key(key), nil, "must be a string, not %s", describe(v))
		return "", false
	}
	return s, true
}

// knownDrivers lists the registered drivers for messages, as the agent
// does.
func knownDrivers() string {
	names := drivers.Names()
	if len(names) == 0 {
		return "no drivers are compiled in (import them in main.go, or load a plugin)"
	}
	return "known drivers: " + strings.Join(names, ", ")
}
