package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/internal/devconf"

	// The built-in drivers, whose value errors the loader must place at
	// their keys' lines.
	_ "github.com/pinion-home/pinion/drivers/bme280"
	_ "github.com/pinion-home/pinion/drivers/gpio"
	_ "github.com/pinion-home/pinion/drivers/mhz19"
	_ "github.com/pinion-home/pinion/drivers/system"
)

// A flag of its own rather than -update, which other tests of this package
// may define: two definitions of one flag panic at start.
var cfgUpdateGolden = flag.Bool("update-config", false, "rewrite agent/testdata/config/*.golden from the loader's output")

// cfgTestSensorInterval is cfgtest_sensor's DefaultInterval.
const cfgTestSensorInterval = 2 * time.Minute

// Test drivers, registered under names no real driver takes. Each decodes
// its keys into its own strict struct, as a real driver does.
func init() {
	reg := func(name string, newf func(drivers.Config) (drivers.Device, error)) {
		drivers.Register(drivers.Driver{Name: name, New: newf})
	}
	reg("cfgtest_relay", cfgTestRelay)
	drivers.Register(drivers.Driver{Name: "cfgtest_sensor", New: cfgTestSensor, DefaultInterval: cfgTestSensorInterval})
	reg("cfgtest_any", cfgTestAny)
	reg("cfgtest_keys", cfgTestKeys)
	reg("cfgtest_claims", cfgTestClaims)
	reg("cfgtest_bare", func(c drivers.Config) (drivers.Device, error) {
		return &cfgTestDevice{driver: "cfgtest_bare"}, nil
	})
	reg("cfgtest_panic", func(drivers.Config) (drivers.Device, error) { panic("boom") })
	reg("cfgtest_nil", func(drivers.Config) (drivers.Device, error) { return nil, nil })
	reg("cfgtest_twice", func(c drivers.Config) (drivers.Device, error) {
		var a, b cfgTestRelayConfig
		if err := c.Decode(&a); err != nil {
			return nil, err
		}
		if err := c.Decode(&b); err != nil {
			return nil, err
		}
		return &cfgTestDevice{driver: "cfgtest_twice"}, nil
	})
	reg("cfgtest_late", func(c drivers.Config) (drivers.Device, error) {
		return &cfgTestDevice{driver: "cfgtest_late", decode: c.Decode}, nil
	})
	reg("cfgtest_badclaims", func(c drivers.Config) (drivers.Device, error) {
		return &cfgTestDevice{driver: "cfgtest_badclaims", panics: "Claims"}, nil
	})
	reg("cfgtest_badinfo", func(c drivers.Config) (drivers.Device, error) {
		return &cfgTestDevice{driver: "cfgtest_badinfo", panics: "Info"}, nil
	})
	reg("cfgtest_badentities", func(c drivers.Config) (drivers.Device, error) {
		return &cfgTestDevice{driver: "cfgtest_badentities", panics: "Entities"}, nil
	})
}

type cfgTestRelayConfig struct {
	Pin      string            `toml:"pin"`
	Invert   bool              `toml:"invert"`
	Debounce time.Duration     `toml:"debounce"`
	Labels   map[string]string `toml:"labels"`
}

type cfgTestSensorConfig struct {
	Bus     string `toml:"bus"`
	Address int    `toml:"address"`
	Options struct {
		Oversampling int    `toml:"oversampling"`
		Filter       string `toml:"filter"`
	} `toml:"options"`
	// Name is untagged: toml would fill it from a "name" key, case
	// insensitively, if the agent passed its common keys on.
	Name string
}

// cfgTestDevice is what the test drivers build; it records what the
// factory received.
type cfgTestDevice struct {
	driver   string
	cfg      drivers.Config
	relay    cfgTestRelayConfig
	sensor   cfgTestSensorConfig
	anything map[string]any
	entities []drivers.Entity
	claims   []drivers.Resource
	panics   string // the method that panics: "Info", "Entities", "Claims"
	calls    map[string]int
	decode   func(any) error
}

// called counts a call of method and panics if it is the one that does.
func (d *cfgTestDevice) called(method string) {
	if d.calls == nil {
		d.calls = map[string]int{}
	}
	d.calls[method]++
	if d.panics == method {
		panic(strings.ToLower(method) + " exploded")
	}
}

func (d *cfgTestDevice) Info() drivers.Info {
	d.called("Info")
	return drivers.Info{Manufacturer: "pinion tests", Model: d.driver}
}
func (d *cfgTestDevice) Entities() []drivers.Entity {
	d.called("Entities")
	return d.entities
}
func (d *cfgTestDevice) Open(context.Context, drivers.Host, drivers.Output) error {
	return errors.New("test device: no hardware")
}
func (d *cfgTestDevice) Close() error { return nil }
func (d *cfgTestDevice) Claims() []drivers.Resource {
	d.called("Claims")
	return d.claims
}

// cfgTestLines is a test device that provides GPIO lines.
type cfgTestLines struct {
	*cfgTestDevice
	lines []string
}

func (d *cfgTestLines) ProvidedLines() []string {
	d.called("ProvidedLines")
	return d.lines
}
func (d *cfgTestLines) ProvidedLine(string) (gpio.PinIO, error) {
	return nil, errors.New("test device: no hardware")
}

// cfgTestBuses is a test device that provides I2C buses.
type cfgTestBuses struct {
	*cfgTestDevice
	buses []string
}

func (d *cfgTestBuses) ProvidedBuses() []string {
	d.called("ProvidedBuses")
	return d.buses
}
func (d *cfgTestBuses) ProvidedBus(string) (i2c.Bus, error) {
	return nil, errors.New("test device: no hardware")
}

func cfgTestRelay(c drivers.Config) (drivers.Device, error) {
	d := &cfgTestDevice{driver: "cfgtest_relay", cfg: c}
	if err := c.Decode(&d.relay); err != nil {
		return nil, fmt.Errorf("cfgtest_relay %q: %w", c.ID, err)
	}
	if d.relay.Pin == "" {
		return nil, errors.New("cfgtest_relay: pin is required")
	}
	d.entities = []drivers.Entity{{ID: "relay", Spec: drivers.Switch{}}}
	d.claims = []drivers.Resource{drivers.GPIOLine(d.relay.Pin)}
	return d, nil
}

var errCfgTestAddress = errors.New("address out of range")

func cfgTestSensor(c drivers.Config) (drivers.Device, error) {
	d := &cfgTestDevice{driver: "cfgtest_sensor", cfg: c}
	if err := c.Decode(&d.sensor); err != nil {
		return nil, fmt.Errorf("cfgtest_sensor %q: %w", c.ID, err)
	}
	if d.sensor.Address < 0x03 || d.sensor.Address > 0x77 {
		return nil, fmt.Errorf("cfgtest_sensor %q: address %#x: %w", c.ID, d.sensor.Address, errCfgTestAddress)
	}
	d.entities = []drivers.Entity{
		{ID: "temperature", Name: "Temperature", Spec: drivers.Sensor{Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1}},
		{ID: "humidity", Name: "Humidity", Icon: "mdi:water-percent", Spec: drivers.Sensor{Class: drivers.ClassHumidity, Unit: drivers.Percent, State: drivers.StateMeasurement}},
		{ID: "raw", Name: "Raw", Diagnostic: true, DisabledByDefault: true, Spec: &drivers.Sensor{State: drivers.StateMeasurement}},
	}
	d.claims = []drivers.Resource{drivers.I2CAddress(d.sensor.Bus, uint16(d.sensor.Address))}
	return d, nil
}

