package agent

// The configuration loader: TOML in, a checked Config out, or every problem
// at once with its file, line and key.
//
// BurntSushi/toml does not expose key positions, and its MetaData marks keys
// decoded by path string ("device.pin"), which every [[device]] element
// shares. So the loader decodes the document into plain maps, checks the
// agent's own tables itself, finds line numbers with a small scanner of its
// own (cfgScanLines), and gives each device's driver keys to the driver
// through a fresh toml decode of just that device's keys, so that strictness
// (MetaData.Undecoded) is per device.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/pinion-home/pinion/drivers"
)

// Config is a loaded and checked configuration: every default applied and
// every device built by its driver's factory, which touches no hardware.
type Config struct {
	// File is the name the configuration was read from, used in messages.
	File string
	// Agent is the [agent] table: who this node is and how it runs.
	Agent AgentConfig
	// MQTT is the [mqtt] table: where states and discovery go.
	MQTT MQTTConfig
	// Sim is the [sim] table, used only with hardware = "sim".
	Sim SimConfig
	// Devices are the [[device]] tables, in file order.
	Devices []DeviceConfig
}

// AgentConfig is the [agent] table.
type AgentConfig struct {
	// ID is the node id, used in every topic and unique id. It defaults to
	// the hostname made safe: lower-cased, characters outside
	// [a-zA-Z0-9_-] replaced by '_', leading and trailing '_' and '-'
	// trimmed, and "pinion" if nothing is left.
	ID string
	// Name is the human name of the node's own Home Assistant device; it
	// defaults to ID.
	Name string
	// Hardware is "real" (the default) or "sim".
	Hardware string
	// LogLevel is "debug", "info" (the default), "warn" or "error".
	LogLevel string
}

// Level returns LogLevel as a slog level, so that callers need not repeat the
// mapping; an unchecked value reads as info.
func (a AgentConfig) Level() slog.Level {
	switch a.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Simulated reports whether the agent runs on simulated hardware.
func (a AgentConfig) Simulated() bool { return a.Hardware == "sim" }

// MQTTConfig is the [mqtt] table.
type MQTTConfig struct {
	// Broker is "tcp://host:port", "ssl://host:port" or "embedded"; it
	// defaults to "tcp://127.0.0.1:1883".
	Broker string
	// Listen is the embedded broker's address, "127.0.0.1:1883" by default.
	// It is set only when Broker is "embedded".
	Listen string
	// ClientID defaults to "pinion-<agent id>".
	ClientID string
	// Username is the MQTT user name; empty connects without credentials.
	Username string
	// Password is the MQTT password, given inline or read from
	// password_file when the configuration is loaded.
	Password string
	// DiscoveryPrefix is Home Assistant's discovery prefix,
	// "homeassistant" by default.
	DiscoveryPrefix string
	// TopicPrefix is the first level of the agent's own topics, "pinion"
	// by default.
	TopicPrefix string
	// Keepalive is the MQTT keepalive, 30s by default and at least 5s.
	Keepalive time.Duration
}

// Embedded reports whether the agent runs its own broker.
func (m MQTTConfig) Embedded() bool { return m.Broker == "embedded" }

// SimConfig is the [sim] table.
type SimConfig struct {
	// Toggle lists input lines that the simulation flips periodically, so
	// that a demo shows events without anyone pressing a button.
	Toggle []SimToggle
}

// SimToggle is one [[sim.toggle]] table.
type SimToggle struct {
	// Pin is the GPIO line's name, such as "GPIO17".
	Pin string
	// Every is the time between flips, at least 100ms.
	Every time.Duration
}

// DeviceConfig is one [[device]] table with its device built.
type DeviceConfig struct {
	// ID is the device's id, unique on the node, made of [a-zA-Z0-9_-].
	ID string
	// Driver is the registered driver's name.
	Driver string
	// Name is the human name; it defaults to ID.
	Name string
	// Interval is the poll and republish interval; zero means the
	// driver's default.
	Interval time.Duration
	// Line is the line of the device's [[device]] header, for messages.
	Line int
	// Device is built by the driver's factory; no hardware is touched yet.
	Device drivers.Device
}

// Problem is one thing wrong with a configuration.
type Problem struct {
	// File is the configuration's file name.
	File string
	// Line is the line the problem is on, or 0 when it has none (a default
	// that does not work, such as an unavailable hostname).
	Line int
	// Key is the key at fault, such as "mqtt.broker" or "device[1].pin";
	// array elements are counted from 0.
	Key string
	// Msg says what is wrong and, where it can, how to fix it.
	Msg string
	// Err is the underlying error, if any (a toml error, an os error
	// reading password_file, a driver factory's error), kept so that
	// errors.Is and errors.As see through a ConfigError.
	Err error
}

// String formats the problem as "file:line: key: msg", leaving out the
// parts it does not have.
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

// ConfigError is every problem found in a configuration, so that a user
// fixes them all in one go instead of one per run.
type ConfigError struct {
	// Problems are sorted by line.
	Problems []Problem
}

// Error lists the problems, one per line.
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

// LoadConfig reads the configuration file at path and parses it with
// ParseConfig. Relative paths inside it (password_file) are relative to the
// file's directory.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses and checks a configuration. file names it in messages
// and anchors relative paths. A TOML syntax error is reported alone, since
// nothing after it can be trusted; otherwise every problem is reported at
// once. The error is always a *ConfigError.
func ParseConfig(file string, data []byte) (*Config, error) {
	var root map[string]any
	if err := toml.Unmarshal(data, &root); err != nil {
		prob := Problem{File: file, Msg: strings.TrimPrefix(err.Error(), "toml: "), Err: err}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			// toml counts one line too many when the offending byte is
			// the newline itself ("[mqtt" then a line break), so count
			// from the byte offset. LastKey is left out: it is the last
			// key parsed, not necessarily the one at fault.
			prob.Line = pe.Position.Line
			if text := cfgStripBOM(data); pe.Position.Start >= 0 && pe.Position.Start <= len(text) {
				prob.Line = 1 + bytes.Count(text[:pe.Position.Start], []byte("\n"))
			}
			prob.Msg = pe.Message
		}
		return nil, &ConfigError{Problems: []Problem{prob}}
	}
	p := &cfgParser{file: file, lines: cfgScanLines(string(cfgStripBOM(data)))}
	cfg := p.parse(root)
	if len(p.problems) > 0 {
		sort.SliceStable(p.problems, func(i, j int) bool { return p.problems[i].Line < p.problems[j].Line })
		return nil, &ConfigError{Problems: p.problems}
	}
	return cfg, nil
}

