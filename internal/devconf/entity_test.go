package devconf

import (
	"reflect"
	"slices"
	"strings"
	"testing"

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
			[]string{`x.toml:3: device[0].entity.raw: must be a table (a [device.entity.raw] section) of the entity's options: name, icon, disabled, enabled_by_default; not a boolean`}},
		{"unknown keys", "[device.entity.raw]\nnmae = \"x\"\nhidden = true",
			[]string{
				`x.toml:4: device[0].entity.raw.nmae: unknown key (did you mean "name"?)`,
				`x.toml:5: device[0].entity.raw.hidden: unknown key ([device.entity.raw] takes: name, icon, disabled, enabled_by_default)`,
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