func cfgTestAny(c drivers.Config) (drivers.Device, error) {
	d := &cfgTestDevice{driver: "cfgtest_any", cfg: c}
	if err := c.Decode(&d.anything); err != nil {
		return nil, err
	}
	return d, nil
}

// cfgTestClaimsConfig is the cfgtest_claims driver's keys: what it claims,
// and what it provides.
type cfgTestClaimsConfig struct {
	GPIO   []string `toml:"gpio"`
	PWM    []string `toml:"pwm"`
	I2C    []string `toml:"i2c"` // "<bus>@<address>"
	Serial []string `toml:"serial"`
	Shared []string `toml:"shared_serial"`
	W1     []string `toml:"w1"`  // "<bus>@<device id>"
	Raw    bool     `toml:"raw"` // claim a resource that names nothing
	Lines  []string `toml:"lines"`
	Buses  []string `toml:"buses"`
}

// cfgTestClaims claims what its keys list and, with lines or buses,
// provides GPIO lines or I2C buses; its one entity is an input.
func cfgTestClaims(c drivers.Config) (drivers.Device, error) {
	var k cfgTestClaimsConfig
	if err := c.Decode(&k); err != nil {
		return nil, err
	}
	d := &cfgTestDevice{driver: "cfgtest_claims", cfg: c,
		entities: []drivers.Entity{{ID: "input", Spec: drivers.BinarySensor{}}}}
	for _, n := range k.GPIO {
		d.claims = append(d.claims, drivers.GPIOLine(n))
	}
	for _, n := range k.PWM {
		d.claims = append(d.claims, drivers.PWMLine(n))
	}
	for _, s := range k.I2C {
		bus, addr, _ := strings.Cut(s, "@")
		var a uint16
		fmt.Sscanf(addr, "%v", &a)
		d.claims = append(d.claims, drivers.I2CAddress(bus, a))
	}
	for _, n := range k.Serial {
		d.claims = append(d.claims, drivers.SerialPort(n))
	}
	for _, n := range k.Shared {
		d.claims = append(d.claims, drivers.SharedSerialPort(n))
	}
	for _, s := range k.W1 {
		bus, id, _ := strings.Cut(s, "@")
		d.claims = append(d.claims, drivers.OneWireDevice(bus, id))
	}
	if k.Raw {
		d.claims = append(d.claims, drivers.Resource{Kind: drivers.ResourceGPIO})
	}
	switch {
	case k.Lines != nil:
		return &cfgTestLines{cfgTestDevice: d, lines: k.Lines}, nil
	case k.Buses != nil:
		return &cfgTestBuses{cfgTestDevice: d, buses: k.Buses}, nil
	}
	return d, nil
}

// cfgTestKeysConfig is the cfgtest_keys driver's keys.
type cfgTestKeysConfig struct {
	Need  *string `toml:"need"`
	Level string  `toml:"level"`
	Count int     `toml:"count"`
	Opts  struct {
		Mode string `toml:"mode"`
	} `toml:"opts"`
	Pins []string `toml:"pins"`
	Fail string   `toml:"fail"`
}

// cfgTestKeys checks its values as a real driver does, returning a
// drivers.KeyError for each bad one, all joined; fail makes an error that
// is no KeyError. It goes on after Decode fails and returns Decode's error
// joined with the rest, which the loader must not report twice.
func cfgTestKeys(c drivers.Config) (drivers.Device, error) {
	var k cfgTestKeysConfig
	var errs []error
	if err := c.Decode(&k); err != nil {
		errs = append(errs, err)
	}
	if k.Need == nil {
		errs = append(errs, drivers.BadKey("need", "is required"))
	}
	if k.Level != "" && k.Level != "low" && k.Level != "high" {
		errs = append(errs, drivers.BadKey("level", `%q is not a level: use "low" or "high"`, k.Level))
	}
	if k.Count < 0 {
		errs = append(errs, drivers.BadKey("count", "%d is negative", k.Count))
	}
	if k.Opts.Mode == "bad" {
		errs = append(errs, drivers.BadKey("opts.mode", "bad is bad"))
	}
	for i, p := range k.Pins {
		if p == "" {
			errs = append(errs, drivers.BadKey(fmt.Sprintf("pins[%d]", i), "is empty"))
		}
	}
	if k.Fail != "" {
		errs = append(errs, errors.New(k.Fail))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("cfgtest_keys %q: %w", c.ID, errors.Join(errs...))
	}
	return &cfgTestDevice{driver: "cfgtest_keys", cfg: c}, nil
}

// cfgWant is one expected problem: its line, its key, and a part of its
// message.
type cfgWant struct {
	line int
	key  string
	msg  string
}