// cfgStripBOM drops a byte order mark as toml does, so that offsets and
// lines count from the same first byte as toml's.
func cfgStripBOM(data []byte) []byte {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xfe")), bytes.HasPrefix(data, []byte("\xfe\xff")):
		return data[2:]
	case bytes.HasPrefix(data, []byte("\xef\xbb\xbf")):
		return data[3:]
	}
	return data
}

// The keys of each table, in the order the documentation lists them.
var (
	cfgRootKeys   = []string{"agent", "mqtt", "sim", "device"}
	cfgAgentKeys  = []string{"id", "name", "hardware", "log_level"}
	cfgMQTTKeys   = []string{"broker", "listen", "client_id", "username", "password", "password_file", "discovery_prefix", "topic_prefix", "keepalive"}
	cfgSimKeys    = []string{"toggle"}
	cfgToggleKeys = []string{"pin", "every"}
	cfgDeviceKeys = []string{"id", "driver", "name", "interval"}
)

// Defaults and limits.
const (
	cfgDefaultBroker    = "tcp://127.0.0.1:1883"
	cfgDefaultListen    = "127.0.0.1:1883"
	cfgDefaultKeepalive = 30 * time.Second
	cfgMinKeepalive     = 5 * time.Second
	cfgMaxKeepalive     = 65535 * time.Second // the MQTT field is 16 bits of seconds
	cfgMinToggle        = 100 * time.Millisecond
	cfgMaxPasswordFile  = 65535 // the longest password MQTT can carry
	cfgReservedID       = "agent"
	cfgMaxDecodeErrors  = 20 // type errors reported per device
)

// cfgHostname is the hostname source; tests replace it.
var cfgHostname = os.Hostname

// cfgParser collects the problems of one configuration.
type cfgParser struct {
	file     string
	lines    map[string]int
	problems []Problem
}

// problem builds a Problem at path, with the line the scanner found for the
// path or its nearest enclosing key.
func (p *cfgParser) problem(path cfgPath, err error, format string, args ...any) Problem {
	return Problem{File: p.file, Line: p.line(path), Key: path.String(), Msg: fmt.Sprintf(format, args...), Err: err}
}

// add records a problem at path.
func (p *cfgParser) add(path cfgPath, err error, format string, args ...any) {
	p.problems = append(p.problems, p.problem(path, err, format, args...))
}

// line returns the line of path, or of the nearest enclosing key that the
// scanner found (an inline table's keys have the line of the table).
func (p *cfgParser) line(path cfgPath) int {
	for k := len(path); k > 0; k-- {
		if l, ok := p.lines[path[:k].String()]; ok {
			return l
		}
	}
	return 0
}

func (p *cfgParser) parse(root map[string]any) *Config {
	cfg := &Config{File: p.file}
	top := cfgTable{p: p, m: root}
	for _, k := range top.sortedKeys() {
		if slices.Contains(cfgRootKeys, k) {
			continue
		}
		// A key at the top level that belongs in a table is a common slip:
		// say which table.
		if s := cfgSuggest(k, cfgRootKeys); s != "" {
			p.add(cfgPath{}.key(k), nil, "unknown key (did you mean %q?)", s)
			continue
		}
		if t := cfgHome(k); t != "" {
			p.add(cfgPath{}.key(k), nil, "unknown key at the top level: %q belongs in the %s table", k, t)
			continue
		}
		p.add(cfgPath{}.key(k), nil, "unknown key (the top level takes the tables [agent], [mqtt], [sim] and [[device]])")
	}
	cfg.Agent = p.parseAgent(p.table(cfgPath{"agent"}, root, "[agent]"))
	cfg.MQTT = p.parseMQTT(p.table(cfgPath{"mqtt"}, root, "[mqtt]"), cfg.Agent)
	cfg.Sim = p.parseSim(p.table(cfgPath{"sim"}, root, "[sim]"), cfg.Agent)
	cfg.Devices = p.parseDevices(root)
	return cfg
}

// cfgHome names the table a key belongs to, for a key misplaced at the top.
func cfgHome(k string) string {
	switch {
	case slices.Contains(cfgAgentKeys, k):
		return "[agent]"
	case slices.Contains(cfgMQTTKeys, k):
		return "[mqtt]"
	case slices.Contains(cfgDeviceKeys, k):
		return "[[device]]"
	}
	return ""
}

func (p *cfgParser) parseAgent(t cfgTable) AgentConfig {
	t.unknown(cfgAgentKeys, "[agent]")
	a := AgentConfig{Hardware: "real", LogLevel: "info"}
	if id, ok := t.str("id"); ok {
		if !cfgValidID(id) {
			p.add(t.path.key("id"), nil, "%q is not a valid id: use only letters, digits, '_' and '-' (it is part of every MQTT topic)", id)
		}
		a.ID = id
	} else if !t.has("id") {
		host, err := cfgHostname()
		if err != nil {
			p.add(t.path.key("id"), err, "not set, and the hostname is unavailable (%v): set id in [agent]", err)
		}
		a.ID = cfgSafeID(host)
	}
	a.Name = a.ID
	if name, ok := t.str("name"); ok {
		if strings.TrimSpace(name) == "" {
			p.add(t.path.key("name"), nil, "must not be empty (leave it out to use the id)")
		}
		a.Name = name
	}
	if hw, ok := t.str("hardware"); ok {
		t.oneOf("hardware", hw, "real", "sim")
		a.Hardware = hw
	}
	if lvl, ok := t.str("log_level"); ok {
		t.oneOf("log_level", lvl, "debug", "info", "warn", "error")
		a.LogLevel = lvl
	}
	return a
}

