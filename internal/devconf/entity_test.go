package devconf

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// testEntities are a device's entities as its driver declares them.
func testEntities() []drivers.Entity {
	return []drivers.Entity{
		{ID: "temperature", Name: "Temperature", Spec: drivers.Sensor{Class: drivers.ClassTemperature, Unit: drivers.Celsius}},
		{ID: "humidity", Name: "Humidity", Icon: "mdi:water-percent", Spec: drivers.Sensor{Class: drivers.ClassHumidity, Unit: drivers.Percent}},
		{ID: "raw", Name: "Raw", Diagnostic: true, DisabledByDefault: true, Spec: &drivers.Sensor{}},
	}
}

// parseDevice parses a document of one [[device]] table and checks its
// common keys.
func parseDevice(t *testing.T, src string) (*Doc, Device) {
	t.Helper()
	root, doc, err := Parse("x.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := doc.Device(Path{"device"}.Index(0), doc.DeviceTables(root)[0], IDs{}, 0, false)
	return doc, dev
}

func TestEntityOptions(t *testing.T) {
	t.Parallel()
	// Every way to write the tables: sections, dotted keys, inline tables.
	doc, dev := parseDevice(t, `[[device]]
id = "climate"
entity.humidity = { name = "", enabled_by_default = true }
[device.entity.temperature]
name = "Air"
icon = "mdi:thermometer"
enabled_by_default = false
[device.entity.raw]
disabled = true
`)
	if err := doc.Err(); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	yes, no := true, false
	want := []EntityOptions{
		{ID: "humidity", Path: Path{"device", "[0]", "entity", "humidity"}, Name: str(""), EnabledByDefault: &yes},
		{ID: "raw", Path: Path{"device", "[0]", "entity", "raw"}, Disabled: true},
		{ID: "temperature", Path: Path{"device", "[0]", "entity", "temperature"}, Name: str("Air"), Icon: str("mdi:thermometer"), EnabledByDefault: &no},
	}
	if !reflect.DeepEqual(dev.Entities, want) {
		t.Fatalf("options:\n got  %+v\n want %+v", dev.Entities, want)
	}

	es := testEntities()
	orig := testEntities()
	kept, disabled := doc.ApplyEntities("climate", dev.Entities, es)
	if err := doc.Err(); err != nil {
		t.Fatal(err)
	}
	wantKept := []drivers.Entity{
		{ID: "temperature", Name: "Air", Icon: "mdi:thermometer", DisabledByDefault: true, Spec: orig[0].Spec},
		{ID: "humidity", Name: "", Icon: "mdi:water-percent", Spec: orig[1].Spec},
	}
	if !reflect.DeepEqual(kept, wantKept) || !slices.Equal(disabled, []string{"raw"}) {
		t.Errorf("ApplyEntities:\n got  %+v, disabled %q\n want %+v, disabled [raw]", kept, disabled, wantKept)
	}
	if !reflect.DeepEqual(es, orig) {
		t.Errorf("ApplyEntities changed the driver's entities: %+v", es)
	}

	// No tables: the entities as declared.
	doc, dev = parseDevice(t, "[[device]]\nid = \"x\"\n")
	kept, disabled = doc.ApplyEntities("x", dev.Entities, testEntities())
	if !reflect.DeepEqual(kept, testEntities()) || disabled != nil || doc.Err() != nil {
		t.Errorf("without tables: %+v, %q, %v", kept, disabled, doc.Err())
	}
}

func TestEntityOptionProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		src  string // after [[device]] and its id, on line 3
		want []string
	}{
		{"not a table", `entity = "relay"`,
			[]string{`x.toml:3: device[0].entity: must be a table of entity tables ([device.entity.<entity id>] sections, such as [device.entity.relay]), not a string`}},
		{"an entity that is not a table", `entity.raw = true`,
			[]string{`x.toml:3: device[0].entity.raw: must be a table (a [device.entity.raw] section) of the entity's options: name, icon, disabled, enabled_by_default, interlock, dead_time, max_on, min_interval, min_interval_mode, on_disconnect, on_disconnect_after; not a boolean`}},
		{"unknown keys", "[device.entity.raw]\nnmae = \"x\"\nhidden = true",
			[]string{
				`x.toml:4: device[0].entity.raw.nmae: unknown key (did you mean "name"?)`,
				`x.toml:5: device[0].entity.raw.hidden: unknown key ([device.entity.raw] takes: name, icon, disabled, enabled_by_default, interlock, dead_time, max_on, min_interval, min_interval_mode, on_disconnect, on_disconnect_after)`,
			}},
		{"wrong types", "[device.entity.raw]\nname = 1\nicon = false\ndisabled = \"yes\"\nenabled_by_default = 0",
			[]string{
				`x.toml:4: device[0].entity.raw.name: must be a string, not an integer (1)`,
				`x.toml:5: device[0].entity.raw.icon: must be a string, not a boolean (false)`,
				`x.toml:6: device[0].entity.raw.disabled: must be a boolean (true or false), not a string ("yes")`,
				`x.toml:7: device[0].entity.raw.enabled_by_default: must be a boolean (true or false), not an integer (0)`,
			}},
		{"bad values", "[device.entity.raw]\nname = \"  \"\nicon = \"mdi fan\"\ndisabled = true\nenabled_by_default = true",
			[]string{
				`x.toml:4: device[0].entity.raw.name: must not be blank`,
				`x.toml:5: device[0].entity.raw.icon: "mdi fan" is not an icon: write prefix:name, such as "mdi:fan"`,
				`x.toml:7: device[0].entity.raw.enabled_by_default: has no effect with disabled = true`,
			}},
		{"icons", "[device.entity.raw]\nicon = \"mdi:\"\n[device.entity.humidity]\nicon = \":fan\"\n[device.entity.temperature]\nicon = \"\"",
			[]string{
				`x.toml:4: device[0].entity.raw.icon: "mdi:" is not an icon`,
				`x.toml:6: device[0].entity.humidity.icon: ":fan" is not an icon`,
			}},
		{"an entity the device lacks", "[device.entity.Raw]\nname = \"x\"\n[device.entity.fan]\nname = \"y\"",
			[]string{
				`x.toml:3: device[0].entity.Raw: device "climate" has no entity "Raw" (did you mean "raw"?): its entities are "temperature", "humidity", "raw"`,
				`x.toml:5: device[0].entity.fan: device "climate" has no entity "fan": its entities are "temperature", "humidity", "raw"`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, dev := parseDevice(t, "[[device]]\nid = \"climate\"\n"+tc.src+"\n")
			doc.ApplyEntities("climate", dev.Entities, testEntities())
			var got []string
			if err := doc.Err(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d:\n got  %s\n want %s…", i, got[i], w)
				}
			}
		})
	}
}

