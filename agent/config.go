package agent

// The configuration loader: TOML in, a checked Config out, or every problem
// at once with its file, line and key.
//
// The machinery is internal/devconf, which drivertest shares so that a
// driver's tests see the loader's checks and words: it decodes the
// document into plain maps and finds the line of each key, and gives each
// device's driver keys to the driver through a fresh toml decode of just
// that device's keys, so that strictness is per device; it also decodes
// the options every device's entities get ([device.entity.<id>]), which no
// driver sees. This file checks the agent's own tables, builds the
// devices, asks each once what it is (Info, Entities, Claims, what it
// provides) with a panic contained, and checks the devices together:
// claims that conflict, lines and buses used from other devices, and
// providers that depend on each other.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/devconf"
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
	// StateDir is the directory of the agent's state file, which
	// remembers the states of entities with power_on = "restore". It
	// defaults to $STATE_DIRECTORY when systemd sets it (StateDirectory=),
	// else /var/lib/pinion.
	StateDir string
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

	// CAFile is the PEM file of the certificate authorities the broker's
	// certificate is checked against (ssl:// only), resolved against the
	// config file's directory; empty uses the system's.
	CAFile string
	// CertFile is the agent's client certificate (PEM) for a broker that
	// asks for one (mutual TLS); set together with KeyFile.
	CertFile string
	// KeyFile is CertFile's private key (PEM).
	KeyFile string
	// ServerName is the name the broker's certificate must carry; empty
	// means the broker URL's host.
	ServerName string
	// InsecureSkipVerify accepts any certificate from the broker; it is
	// never the default, and the agent warns about it at every start.
	InsecureSkipVerify bool
}

// Embedded reports whether the agent runs its own broker.
func (m MQTTConfig) Embedded() bool { return m.Broker == "embedded" }

// mqttPlain is MQTTConfig without its methods, for the methods that
// print it masked (so that they do not call themselves).
type mqttPlain MQTTConfig

// masked returns m with the password masked.
func (m MQTTConfig) masked() mqttPlain {
	if m.Password != "" {
		m.Password = "xxxxx"
	}
	return mqttPlain(m)
}

// String formats the table as %+v would, with the password masked, so
// that printing a config (with any verb, or in a panic's value) never
// shows it.
func (m MQTTConfig) String() string { return fmt.Sprintf("%+v", m.masked()) }

// GoString is String for %#v.
func (m MQTTConfig) GoString() string { return "agent.MQTTConfig" + m.String() }

// LogValue is String for slog's text handler, which would otherwise print
// the fields itself.
func (m MQTTConfig) LogValue() slog.Value { return slog.StringValue(m.String()) }

// MarshalJSON writes the table with the password masked, for slog's JSON
// handler and anything else that marshals a Config.
func (m MQTTConfig) MarshalJSON() ([]byte, error) { return json.Marshal(m.masked()) }

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

// DeviceConfig is one [[device]] table with its device built and
// described: the driver's methods that describe a device (Info, Entities,
// Claims, ProvidedLines, ProvidedBuses) were each called once, here, with
// their panics contained, so the runtime uses these fields rather than
// calling them again.
type DeviceConfig struct {
	// ID is the device's id, unique on the node, made of [a-zA-Z0-9_-].
	ID string
	// Driver is the registered driver's name.
	Driver string
	// Name is the human name; it defaults to ID.
	Name string
	// Interval is the poll and republish interval: the device's interval
	// key, else the driver's DefaultInterval, else 30 s. It is never zero.
	Interval time.Duration
	// Line is the line of the device's [[device]] header, for messages.
	Line int
	// Device is built by the driver's factory; no hardware is touched yet.
	Device drivers.Device
	// Info is what Device.Info returned.
	Info drivers.Info
	// Entities are the entities the agent publishes: Device.Entities with
	// the [device.entity.<id>] overrides applied (name, icon,
	// enabled_by_default) and the disabled ones left out.
	Entities []drivers.Entity
	// Disabled are the ids of the entities the config disables. The device
	// still reports them; the agent drops those reports without a word.
	Disabled []string
	// Claims are what Device claims (drivers.Claimer), nil for a device
	// that claims nothing. No two devices' claims conflict, and every line
	// or bus another device provides ("relays/GPA0") is one it offers.
	Claims []drivers.Resource
	// Providers are the ids of the devices whose lines or buses this one
	// uses, in the order of its claims, each once: they open before it.
	// The providers of a config form no cycle.
	Providers []string
	// Safety is the relay-safety options of the device's entities that
	// ask for any, by entity id (switches and lights only); nil for none.
	Safety map[string]devconf.Safety
}

// Problem is one thing wrong with a configuration: its file, line, key and
// what is wrong. It is the type drivertest reports too.
type Problem = devconf.Problem