func (p *cfgParser) parseMQTT(t cfgTable, agent AgentConfig) MQTTConfig {
	t.unknown(cfgMQTTKeys, "[mqtt]")
	m := MQTTConfig{
		Broker:          cfgDefaultBroker,
		ClientID:        "pinion-" + agent.ID,
		DiscoveryPrefix: "homeassistant",
		TopicPrefix:     "pinion",
		Keepalive:       cfgDefaultKeepalive,
	}
	if b, ok := t.str("broker"); ok {
		if err := cfgCheckBroker(b); err != nil {
			p.add(t.path.key("broker"), nil, "%v", err)
		}
		m.Broker = b
	}
	if l, ok := t.str("listen"); ok {
		switch {
		case !m.Embedded():
			p.add(t.path.key("listen"), nil, `is only used with broker = "embedded" (the broker is %q): remove it, or set broker = "embedded"`, m.Broker)
		default:
			if err := cfgCheckListen(l); err != nil {
				p.add(t.path.key("listen"), nil, "%v", err)
			}
		}
		m.Listen = l
	} else if m.Embedded() {
		m.Listen = cfgDefaultListen
	}
	if id, ok := t.str("client_id"); ok {
		if id == "" {
			p.add(t.path.key("client_id"), nil, `must not be empty (leave it out to use "pinion-<agent id>")`)
		}
		m.ClientID = id
	}
	user, hasUser := t.str("username")
	m.Username = user
	pw, hasPW := t.str("password")
	pwFile, hasFile := t.str("password_file")
	switch {
	case hasPW && hasFile:
		p.add(t.path.key("password_file"), nil, "password and password_file are mutually exclusive: keep one")
	case hasPW:
		m.Password = pw
	case hasFile:
		if s, err := cfgReadSecret(p.file, pwFile); err != nil {
			p.add(t.path.key("password_file"), err, "%v", err)
		} else {
			m.Password = s
		}
	}
	// A username of the wrong type is reported already.
	if (hasPW || hasFile) && user == "" && (hasUser || !t.has("username")) {
		key := "password"
		if hasFile {
			key = "password_file"
		}
		p.add(t.path.key(key), nil, "needs username: MQTT sends a password only together with a user name")
	}
	if s, ok := t.str("discovery_prefix"); ok {
		if err := cfgCheckPrefix(s); err != nil {
			p.add(t.path.key("discovery_prefix"), nil, "%v", err)
		}
		m.DiscoveryPrefix = s
	}
	if s, ok := t.str("topic_prefix"); ok {
		if err := cfgCheckPrefix(s); err != nil {
			p.add(t.path.key("topic_prefix"), nil, "%v", err)
		} else if s == m.DiscoveryPrefix {
			p.add(t.path.key("topic_prefix"), nil, "must differ from discovery_prefix (%q), or state topics can be taken for discovery messages", m.DiscoveryPrefix)
		}
		m.TopicPrefix = s
	}
	if d, ok := t.duration("keepalive"); ok {
		switch {
		case d < cfgMinKeepalive:
			p.add(t.path.key("keepalive"), nil, "%v is too short: use at least %v", d, cfgMinKeepalive)
		case d > cfgMaxKeepalive:
			p.add(t.path.key("keepalive"), nil, "%v is too long: MQTT allows at most %v", d, cfgMaxKeepalive)
		}
		m.Keepalive = d
	}
	return m
}

func (p *cfgParser) parseSim(t cfgTable, agent AgentConfig) SimConfig {
	var s SimConfig
	if len(t.m) == 0 {
		return s
	}
	if !agent.Simulated() {
		p.add(t.path, nil, `is only used with hardware = "sim": set it in [agent], or remove [sim]`)
	}
	t.unknown(cfgSimKeys, "[sim]")
	v, ok := t.m["toggle"]
	if !ok {
		return s
	}
	path := t.path.key("toggle")
	tables, ok := cfgTables(v)
	if !ok {
		p.add(path, nil, "must be an array of tables ([[sim.toggle]] sections), not %s", cfgTypeName(v))
		return s
	}
	seen := map[string]int{}
	for i, m := range tables {
		tt := cfgTable{p: p, path: path.index(i), m: m}
		tt.unknown(cfgToggleKeys, "[[sim.toggle]]")
		var tg SimToggle
		if pin, ok := tt.str("pin"); ok {
			if err := cfgCheckName(pin); err != nil {
				p.add(tt.path.key("pin"), nil, "%v", err)
			} else if first, dup := seen[pin]; dup {
				p.add(tt.path.key("pin"), nil, "%q is already toggled by %s (line %d)", pin, path.index(first), p.line(path.index(first)))
			} else {
				seen[pin] = i
			}
			tg.Pin = pin
		} else if !tt.has("pin") {
			p.add(tt.path.key("pin"), nil, `is required: name the input line to flip, such as "GPIO17"`)
		}
		if d, ok := tt.duration("every"); ok {
			if d < cfgMinToggle {
				p.add(tt.path.key("every"), nil, "%v is too short: use at least %v", d, cfgMinToggle)
			}
			tg.Every = d
		} else if !tt.has("every") {
			p.add(tt.path.key("every"), nil, `is required: how often to flip the line, such as "5s"`)
		}
		s.Toggle = append(s.Toggle, tg)
	}
	return s
}

// cfgClaim is who claimed a resource first.
type cfgClaim struct {
	id   string
	line int
}

func (p *cfgParser) parseDevices(root map[string]any) []DeviceConfig {
	v, ok := root["device"]
	if !ok {
		return nil
	}
	base := cfgPath{"device"}
	tables, ok := cfgTables(v)
	if !ok {
		hint := ""
		if _, isTable := v.(map[string]any); isTable {
			hint = ": write [[device]], not [device]"
		}
		p.add(base, nil, "must be an array of tables ([[device]] sections), not %s%s", cfgTypeName(v), hint)
		return nil
	}
	var devs []DeviceConfig
	ids := map[string]int{}
	claims := map[string]cfgClaim{}
	for i, m := range tables {
		dc, ok := p.parseDevice(base.index(i), m, ids, i)
		if !ok {
			continue
		}
		p.checkClaims(base.index(i), dc, claims)
		devs = append(devs, dc)
	}
	return devs
}