// relayEntities are a relay board's entities: two switches, a light and
// a sensor, for the relay-safety options.
func relayEntities() []drivers.Entity {
	return []drivers.Entity{
		{ID: "up", Spec: drivers.Switch{}},
		{ID: "down", Spec: &drivers.Switch{}},
		{ID: "lamp", Spec: drivers.Light{}},
		{ID: "temperature", Spec: drivers.Sensor{Unit: drivers.Celsius}},
		{ID: "press", Spec: drivers.Event{Types: []string{"press"}}},
	}
}

func TestEntitySafety(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		src  string // entity tables, from line 3
		want map[string]Safety
	}{
		{"none", "[device.entity.up]\nname = \"Up\"", nil},
		{"interlock with dead time", "[device.entity.up]\ninterlock = \"motor\"\ndead_time = \"500ms\"\n[device.entity.down]\ninterlock = \"motor\"",
			map[string]Safety{
				"up":   {Interlock: "motor", DeadTime: 500 * time.Millisecond, OnDisconnectAfter: time.Minute},
				"down": {Interlock: "motor", OnDisconnectAfter: time.Minute},
			}},
		{"max_on and min_interval on a light", "[device.entity.lamp]\nmax_on = \"2h\"\nmin_interval = \"5m\"\nmin_interval_mode = \"refuse\"",
			map[string]Safety{"lamp": {MaxOn: 2 * time.Hour, MinInterval: 5 * time.Minute, Refuse: true, OnDisconnectAfter: time.Minute}}},
		{"min_interval delays by default", "[device.entity.up]\nmin_interval = \"30s\"",
			map[string]Safety{"up": {MinInterval: 30 * time.Second, OnDisconnectAfter: time.Minute}}},
		{"on_disconnect", "[device.entity.up]\non_disconnect = \"off\"\n[device.entity.down]\non_disconnect = \"off\"\non_disconnect_after = \"0s\"",
			map[string]Safety{
				"up":   {OffOnDisconnect: true, OnDisconnectAfter: time.Minute},
				"down": {OffOnDisconnect: true},
			}},
		{"keep asks for nothing", "[device.entity.up]\non_disconnect = \"keep\"", nil},
		{"inline", "entity.up = { max_on = \"90s\" }", map[string]Safety{"up": {MaxOn: 90 * time.Second, OnDisconnectAfter: time.Minute}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, dev := parseDevice(t, "[[device]]\nid = \"board\"\n"+tc.src+"\n")
			doc.ApplyEntities("board", dev.Entities, relayEntities())
			if err := doc.Err(); err != nil {
				t.Fatal(err)
			}
			if got := Safeties(dev.Entities); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Safeties:\n got  %+v\n want %+v", got, tc.want)
			}
		})
	}
}

func TestEntitySafetyProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		src  string // entity tables, from line 3
		want []string
	}{
		{"wrong types", "[device.entity.up]\ninterlock = 1\ndead_time = 5\nmax_on = true\nmin_interval = 300\nmin_interval_mode = false\non_disconnect = []\non_disconnect_after = 60",
			[]string{
				`x.toml:4: device[0].entity.up.interlock: must be a string, not an integer (1)`,
				`x.toml:5: device[0].entity.up.dead_time: must be a duration string such as "30s" or "500ms", not an integer (5)`,
				`x.toml:6: device[0].entity.up.max_on: must be a duration string such as "30s" or "500ms", not a boolean (true)`,
				`x.toml:7: device[0].entity.up.min_interval: must be a duration string such as "30s" or "500ms", not an integer (300)`,
				`x.toml:8: device[0].entity.up.min_interval_mode: must be a string, not a boolean (false)`,
				`x.toml:9: device[0].entity.up.on_disconnect: must be a string, not `,
				`x.toml:10: device[0].entity.up.on_disconnect_after: must be a duration string such as "30s" or "500ms", not an integer (60)`,
				`x.toml:10: device[0].entity.up.on_disconnect_after: has no effect unless on_disconnect = "off"`,
			}},
		{"bad durations", "[device.entity.up]\ninterlock = \"m\"\ndead_time = \"half a second\"\nmax_on = \"2 hours\"\nmin_interval = \"5\"\non_disconnect = \"off\"\non_disconnect_after = \"1 minute\"",
			[]string{
				`x.toml:5: device[0].entity.up.dead_time: invalid duration "half a second": use a number with a unit`,
				`x.toml:6: device[0].entity.up.max_on: invalid duration "2 hours"`,
				`x.toml:7: device[0].entity.up.min_interval: invalid duration "5"`,
				`x.toml:9: device[0].entity.up.on_disconnect_after: invalid duration "1 minute"`,
			}},
		{"impossible values", "[device.entity.up]\ninterlock = \"a b\"\ndead_time = \"-1s\"\nmax_on = \"0s\"\nmin_interval = \"-5m\"\nmin_interval_mode = \"wait\"\non_disconnect = \"Off\"\non_disconnect_after = \"-1s\"",
			[]string{
				`x.toml:4: device[0].entity.up.interlock: "a b" is not a group name`,
				`x.toml:5: device[0].entity.up.dead_time: -1s must not be negative`,
				`x.toml:6: device[0].entity.up.max_on: 0s must be positive`,
				`x.toml:7: device[0].entity.up.min_interval: -5m0s must be positive`,
				`x.toml:8: device[0].entity.up.min_interval_mode: "wait" is not one of "delay", "refuse"`,
				`x.toml:9: device[0].entity.up.on_disconnect: "Off" is not one of "keep", "off" (did you mean "off"?)`,
				`x.toml:10: device[0].entity.up.on_disconnect_after: -1s must not be negative`,
			}},
		{"options without what they modify", "[device.entity.up]\ndead_time = \"1s\"\nmin_interval_mode = \"refuse\"\non_disconnect = \"keep\"\non_disconnect_after = \"10s\"",
			[]string{
				`x.toml:4: device[0].entity.up.dead_time: has no effect without interlock`,
				`x.toml:5: device[0].entity.up.min_interval_mode: has no effect without min_interval`,
				`x.toml:7: device[0].entity.up.on_disconnect_after: has no effect unless on_disconnect = "off"`,
			}},
		{"on a sensor and an event", "[device.entity.temperature]\nmax_on = \"1h\"\n[device.entity.press]\non_disconnect = \"off\"",
			[]string{
				`x.toml:4: device[0].entity.temperature.max_on: relay-safety options (interlock, dead_time, max_on, min_interval, min_interval_mode, on_disconnect, on_disconnect_after) are for switch and light entities; "temperature" of device "board" is a sensor`,
				`x.toml:6: device[0].entity.press.on_disconnect: relay-safety options (interlock, dead_time, max_on, min_interval, min_interval_mode, on_disconnect, on_disconnect_after) are for switch and light entities; "press" of device "board" is an event`,
			}},
		{"on a disabled entity", "[device.entity.up]\ndisabled = true\ninterlock = \"motor\"",
			[]string{`x.toml:5: device[0].entity.up.interlock: has no effect with disabled = true`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, dev := parseDevice(t, "[[device]]\nid = \"board\"\n"+tc.src+"\n")
			doc.ApplyEntities("board", dev.Entities, relayEntities())
			var got []string
			if err := doc.Err(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d:\n got  %s\n want %s…", i, got[i], w)
				}
			}
		})
	}
}

