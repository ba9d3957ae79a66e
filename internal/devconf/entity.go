package devconf

// The [device.entity.<id>] tables: options every driver's entities get
// for free (a name or icon of the user's, an entity left out or added to
// Home Assistant disabled), decoded by the agent and never passed to the
// driver.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pinion-home/pinion/drivers"
)

// EntityKey is the key of a [[device]] table that holds its entity
// tables: [device.entity.relay] is the table of the entity "relay".
const EntityKey = "entity"

// entityKeys are the keys of an entity table, in the order the
// documentation lists them.
var entityKeys = []string{"name", "icon", "disabled", "enabled_by_default"}

// EntityOptions is one [device.entity.<id>] table: what the user overrides
// of one entity of a device.
type EntityOptions struct {
	// ID is the entity's id, the table's key.
	ID string
	// Path is where the table sits, such as "device[1].entity.relay".
	Path Path
	// Name replaces the entity's name when set; "" makes the entity the
	// device's main feature, shown with the device's name.
	Name *string
	// Icon replaces the entity's icon when set; "" removes it.
	Icon *string
	// Disabled leaves the entity out: it is not published at all.
	Disabled bool
	// EnabledByDefault, when set, says whether Home Assistant adds the
	// entity enabled (true) or disabled (false), whatever the driver says.
	EnabledByDefault *bool
}

// entityOptions checks the value of a device table's entity key, at path,
// and returns its entity tables sorted by id.
func (d *Doc) entityOptions(path Path, v any) []EntityOptions {
	m, ok := v.(map[string]any)
	if !ok {
		d.Add(path, nil, "must be a table of entity tables ([device.entity.<entity id>] sections, such as [device.entity.relay]), not %s", TypeName(v))
		return nil
	}
	var out []EntityOptions
	for _, id := range sortedKeys(m) {
		ep := path.Key(id)
		header := fmt.Sprintf("[device.entity.%s]", quoteKey(id))
		em, ok := m[id].(map[string]any)
		if !ok {
			d.Add(ep, nil, "must be a table (a %s section) of the entity's options: %s; not %s", header, strings.Join(entityKeys, ", "), TypeName(m[id]))
			continue
		}
		t := Table{Doc: d, Path: ep, M: em}
		t.Unknown(entityKeys, header)
		o := EntityOptions{ID: id, Path: ep}
		if name, ok := t.Str("name"); ok {
			if name != "" && strings.TrimSpace(name) == "" {
				d.Add(ep.Key("name"), nil, `must not be blank (leave it out to keep the driver's name, or write "" to show the entity with the device's name)`)
			}
			o.Name = &name
		}
		if icon, ok := t.Str("icon"); ok {
			if err := checkIcon(icon); err != nil {
				d.Add(ep.Key("icon"), nil, "%v", err)
			}
			o.Icon = &icon
		}
		if dis, ok := t.Bool("disabled"); ok {
			o.Disabled = dis
		}
		if en, ok := t.Bool("enabled_by_default"); ok {
			if o.Disabled {
				d.Add(ep.Key("enabled_by_default"), nil, "has no effect with disabled = true, which leaves the entity out of Home Assistant altogether: keep one of them")
			}
			o.EnabledByDefault = &en
		}
		out = append(out, o)
	}
	return out
}

// checkIcon checks an icon as Home Assistant names them, "prefix:name"
// ("mdi:fan"); "" is taken too, for no icon.
func checkIcon(s string) error {
	if s == "" {
		return nil
	}
	prefix, name, ok := strings.Cut(s, ":")
	if !ok || prefix == "" || name == "" || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsSpace) {
		return fmt.Errorf(`%q is not an icon: write prefix:name, such as "mdi:fan" (Material Design Icons), or "" for none`, s)
	}
	return nil
}

// ApplyEntities applies a device's entity tables, opts, to es, the
// entities its driver declares, and returns the entities as the agent
// publishes them: overrides applied, disabled ones left out (their ids are
// returned in disabled). es is not changed. A table for an entity the
// device does not have is a problem, which lists the ids it has. device is
// the device's id, for messages.
func (d *Doc) ApplyEntities(device string, opts []EntityOptions, es []drivers.Entity) (kept []drivers.Entity, disabled []string) {
	byID := make(map[string]EntityOptions, len(opts))
	for _, o := range opts {
		if !slices.ContainsFunc(es, func(e drivers.Entity) bool { return e.ID == o.ID }) {
			d.Add(o.Path, nil, "%s", noEntity(device, o.ID, es))
			continue
		}
		byID[o.ID] = o
	}
	kept = make([]drivers.Entity, 0, len(es))
	for _, e := range es {
		o, ok := byID[e.ID]
		if !ok {
			kept = append(kept, e)
			continue
		}
		if o.Disabled {
			disabled = append(disabled, e.ID)
			continue
		}
		if o.Name != nil {
			e.Name = *o.Name
		}
		if o.Icon != nil {
			e.Icon = *o.Icon
		}
		if o.EnabledByDefault != nil {
			e.DisabledByDefault = !*o.EnabledByDefault
		}
		kept = append(kept, e)
	}
	return kept, disabled
}

// noEntity says that device has no entity id, and which it has.
func noEntity(device, id string, es []drivers.Entity) string {
	if len(es) == 0 {
		return fmt.Sprintf("device %q has no entity %q: it has no entities at all", device, id)
	}
	ids := make([]string, len(es))
	quoted := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
		quoted[i] = strconv.Quote(e.ID)
	}
	hint := ""
	// Short ids are all near each other ("fan" and "raw"): suggest one
	// only for a slip of case or in a longer id.
	if i := slices.IndexFunc(ids, func(s string) bool { return strings.EqualFold(s, id) }); i >= 0 {
		hint = fmt.Sprintf(" (did you mean %q?)", ids[i])
	} else if s := Suggest(id, ids); s != "" && len(id) > 4 {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	return fmt.Sprintf("device %q has no entity %q%s: its entities are %s", device, id, hint, strings.Join(quoted, ", "))
}