// parseDevice checks one [[device]] table and builds its device. ids maps
// the ids seen so far to their device index.
func (p *cfgParser) parseDevice(path cfgPath, m map[string]any, ids map[string]int, index int) (DeviceConfig, bool) {
	t := cfgTable{p: p, path: path, m: m}
	dc := DeviceConfig{Line: p.line(path)}
	if id, ok := t.str("id"); ok {
		switch {
		case !cfgValidID(id):
			p.add(path.key("id"), nil, "%q is not a valid id: use only letters, digits, '_' and '-' (it is part of MQTT topics)", id)
		case id == cfgReservedID:
			p.add(path.key("id"), nil, "%q is reserved for the agent's own device: choose another id", id)
		default:
			if first, dup := ids[id]; dup {
				fp := cfgPath{"device"}.index(first)
				p.add(path.key("id"), nil, "duplicate id %q: %s (line %d) already uses it", id, fp, p.line(fp))
			} else {
				ids[id] = index
			}
		}
		dc.ID = id
	} else if !t.has("id") {
		p.add(path.key("id"), nil, `is required: give each device a unique id, such as "porch_light"`)
	}
	dc.Name = dc.ID
	if name, ok := t.str("name"); ok {
		if strings.TrimSpace(name) == "" {
			p.add(path.key("name"), nil, "must not be empty (leave it out to use the id)")
		}
		dc.Name = name
	}
	if d, ok := t.duration("interval"); ok {
		if d <= 0 {
			p.add(path.key("interval"), nil, "%v must be positive (leave it out for the driver's default)", d)
		}
		dc.Interval = d
	}
	driver, ok := t.str("driver")
	if !ok {
		if !t.has("driver") {
			p.add(path.key("driver"), nil, "is required: %s", cfgKnownDrivers())
		}
		return dc, false
	}
	dc.Driver = driver
	factory, ok := drivers.Lookup(driver)
	if !ok {
		hint := ""
		if s := cfgSuggest(driver, drivers.Names()); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.add(path.key("driver"), nil, "unknown driver %q%s; %s", driver, hint, cfgKnownDrivers())
		return dc, false
	}

	own := map[string]any{}
	for k, v := range m {
		if !slices.Contains(cfgDeviceKeys, k) {
			own[k] = v
		}
	}
	dec := &cfgDecoder{p: p, path: path, driver: driver, keys: own}
	dev, err := cfgBuild(factory, drivers.Config{ID: dc.ID, Name: dc.Name, Interval: dc.Interval, Decode: dec.decode})
	dec.closed = true
	switch {
	case err != nil:
		// A factory that failed on Decode's problems returns them again;
		// they are already reported, key by key.
		if dec.err == nil || !(errors.Is(err, dec.err) || strings.Contains(err.Error(), dec.err.Error())) {
			msg := err.Error()
			if dc.ID != "" && !strings.Contains(msg, strconv.Quote(dc.ID)) {
				msg = fmt.Sprintf("device %q: %s", dc.ID, msg)
			}
			p.add(path, err, "%s", msg)
		}
		return dc, false
	case dev == nil:
		p.add(path, nil, "driver %q returned no device and no error (a bug in the driver)", driver)
		return dc, false
	}
	if !dec.called {
		// The driver takes no keys of its own, so any left are typos.
		for _, k := range cfgSortedKeys(own) {
			hint := ""
			if s := cfgSuggest(k, cfgDeviceKeys); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.add(path.key(k), nil, "unknown key%s: driver %q takes no keys of its own", hint, driver)
		}
	}
	dc.Device = dev
	return dc, dec.err == nil
}

// checkClaims rejects a resource that an earlier device already claimed.
func (p *cfgParser) checkClaims(path cfgPath, dc DeviceConfig, claims map[string]cfgClaim) {
	c, ok := dc.Device.(drivers.Claimer)
	if !ok {
		return
	}
	list, err := cfgClaims(c)
	if err != nil {
		p.add(path, err, "device %q: %v", dc.ID, err)
		return
	}
	mine := map[string]bool{}
	for _, r := range list {
		if r == "" || mine[r] {
			continue
		}
		mine[r] = true
		if first, dup := claims[r]; dup {
			p.add(path, nil, "device %q uses %s, which device %q (line %d) already uses: each resource belongs to one device", dc.ID, r, first.id, first.line)
			continue
		}
		claims[r] = cfgClaim{id: dc.ID, line: dc.Line}
	}
}

// cfgBuild calls a driver's factory, turning a panic into an error: a
// broken driver must not take the agent down.
func cfgBuild(f drivers.Factory, c drivers.Config) (dev drivers.Device, err error) {
	defer func() {
		if r := recover(); r != nil {
			dev, err = nil, fmt.Errorf("driver factory panicked: %v", r)
		}
	}()
	return f(c)
}

// cfgClaims calls Claims, turning a panic into an error.
func cfgClaims(c drivers.Claimer) (list []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			list, err = nil, fmt.Errorf("driver's Claims method panicked: %v", r)
		}
	}()
	return c.Claims(), nil
}

// cfgKnownDrivers lists the registered drivers for messages.
func cfgKnownDrivers() string {
	names := drivers.Names()
	if len(names) == 0 {
		return "no drivers are compiled in (import them in main.go, or load a plugin)"
	}
	return "known drivers: " + strings.Join(names, ", ")
}

// cfgDecoder is the Decode function handed to one device's factory.
type cfgDecoder struct {
	p      *cfgParser
	path   cfgPath
	driver string
	keys   map[string]any // the driver's keys: the table without id, driver, name, interval
	called bool
	closed bool         // the factory has returned
	err    *ConfigError // what decode returned, when it failed
}