// cfgProblemCases are configurations with what is wrong with them. The
// fuzz test seeds its corpus with them too.
var cfgProblemCases = []struct {
	name string
	toml string
	want []cfgWant
}{
	{"syntax error stops at once", "[agent]\nid = \"a\"\n[mqtt\nbroker = 5\n",
		[]cfgWant{{3, "", "expected '.' or ']' to end table name"}}},
	{"duplicate key is a syntax error", "[agent]\nid = \"a\"\nid = \"b\"\n",
		[]cfgWant{{3, "agent.id", "already been defined"}}},
	{"unquoted text names the key and says to quote it", "[mqtt]\nbroker = \"embedded\"\nkeepalive = 30s # half a minute\n",
		[]cfgWant{{3, "mqtt.keepalive", `text needs quotes: keepalive = "30s"`}}},
	{"unquoted text in the second device", "[[device]]\nid = \"a\"\n[[device]]\nid = b\npin = GPIO17\n",
		[]cfgWant{{4, "device[1].id", `text needs quotes: id = "b"`}}},
	{"a capitalised boolean", "[[device]]\nid = \"a\"\ninverted = True\n",
		[]cfgWant{{3, "device[0].inverted", "true and false are written in lower case: inverted = true"}}},
	{"a syntax error in a table of an array element", "[[device]]\nid = \"a\"\n[device.opts]\nx = 30s\n",
		[]cfgWant{{4, "device[0].opts.x", `text needs quotes: x = "30s"`}}},
	{"a header inside a multi-line string is not a table", "[agent]\nname = \"\"\"\n[mqtt]\n\"\"\"\nid = pinion\n",
		[]cfgWant{{5, "agent.id", `text needs quotes: id = "pinion"`}}},
	{"yes is not a boolean", "[[device]]\nid = \"a\"\ninverted = yes\n",
		[]cfgWant{{3, "device[0].inverted", "a yes/no setting is written true or false"}}},
	{"unknown key with a suggestion", "[mqtt]\nbrokr = \"tcp://h:1883\"\n",
		[]cfgWant{{2, "mqtt.brokr", `unknown key (did you mean "broker"?)`}}},
	{"unknown key lists the known ones", "[agent]\n\ncolour = \"red\"\n",
		[]cfgWant{{3, "agent.colour", "unknown key ([agent] takes: id, name, hardware, log_level, state_dir)"}}},
	{"unknown key in a nested table", "[mqtt.tls]\nca = \"x\"\n",
		[]cfgWant{{1, "mqtt.tls", "unknown key"}}},
	{"agent key at the top level", "broker = \"tcp://h:1883\"\n",
		[]cfgWant{{1, "broker", `"broker" belongs in the [mqtt] table`}}},
	{"misspelt table", "[[devices]]\nid = \"a\"\n",
		[]cfgWant{{1, "devices", `unknown key (did you mean "device"?)`}}},
	{"unknown top-level key", "colour = 1\n",
		[]cfgWant{{1, "colour", "the top level takes the tables"}}},
	{"table given as a value", "agent = \"garage\"\n",
		[]cfgWant{{1, "agent", "must be a table (a [agent] section), not a string"}}},
	{"wrong types in agent tables", "[agent]\nid = 5\nhardware = true\n[mqtt]\nkeepalive = 30\nusername = 1.5\n",
		[]cfgWant{
			{2, "agent.id", "must be a string, not an integer (5)"},
			{3, "agent.hardware", "must be a string, not a boolean (true)"},
			{5, "mqtt.keepalive", `must be a duration string such as "30s" or "500ms", not an integer (30)`},
			{6, "mqtt.username", "must be a string, not a float (1.5)"},
		}},
	{"bad agent values", "[agent]\nid = \"my pi\"\nname = \" \"\nhardware = \"simulated\"\nlog_level = \"warning\"\n",
		[]cfgWant{
			{2, "agent.id", `"my pi" is not a valid id: use only letters, digits, '_' and '-'`},
			{3, "agent.name", "must not be empty"},
			{4, "agent.hardware", `"simulated" is not one of "real", "sim"`},
			{5, "agent.log_level", `"warning" is not one of "debug", "info", "warn", "error" (did you mean "warn"?)`},
		}},
	{"bad broker", "[mqtt]\nbroker = \"mqtt://h:1883\"\n",
		[]cfgWant{{2, "mqtt.broker", `unsupported scheme "mqtt"`}}},
	{"listen without the embedded broker", "[mqtt]\nbroker = \"tcp://h:1883\"\nlisten = \"0.0.0.0:1883\"\n",
		[]cfgWant{{3, "mqtt.listen", `is only used with broker = "embedded"`}}},
	{"listen without the embedded broker by default", "[mqtt]\nlisten = \"0.0.0.0:1883\"\n",
		[]cfgWant{{2, "mqtt.listen", `the broker is "tcp://127.0.0.1:1883"`}}},
	{"bad listen address", "[mqtt]\nbroker = \"embedded\"\nlisten = \"localhost\"\n",
		[]cfgWant{{3, "mqtt.listen", `"localhost" is not host:port`}}},
	{"bad prefixes", "[mqtt]\ndiscovery_prefix = \"home/+\"\ntopic_prefix = \"/pinion\"\nclient_id = \"\"\n",
		[]cfgWant{
			{2, "mqtt.discovery_prefix", "contains an MQTT wildcard"},
			{3, "mqtt.topic_prefix", "must not start or end with '/'"},
			{4, "mqtt.client_id", "must not be empty"},
		}},
	{"topic prefix equal to discovery prefix", "[mqtt]\ntopic_prefix = \"homeassistant\"\n",
		[]cfgWant{{2, "mqtt.topic_prefix", `must differ from discovery_prefix ("homeassistant")`}}},
	{"keepalive limits", "[mqtt]\nkeepalive = \"2s\"\n",
		[]cfgWant{{2, "mqtt.keepalive", "2s is too short: use at least 5s"}}},
	{"keepalive too long", "[mqtt]\nkeepalive = \"20h\"\n",
		[]cfgWant{{2, "mqtt.keepalive", "is too long: MQTT allows at most 18h12m15s"}}},
	{"keepalive not a duration", "[mqtt]\nkeepalive = \"30 seconds\"\n",
		[]cfgWant{{2, "mqtt.keepalive", `invalid duration "30 seconds"`}}},
	{"password and password_file", "[mqtt]\nusername = \"u\"\npassword = \"p\"\npassword_file = \"/nonexistent\"\n",
		[]cfgWant{{4, "mqtt.password_file", "mutually exclusive"}}},
	{"password without username", "[mqtt]\npassword = \"p\"\n",
		[]cfgWant{{2, "mqtt.password", "needs username"}}},
	{"password with an empty username", "[mqtt]\nusername = \"\"\npassword = \"p\"\n",
		[]cfgWant{{3, "mqtt.password", "needs username"}}},
	{"CRLF line ends", "[agent]\r\nid = \"a\"\r\n\r\n[mqtt]\r\nbrokr = \"x\"\r\n",
		[]cfgWant{{5, "mqtt.brokr", "unknown key"}}},
	{"byte order mark", "\xef\xbb\xbf[agent]\nid = \"a b\"\n",
		[]cfgWant{{2, "agent.id", "not a valid id"}}},
	{"syntax error after a byte order mark", "\xef\xbb\xbf[agent]\nid = \"a\"\n[mqtt\n",
		[]cfgWant{{3, "", "to end table name"}}},
	{"sim without simulated hardware", "[[sim.toggle]]\npin = \"GPIO17\"\nevery = \"1s\"\n",
		[]cfgWant{{1, "sim", `is only used with hardware = "sim"`}}},
	{"sim toggle problems", `[agent]
hardware = "sim"
[[sim.toggle]]
pin = "GPIO17"
every = "10ms"
[[sim.toggle]]
evry = "1s"
[[sim.toggle]]
pin = "GPIO17"
every = 5
`, []cfgWant{
		{5, "sim.toggle[0].every", "10ms is too short: use at least 100ms"},
		{6, "sim.toggle[1].pin", `is required`},
		{6, "sim.toggle[1].every", `is required`},
		{7, "sim.toggle[1].evry", `unknown key (did you mean "every"?)`},
		{9, "sim.toggle[2].pin", `"GPIO17" is already toggled by sim.toggle[0] (line 3)`},
		{10, "sim.toggle[2].every", "must be a duration string"},
	}},
	{"sim toggle not an array of tables", "[agent]\nhardware = \"sim\"\n[sim]\ntoggle = 5\n",
		[]cfgWant{{4, "sim.toggle", "must be an array of tables ([[sim.toggle]] sections), not an integer"}}},
	{"device as a single table", "[device]\nid = \"a\"\n",
		[]cfgWant{{1, "device", "write [[device]], not [device]"}}},
	{"device without id and driver", "[[device]]\nname = \"x\"\n",
		[]cfgWant{
			{1, "device[0].id", "is required"},
			{1, "device[0].driver", "is required: known drivers: "},
		}},
	{"unknown driver", "[[device]]\nid = \"a\"\ndriver = \"cfgtest_rely\"\n",
		[]cfgWant{{3, "device[0].driver", `unknown driver "cfgtest_rely" (did you mean "cfgtest_relay"?); known drivers: `}}},
	{"bad, reserved and duplicate ids", `[[device]]
id = "front door"
driver = "cfgtest_bare"
[[device]]
id = "agent"
driver = "cfgtest_bare"
[[device]]
id = "door"
driver = "cfgtest_bare"
[[device]]
id = "door"
driver = "cfgtest_bare"
`, []cfgWant{
		{2, "device[0].id", `"front door" is not a valid id`},
		{5, "device[1].id", `"agent" is reserved`},
		{11, "device[3].id", `duplicate id "door": device[2] (line 7) already uses it`},
	}},
	{"bad common keys", "[[device]]\nid = \"a\"\ndriver = \"cfgtest_bare\"\nname = \"\"\ninterval = \"0s\"\n[[device]]\nid = \"b\"\ndriver = \"cfgtest_bare\"\ninterval = 10\n",
		[]cfgWant{
			{4, "device[0].name", "must not be empty"},
			{5, "device[0].interval", "0s must be positive"},
			{9, "device[1].interval", "must be a duration string"},
		}},
	{"driver keys: unknown, with and without a suggestion", `[[device]]
id = "a"
driver = "cfgtest_relay"
pn = "GPIO17"
pin = "GPIO18"
colour = "red"
`, []cfgWant{
		{4, "device[0].pn", `unknown key (did you mean "pin"?)`},
		{6, "device[0].colour", `unknown key (driver "cfgtest_relay" takes: id, driver, name, interval, pin, invert, debounce, labels)`},
	}},
	{"driver keys: every wrong type at once", `[[device]]
id = "s"
driver = "cfgtest_sensor"
bus = 1
address = "0x76"
adress = 5
  [device.options]
  oversampling = "high"
  filterr = "iir"
`, []cfgWant{
		{4, "device[0].bus", "must be a string, not an integer (1)"},
		{5, "device[0].address", `must be an integer, not a string ("0x76")`},
		{6, "device[0].adress", `unknown key (did you mean "address"?)`},
		{8, "device[0].options.oversampling", "must be an integer, not a string"},
		{9, "device[0].options.filterr", `unknown key (did you mean "filter"?)`},
	}},
	{"driver keys: a table where a value goes", "[[device]]\nid = \"s\"\ndriver = \"cfgtest_sensor\"\naddress = 0x76\noptions = 5\n",
		[]cfgWant{{5, "device[0].options", "must be a table, not an integer"}}},
	{"driver keys: bad duration", "[[device]]\nid = \"r\"\ndriver = \"cfgtest_relay\"\npin = \"GPIO4\"\ndebounce = \"5x\"\n",
		[]cfgWant{{5, "device[0].debounce", `invalid duration: "5x": use a number with a unit`}}},
	{"driver keys of one device do not hide another's", `[[device]]
id = "r"
driver = "cfgtest_relay"
pin = "GPIO4"
[[device]]
id = "s"
driver = "cfgtest_sensor"
address = 0x76
pin = "GPIO5"
`, []cfgWant{{9, "device[1].pin", "unknown key"}}},
	{"factory error without the id gets it", "[[device]]\nid = \"r\"\ndriver = \"cfgtest_relay\"\n",
		[]cfgWant{{1, "device[0]", `device "r": cfgtest_relay: pin is required`}}},
	{"factory error with the id is kept as is", "[[device]]\nid = \"s\"\ndriver = \"cfgtest_sensor\"\naddress = 0x99\n",
		[]cfgWant{{1, "device[0]", `cfgtest_sensor "s": address 0x99: address out of range`}}},
	{"factory panic", "[[device]]\nid = \"p\"\ndriver = \"cfgtest_panic\"\n",
		[]cfgWant{{1, "device[0]", "driver factory panicked: boom"}}},
	{"factory returns nothing", "[[device]]\nid = \"n\"\ndriver = \"cfgtest_nil\"\n",
		[]cfgWant{{1, "device[0]", `driver "cfgtest_nil" returned no device and no error`}}},
	{"driver without keys", "[[device]]\nid = \"b\"\ndriver = \"cfgtest_bare\"\nnmae = \"x\"\nspeed = 3\n",
		[]cfgWant{
			{4, "device[0].nmae", `unknown key (did you mean "name"?): driver "cfgtest_bare" takes no keys of its own`},
			{5, "device[0].speed", `unknown key: driver "cfgtest_bare" takes no keys of its own`},
		}},
	{"Decode called twice", "[[device]]\nid = \"t\"\ndriver = \"cfgtest_twice\"\n",
		[]cfgWant{{1, "device[0]", "device[0]: Decode called twice"}}},
	{"resource claimed twice", `[[device]]
id = "pump"
driver = "cfgtest_relay"
pin = "GPIO17"

[[device]]
id = "light"
driver = "cfgtest_relay"
pin = "GPIO17"
`, []cfgWant{{6, "device[1]", `device "light" uses gpio:GPIO17, which device "pump" (line 1) already uses`}}},
	{"Claims panics", "[[device]]\nid = \"c\"\ndriver = \"cfgtest_badclaims\"\n",
		[]cfgWant{{1, "device[0]", `device "c": driver's Claims method panicked: claims exploded`}}},
	{"inline array of devices", `device = [
  { id = "a", driver = "cfgtest_bare" },
  { id = "a", driver = "cfgtest_bare" },
]
`, []cfgWant{{1, "device[1].id", `duplicate id "a"`}}},
	{"driver value errors at their own lines, all at once", `[[device]]
id = "k"
driver = "cfgtest_keys"
level = "medium"
count = -1
[device.opts]
mode = "bad"
`, []cfgWant{
		{1, "device[0].need", "is required"},
		{4, "device[0].level", `"medium" is not a level: use "low" or "high"`},
		{5, "device[0].count", "-1 is negative"},
		{7, "device[0].opts.mode", "bad is bad"},
	}},
	{"driver value errors in an array, and an error of no key", `[[device]]
id = "k"
driver = "cfgtest_keys"
need = "x"
pins = ["GPIO1", "",
  ""]
fail = "the bus is busy"
`, []cfgWant{
		{1, "device[0]", `cfgtest_keys "k": the bus is busy`},
		{5, "device[0].pins[1]", "is empty"},
		{5, "device[0].pins[2]", "is empty"},
	}},
	{"Decode's problems joined with value errors are reported once", `[[device]]
id = "k"
driver = "cfgtest_keys"
need = "x"
count = "many"
level = "medium"
`, []cfgWant{
		{5, "device[0].count", `must be an integer, not a string ("many")`},
		{6, "device[0].level", `"medium" is not a level`},
	}},
	{"driver keys match exactly", `[[device]]
id = "r"
driver = "cfgtest_relay"
pin = "GPIO4"
PIN = "GPIO5"
Invert = true
[[device]]
id = "s"
driver = "cfgtest_sensor"
address = 0x76
[device.options]
Filter = "iir"
`, []cfgWant{
		{5, "device[0].PIN", `unknown key (did you mean "pin"? keys are case-sensitive)`},
		{6, "device[0].Invert", `unknown key (did you mean "invert"? keys are case-sensitive)`},
		{12, "device[1].options.Filter", `unknown key (did you mean "filter"? keys are case-sensitive)`},
	}},
	{"ids that differ only in case", `[[device]]
id = "pump"
driver = "cfgtest_bare"
[[device]]
id = "Pump"
driver = "cfgtest_bare"
[[device]]
id = "Agent"
driver = "cfgtest_bare"
`, []cfgWant{
		{5, "device[1].id", `"Pump" differs only in case from "pump" of device[0] (line 1): Home Assistant lowercases entity ids`},
		{8, "device[2].id", `"Agent" is reserved for the agent's own device`},
	}},
	{"sim toggles on lines the board lacks or a device drives", `[agent]
hardware = "sim"
[[sim.toggle]]
pin = "GPIO99"
every = "1s"
[[sim.toggle]]
pin = "gpio5"
every = "1s"
[[sim.toggle]]
pin = "GPIO17"
every = "1s"
[[sim.toggle]]
pin = "GPIO22"
every = "1s"
[[device]]
id = "pump"
driver = "gpio"
pin = "GPIO17"
mode = "output"
[[device]]
id = "door"
driver = "gpio"
pin = "GPIO22"
mode = "input"
`, []cfgWant{
		{4, "sim.toggle[0].pin", `"GPIO99" is not a line of the simulated board: it has GPIO0 to GPIO27`},
		{7, "sim.toggle[1].pin", `"gpio5" is not a line of the simulated board (did you mean "GPIO5"?)`},
		{10, "sim.toggle[2].pin", `"GPIO17" is an output of device "pump" (line 15)`},
	}},
	{"a pin the simulated board lacks", `[agent]
hardware = "sim"
[[device]]
id = "pump"
driver = "gpio"
pin = "gpio17"
mode = "output"
`, []cfgWant{
		{3, "device[0]", `device "pump": "gpio17" is not a line of the simulated board (did you mean "GPIO17"?)`},
	}},
	{"entity tables: an id the device lacks, unknown keys, wrong types, bad values", `[[device]]
id = "climate"
driver = "cfgtest_sensor"
bus = "1"
address = 0x76
[device.entity.temprature]
name = "Air"
[device.entity.humidity]
nmae = "Damp"
disabled = "yes"
[device.entity.raw]
name = " "
icon = "thermometer"
disabled = true
enabled_by_default = false
`, []cfgWant{
		{6, "device[0].entity.temprature", `device "climate" has no entity "temprature" (did you mean "temperature"?): its entities are "temperature", "humidity", "raw"`},
		{9, "device[0].entity.humidity.nmae", `unknown key (did you mean "name"?)`},
		{10, "device[0].entity.humidity.disabled", `must be a boolean (true or false), not a string ("yes")`},
		{12, "device[0].entity.raw.name", "must not be blank"},
		{13, "device[0].entity.raw.icon", `"thermometer" is not an icon: write prefix:name, such as "mdi:fan"`},
		{15, "device[0].entity.raw.enabled_by_default", "has no effect with disabled = true"},
	}},
	{"entity tables: shapes, and a device without entities", `[[device]]
id = "r"
driver = "cfgtest_relay"
pin = "GPIO4"
entity = 5
[[device]]
id = "s"
driver = "cfgtest_relay"
pin = "GPIO5"
entity.relay = "on"
[[device]]
id = "b"
driver = "cfgtest_bare"
[device.entity.relay]
name = "x"
[[device]]
id = "x"
driver = "cfgtest_relay"
pin = "GPIO6"
[device.Entity.relay]
name = "x"
`, []cfgWant{
		{5, "device[0].entity", "must be a table of entity tables ([device.entity.<entity id>] sections"},
		{10, "device[1].entity.relay", "must be a table (a [device.entity.relay] section) of the entity's options: name, icon, disabled, enabled_by_default, interlock, dead_time, max_on, min_interval, min_interval_mode, on_disconnect, on_disconnect_after; not a string"},
		{14, "device[2].entity.relay", `device "b" has no entity "relay": it has no entities at all`},
		{20, "device[3].Entity", `unknown key (did you mean "entity"?)`},
	}},
	{"Info and Entities panic", "[[device]]\nid = \"i\"\ndriver = \"cfgtest_badinfo\"\n[[device]]\nid = \"e\"\ndriver = \"cfgtest_badentities\"\n",
		[]cfgWant{
			{1, "device[0]", `device "i": driver's Info method panicked: info exploded`},
			{4, "device[1]", `device "e": driver's Entities method panicked: entities exploded`},
		}},
	{"provided lines and buses: a missing provider, one that provides no such thing, one that lacks the line", `[[device]]
id = "expander"
driver = "cfgtest_claims"
lines = ["GPA0", "GPA1"]
[[device]]
id = "mux"
driver = "cfgtest_claims"
buses = ["0", "1"]
[[device]]
id = "a"
driver = "cfgtest_claims"
gpio = ["expandr/GPA0", "Expander/GPA0", "expander/GPB7", "mux/GPA0", "expander/gpa1"]
[[device]]
id = "b"
driver = "cfgtest_claims"
i2c = ["mux/2@0x40", "expander/0@0x40", "mux/1@0x40"]
w1 = ["expander/w1@28-0001"]
`, []cfgWant{
		{9, "device[2]", `device "a" uses gpio:expandr/GPA0, but no device has the id "expandr": did you mean "expander"?`},
		{9, "device[2]", `device "a" uses gpio:Expander/GPA0, but no device has the id "Expander": did you mean "expander"?`},
		{9, "device[2]", `device "a" uses gpio:expander/GPB7, but device "expander" (line 1) has no "GPB7": it provides GPA0, GPA1`},
		{9, "device[2]", `device "a" uses gpio:mux/GPA0, but device "mux" (line 5, driver "cfgtest_claims") provides no GPIO lines`},
		{9, "device[2]", `device "a" uses gpio:expander/gpa1, but device "expander" (line 1) has no "gpa1": did you mean "GPA1"? it provides GPA0, GPA1`},
		{13, "device[3]", `device "b" uses i2c:mux/2:0x40, but device "mux" (line 5) has no "2": it provides 0, 1`},
		{13, "device[3]", `device "b" uses i2c:expander/0:0x40, but device "expander" (line 1, driver "cfgtest_claims") provides no I2C buses`},
		{13, "device[3]", `device "b" uses w1:expander/w1:28-0001, but devices cannot provide 1-Wire buses yet: use the kernel's, "w1"`},
	}},
	{"providers in a cycle, and a device that uses its own line", `[[device]]
id = "a"
driver = "cfgtest_claims"
lines = ["L0"]
gpio = ["b/L0"]
[[device]]
id = "b"
driver = "cfgtest_claims"
lines = ["L0"]
gpio = ["c/L0"]
[[device]]
id = "c"
driver = "cfgtest_claims"
lines = ["L0", "L1"]
gpio = ["a/L0", "c/L1"]
`, []cfgWant{
		{1, "device[0]", `device "a" is part of a cycle of devices that use each other's lines or buses ("a" uses "b" uses "c" uses "a")`},
		{11, "device[2]", `device "c" uses gpio:c/L1, its own: a device cannot use what it provides itself`},
	}},
	{"conflicting claims: a PWM line that is a GPIO line, a provided line twice, a serial line shared or not, a claim of nothing", `[[device]]
id = "a"
driver = "cfgtest_claims"
gpio = ["GPIO18"]
lines = ["GPA0"]
shared_serial = ["/dev/ttyS0"]
[[device]]
id = "b"
driver = "cfgtest_claims"
pwm = ["GPIO18"]
gpio = ["a/GPA0"]
shared_serial = ["/dev/ttyS0"]
[[device]]
id = "c"
driver = "cfgtest_claims"
gpio = ["a/GPA0"]
serial = ["/dev/ttyS0"]
raw = true
`, []cfgWant{
		{7, "device[1]", `device "b" uses pwm:GPIO18, which device "a" (line 1) already uses as gpio:GPIO18: each resource belongs to one device`},
		{13, "device[2]", `device "c" uses gpio:a/GPA0, which device "b" (line 7) already uses: each resource belongs to one device`},
		{13, "device[2]", `device "c" uses serial:/dev/ttyS0, which device "a" (line 1) already uses: a line is shared only when every device on it claims it shared`},
		{13, "device[2]", `device "c": driver "cfgtest_claims" claims gpio: without a name (a bug in the driver)`},
	}},
	{"a provider whose own table is wrong is not also missing", "[[device]]\nid = \"x\"\ndriver = \"cfgtest_claims\"\nlines = 5\n[[device]]\nid = \"y\"\ndriver = \"cfgtest_claims\"\ngpio = [\"x/GPA0\"]\n",
		[]cfgWant{{4, "device[0].lines", "must be an array, not an integer (5)"}}},
	{"provided lines are not the simulated board's", "[agent]\nhardware = \"sim\"\n[[device]]\nid = \"e\"\ndriver = \"cfgtest_claims\"\nlines = [\"GPA0\"]\n[[device]]\nid = \"u\"\ndriver = \"cfgtest_claims\"\ngpio = [\"e/GPA0\", \"GPIO99\"]\n",
		[]cfgWant{{7, "device[1]", `device "u": "GPIO99" is not a line of the simulated board`}}},
	{"broker typos", "[mqtt]\nbroker = \"embeded\"\n",
		[]cfgWant{{2, "mqtt.broker", `"embeded" is not a broker: did you mean "embedded"`}}},
	{"gpio: every bad value at its own line", `[[device]]
id = "r2"
driver = "gpio"
pin = "GPIO5"
mode = "output"
power_on = "maybe"
on_exit = "sometimes"
class = "lamp"
`, []cfgWant{
		{6, "device[0].power_on", `"maybe" is not a start state: use "off" (the default), "on" or "restore"`},
		{7, "device[0].on_exit", `"sometimes" is not an exit state: use "keep"`},
		{8, "device[0].class", `"lamp" is not a switch class: use "switch" (the default) or "outlet"`},
	}},
	{"gpio: keys of the other mode, and a missing pin", `[[device]]
id = "bell"
driver = "gpio"
mode = "input"
on_exit = "off"
pull = "sideways"
`, []cfgWant{
		{1, "device[0].pin", "is required"},
		{5, "device[0].on_exit", `is only for mode = "output"`},
		{6, "device[0].pull", `"sideways" is not a pull`},
	}},
	{"gpio: keys in the wrong case", `[[device]]
id = "r"
driver = "gpio"
PIN = "GPIO5"
Mode = "output"
`, []cfgWant{
		{1, "device[0].pin", "is required"},
		{1, "device[0].mode", "is required"},
		{4, "device[0].PIN", `unknown key (did you mean "pin"?`},
		{5, "device[0].Mode", `unknown key (did you mean "mode"?`},
	}},
	{"bme280: every bad value at its own line", `[[device]]
id = "attic"
driver = "bme280"
bus = "spi0"
address = 0x48
temperature_offset = 99.0
oversampling = 3
`, []cfgWant{
		{4, "device[0].bus", `I2C bus "spi0": write its number`},
		{5, "device[0].address", "0x48 is not a BME280 address"},
		{6, "device[0].temperature_offset", "99 °C is not a plausible correction"},
		{7, "device[0].oversampling", "3 is not an oversampling rate: use 1, 2, 4, 8 or 16"},
	}},
	{"mhz19: every bad value at its own line", `[[device]]
id = "air"
driver = "mhz19"
port = "ttyUSB0"
range = 3000
`, []cfgWant{
		{4, "device[0].port", `"ttyUSB0" is not a device path`},
		{5, "device[0].range", "3000 is not a range of the sensor: use 2000, 5000 or 10000"},
	}},
	{"mhz19: two spellings of one port are one port", `[[device]]
id = "air"
driver = "mhz19"
port = "/dev/serial0"
[[device]]
id = "air2"
driver = "mhz19"
port = "/dev/./serial0/"
`, []cfgWant{
		{5, "device[1]", `device "air2" uses serial:/dev/serial0, which device "air" (line 1) already uses`},
	}},
	{"gpio: a value of the wrong type and bad values, all at once", `[[device]]
id = "r"
driver = "gpio"
pin = 17
mode = "output"
inverted = "yes"
power_on = "maybe"
`, []cfgWant{
		// pin = 17 leaves pin unset, which is not reported again as
		// missing.
		{4, "device[0].pin", `pin = 17 is a number`},
		{6, "device[0].inverted", "must be a boolean"},
		{7, "device[0].power_on", `"maybe" is not a start state`},
	}},
	{"system: every bad value at its own line", `[[device]]
id = "host"
driver = "system"
disk_path = "data"
[[device]]
id = "host2"
driver = "system"
cpu_temperature = "yes"
`, []cfgWant{
		{4, "device[0].disk_path", `"data" is not an absolute path`},
		{8, "device[1].cpu_temperature", `"yes" is not a setting: use "auto"`},
	}},
	{"problems from every table at once", `[agent]
hardware = "sim"
log_level = "loud"
[mqtt]
broker = "tcp://h"
[[sim.toggle]]
pin = ""
every = "1s"
[[device]]
id = "x"
driver = "cfgtest_relay"
pin = true
`, []cfgWant{
		{3, "agent.log_level", `"loud" is not one of`},
		{5, "mqtt.broker", `"tcp://h" has no port: write tcp://h:1883`},
		{7, "sim.toggle[0].pin", "must not be empty"},
		{12, "device[0].pin", "must be a string, not a boolean (true)"},
	}},
}

func TestParseConfigProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range cfgProblemCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := ParseConfig("x.toml", []byte(tc.toml))
			if cfg != nil {
				t.Errorf("got a config along with the error")
			}
			probs := cfgMustProblems(t, err)
			if len(probs) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(tc.want), err)
			}
			for i, w := range tc.want {
				p := probs[i]
				if p.File != "x.toml" || p.Line != w.line || p.Key != w.key || !strings.Contains(p.Msg, w.msg) {
					t.Errorf("problem %d:\n got  %s\n want x.toml:%d: %s: …%s…", i, p, w.line, w.key, w.msg)
				}
			}
		})
	}
}

func cfgMustProblems(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	ce, ok := err.(*ConfigError)
	if !ok {
		t.Fatalf("error is %T, want *ConfigError: %v", err, err)
	}
	return ce.Problems
}

func TestParseConfigFull(t *testing.T) {
	t.Parallel()
	path := filepath.Join("testdata", "config", "full.toml")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		File:  path,
		Agent: AgentConfig{ID: "shed", Name: "Garden shed", Hardware: "sim", LogLevel: "debug", StateDir: cfgDefaultStateDir()},
		MQTT: MQTTConfig{
			Broker:          "embedded",
			Listen:          "127.0.0.1:18830",
			ClientID:        "shed-agent",
			Username:        "pinion",
			Password:        "s3cret",
			DiscoveryPrefix: "ha",
			TopicPrefix:     "home/pinion",
			Keepalive:       time.Minute,
		},
		Sim: SimConfig{Toggle: []SimToggle{{Pin: "GPIO22", Every: 5 * time.Second}, {Pin: "GPIO23", Every: 250 * time.Millisecond}}},
	}
	got := *cfg
	got.Devices = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config:\n got  %+v\n want %+v", got, want)
	}

	info := func(driver string) drivers.Info { return drivers.Info{Manufacturer: "pinion tests", Model: driver} }
	relay := []drivers.Entity{{ID: "relay", Spec: drivers.Switch{}}}
	sensor := func() []drivers.Entity {
		d, err := cfgTestSensor(drivers.Config{Decode: func(v any) error {
			v.(*cfgTestSensorConfig).Address = 0x76
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		return d.Entities()
	}
	porch := sensor()
	porch[0].Name, porch[0].Icon = "Porch temperature", "mdi:thermometer"
	porch[2].Icon, porch[2].DisabledByDefault = "", false
	porch = []drivers.Entity{porch[0], porch[2]}
	wantDevs := []DeviceConfig{
		{ID: "pump", Driver: "cfgtest_relay", Name: "Water pump", Interval: cfgDefaultInterval, Line: 28,
			Info: info("cfgtest_relay"), Entities: relay, Claims: []drivers.Resource{drivers.GPIOLine("GPIO17")}},
		{ID: "climate", Driver: "cfgtest_sensor", Name: "climate", Interval: 15 * time.Second, Line: 37,
			Info: info("cfgtest_sensor"), Entities: sensor(), Claims: []drivers.Resource{drivers.I2CAddress("1", 0x76)}},
		{ID: "anything-goes", Driver: "cfgtest_any", Name: "anything-goes", Interval: cfgDefaultInterval, Line: 48,
			Info: info("cfgtest_any"), Entities: []drivers.Entity{}},
		{ID: "buttons", Driver: "cfgtest_relay", Name: "buttons", Interval: cfgDefaultInterval, Line: 58,
			Info: info("cfgtest_relay"), Entities: relay, Claims: []drivers.Resource{drivers.GPIOLine("GPIO27")}},
		{ID: "porch", Driver: "cfgtest_sensor", Name: "porch", Interval: cfgTestSensorInterval, Line: 65,
			Info: info("cfgtest_sensor"), Entities: porch, Disabled: []string{"humidity"},
			Claims: []drivers.Resource{drivers.I2CAddress("1", 0x77)}},
		{ID: "expander", Driver: "cfgtest_claims", Name: "expander", Interval: cfgDefaultInterval, Line: 82,
			Info: info("cfgtest_claims"), Entities: []drivers.Entity{{ID: "input", Name: "", DisabledByDefault: true, Spec: drivers.BinarySensor{}}},
			Claims: []drivers.Resource{drivers.I2CAddress("1", 0x20)}},
		{ID: "doorbell", Driver: "cfgtest_claims", Name: "doorbell", Interval: cfgDefaultInterval, Line: 89,
			Info: info("cfgtest_claims"), Entities: []drivers.Entity{{ID: "input", Spec: drivers.BinarySensor{}}},
			Claims: []drivers.Resource{drivers.GPIOLine("expander/GPA1")}, Providers: []string{"expander"}},
	}
	if len(cfg.Devices) != len(wantDevs) {
		t.Fatalf("got %d devices, want %d", len(cfg.Devices), len(wantDevs))
	}
	for i, w := range wantDevs {
		g := cfg.Devices[i]
		var dev *cfgTestDevice
		switch d := g.Device.(type) {
		case *cfgTestDevice:
			dev = d
		case *cfgTestLines:
			dev = d.cfgTestDevice
		default:
			t.Fatalf("device %d is %T", i, g.Device)
		}
		g.Device = nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("device %d:\n got  %+v\n want %+v", i, g, w)
		}
		// The factory sees the common keys through Config, not Decode,
		// and the resolved interval.
		if dev.cfg.ID != w.ID || dev.cfg.Name != w.Name || dev.cfg.Interval != w.Interval {
			t.Errorf("device %d: factory got %+v", i, dev.cfg)
		}
		// The loader asks the driver once, so the runtime never calls a
		// method that may panic again.
		for m, n := range dev.calls {
			if n != 1 {
				t.Errorf("device %d: %s called %d times, want once", i, m, n)
			}
		}
	}
	if n := cfg.Devices[5].Device.(*cfgTestLines).calls["ProvidedLines"]; n != 1 {
		t.Errorf("the provider's ProvidedLines was called %d times, want once", n)
	}

	relayCfg := cfg.Devices[0].Device.(*cfgTestDevice).relay
	wantRelay := cfgTestRelayConfig{Pin: "GPIO17", Invert: true, Debounce: 20 * time.Millisecond,
		Labels: map[string]string{"room": "shed", "quoted key": "yes"}}
	if !reflect.DeepEqual(relayCfg, wantRelay) {
		t.Errorf("relay config: got %+v, want %+v", relayCfg, wantRelay)
	}
	sensorCfg := cfg.Devices[1].Device.(*cfgTestDevice).sensor
	if sensorCfg.Bus != "1" || sensorCfg.Address != 0x76 || sensorCfg.Options.Oversampling != 4 || sensorCfg.Options.Filter != "iir" {
		t.Errorf("sensor config: %+v", sensorCfg)
	}
	if sensorCfg.Name != "" {
		t.Errorf("the agent's name key reached the driver's struct: Name = %q", sensorCfg.Name)
	}
	anything := cfg.Devices[2].Device.(*cfgTestDevice).anything
	for _, k := range devconf.CommonKeys() {
		if _, ok := anything[k]; ok {
			t.Errorf("common key %q passed to the driver", k)
		}
	}
	if anything["spaced key"] != int64(1) || !strings.Contains(fmt.Sprint(anything["multi"]), "# no comment") ||
		fmt.Sprint(anything["nested"]) != "map[deep:map[value:[1 2 3]]]" {
		t.Errorf("any-driver got %v", anything)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	// Not parallel: it replaces the hostname source.
	defer func(f func() (string, error)) { cfgHostname = f }(cfgHostname)
	cfgHostname = func() (string, error) { return "Pi.Local", nil }

	cfg, err := ParseConfig("empty.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		File:  "empty.toml",
		Agent: AgentConfig{ID: "pi_local", Name: "pi_local", Hardware: "real", LogLevel: "info", StateDir: cfgDefaultStateDir()},
		MQTT: MQTTConfig{
			Broker:          "tcp://127.0.0.1:1883",
			ClientID:        "pinion-pi_local",
			DiscoveryPrefix: "homeassistant",
			TopicPrefix:     "pinion",
			Keepalive:       30 * time.Second,
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n got  %+v\n want %+v", cfg, want)
	}

	// The embedded broker gets its listen address by default; a given id
	// names the client.
	cfg, err = ParseConfig("x.toml", []byte("[agent]\nid = \"shed\"\n[mqtt]\nbroker = \"embedded\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Listen != "127.0.0.1:1883" || !cfg.MQTT.Embedded() || cfg.MQTT.ClientID != "pinion-shed" || cfg.Agent.Name != "shed" {
		t.Errorf("embedded defaults: %+v %+v", cfg.Agent, cfg.MQTT)
	}
}

func TestHostnameID(t *testing.T) {
	// Not parallel: it replaces the hostname source.
	defer func(f func() (string, error)) { cfgHostname = f }(cfgHostname)
	for _, tc := range []struct {
		host string
		err  error
		want string
	}{
		{host: "garage", want: "garage"},
		{host: "Garage-Pi", want: "garage-pi"},
		{host: "pi.fritz.box", want: "pi_fritz_box"},
		{host: "_pi 4_", want: "pi_4"},
		{host: "küche", want: "k_che"},
		{host: "...", want: "pinion"},
		{host: "", want: "pinion"},
		{err: errors.New("uname failed"), want: ""},
	} {
		cfgHostname = func() (string, error) { return tc.host, tc.err }
		cfg, err := ParseConfig("x.toml", nil)
		if tc.err != nil {
			probs := cfgMustProblems(t, err)
			if len(probs) != 1 || probs[0].Key != "agent.id" || probs[0].Line != 0 ||
				!strings.Contains(probs[0].Msg, "hostname is unavailable (uname failed): set id in [agent]") {
				t.Errorf("hostname error: got %v", err)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("hostname error does not wrap the cause")
			}
			continue
		}
		if err != nil {
			t.Fatalf("host %q: %v", tc.host, err)
		}
		if cfg.Agent.ID != tc.want || !devconf.ValidID(cfg.Agent.ID) {
			t.Errorf("host %q: id %q, want %q", tc.host, cfg.Agent.ID, tc.want)
		}
	}
}

func TestPasswordFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("plain", "s3cret")
	write("newline", "s3cret\n")
	write("crlf", "s3cret\r\n")
	write("spaces", "  s3cret  \n")
	write("empty", "\n")
	write("huge", strings.Repeat("x", 70000))
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(dir, "pinion.toml")
	for _, tc := range []struct {
		file, want, problem string
		is                  error
	}{
		{file: "plain", want: "s3cret"},
		{file: "newline", want: "s3cret"},
		{file: "crlf", want: "s3cret"},
		{file: "spaces", want: "  s3cret  "},
		{file: filepath.Join(dir, "plain"), want: "s3cret"},
		{file: "missing", problem: filepath.Join(dir, "missing") + ": no such file", is: fs.ErrNotExist},
		{file: "empty", problem: "password file " + filepath.Join(dir, "empty") + " is empty"},
		{file: "adir", problem: "is not a regular file"},
		{file: "huge", problem: "longer than the 65535 bytes MQTT allows"},
		{file: "", problem: "must not be empty"},
	} {
		src := fmt.Sprintf("[agent]\nid = \"n\"\n[mqtt]\nusername = \"u\"\npassword_file = %q\n", tc.file)
		cfg, err := ParseConfig(configFile, []byte(src))
		if tc.problem == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.file, err)
			} else if cfg.MQTT.Password != tc.want {
				t.Errorf("%s: password %q, want %q", tc.file, cfg.MQTT.Password, tc.want)
			}
			continue
		}
		probs := cfgMustProblems(t, err)
		if len(probs) != 1 || probs[0].Key != "mqtt.password_file" || probs[0].Line != 5 || !strings.Contains(probs[0].Msg, tc.problem) {
			t.Errorf("%s: got %v, want a problem at line 5 containing %q", tc.file, err, tc.problem)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: error does not wrap %v", tc.file, tc.is)
		}
	}

	// A password file needs a username as much as a password does.
	_, err := ParseConfig(configFile, []byte("[mqtt]\npassword_file = \"plain\"\n"))
	if probs := cfgMustProblems(t, err); len(probs) != 1 || probs[0].Key != "mqtt.password_file" || !strings.Contains(probs[0].Msg, "needs username") {
		t.Errorf("password_file without username: %v", err)
	}
}