// ConfigError is every problem found in a configuration, sorted by line,
// so that a user fixes them all in one go instead of one per run.
type ConfigError = devconf.ConfigError

// LoadConfig reads the configuration file at path and parses it with
// ParseConfig. Relative paths inside it (password_file) are relative to the
// file's directory. A file larger than 1 MiB is refused unread, so that a
// mistaken -config /dev/zero ends at once instead of filling memory.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, cfgMaxFile+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > cfgMaxFile {
		return nil, &ConfigError{Problems: []Problem{{File: path,
			Msg: "config file is larger than 1 MiB: is -config pointing at the configuration?"}}}
	}
	return ParseConfig(path, data)
}

// ParseConfig parses and checks a configuration. file names it in messages
// and anchors relative paths. A TOML syntax error is reported alone, since
// nothing after it can be trusted; otherwise every problem is reported at
// once. The error is always a *ConfigError.
func ParseConfig(file string, data []byte) (*Config, error) {
	root, doc, err := devconf.Parse(file, data)
	if err != nil {
		return nil, err
	}
	p := &cfgParser{Doc: doc, drives: map[string]bool{}}
	cfg := p.parse(root)
	if err := doc.Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// The keys of each table, in the order the documentation lists them.
var (
	cfgRootKeys   = []string{"agent", "mqtt", "sim", "device"}
	cfgAgentKeys  = []string{"id", "name", "hardware", "log_level", "state_dir"}
	cfgMQTTKeys   = []string{"broker", "listen", "client_id", "username", "password", "password_file", "discovery_prefix", "topic_prefix", "keepalive", "ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"}
	cfgSimKeys    = []string{"toggle"}
	cfgToggleKeys = []string{"pin", "every"}
)

// Defaults and limits.
const (
	cfgDefaultBroker    = "tcp://127.0.0.1:1883"
	cfgDefaultListen    = "127.0.0.1:1883"
	cfgDefaultKeepalive = 30 * time.Second
	cfgMinKeepalive     = 5 * time.Second
	cfgMaxKeepalive     = 65535 * time.Second // the MQTT field is 16 bits of seconds
	cfgMinToggle        = 100 * time.Millisecond
	cfgMaxPasswordFile  = 65535   // the longest password MQTT can carry
	cfgMaxFile          = 1 << 20 // a configuration is a few kB; 1 MiB is plenty
	// cfgDefaultInterval is a device's interval when neither its table nor
	// its driver sets one.
	cfgDefaultInterval = 30 * time.Second
)

// cfgHostname is the hostname source; tests replace it.
var cfgHostname = os.Hostname

// cfgParser checks one configuration, collecting its problems in the
// document.
type cfgParser struct {
	*devconf.Doc
	// simLines are the simulated board's GPIO lines when the config asks
	// for simulated hardware, so a pin it lacks is found by -check rather
	// than at start.
	simLines []string
	// drives are the ids of the devices whose entities are all outputs.
	drives map[string]bool
}

func (p *cfgParser) parse(root map[string]any) *Config {
	cfg := &Config{File: p.File}
	top := devconf.Table{Doc: p.Doc, M: root}
	for _, k := range top.Keys() {
		if slices.Contains(cfgRootKeys, k) {
			continue
		}
		// A key at the top level that belongs in a table is a common slip:
		// say which table.
		if s := devconf.Suggest(k, cfgRootKeys); s != "" {
			p.Add(devconf.Path{}.Key(k), nil, "unknown key (did you mean %q?)", s)
			continue
		}
		if t := cfgHome(k); t != "" {
			p.Add(devconf.Path{}.Key(k), nil, "unknown key at the top level: %q belongs in the %s table", k, t)
			continue
		}
		p.Add(devconf.Path{}.Key(k), nil, "unknown key (the top level takes the tables [agent], [mqtt], [sim] and [[device]])")
	}
	cfg.Agent = p.parseAgent(p.Table(devconf.Path{"agent"}, root, "[agent]"))
	if cfg.Agent.Simulated() {
		p.simLines = cfgSimLines()
	}
	cfg.MQTT = p.parseMQTT(p.Table(devconf.Path{"mqtt"}, root, "[mqtt]"), cfg.Agent)
	cfg.Sim = p.parseSim(p.Table(devconf.Path{"sim"}, root, "[sim]"), cfg.Agent)
	cfg.Devices = p.parseDevices(root)
	p.checkToggles(cfg)
	return cfg
}

// cfgHome names the table a key belongs to, for a key misplaced at the top.
func cfgHome(k string) string {
	switch {
	case slices.Contains(cfgAgentKeys, k):
		return "[agent]"
	case slices.Contains(cfgMQTTKeys, k):
		return "[mqtt]"
	case slices.Contains(devconf.CommonKeys(), k):
		return "[[device]]"
	}
	return ""
}

func (p *cfgParser) parseAgent(t devconf.Table) AgentConfig {
	t.Unknown(cfgAgentKeys, "[agent]")
	a := AgentConfig{Hardware: "real", LogLevel: "info"}
	if id, ok := t.Str("id"); ok {
		if !devconf.ValidID(id) {
			p.Add(t.Path.Key("id"), nil, "%q is not a valid id: use only letters, digits, '_' and '-' (it is part of every MQTT topic)", id)
		}
		a.ID = id
	} else if !t.Has("id") {
		host, err := cfgHostname()
		if err != nil {
			p.Add(t.Path.Key("id"), err, "not set, and the hostname is unavailable (%v): set id in [agent]", err)
		}
		a.ID = cfgSafeID(host)
	}
	a.Name = a.ID
	if name, ok := t.Str("name"); ok {
		if strings.TrimSpace(name) == "" {
			p.Add(t.Path.Key("name"), nil, "must not be empty (leave it out to use the id)")
		}
		a.Name = name
	}
	if hw, ok := t.Str("hardware"); ok {
		t.OneOf("hardware", hw, "real", "sim")
		a.Hardware = hw
	}
	if lvl, ok := t.Str("log_level"); ok {
		t.OneOf("log_level", lvl, "debug", "info", "warn", "error")
		a.LogLevel = lvl
	}
	a.StateDir = cfgDefaultStateDir()
	if dir, ok := t.Str("state_dir"); ok {
		if !filepath.IsAbs(dir) {
			p.Add(t.Path.Key("state_dir"), nil, "%q is not an absolute path: use one such as \"/var/lib/pinion\" (the default)", dir)
		}
		a.StateDir = dir
	}
	return a
}

// cfgDefaultStateDir is [agent] state_dir's default: the first directory
// of systemd's StateDirectory= ($STATE_DIRECTORY), else /var/lib/pinion.
func cfgDefaultStateDir() string {
	if dirs := os.Getenv("STATE_DIRECTORY"); dirs != "" {
		if dir, _, _ := strings.Cut(dirs, ":"); filepath.IsAbs(dir) {
			return dir
		}
	}
	return "/var/lib/pinion"
}

func (p *cfgParser) parseMQTT(t devconf.Table, agent AgentConfig) MQTTConfig {
	t.Unknown(cfgMQTTKeys, "[mqtt]")
	m := MQTTConfig{
		Broker:          cfgDefaultBroker,
		ClientID:        "pinion-" + agent.ID,
		DiscoveryPrefix: "homeassistant",
		TopicPrefix:     "pinion",
		Keepalive:       cfgDefaultKeepalive,
	}
	if b, ok := t.Str("broker"); ok {
		if err := cfgCheckBroker(b); err != nil {
			p.Add(t.Path.Key("broker"), nil, "%v", err)
		}
		m.Broker = b
		if shown, _, pw, ok := cfgBrokerCredentials(b); ok {
			// The config is refused; later messages that quote the
			// broker (listen, TLS keys) show it masked.
			p.AddSecret(pw)
			m.Broker = shown
		}
	}
	if l, ok := t.Str("listen"); ok {
		switch {
		case !m.Embedded():
			p.Add(t.Path.Key("listen"), nil, `is only used with broker = "embedded" (the broker is %q): remove it, or set broker = "embedded"`, m.Broker)
		default:
			if err := cfgCheckListen(l); err != nil {
				p.Add(t.Path.Key("listen"), nil, "%v", err)
			}
		}
		m.Listen = l
	} else if m.Embedded() {
		m.Listen = cfgDefaultListen
	}
	if id, ok := t.Str("client_id"); ok {
		if id == "" {
			p.Add(t.Path.Key("client_id"), nil, `must not be empty (leave it out to use "pinion-<agent id>")`)
		}
		m.ClientID = id
	}
	user, hasUser := t.Str("username")
	m.Username = user
	pw, hasPW := t.Str("password")
	pwFile, hasFile := t.Str("password_file")
	switch {
	case hasPW && hasFile:
		p.Add(t.Path.Key("password_file"), nil, "password and password_file are mutually exclusive: keep one")
	case hasPW:
		knownSecrets.Add(pw)
		m.Password = pw
	case hasFile:
		if s, err := cfgReadSecret(p.File, pwFile); err != nil {
			p.Add(t.Path.Key("password_file"), err, "%v", err)
		} else {
			p.AddSecret(s)
			knownSecrets.Add(s)
			m.Password = s
		}
	}
	// A username of the wrong type is reported already.
	if (hasPW || hasFile) && user == "" && (hasUser || !t.Has("username")) {
		key := "password"
		if hasFile {
			key = "password_file"
		}
		p.Add(t.Path.Key(key), nil, "needs username: MQTT sends a password only together with a user name")
	}
	if s, ok := t.Str("discovery_prefix"); ok {
		if err := cfgCheckPrefix(s); err != nil {
			p.Add(t.Path.Key("discovery_prefix"), nil, "%v", err)
		}
		m.DiscoveryPrefix = s
	}
	if s, ok := t.Str("topic_prefix"); ok {
		if err := cfgCheckPrefix(s); err != nil {
			p.Add(t.Path.Key("topic_prefix"), nil, "%v", err)
		} else if s == m.DiscoveryPrefix {
			p.Add(t.Path.Key("topic_prefix"), nil, "must differ from discovery_prefix (%q), or state topics can be taken for discovery messages", m.DiscoveryPrefix)
		}
		m.TopicPrefix = s
	}
	if d, ok := t.Duration("keepalive"); ok {
		switch {
		case d < cfgMinKeepalive:
			p.Add(t.Path.Key("keepalive"), nil, "%v is too short: use at least %v", d, cfgMinKeepalive)
		case d > cfgMaxKeepalive:
			p.Add(t.Path.Key("keepalive"), nil, "%v is too long: MQTT allows at most %v", d, cfgMaxKeepalive)
		}
		m.Keepalive = d
	}
	p.parseTLS(t, &m)
	return m
}

func (p *cfgParser) parseSim(t devconf.Table, agent AgentConfig) SimConfig {
	var s SimConfig
	if len(t.M) == 0 {
		return s
	}
	if !agent.Simulated() {
		p.Add(t.Path, nil, `is only used with hardware = "sim": set it in [agent], or remove [sim]`)
	}
	t.Unknown(cfgSimKeys, "[sim]")
	v, ok := t.M["toggle"]
	if !ok {
		return s
	}
	path := t.Path.Key("toggle")
	tables, ok := devconf.Tables(v)
	if !ok {
		p.Add(path, nil, "must be an array of tables ([[sim.toggle]] sections), not %s", devconf.TypeName(v))
		return s
	}
	seen := map[string]int{}
	lines := p.simLines
	if lines == nil {
		lines = cfgSimLines()
	}
	for i, m := range tables {
		tt := devconf.Table{Doc: p.Doc, Path: path.Index(i), M: m}
		tt.Unknown(cfgToggleKeys, "[[sim.toggle]]")
		var tg SimToggle
		if pin, ok := tt.Str("pin"); ok {
			if err := cfgCheckName(pin); err != nil {
				p.Add(tt.Path.Key("pin"), nil, "%v", err)
			} else if !slices.Contains(lines, pin) {
				p.Add(tt.Path.Key("pin"), nil, "%s", simLineProblem(lines, pin))
			} else if first, dup := seen[pin]; dup {
				p.Add(tt.Path.Key("pin"), nil, "%q is already toggled by %s (line %d)", pin, path.Index(first), p.Line(path.Index(first)))
			} else {
				seen[pin] = i
			}
			tg.Pin = pin
		} else if !tt.Has("pin") {
			p.Add(tt.Path.Key("pin"), nil, `is required: name the input line to flip, such as "GPIO17"`)
		}
		if d, ok := tt.Duration("every"); ok {
			if d < cfgMinToggle {
				p.Add(tt.Path.Key("every"), nil, "%v is too short: use at least %v", d, cfgMinToggle)
			}
			tg.Every = d
		} else if !tt.Has("every") {
			p.Add(tt.Path.Key("every"), nil, `is required: how often to flip the line, such as "5s"`)
		}
		s.Toggle = append(s.Toggle, tg)
	}
	return s
}

// simLineProblem says that pin is not a line of the simulated board with
// lines, suggesting the spelling it has.
func simLineProblem(lines []string, pin string) string {
	hint := ""
	if j := slices.IndexFunc(lines, func(l string) bool { return strings.EqualFold(l, pin) }); j >= 0 {
		hint = fmt.Sprintf(" (did you mean %q?)", lines[j])
	}
	return fmt.Sprintf("%q is not a line of the simulated board%s: it has %s to %s", pin, hint, lines[0], lines[len(lines)-1])
}

// cfgSimLines names the simulated board's GPIO lines, from the board
// itself so that the two never disagree.
func cfgSimLines() []string {
	h := sim.NewHost(nil)
	defer h.Close()
	return h.Lines()
}

// checkToggles rejects a [[sim.toggle]] on a line that a device drives: the
// simulation flips an input as a button would, and an output's level is
// its driver's, so toggling it would do nothing. A device whose entities
// are all outputs (switches, buttons, lights: a gpio output, a relay
// board) drives every line of the board it claims; a device that reads
// anything may use its lines as inputs.
func (p *cfgParser) checkToggles(cfg *Config) {
	if len(cfg.Sim.Toggle) == 0 {
		return
	}
	outputs := map[string]DeviceConfig{}
	for _, dc := range cfg.Devices {
		if !p.drives[dc.ID] {
			continue
		}
		for _, r := range dc.Claims {
			if cfgBoardPin(r) {
				if _, dup := outputs[r.Name]; !dup {
					outputs[r.Name] = dc
				}
			}
		}
	}
	for i, tg := range cfg.Sim.Toggle {
		if dc, ok := outputs[tg.Pin]; ok {
			p.Add(devconf.Path{"sim", "toggle"}.Index(i).Key("pin"), nil,
				"%q is an output of device %q (line %d): the simulation flips inputs, as a button would; toggle an input's line, or remove this [[sim.toggle]]",
				tg.Pin, dc.ID, dc.Line)
		}
	}
}

// cfgBoardPin reports whether r is a GPIO or PWM line of the board itself,
// not one another device provides.
func cfgBoardPin(r drivers.Resource) bool {
	return (r.Kind == drivers.ResourceGPIO || r.Kind == drivers.ResourcePWM) && r.Provider() == ""
}

// cfgDrivesLines reports whether a device with entities es only drives its
// hardware: it has entities, and they are all outputs.
func cfgDrivesLines(es []drivers.Entity) bool {
	for _, e := range es {
		switch e.Spec.(type) {
		case drivers.Switch, *drivers.Switch, drivers.Button, *drivers.Button, drivers.Light, *drivers.Light:
		default:
			return false
		}
	}
	return len(es) > 0
}

// cfgClaim is a resource a device claims.
type cfgClaim struct {
	r    drivers.Resource
	id   string
	line int
}

// cfgClaimKey buckets resources that may conflict: the same bus and name
// (a GPIO line and a PWM line of one name are one pin).
func cfgClaimKey(r drivers.Resource) string { return r.Bus + "\x00" + r.Name }

func (p *cfgParser) parseDevices(root map[string]any) []DeviceConfig {
	var devs []DeviceConfig
	ids := devconf.IDs{}
	claims := map[string][]cfgClaim{}
	paths := map[string]devconf.Path{}
	for i, m := range p.DeviceTables(root) {
		path := devconf.Path{"device"}.Index(i)
		dc, ok := p.parseDevice(path, m, ids, i)
		if !ok {
			continue
		}
		p.checkClaims(path, dc, claims)
		devs = append(devs, dc)
		paths[dc.ID] = path
	}
	return p.checkProviders(devs, ids, paths)
}

// parseDevice checks one [[device]] table and builds its device. ids are
// the ids seen so far.
func (p *cfgParser) parseDevice(path devconf.Path, m map[string]any, ids devconf.IDs, index int) (DeviceConfig, bool) {
	common, ok := p.Device(path, m, ids, index, true)
	dc := DeviceConfig{ID: common.ID, Driver: common.Driver, Name: common.Name, Line: common.Line}
	if !ok {
		return dc, false
	}
	drv, ok := drivers.Lookup(dc.Driver)
	if !ok {
		hint := ""
		if s := devconf.Suggest(dc.Driver, drivers.Names()); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		p.Add(path.Key("driver"), nil, "unknown driver %q%s; %s", dc.Driver, hint, devconf.KnownDrivers())
		return dc, false
	}
	dc.Interval = cfgInterval(common.Interval, drv)

	// The decoder reports Decode's problems and the factory's: each
	// drivers.KeyError at its own key and line, anything else at the
	// [[device]] line. Keys left when the factory never called Decode are
	// typos, but the device is built, so its claims are checked too.
	dec := p.Decoder(path, dc.Driver, m)
	dev, err := cfgBuild(drv.New, drivers.Config{ID: dc.ID, Name: dc.Name, Interval: dc.Interval, Decode: dec.Decode})
	p.AddProblems(dec.Returned(dev, err)...)
	if err != nil || dev == nil {
		return dc, false
	}
	dc.Device = dev

	// The driver describes the device once, here: a panic is the driver's
	// bug, reported at the device's table rather than taking -check or the
	// agent down later.
	var es []drivers.Entity
	if err := cfgContain("Info", func() { dc.Info = dev.Info() }); err != nil {
		p.Add(path, err, "device %q: %v", dc.ID, err)
		return dc, false
	}
	if err := cfgContain("Entities", func() { es = dev.Entities() }); err != nil {
		p.Add(path, err, "device %q: %v", dc.ID, err)
		return dc, false
	}
	dc.Entities, dc.Disabled = p.ApplyEntities(dc.ID, common.Entities, es)
	dc.Safety = devconf.Safeties(common.Entities)
	if cfgDrivesLines(es) {
		p.drives[dc.ID] = true
	}
	if c, ok := dev.(drivers.Claimer); ok {
		if err := cfgContain("Claims", func() { dc.Claims = c.Claims() }); err != nil {
			p.Add(path, err, "device %q: %v", dc.ID, err)
			return dc, false
		}
	}
	return dc, dec.Err() == nil
}

// cfgInterval resolves a device's interval: its interval key, else its
// driver's default, else the agent's.
func cfgInterval(key time.Duration, drv drivers.Driver) time.Duration {
	switch {
	case key > 0:
		return key
	case drv.DefaultInterval > 0:
		return drv.DefaultInterval
	}
	return cfgDefaultInterval
}

// checkClaims rejects a resource that conflicts with one an earlier device
// claimed, a claim that is no resource at all, and a line the simulated
// board lacks.
func (p *cfgParser) checkClaims(path devconf.Path, dc DeviceConfig, claims map[string][]cfgClaim) {
	var mine []drivers.Resource
	for _, r := range dc.Claims {
		if slices.Contains(mine, r) {
			continue
		}
		mine = append(mine, r)
		if err := cfgCheckResource(r); err != nil {
			p.Add(path, nil, "device %q: driver %q claims %v (a bug in the driver)", dc.ID, dc.Driver, err)
			continue
		}
		if cfgBoardPin(r) && p.simLines != nil && !slices.Contains(p.simLines, r.Name) {
			p.Add(path, nil, "device %q: %s", dc.ID, simLineProblem(p.simLines, r.Name))
		}
		key := cfgClaimKey(r)
		if i := slices.IndexFunc(claims[key], func(c cfgClaim) bool { return c.id != dc.ID && c.r.Conflicts(r) }); i >= 0 {
			first := claims[key][i]
			as := ""
			if first.r.String() != r.String() {
				as = fmt.Sprintf(" as %s", first.r)
			}
			hint := "each resource belongs to one device"
			if r.Shared || first.r.Shared {
				hint = "a line is shared only when every device on it claims it shared"
			}
			p.Add(path, nil, "device %q uses %s, which device %q (line %d) already uses%s: %s", dc.ID, r, first.id, first.line, as, hint)
			continue
		}
		claims[key] = append(claims[key], cfgClaim{r: r, id: dc.ID, line: dc.Line})
	}
}

// cfgCheckResource checks that r names something: a driver that builds
// resources with drivers.GPIOLine, I2CAddress, … from names it checked
// never fails this.
func cfgCheckResource(r drivers.Resource) error {
	missing := ""
	switch r.Kind {
	case drivers.ResourceGPIO, drivers.ResourcePWM, drivers.ResourceSerial:
		if r.Name == "" {
			missing = "a name"
		}
	case drivers.ResourceI2C:
		if r.Bus == "" {
			missing = "a bus"
		}
	case drivers.ResourceOneWire:
		if r.Bus == "" || r.Name == "" {
			missing = "a bus and a device id"
		}
	default:
		return fmt.Errorf("a resource of unknown kind %q (%+v)", r.Kind, r)
	}
	if missing != "" {
		return fmt.Errorf("%s without %s", r, missing)
	}
	return nil
}

// checkProviders checks the lines and buses that devices use from other
// devices ("relays/GPA0"): the provider is a configured device, it
// provides that kind of thing, and it offers that one; and no device
// depends on itself through its providers. It fills in each device's
// Providers and returns devs. ids are every device id of the document,
// so that a provider whose own table is wrong is not also reported
// missing; paths are the built devices' tables.
func (p *cfgParser) checkProviders(devs []DeviceConfig, ids devconf.IDs, paths map[string]devconf.Path) []DeviceConfig {
	byID := make(map[string]*DeviceConfig, len(devs))
	for i := range devs {
		byID[devs[i].ID] = &devs[i]
	}
	offers := map[string][]string{} // "<kind>\x00<provider>" → what it provides, asked once
	offered := func(prov *DeviceConfig, kind string) ([]string, bool) {
		key := kind + "\x00" + prov.ID
		if list, ok := offers[key]; ok {
			return list, true
		}
		var list []string
		err := cfgContain("Provided"+kind, func() {
			switch kind {
			case "Lines":
				list = prov.Device.(drivers.GPIOProvider).ProvidedLines()
			case "Buses":
				list = prov.Device.(drivers.I2CProvider).ProvidedBuses()
			}
		})
		if err != nil {
			p.Add(paths[prov.ID], err, "device %q: %v", prov.ID, err)
			return nil, false
		}
		if list == nil {
			list = []string{}
		}
		offers[key] = list
		return list, true
	}
	for i := range devs {
		dc := &devs[i]
		path := paths[dc.ID]
		for _, r := range dc.Claims {
			id := r.Provider()
			if id == "" || cfgCheckResource(r) != nil {
				continue
			}
			prov := byID[id]
			if prov == nil {
				if used, known := ids[strings.ToLower(id)]; !known || used.ID != id {
					p.Add(path, nil, "device %q uses %s, but no device has the id %q: %s", dc.ID, r, id, cfgProvidedForm(r, id, devs))
				}
				continue // else its own table is wrong, and reported
			}
			if prov == dc {
				p.Add(path, nil, "device %q uses %s, its own: a device cannot use what it provides itself", dc.ID, r)
				continue
			}
			var kind, things, local string
			var ok bool
			switch r.Kind {
			case drivers.ResourceGPIO, drivers.ResourcePWM:
				_, local, _ = drivers.SplitProvided(r.Name)
				_, ok = prov.Device.(drivers.GPIOProvider)
				kind, things = "Lines", "GPIO lines"
			case drivers.ResourceI2C:
				_, local, _ = drivers.SplitProvided(r.Bus)
				_, ok = prov.Device.(drivers.I2CProvider)
				kind, things = "Buses", "I2C buses"
			default:
				p.Add(path, nil, "device %q uses %s, but devices cannot provide 1-Wire buses yet: use the kernel's, \"w1\"", dc.ID, r)
				continue
			}
			if !ok {
				p.Add(path, nil, "device %q uses %s, but device %q (line %d, driver %q) provides no %s", dc.ID, r, prov.ID, prov.Line, prov.Driver, things)
				continue
			}
			list, ok := offered(prov, kind)
			if !ok {
				continue
			}
			if !slices.Contains(list, local) {
				p.Add(path, nil, "device %q uses %s, but device %q (line %d) has no %q: %s", dc.ID, r, prov.ID, prov.Line, local, cfgOffers(local, list, things))
				continue
			}
			if !slices.Contains(dc.Providers, id) {
				dc.Providers = append(dc.Providers, id)
			}
		}
	}
	p.checkCycles(devs, byID, paths)
	return devs
}

// cfgProvidedForm explains a provided name whose device is missing,
// suggesting a configured id close to id.
func cfgProvidedForm(r drivers.Resource, id string, devs []DeviceConfig) string {
	var all []string
	for _, d := range devs {
		all = append(all, d.ID)
	}
	if s := devconf.Suggest(id, all); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	what := "line"
	if r.Kind == drivers.ResourceI2C {
		what = "bus"
	}
	return fmt.Sprintf(`a %s written "<device>/<%s>" is one that the device with that id provides`, what, what)
}

// cfgOffers lists what a provider offers, with the one closest to want.
func cfgOffers(want string, list []string, things string) string {
	if len(list) == 0 {
		return "it provides no " + things
	}
	hint := ""
	// Short names ("0", "GPA1") are all near each other; suggest one only
	// for a slip of case or a longer name.
	if i := slices.IndexFunc(list, func(s string) bool { return strings.EqualFold(s, want) }); i >= 0 {
		hint = fmt.Sprintf("did you mean %q? ", list[i])
	} else if s := devconf.Suggest(want, list); s != "" && len(want) > 4 {
		hint = fmt.Sprintf("did you mean %q? ", s)
	}
	const most = 20
	shown := list
	more := ""
	if len(shown) > most {
		shown, more = shown[:most], fmt.Sprintf(" and %d more", len(list)-most)
	}
	return fmt.Sprintf("%sit provides %s%s", hint, strings.Join(shown, ", "), more)
}

// checkCycles reports every cycle of devices that use each other's lines
// or buses, once, at the first device of the cycle in the file: none of
// them could open first.
func (p *cfgParser) checkCycles(devs []DeviceConfig, byID map[string]*DeviceConfig, paths map[string]devconf.Path) {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	index := map[string]int{}
	for i, d := range devs {
		index[d.ID] = i
	}
	var stack []string
	var visit func(id string)
	visit = func(id string) {
		state[id] = onPath
		stack = append(stack, id)
		for _, prov := range byID[id].Providers {
			switch state[prov] {
			case unseen:
				visit(prov)
			case onPath:
				cycle := slices.Clone(stack[slices.Index(stack, prov):])
				// Start the cycle at its device that comes first in the file.
				first := 0
				for j, c := range cycle {
					if index[c] < index[cycle[first]] {
						first = j
					}
				}
				cycle = append(cycle[first:], cycle[:first]...)
				steps := make([]string, 0, len(cycle)+1)
				for _, c := range append(cycle, cycle[0]) {
					steps = append(steps, strconv.Quote(c))
				}
				head := byID[cycle[0]]
				p.Add(paths[head.ID], nil, "device %q is part of a cycle of devices that use each other's lines or buses (%s): a device opens after those it uses, so none of them could open; break the cycle",
					head.ID, strings.Join(steps, " uses "))
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
	}
	for _, d := range devs {
		if state[d.ID] == unseen {
			visit(d.ID)
		}
	}
}

// cfgBuild calls a driver's New, turning a panic into an error: a broken
// driver must not take the agent down.
func cfgBuild(f func(drivers.Config) (drivers.Device, error), c drivers.Config) (dev drivers.Device, err error) {
	defer func() {
		if r := recover(); r != nil {
			dev, err = nil, fmt.Errorf("driver factory panicked: %v (at %s)", r, panicSite())
		}
	}()
	return f(c)
}

// cfgContain calls f, a call of the driver's method named method, turning
// a panic into an error.
func cfgContain(method string, f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("driver's %s method panicked: %v (at %s)", method, r, panicSite())
		}
	}()
	f()
	return nil
}

// panicSite names where a recovered panic was raised: the first frame
// below the runtime's panic machinery, so that a driver's author finds
// the line without a stack dump in -check's output. It is called from the
// deferred function that recovered.
func panicSite() string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			return fmt.Sprintf("%s, %s:%d", f.Function, filepath.Base(f.File), f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

// cfgSafeID makes a hostname into a node id.
func cfgSafeID(host string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(host) {
		if r < 0x80 && devconf.ValidID(string(r)) {
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
	// Before anything quotes s: url.Parse's errors quote the whole URL,
	// password included.
	if shown, user, _, ok := cfgBrokerCredentials(s); ok {
		fix := "set username and password_file (or password) in [mqtt]"
		if user != "" {
			fix = fmt.Sprintf("set username = %q and password_file (or password) in [mqtt]", user)
		}
		return fmt.Errorf("%q has credentials in it (the password is not shown): %s, and leave them out of the broker URL", shown, fix)
	}
	if !strings.Contains(s, "://") {
		// A word near "embedded" is a typo of it; a host name has a dot
		// or a port.
		if word := strings.TrimSpace(s); !strings.ContainsAny(word, ".:/") && devconf.Suggest(word, []string{"embedded"}) != "" {
			return fmt.Errorf(`%q is not a broker: did you mean "embedded" (the agent's own broker)? Otherwise use %s`, s, forms)
		}
		if fix := cfgFixScheme(s); fix != "" {
			return fmt.Errorf(`%q is missing part of "://": did you mean %s?`, s, fix)
		}
		return fmt.Errorf("%q has no scheme: write tcp://%s, or use %s", s, s, forms)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL (%v): use %s", s, err, forms)
	}
	if u.Scheme != "tcp" && u.Scheme != "ssl" {
		return fmt.Errorf("unsupported scheme %q in %q: use %s", u.Scheme, s, forms)
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

// cfgBrokerCredentials finds credentials written into a broker URL
// ("tcp://pinion:S3cr3t@host:1883", with or without the scheme): the
// userinfo is everything before the last '@', since a password may hold
// '@', '/', ':' or '#' and a URL parser would split it elsewhere (and
// quote it in its errors). shown is s with the userinfo masked, keeping
// the user name when a ':' sets it apart (user, else ""); password is
// what is masked. ok is false when s has no '@'.
func cfgBrokerCredentials(s string) (shown, user, password string, ok bool) {
	scheme, rest, hasScheme := strings.Cut(s, "://")
	if !hasScheme || strings.ContainsAny(scheme, "@:/") {
		scheme, rest, hasScheme = "", s, false
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return "", "", "", false
	}
	userinfo, host := rest[:at], rest[at+1:]
	masked := "xxxxx"
	password = userinfo
	if u, pw, hasPW := strings.Cut(userinfo, ":"); hasPW {
		masked, user, password = u+":xxxxx", u, pw
	}
	shown = masked + "@" + host
	if hasScheme {
		shown = scheme + "://" + shown
	}
	return shown, user, password, true
}

// cfgFixScheme returns s with the "://" after its tcp or ssl scheme
// mended ("tcp//h:1883", "tcp:/h:1883", "tcp:h:1883"), or "" when s does
// not start with a scheme so written. "tcp:1883" is left alone: it reads
// as a host named tcp.
func cfgFixScheme(s string) string {
	for _, scheme := range []string{"tcp", "ssl"} {
		after, ok := strings.CutPrefix(s, scheme)
		if !ok {
			continue
		}
		rest := strings.TrimLeft(after, ":/")
		sep := after[:len(after)-len(rest)]
		if rest != "" && (strings.Contains(sep, "/") || sep == ":" && strings.Contains(rest, ":")) {
			return scheme + "://" + rest
		}
	}
	return ""
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