// decode decodes the driver's keys into v strictly: each key v does not
// take and each value of the wrong type is a problem naming its key and
// line. All of them are found, not only the first: a key that fails is
// dropped and the rest decoded again.
func (d *cfgDecoder) decode(v any) error {
	switch {
	case d.closed:
		return fmt.Errorf("%s: Decode called after the driver's factory returned", d.path)
	case d.called:
		return fmt.Errorf("%s: Decode called twice", d.path)
	}
	d.called = true
	var probs []Problem
	rest := cfgCloneMap(d.keys)
	for {
		// A fresh parse of this device's keys alone gives a MetaData whose
		// undecoded keys are this device's and no other's.
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(rest); err != nil {
			probs = append(probs, d.p.problem(d.path, err, "cannot pass the table to driver %q: %v", d.driver, err))
			break
		}
		md, err := toml.Decode(buf.String(), v)
		if err == nil {
			probs = append(probs, d.unknown(md.Undecoded(), reflect.TypeOf(v))...)
			break
		}
		if len(probs) == cfgMaxDecodeErrors {
			// Each retry decodes the whole table again; a table of
			// thousands of bad values must not take seconds.
			probs = append(probs, d.p.problem(d.path, nil, "more keys of the wrong type; fix the ones above first"))
			break
		}
		key, msg := cfgDecodeError(err)
		if len(key) == 0 || !cfgDelete(rest, key) {
			probs = append(probs, d.p.problem(d.path, err, "driver %q cannot decode its keys: %s", d.driver, msg))
			break
		}
		if v, ok := cfgLookup(d.keys, key); ok {
			// Show the value too when it is a short scalar: "not an
			// integer (17)".
			if base, found := strings.CutSuffix(msg, ", not "+cfgTypeName(v)); found {
				msg = base + ", not " + cfgDescribe(v)
			}
		}
		probs = append(probs, d.p.problem(d.path.keys(key...), err, "%s", msg))
	}
	if len(probs) == 0 {
		return nil
	}
	d.p.problems = append(d.p.problems, probs...)
	d.err = &ConfigError{Problems: probs}
	return d.err
}

// unknown turns the undecoded keys into problems, reporting only the
// outermost key of an unknown table and leaving alone keys under a value
// that takes anything (an `any` field or map).
func (d *cfgDecoder) unknown(keys []toml.Key, target reflect.Type) []Problem {
	undecoded := map[string]bool{}
	for _, k := range keys {
		undecoded[k.String()] = true
	}
	var probs []Problem
	for _, k := range keys {
		inner := false
		for j := 1; j < len(k); j++ {
			if undecoded[k[:j].String()] {
				inner = true
				break
			}
		}
		if inner || cfgTakesAny(target, k) {
			continue
		}
		known := cfgFieldNames(cfgTypeAt(target, k[:len(k)-1]))
		if len(k) == 1 {
			known = append(slices.Clone(cfgDeviceKeys), known...)
		}
		msg := "unknown key"
		if s := cfgSuggest(k[len(k)-1], known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(known) > 0 {
			msg += fmt.Sprintf(" (driver %q takes: %s)", d.driver, strings.Join(known, ", "))
		}
		probs = append(probs, d.p.problem(d.path.keys(k...), nil, "%s", msg))
	}
	return probs
}

// cfgLastKey matches the context toml puts in front of its decode errors.
var cfgLastKey = regexp.MustCompile(`(?s)^toml: (?:line \d+ )?\(last key ("(?:[^"\\]|\\.)*")\): (.*)$`)

// cfgIncompatible matches toml's type errors.
var (
	cfgIncompatible = regexp.MustCompile(`^incompatible types: TOML value has type (.+); destination has type (.+)$`)
	cfgNotTable     = regexp.MustCompile(`^type mismatch for .+: expected table but found (.+)$`)
)

// cfgDecodeError splits a toml decode error into the key it is about and a
// message in the words of a config file rather than of Go types.
func cfgDecodeError(err error) ([]string, string) {
	var key, msg string
	var pe toml.ParseError
	if errors.As(err, &pe) {
		key, msg = pe.LastKey, pe.Message
	} else if m := cfgLastKey.FindStringSubmatch(err.Error()); m != nil {
		k, uerr := strconv.Unquote(m[1])
		if uerr != nil {
			return nil, m[2]
		}
		key, msg = k, m[2]
	} else {
		return nil, strings.TrimPrefix(err.Error(), "toml: ")
	}
	if m := cfgIncompatible.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("must be %s, not %s", cfgGoDest(m[2]), cfgGoSource(m[1]))
	} else if m := cfgNotTable.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("must be a table, not %s", cfgGoSource(m[1]))
	} else if strings.HasPrefix(msg, "invalid duration") {
		msg += `: use a number with a unit, such as "30s" or "500ms"`
	}
	if key == "" {
		return nil, msg
	}
	return cfgSplitKey(key), msg
}

// cfgGoSource names a value's TOML type from the Go type toml reports.
func cfgGoSource(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "int64":
		return "an integer"
	case "float64":
		return "a float"
	case "bool":
		return "a boolean"
	case "time.Time":
		return "a date-time"
	case "[]any", "[]interface {}":
		return "an array"
	case "map[string]any", "map[string]interface {}":
		return "a table"
	case "[]map[string]any", "[]map[string]interface {}":
		return "an array of tables"
	}
	return goType
}

// cfgGoDest names what a destination of toml's kind takes.
func cfgGoDest(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "integer":
		return "an integer"
	case "float":
		return "a number"
	case "boolean":
		return "a boolean"
	case "slice":
		return "an array"
	case "map":
		return "a table"
	case "primitive (string-like)":
		return "a string or a number"
	}
	return kind
}

// cfgDelete removes key from m, or the outermost key of the path that
// leads through something other than tables. It reports whether anything
// was removed.
func cfgDelete(m map[string]any, key []string) bool {
	for i, k := range key {
		v, ok := m[k]
		if !ok {
			return false
		}
		next, isMap := v.(map[string]any)
		if i == len(key)-1 || !isMap {
			delete(m, k)
			return true
		}
		m = next
	}
	return false
}