func TestParseConfigGolden(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob(filepath.Join("testdata", "config", "bad-*.toml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no bad-*.toml files: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("no error")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(path, ".toml") + ".golden"
			if *cfgUpdateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./agent -run TestParseConfigGolden -update-config)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("got %v, want a not-exist error naming the file", err)
	}
}

// TestLoadConfigTooLarge checks that a file over 1 MiB is refused unread,
// so that -config /dev/zero ends at once instead of filling memory.
func TestLoadConfigTooLarge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, size int) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("#"+strings.Repeat("x", size-2)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if _, err := LoadConfig(write("max.toml", 1<<20)); err != nil {
		t.Errorf("a file of exactly 1 MiB: %v", err)
	}
	paths := []string{write("big.toml", 1<<20+1)}
	if _, err := os.Stat("/dev/zero"); err == nil {
		paths = append(paths, "/dev/zero")
	}
	for _, path := range paths {
		_, err := LoadConfig(path)
		probs := cfgMustProblems(t, err)
		if len(probs) != 1 || probs[0].File != path || !strings.Contains(probs[0].Msg, "config file is larger than 1 MiB") {
			t.Errorf("%s: got %v, want one problem naming the file and its size", path, err)
		}
	}
}

func TestConfigErrorWrapsCauses(t *testing.T) {
	t.Parallel()
	_, err := ParseConfig("x.toml", []byte("[[device]]\nid = \"s\"\ndriver = \"cfgtest_sensor\"\naddress = 0x99\n"))
	if !errors.Is(err, errCfgTestAddress) {
		t.Errorf("the factory's error is not reachable with errors.Is: %v", err)
	}
	_, err = ParseConfig("x.toml", []byte("[agent\n"))
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Line != 1 {
		t.Errorf("syntax error: %v", err)
	}
}