// TestEntityKeyNotDecoded checks that the entity tables are the agent's:
// a driver's Decode never sees them, and a slip of their key is suggested.
func TestEntityKeyNotDecoded(t *testing.T) {
	t.Parallel()
	root, doc, err := Parse("x.toml", []byte("[[device]]\nid = \"a\"\npin = \"GPIO4\"\n[device.entity.relay]\nname = \"x\"\n[[device]]\nid = \"b\"\n[device.entiy.relay]\nname = \"x\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Pin string `toml:"pin"`
	}
	if err := doc.Decoder(Path{"device"}.Index(0), "test", doc.DeviceTables(root)[0]).Decode(&v); err != nil {
		t.Errorf("the entity table reached the driver: %v", err)
	}
	err = doc.Decoder(Path{"device"}.Index(1), "test", doc.DeviceTables(root)[1]).Decode(&v)
	want := `x.toml:8: device[1].entiy: unknown key (did you mean "entity"?)`
	if err == nil || err.Error() != want {
		t.Errorf("Decode: %v, want %s", err, want)
	}
	err = doc.Decoder(Path{"device"}.Index(1), "test", map[string]any{"id": "b", "colour": 1}).Decode(&v)
	if want := "(driver \"test\" takes: id, driver, name, interval, pin)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Decode: %v, want the keys listed %s", err, want)
	}
}