// cfgLookup finds the value at key in m, through tables only.
func cfgLookup(m map[string]any, key []string) (any, bool) {
	var v any = m
	for _, k := range key {
		t, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = t[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// cfgCloneMap copies the tables of m deeply, so that dropping keys for a
// retry does not change the parsed document.
func cfgCloneMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = cfgCloneMap(sub)
		}
		c[k] = v
	}
	return c
}

// cfgTakesAny reports whether key, under a value of type t, lands in an
// `any`: toml decodes nothing into one, so every key under it reads as
// undecoded although the driver asked for them all.
func cfgTakesAny(t reflect.Type, key []string) bool {
	for len(key) > 0 {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil {
			return false
		}
		switch t.Kind() {
		case reflect.Interface:
			return true
		case reflect.Slice, reflect.Array:
			t = t.Elem() // toml's key paths do not count array elements
		case reflect.Map:
			t, key = t.Elem(), key[1:]
		case reflect.Struct:
			f, ok := cfgField(t, key[0])
			if !ok {
				return false
			}
			t, key = f, key[1:]
		default:
			return false
		}
	}
	return false
}

// cfgTypeAt is the struct type that holds key's last element, or nil.
func cfgTypeAt(t reflect.Type, key []string) reflect.Type {
	for {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			t = t.Elem()
		}
		if t == nil || len(key) == 0 {
			return t
		}
		switch t.Kind() {
		case reflect.Map:
			t, key = t.Elem(), key[1:]
		case reflect.Struct:
			f, ok := cfgField(t, key[0])
			if !ok {
				return nil
			}
			t, key = f, key[1:]
		default:
			return nil
		}
	}
}

// cfgField finds the field toml would decode key into: an exact name
// first, then a case-insensitive one, as toml does.
func cfgField(t reflect.Type, key string) (reflect.Type, bool) {
	var fold reflect.Type
	for _, f := range cfgFields(t) {
		if f.name == key {
			return f.typ, true
		}
		if fold == nil && strings.EqualFold(f.name, key) {
			fold = f.typ
		}
	}
	return fold, fold != nil
}

// cfgFieldNames lists the keys a struct type takes.
func cfgFieldNames(t reflect.Type) []string {
	var names []string
	for _, f := range cfgFields(t) {
		names = append(names, f.name)
	}
	return names
}

type cfgStructField struct {
	name string
	typ  reflect.Type
}

// cfgFields lists the keys a struct takes, following toml's rules: the tag
// names the key, "-" hides the field, untagged embedded structs are
// flattened.
func cfgFields(t reflect.Type) []cfgStructField {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var out []cfgStructField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, cfgFields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, cfgStructField{name: name, typ: f.Type})
	}
	return out
}

// cfgTable is one table of the document with the path it sits at.
type cfgTable struct {
	p    *cfgParser
	path cfgPath
	m    map[string]any
}

// table returns the table under key path[len(path)-1] of parent; a
// missing table is empty, anything but a table is a problem.
func (p *cfgParser) table(path cfgPath, parent map[string]any, header string) cfgTable {
	t := cfgTable{p: p, path: path}
	v, ok := parent[path[len(path)-1]]
	if !ok {
		return t
	}
	m, ok := v.(map[string]any)
	if !ok {
		p.add(path, nil, "must be a table (a %s section), not %s", header, cfgTypeName(v))
		return t
	}
	t.m = m
	return t
}

func (t cfgTable) has(key string) bool {
	_, ok := t.m[key]
	return ok
}

func (t cfgTable) sortedKeys() []string { return cfgSortedKeys(t.m) }

// unknown reports each key that is not in known.
func (t cfgTable) unknown(known []string, header string) {
	for _, k := range t.sortedKeys() {
		if slices.Contains(known, k) {
			continue
		}
		if s := cfgSuggest(k, known); s != "" {
			t.p.add(t.path.key(k), nil, "unknown key (did you mean %q?)", s)
		} else {
			t.p.add(t.path.key(k), nil, "unknown key (%s takes: %s)", header, strings.Join(known, ", "))
		}
	}
}

// str returns the string at key; ok is false when it is missing or not a
// string (then a problem is recorded).
func (t cfgTable) str(key string) (string, bool) {
	v, ok := t.m[key]
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		t.p.add(t.path.key(key), nil, "must be a string, not %s", cfgDescribe(v))
		return "", false
	}
	return s, true
}

// duration returns the duration at key, written as a string such as "30s".
// Integers are refused: toml would read them as nanoseconds, which is
// never what a person writing `keepalive = 30` means.
func (t cfgTable) duration(key string) (time.Duration, bool) {
	v, ok := t.m[key]
	if !ok {
		return 0, false
	}
	s, ok := v.(string)
	if !ok {
		t.p.add(t.path.key(key), nil, `must be a duration string such as "30s" or "500ms", not %s`, cfgDescribe(v))
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.p.add(t.path.key(key), err, `invalid duration %q: use a number with a unit, such as "30s" or "500ms"`, s)
		return 0, false
	}
	return d, true
}

// oneOf checks that the value at key is one of allowed.
func (t cfgTable) oneOf(key, v string, allowed ...string) {
	if slices.Contains(allowed, v) {
		return
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	hint := ""
	if s := cfgSuggest(v, allowed); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	t.p.add(t.path.key(key), nil, "%q is not one of %s%s", v, strings.Join(quoted, ", "), hint)
}

// cfgTables returns v as a list of tables: an array of tables ([[x]]) or an
// inline array of inline tables.
func cfgTables(v any) ([]map[string]any, bool) {
	switch v := v.(type) {
	case []map[string]any:
		return v, true
	case []any:
		out := make([]map[string]any, 0, len(v))
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			out = append(out, m)
		}
		return out, true
	}
	return nil, false
}

func cfgSortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// cfgTypeName names the TOML type of a parsed value.
func cfgTypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

// cfgDescribe names a value's type and, for a short scalar, the value.
func cfgDescribe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) <= 40 {
			return fmt.Sprintf("%s (%q)", cfgTypeName(v), x)
		}
	case int64, bool:
		return fmt.Sprintf("%s (%v)", cfgTypeName(v), x)
	case float64:
		return fmt.Sprintf("%s (%s)", cfgTypeName(v), strconv.FormatFloat(x, 'g', -1, 64))
	}
	return cfgTypeName(v)
}