func TestDecodeAfterFactory(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig("x.toml", []byte("[[device]]\nid = \"late\"\ndriver = \"cfgtest_late\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct{}
	err = cfg.Devices[0].Device.(*cfgTestDevice).decode(&v)
	if err == nil || !strings.Contains(err.Error(), "Decode called after the driver's factory returned") {
		t.Errorf("late Decode: %v", err)
	}
}

func TestCheckBroker(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, problem string }{
		{"embedded", ""},
		{"tcp://192.168.1.10:1883", ""},
		{"ssl://broker.example.com:8883", ""},
		{"TCP://h:1883", ""},
		{"tcp://[::1]:1883", ""},
		{"tcp://h:1883/", ""},
		{"", "must not be empty"},
		{"localhost:1883", `has no scheme: write tcp://localhost:1883`},
		{"mqtt://h:1883", `unsupported scheme "mqtt"`},
		{"ws://h:80", `unsupported scheme "ws"`},
		{"tcp://user:pw@h:1883", "credentials"},
		{"tcp://:1883", "has no host"},
		{"ssl://h", "has no port: write ssl://h:8883"},
		{"tcp://h:0", `bad port "0"`},
		{"tcp://h:70000", `bad port "70000"`},
		{"tcp://h:1883/x", "path or query"},
		{"tcp://h:1883?x=1", "path or query"},
		{"tcp://h:port", "not a URL"},
		{"embeded", `did you mean "embedded"`},
		{"Embedded", `did you mean "embedded"`},
		{"embed", `did you mean "embedded"`},
		{" embedded", `did you mean "embedded"`},
		{"embedded.local:1883", "has no scheme: write tcp://embedded.local:1883"},
		{"tcp//h:1883", `missing part of "://": did you mean tcp://h:1883?`},
		{"tcp:/h:1883", "did you mean tcp://h:1883?"},
		{"tcp:h:1883", "did you mean tcp://h:1883?"},
		{"ssl//h:8883", "did you mean ssl://h:8883?"},
		{"tcp:1883", "has no scheme: write tcp://tcp:1883"},
	} {
		err := cfgCheckBroker(tc.in)
		if tc.problem == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.in, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("%q: got %v, want …%s…", tc.in, err, tc.problem)
		}
	}
}

func TestCheckPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, problem string }{
		{"homeassistant", ""},
		{"home/pinion", ""},
		{"", "must not be empty"},
		{"a/#", "wildcard"},
		{"a+b", "wildcard"},
		{"/a", "must not start or end"},
		{"a/", "must not start or end"},
		{"a//b", "empty level"},
		{"a\x00b", "NUL"},
	} {
		err := cfgCheckPrefix(tc.in)
		if tc.problem == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.in, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("%q: got %v, want …%s…", tc.in, err, tc.problem)
		}
	}
}

func TestDecodeErrorsCapped(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("[[device]]\nid = \"r\"\ndriver = \"cfgtest_relay\"\npin = \"GPIO1\"\n[device.labels]\n")
	for i := range 500 {
		fmt.Fprintf(&b, "k%03d = %d\n", i, i)
	}
	_, err := ParseConfig("x.toml", []byte(b.String()))
	probs := cfgMustProblems(t, err)
	if len(probs) != devconf.MaxDecodeErrors+1 {
		t.Fatalf("got %d problems, want %d", len(probs), devconf.MaxDecodeErrors+1)
	}
	capped := 0
	for _, p := range probs {
		switch {
		case p.Key == "device[0]" && strings.Contains(p.Msg, "fix the ones above first"):
			capped++
		case !strings.HasPrefix(p.Key, "device[0].labels.k") || !strings.Contains(p.Msg, "must be a string, not an integer"):
			t.Errorf("problem %s", p)
		}
	}
	if capped != 1 {
		t.Errorf("%d problems say the list was cut short, want 1", capped)
	}
}

// TestPanicSiteNamesTheDriversLine checks that a driver's panic, reported
// without a stack dump, names the line that panicked.
func TestPanicSiteNamesTheDriversLine(t *testing.T) {
	_, err := cfgBuild(func(drivers.Config) (drivers.Device, error) {
		panic("index out of range [3] with length 3")
	}, drivers.Config{})
	if err == nil || !strings.Contains(err.Error(), "config_test.go:") || !strings.Contains(err.Error(), "TestPanicSiteNamesTheDriversLine") {
		t.Fatalf("got %v, want the panicking function and its file and line", err)
	}
}
