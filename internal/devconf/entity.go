package devconf

// The [device.entity.<id>] tables: options every driver's entities get
// for free (a name or icon of the user's, an entity left out or added to
// Home Assistant disabled, and the relay-safety options of switches and
// lights), decoded by the agent and never passed to the driver.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
)

// EntityKey is the key of a [[device]] table that holds its entity
// tables: [device.entity.relay] is the table of the entity "relay".
const EntityKey = "entity"

// entityKeys are the keys of an entity table, in the order the
// documentation lists them.
var entityKeys = append([]string{"name", "icon", "disabled", "enabled_by_default"}, safetyKeys...)

// safetyKeys are the relay-safety keys of an entity table, which only
// switches and lights take.
var safetyKeys = []string{"interlock", "dead_time", "max_on", "min_interval", "min_interval_mode", "on_disconnect", "on_disconnect_after"}

// Defaults of the relay-safety options.
const (
	// DefaultOnDisconnectAfter is how long the broker must have been gone
	// for on_disconnect = "off" to switch an entity off.
	DefaultOnDisconnectAfter = 60 * time.Second
)

// Safety is the relay-safety options of one switch or light: what the
// agent enforces below every command, whoever sends it. The zero value
// enforces nothing.
type Safety struct {
	// Interlock is the group the entity belongs to ("" for none): at most
	// one member of a group is on, across the node's devices.
	Interlock string
	// DeadTime is how long the group waits between the last member going
	// off and another going on; the group uses its members' largest.
	DeadTime time.Duration
	// MaxOn switches the entity off that long after it went on; 0 never.
	MaxOn time.Duration
	// MinInterval is the least time between two switchings; 0 for none.
	MinInterval time.Duration
	// Refuse says what happens to a command that would switch within
	// MinInterval: false (min_interval_mode = "delay", the default) carries
	// it out when the interval ends, true ("refuse") refuses it.
	Refuse bool
	// OffOnDisconnect (on_disconnect = "off") switches the entity off once
	// the broker has been gone for OnDisconnectAfter; false ("keep", the
	// default) leaves it as it is.
	OffOnDisconnect bool
	// OnDisconnectAfter is how long the broker must have been gone; 60s
	// by default.
	OnDisconnectAfter time.Duration
}

// Enabled reports whether s asks for anything.
func (s Safety) Enabled() bool {
	return s.Interlock != "" || s.MaxOn > 0 || s.MinInterval > 0 || s.OffOnDisconnect
}

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
	// Safety is the relay-safety options, checked against the entity's
	// component by ApplyEntities.
	Safety Safety
	// safetyKey is the first relay-safety key the table sets, for the
	// problem when the entity takes none.
	safetyKey string
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
		o.Safety, o.safetyKey = safetyOptions(t)
		out = append(out, o)
	}
	return out
}

// safetyOptions decodes the relay-safety keys of an entity table,
// recording a problem for each wrong one, and returns them with the first
// key set ("" for none).
func safetyOptions(t Table) (s Safety, first string) {
	for _, k := range safetyKeys {
		if t.Has(k) {
			first = k
			break
		}
	}
	if first == "" {
		return Safety{}, ""
	}
	// positive reads a duration that must be above zero (or at least
	// zero, with zero).
	positive := func(key, hint string, zero bool) time.Duration {
		v, ok := t.Duration(key)
		if !ok {
			return 0
		}
		switch {
		case v < 0 && zero:
			t.Doc.Add(t.Path.Key(key), nil, "%v must not be negative: %s", v, hint)
			return 0
		case v <= 0 && !zero:
			t.Doc.Add(t.Path.Key(key), nil, "%v must be positive: %s", v, hint)
			return 0
		}
		return v
	}
	if g, ok := t.Str("interlock"); ok {
		if !ValidID(g) {
			t.Doc.Add(t.Path.Key("interlock"), nil, `%q is not a group name: use letters, digits, '_' and '-', such as "garage_door", and the same name on each member`, g)
		} else {
			s.Interlock = g
		}
	}
	if t.Has("dead_time") {
		s.DeadTime = positive("dead_time", `the time the group waits between one member's off and another's on, such as "500ms" (leave it out for none)`, true)
		if !t.Has("interlock") {
			t.Doc.Add(t.Path.Key("dead_time"), nil, `has no effect without interlock: dead_time is the wait between the members of an interlock group; add interlock = "<group>" or remove it`)
		}
	}
	if t.Has("max_on") {
		s.MaxOn = positive("max_on", `how long the entity may stay on, such as "2h" (leave it out for no limit)`, false)
	}
	if t.Has("min_interval") {
		s.MinInterval = positive("min_interval", `the least time between two switchings, such as "5m" (leave it out for none)`, false)
	}
	if mode, ok := t.Str("min_interval_mode"); ok {
		t.OneOf("min_interval_mode", mode, "delay", "refuse")
		s.Refuse = mode == "refuse"
		if !t.Has("min_interval") {
			t.Doc.Add(t.Path.Key("min_interval_mode"), nil, `has no effect without min_interval: add min_interval = "5m" or remove it`)
		}
	}
	if mode, ok := t.Str("on_disconnect"); ok {
		t.OneOf("on_disconnect", mode, "keep", "off")
		s.OffOnDisconnect = mode == "off"
	}
	s.OnDisconnectAfter = DefaultOnDisconnectAfter
	if t.Has("on_disconnect_after") {
		if v, ok := t.Duration("on_disconnect_after"); ok {
			if v < 0 {
				t.Doc.Add(t.Path.Key("on_disconnect_after"), nil, `%v must not be negative: how long the broker must be gone before the entity is switched off, such as "60s"`, v)
			} else {
				s.OnDisconnectAfter = v
			}
		}
		if mode, _ := t.M["on_disconnect"].(string); mode == "" || mode == "keep" {
			t.Doc.Add(t.Path.Key("on_disconnect_after"), nil, `has no effect unless on_disconnect = "off": add it or remove on_disconnect_after`)
		}
	}
	return s, first
}

// Safeties returns the relay-safety options of a device's entity tables
// that ask for any, by entity id; nil when none do.
func Safeties(opts []EntityOptions) map[string]Safety {
	var out map[string]Safety
	for _, o := range opts {
		if !o.Safety.Enabled() || o.Disabled {
			continue
		}
		if out == nil {
			out = map[string]Safety{}
		}
		out[o.ID] = o.Safety
	}
	return out
}

// aComponent names a component with its article: "a sensor", "an event".
func aComponent(c string) string {
	switch c {
	case "":
		return "an entity without a spec"
	case "event":
		return "an event"
	}
	return "a " + strings.ReplaceAll(c, "_", " ")
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
		if o.safetyKey != "" {
			switch c := discovery.Component(e); {
			case c != "switch" && c != "light":
				d.Add(o.Path.Key(o.safetyKey), nil, "relay-safety options (%s) are for switch and light entities; %q of device %q is %s", strings.Join(safetyKeys, ", "), e.ID, device, aComponent(c))
			case o.Disabled:
				d.Add(o.Path.Key(o.safetyKey), nil, "has no effect with disabled = true: the agent does not see a disabled entity's states, so it cannot keep it safe; keep one of them")
			}
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