// cfgValidID reports whether s is usable in topics and Home Assistant ids.
func cfgValidID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !cfgBare(s[i]) {
			return false
		}
	}
	return true
}

// cfgSafeID makes a hostname into a node id.
func cfgSafeID(host string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(host) {
		if r < 0x80 && cfgBare(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if s := strings.Trim(b.String(), "_-"); s != "" {
		return s
	}
	return "pinion"
}

// cfgCheckName checks a hardware name such as a GPIO line's.
func cfgCheckName(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New(`must not be empty: name the line, such as "GPIO17"`)
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("%q contains white space: name the line, such as \"GPIO17\"", s)
	}
	return nil
}

// cfgCheckBroker checks a broker URL: the schemes the agent supports, and
// a host and port, since paho fails late and vaguely without them.
func cfgCheckBroker(s string) error {
	const forms = `tcp://host:1883, ssl://host:8883 or "embedded"`
	if s == "embedded" {
		return nil
	}
	if s == "" {
		return fmt.Errorf("must not be empty: use %s", forms)
	}
	if !strings.Contains(s, "://") {
		return fmt.Errorf("%q has no scheme: write tcp://%s, or use %s", s, s, forms)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL (%v): use %s", s, err, forms)
	}
	if u.Scheme != "tcp" && u.Scheme != "ssl" {
		return fmt.Errorf("unsupported scheme %q in %q: use %s", u.Scheme, s, forms)
	}
	if u.User != nil {
		return fmt.Errorf("%q has credentials in it: set username and password (or password_file) instead", s)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q has no host: use %s", s, forms)
	}
	port := u.Port()
	if port == "" {
		def := "1883"
		if u.Scheme == "ssl" {
			def = "8883"
		}
		return fmt.Errorf("%q has no port: write %s://%s:%s", s, u.Scheme, u.Host, def)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q has a bad port %q: use 1 to 65535", s, port)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q has a path or query, which MQTT brokers do not take: use %s", s, forms)
	}
	return nil
}

// cfgCheckListen checks the embedded broker's listen address.
func cfgCheckListen(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port (%v): use an address such as %q", s, err, cfgDefaultListen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has a bad port %q: use 0 to 65535", s, port)
	}
	return nil
}

// cfgCheckPrefix checks a topic prefix: a topic's first levels, so no
// wildcards, and no empty levels.
func cfgCheckPrefix(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case strings.ContainsAny(s, "+#"):
		return fmt.Errorf("%q contains an MQTT wildcard ('+' or '#'), which topics cannot", s)
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/"):
		return fmt.Errorf("%q must not start or end with '/'", s)
	case strings.Contains(s, "//"):
		return fmt.Errorf("%q has an empty level (\"//\")", s)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("%q contains a NUL character, which topics cannot", s)
	}
	return nil
}

