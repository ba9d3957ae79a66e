package devconf

// The [[device]] tables: the common keys the agent keeps for itself, and
// the rest, which goes to the driver through a Decoder.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// ReservedID is the id of the agent's own Home Assistant device, which no
// configured device may take.
const ReservedID = "agent"

// commonKeys are the keys of a [[device]] table that the agent keeps for
// itself; the driver never sees them. entity holds the
// [device.entity.<id>] tables.
var commonKeys = []string{"id", "driver", "name", "interval", EntityKey}

// listedKeys are the common keys that messages list among the keys a
// driver takes: the entity tables are options of the entities, not keys.
var listedKeys = commonKeys[:4]

// CommonKeys returns the keys of a [[device]] table that the agent keeps
// for itself (id, driver, name, interval and entity, the table of the
// [device.entity.<id>] tables), in the order the documentation lists them.
// The driver never sees them.
func CommonKeys() []string { return slices.Clone(commonKeys) }

// Device is what a [[device]] table's common keys say.
type Device struct {
	// ID is the id key; "" when it is missing or wrong.
	ID string
	// Name is the name key; it defaults to ID.
	Name string
	// Driver is the driver key; "" when it is missing or wrong.
	Driver string
	// Interval is the interval key, 0 when it is left out.
	Interval time.Duration
	// Line is the line of the table's [[device]] header.
	Line int
	// Entities are the table's [device.entity.<id>] tables, sorted by
	// entity id; apply them with ApplyEntities once the device is built.
	Entities []EntityOptions
}

// DeviceTables returns the [[device]] tables of a document, recording a
// problem when "device" is something else. It returns nil when there are
// none.
func (d *Doc) DeviceTables(root map[string]any) []map[string]any {
	v, ok := root["device"]
	if !ok {
		return nil
	}
	list, ok := Tables(v)
	if !ok {
		hint := ""
		if _, isTable := v.(map[string]any); isTable {
			hint = ": write [[device]], not [device]"
		}
		d.Add(Path{"device"}, nil, "must be an array of tables ([[device]] sections), not %s%s", TypeName(v), hint)
		return nil
	}
	return list
}

// IDs are the device ids of the tables of a document checked so far, for
// Device's check of duplicates. They are keyed by the id in lower case:
// Home Assistant lowercases the entity ids it makes of them, so "pump" and
// "Pump" would collide there.
type IDs map[string]UsedID

// UsedID is an id in IDs: as the table writes it, and the table's index in
// the document.
type UsedID struct {
	ID    string
	Index int
}

// Device checks the common keys of the device table m at path, recording
// every problem with them. ids are the ids of the tables checked so far;
// index is this table's. withDriver says whether the table must name its
// driver, as each table of a document does. ok is false when the driver is
// needed and missing or not a string.
func (d *Doc) Device(path Path, m map[string]any, ids IDs, index int, withDriver bool) (dev Device, ok bool) {
	t := Table{Doc: d, Path: path, M: m}
	dev.Line = d.Line(path)
	if id, ok := t.Str("id"); ok {
		switch {
		case !ValidID(id):
			d.Add(path.Key("id"), nil, "%q is not a valid id: use only letters, digits, '_' and '-' (it is part of MQTT topics)", id)
		case strings.EqualFold(id, ReservedID):
			d.Add(path.Key("id"), nil, "%q is reserved for the agent's own device: choose another id", id)
		default:
			first, dup := ids[strings.ToLower(id)]
			fp := Path{"device"}.Index(first.Index)
			switch {
			case !dup:
				ids[strings.ToLower(id)] = UsedID{ID: id, Index: index}
			case first.ID == id:
				d.Add(path.Key("id"), nil, "duplicate id %q: %s (line %d) already uses it", id, fp, d.Line(fp))
			default:
				d.Add(path.Key("id"), nil, "%q differs only in case from %q of %s (line %d): Home Assistant lowercases entity ids, so their entities would collide; choose another id", id, first.ID, fp, d.Line(fp))
			}
		}
		dev.ID = id
	} else if !t.Has("id") {
		d.Add(path.Key("id"), nil, `is required: give each device a unique id, such as "porch_light"`)
	}
	dev.Name = dev.ID
	if name, ok := t.Str("name"); ok {
		if strings.TrimSpace(name) == "" {
			d.Add(path.Key("name"), nil, "must not be empty (leave it out to use the id)")
		}
		dev.Name = name
	}
	if iv, ok := t.Duration("interval"); ok {
		if iv <= 0 {
			d.Add(path.Key("interval"), nil, "%v must be positive (leave it out for the driver's default)", iv)
		}
		dev.Interval = iv
	}
	if v, ok := m[EntityKey]; ok {
		dev.Entities = d.entityOptions(path.Key(EntityKey), v)
	}
	if !withDriver {
		return dev, true
	}
	driver, ok := t.Str("driver")
	if !ok {
		if !t.Has("driver") {
			d.Add(path.Key("driver"), nil, "is required: %s", KnownDrivers())
		}
		return dev, false
	}
	dev.Driver = driver
	return dev, true
}

// KnownDrivers lists the registered drivers for messages.
func KnownDrivers() string {
	names := drivers.Names()
	if len(names) == 0 {
		return "no drivers are compiled in (import them in main.go, or load a plugin)"
	}
	return "known drivers: " + strings.Join(names, ", ")
}

// driverName names a driver in messages: `driver "gpio"`, or "the driver"
// when the name is not known (a table given without its driver key).
func driverName(driver string) string {
	if driver == "" {
		return "the driver"
	}
	return fmt.Sprintf("driver %q", driver)
}