// cfgReadSecret reads a password file, relative to the config file's
// directory. Only regular files are read, and only so much of them, so that
// a mistaken /dev/zero or a pipe cannot hang the agent at start.
func cfgReadSecret(configFile, name string) (string, error) {
	if name == "" {
		return "", errors.New("must not be empty: name a file holding the password")
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(configFile), path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the password file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cannot read the password file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("password file %s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, cfgMaxPasswordFile+3)) // +3: a trailing "\r\n" and one byte too many
	if err != nil {
		return "", fmt.Errorf("cannot read the password file: %w", err)
	}
	s := strings.TrimRight(string(data), "\r\n")
	switch {
	case s == "":
		return "", fmt.Errorf("password file %s is empty", path)
	case len(s) > cfgMaxPasswordFile:
		return "", fmt.Errorf("password file %s is longer than the %d bytes MQTT allows", path, cfgMaxPasswordFile)
	}
	return s, nil
}

// cfgSuggest returns the known key closest to key, within an edit
// distance of 2 (ignoring case), or else the known key that key starts with
// or that starts with key ("warning" for "warn"), or "".
func cfgSuggest(key string, known []string) string {
	best, bestD := "", 3
	lk := strings.ToLower(key)
	for _, k := range known {
		if d := cfgDistance(lk, strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return best
	}
	for _, k := range known {
		lower := strings.ToLower(k)
		short, long := lower, lk
		if len(short) > len(long) {
			short, long = long, short
		}
		if len(short) >= 4 && strings.HasPrefix(long, short) {
			return k
		}
	}
	return ""
}

// cfgDistance is the optimal string alignment distance between a and b
// (Levenshtein plus adjacent transpositions), or 3 if it is more than 2.
func cfgDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > 2 || d < -2 {
		return 3
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(rb)], 3)
}

// cfgPath is a key path as written in messages: key segments are quoted
// as TOML would need them, array indexes are "[n]" segments. A quoted key
// starts with '"' and a bare one cannot hold '[', so the two never mix up.
type cfgPath []string

func (c cfgPath) key(k string) cfgPath { return append(c[:len(c):len(c)], cfgQuoteKey(k)) }

func (c cfgPath) keys(ks ...string) cfgPath {
	for _, k := range ks {
		c = c.key(k)
	}
	return c
}

func (c cfgPath) index(i int) cfgPath {
	return append(c[:len(c):len(c)], "["+strconv.Itoa(i)+"]")
}

func (c cfgPath) String() string {
	var b strings.Builder
	for i, s := range c {
		if i > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// cfgQuoteKey writes a key as TOML needs it in a dotted key.
func cfgQuoteKey(k string) string {
	if cfgValidID(k) {
		return k
	}
	return strconv.Quote(k)
}

// cfgSplitKey splits a dotted key as toml prints it ("a.\"b.c\"") into its
// parts.
func cfgSplitKey(s string) []string {
	sc := cfgScanner{src: s}
	return sc.keyParts()
}

func cfgBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// cfgScanLines finds the line of each table header and key in a TOML
// document that toml has already parsed. It returns a map from paths as
// cfgPath writes them ("mqtt.broker", "device[1]", "device[1].pin") to the
// line of their first mention. Keys inside inline tables are not mapped;
// their table's line stands for them.
func cfgScanLines(src string) map[string]int {
	s := &cfgScanner{src: src, line: 1, lines: map[string]int{}, arrays: map[string]int{}}
	var table cfgPath
	for s.i < len(s.src) {
		switch c := s.src[s.i]; c {
		case '\n':
			s.line++
			s.i++
		case ' ', '\t', '\r':
			s.i++
		case '#':
			s.skipLine()
		case '[':
			table = s.header()
			s.skipLine()
		default:
			s.keyValue(table)
			s.skipLine()
		}
	}
	return s.lines
}

// cfgScanner is the state of cfgScanLines. Each method stops at the end of
// the input, whatever it holds, so that it is safe on any input.
type cfgScanner struct {
	src    string
	i      int
	line   int
	lines  map[string]int
	arrays map[string]int // array-of-tables path → elements so far
}

func (s *cfgScanner) mark(p cfgPath) {
	k := p.String()
	if _, ok := s.lines[k]; !ok {
		s.lines[k] = s.line
	}
}

// header reads "[a.b]" or "[[a.b]]" and returns the table's path, with
// the element index of every array of tables on it.
func (s *cfgScanner) header() cfgPath {
	s.i++
	array := s.i < len(s.src) && s.src[s.i] == '['
	if array {
		s.i++
	}
	parts := s.keyParts()
	var path cfgPath
	for j, k := range parts {
		path = path.key(k)
		s.mark(path)
		last := j == len(parts)-1
		if n, ok := s.arrays[path.String()]; ok && !(last && array) {
			path = path.index(n - 1)
		}
		if last && array {
			n := s.arrays[path.String()]
			s.arrays[path.String()] = n + 1
			path = path.index(n)
		}
	}
	s.mark(path)
	return path
}

// keyValue reads "a.b = value", marking a, a.b under table.
func (s *cfgScanner) keyValue(table cfgPath) {
	parts := s.keyParts()
	s.skipSpace()
	if len(parts) == 0 || s.i >= len(s.src) || s.src[s.i] != '=' {
		return
	}
	s.i++
	path := table
	for _, k := range parts {
		path = path.key(k)
		s.mark(path)
	}
	s.skipValue()
}

// keyParts reads a dotted key and returns its parts, unquoted.
func (s *cfgScanner) keyParts() []string {
	var parts []string
	for {
		s.skipSpace()
		if s.i >= len(s.src) {
			return parts
		}
		switch c := s.src[s.i]; {
		case c == '"':
			parts = append(parts, cfgUnescape(s.quoted()))
		case c == '\'':
			parts = append(parts, s.quoted())
		case cfgBare(c):
			start := s.i
			for s.i < len(s.src) && cfgBare(s.src[s.i]) {
				s.i++
			}
			parts = append(parts, s.src[start:s.i])
		default:
			return parts
		}
		s.skipSpace()
		if s.i >= len(s.src) || s.src[s.i] != '.' {
			return parts
		}
		s.i++
	}
}

// quoted reads a one-line string and returns what is between its quotes,
// escapes left in.
func (s *cfgScanner) quoted() string {
	q := s.src[s.i]
	s.i++
	start := s.i
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		c := s.src[s.i]
		if c == '\\' && q == '"' && s.i+1 < len(s.src) && s.src[s.i+1] != '\n' {
			s.i += 2
			continue
		}
		if c == q {
			s.i++
			return s.src[start : s.i-1]
		}
		s.i++
	}
	return s.src[start:s.i]
}

// skipValue skips a value, which may span lines (multi-line strings,
// arrays, inline tables), counting the lines it passes.
func (s *cfgScanner) skipValue() {
	s.skipSpace()
	if s.i >= len(s.src) {
		return
	}
	switch s.src[s.i] {
	case '"', '\'':
		s.skipString()
	case '[', '{':
		depth := 0
		for s.i < len(s.src) {
			switch s.src[s.i] {
			case '[', '{':
				depth++
			case ']', '}':
				depth--
				if depth == 0 {
					s.i++
					return
				}
			case '"', '\'':
				s.skipString()
				continue
			case '#':
				s.skipLine()
				continue
			case '\n':
				s.line++
			}
			s.i++
		}
	}
	// A bare value (number, boolean, date) ends the line; skipLine does it.
}

// skipString skips a string of any of TOML's four kinds.
func (s *cfgScanner) skipString() {
	q := s.src[s.i]
	triple := strings.Repeat(string(q), 3)
	if !strings.HasPrefix(s.src[s.i:], triple) {
		s.quoted()
		return
	}
	s.i += 3
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '\\' && q == '"':
			if s.i+1 < len(s.src) && s.src[s.i+1] == '\n' {
				s.line++
			}
			s.i += 2
			continue
		case c == '\n':
			s.line++
		case strings.HasPrefix(s.src[s.i:], triple):
			s.i += 3
			// Up to two more quotes belong to the content: """a"""""
			for n := 0; n < 2 && s.i < len(s.src) && s.src[s.i] == q; n++ {
				s.i++
			}
			return
		}
		s.i++
	}
}

func (s *cfgScanner) skipSpace() {
	for s.i < len(s.src) && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		s.i++
	}
}

func (s *cfgScanner) skipLine() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
}

// cfgUnescape decodes a TOML basic string's escapes (TOML 1.1's \e and
// \xHH included). An escape it does not know is kept as written; toml
// has already rejected those.
func cfgUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(c)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			if i+1+n <= len(s) {
				if r, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += n
					continue
				}
			}
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}

// SetBroker overrides the config's broker (the -broker flag), with the same
// checks as the [mqtt] broker key.
func (c *Config) SetBroker(b string) error {
	if err := cfgCheckBroker(b); err != nil {
		return err
	}
	c.MQTT.Broker = b
	switch {
	case !c.MQTT.Embedded():
		c.MQTT.Listen = ""
	case c.MQTT.Listen == "":
		c.MQTT.Listen = cfgDefaultListen
	}
	return nil
}
