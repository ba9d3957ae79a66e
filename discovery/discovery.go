package discovery

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pinion-home/pinion/drivers"
)

// reservedEntityID cannot be an entity id: <device>/status is the device's
// availability topic.
const reservedEntityID = "status"

// SupportURL is where a Home Assistant user is sent from an entity's origin.
const SupportURL = "https://github.com/pinion-home/pinion"

// Device is one configured device as discovery needs it.
type Device struct {
	// ID is the device id from the config, made of [a-zA-Z0-9_-].
	ID string
	// Name is the Home Assistant device name. Empty means the ID.
	Name string
	// Info names the hardware (manufacturer and model; empty ones are
	// left out).
	Info drivers.Info
	// Entities are what the device exposes, from Device.Entities.
	Entities []drivers.Entity
}

func (d Device) name() string {
	if d.Name == "" {
		return d.ID
	}
	return d.Name
}

// Message is one discovery config. It is always published retained, so
// Home Assistant finds it after a restart without waiting for a birth.
type Message struct {
	Topic   string
	Payload []byte
}

// Error is one thing in a node or its devices that Home Assistant would
// reject, or that would make an entity misbehave there. Validate and
// Messages return every Error they find, joined with errors.Join, so that
// `agent -check` lists them all at once.
type Error struct {
	// Device is the device id, or "" for a problem of the node itself.
	Device string
	// Entity is the entity id, or "" for a problem of the whole device.
	Entity string
	// Reason says what is wrong and how to fix it.
	Reason string
}

// Error formats e as `discovery: device "attic" entity "temperature": …`.
func (e *Error) Error() string {
	switch {
	case e.Device == "":
		return "discovery: node: " + e.Reason
	case e.Entity == "":
		return fmt.Sprintf("discovery: device %q: %s", e.Device, e.Reason)
	}
	return fmt.Sprintf("discovery: device %q entity %q: %s", e.Device, e.Entity, e.Reason)
}

// Validate checks the node and its devices without building payloads, for
// `agent -check`. It returns the same errors as Messages.
func Validate(n Node, devs []Device) error {
	_, err := plan(n, devs)
	return err
}

// Messages returns the discovery config messages for the agent's own device
// and every device, sorted by topic. It validates everything first and
// returns, instead of messages, an error naming the device and entity of
// everything Home Assistant would reject: an unknown device class, a unit
// the class does not allow, a bad or duplicate id.
func Messages(n Node, devs []Device) ([]Message, error) {
	all, err := plan(n, devs)
	if err != nil {
		return nil, err
	}
	var msgs []Message
	for _, d := range all {
		for _, e := range d.Entities {
			component := Component(e)
			payload, err := marshal(n.config(d, e))
			if err != nil {
				return nil, &Error{Device: d.ID, Entity: e.ID, Reason: fmt.Sprintf("encode config: %v", err)}
			}
			msgs = append(msgs, Message{Topic: n.ConfigTopic(component, d.ID, e.ID), Payload: payload})
		}
	}
	slices.SortFunc(msgs, func(a, b Message) int { return cmp.Compare(a.Topic, b.Topic) })
	return msgs, nil
}

// plan validates n and devs and returns every device to publish, the
// agent's own first. All problems are collected, not just the first.
func plan(n Node, devs []Device) ([]Device, error) {
	var errs []error
	fail := func(device, entity, format string, args ...any) {
		errs = append(errs, &Error{Device: device, Entity: entity, Reason: fmt.Sprintf(format, args...)})
	}

	if !ValidID(n.ID) {
		fail("", "", "id %q must be one or more of a-z, A-Z, 0-9, _ and -", n.ID)
	}
	if err := checkPrefix(n.topicPrefix()); err != nil {
		fail("", "", "topic prefix %v", err)
	}
	if err := checkPrefix(n.discoveryPrefix()); err != nil {
		fail("", "", "discovery prefix %v", err)
	}
	if !utf8.ValidString(n.Name) || !utf8.ValidString(n.Version) {
		fail("", "", "name and version must be valid UTF-8")
	}
	if n.topicPrefix() == n.discoveryPrefix() {
		// Pinion's state topics would then look like discovery topics.
		fail("", "", "topic prefix and discovery prefix are both %q; give pinion its own prefix", n.topicPrefix())
	}

	all := append([]Device{n.agentDevice()}, devs...)
	devIndex := map[string]int{}
	// objects maps a config topic's (component, object id) to the device
	// and entity that produced it: "a_b"+"c" and "a"+"b_c" would collide.
	objects := map[string]string{}
	for i, d := range all {
		agent := i == 0
		if !ValidID(d.ID) {
			fail(d.ID, "", "device id %q must be one or more of a-z, A-Z, 0-9, _ and -", d.ID)
			continue
		}
		if !agent && d.ID == AgentDeviceID {
			fail(d.ID, "", "the id %q is reserved for the agent's own device; pick another id", AgentDeviceID)
			continue
		}
		if j, dup := devIndex[d.ID]; dup {
			fail(d.ID, "", "device id is used by device number %d and %d of the list; ids must be unique on a node", j, i)
			continue
		}
		devIndex[d.ID] = i
		if !agent && !utf8.ValidString(d.Name) || !utf8.ValidString(d.Info.Manufacturer) || !utf8.ValidString(d.Info.Model) {
			fail(d.ID, "", "name, manufacturer and model must be valid UTF-8")
		}
		ids := map[string]bool{}
		for _, e := range d.Entities {
			if ids[e.ID] {
				fail(d.ID, e.ID, "entity id is used twice in the device; the driver must give each entity its own id")
				continue
			}
			ids[e.ID] = true
			if e.ID == reservedEntityID {
				// Its state topic would be the device's status topic.
				fail(d.ID, e.ID, "the entity id %q is reserved: its state topic would be the device's availability topic; the driver must use another id", reservedEntityID)
				continue
			}
			for _, reason := range checkEntity(e) {
				fail(d.ID, e.ID, "%s", reason)
			}
			component := Component(e)
			if !ValidID(e.ID) || component == "" {
				continue
			}
			key := component + "/" + ObjectID(d.ID, e.ID)
			if other, dup := objects[key]; dup {
				fail(d.ID, e.ID, "its config topic %s is also that of %s; rename one of the devices so that <device>_<entity> differ", n.ConfigTopic(component, d.ID, e.ID), other)
				continue
			}
			objects[key] = fmt.Sprintf("device %q entity %q", d.ID, e.ID)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return all, nil
}

// checkEntity returns every reason Home Assistant would reject e, or make
// it misbehave.
func checkEntity(e drivers.Entity) []string {
	var bad []string
	if !ValidID(e.ID) {
		bad = append(bad, fmt.Sprintf("entity id %q must be one or more of a-z, A-Z, 0-9, _ and -", e.ID))
	}
	if !utf8.ValidString(e.Name) {
		bad = append(bad, "name is not valid UTF-8")
	}
	if e.Icon != "" && !strings.Contains(e.Icon, ":") {
		bad = append(bad, fmt.Sprintf("icon %q must be written prefix:name, such as mdi:fan", e.Icon))
	} else if !utf8.ValidString(e.Icon) {
		bad = append(bad, "icon is not valid UTF-8")
	}
	component := Component(e)
	if component == "" {
		if e.Spec == nil {
			return append(bad, "it has no Spec; set it to one of "+componentList)
		}
		return append(bad, fmt.Sprintf("its Spec is a nil %T; set it to one of %s", e.Spec, componentList))
	}
	return append(bad, checkSpec(e, component)...)
}

// config is one discovery payload. Struct fields, not a map, fix the key
// order so that payloads are byte-for-byte stable across runs: Home
// Assistant ignores an unchanged config, and the golden files pin them.
// Keys are spelled out, not abbreviated, so a person can read them on the
// broker. Each component sets only the keys it has; the rest are left out.
type config struct {
	Name             *string `json:"name"`
	UniqueID         string  `json:"unique_id"`
	DefaultEntityID  string  `json:"default_entity_id"`
	DeviceClass      string  `json:"device_class,omitempty"`
	EntityCategory   string  `json:"entity_category,omitempty"`
	EnabledByDefault *bool   `json:"enabled_by_default,omitempty"`
	Icon             string  `json:"icon,omitempty"`
	Schema           string  `json:"schema,omitempty"`
	StateTopic       string  `json:"state_topic,omitempty"`
	ValueTemplate    string  `json:"value_template,omitempty"`
	CommandTopic     string  `json:"command_topic,omitempty"`
	PositionTopic    string  `json:"position_topic,omitempty"`
	PositionTemplate string  `json:"position_template,omitempty"`
	SetPositionTopic string  `json:"set_position_topic,omitempty"`
	PayloadOn        string  `json:"payload_on,omitempty"`
	PayloadOff       string  `json:"payload_off,omitempty"`
	PayloadPress     string  `json:"payload_press,omitempty"`
	PayloadOpen      string  `json:"payload_open,omitempty"`
	PayloadClose     string  `json:"payload_close,omitempty"`
	// PayloadStop is raw so that it can be null: a cover that cannot stop
	// has the feature dropped that way.
	PayloadStop         json.RawMessage `json:"payload_stop,omitempty"`
	SupportedColorModes []string        `json:"supported_color_modes,omitempty"`
	Flash               *bool           `json:"flash,omitempty"`
	Transition          *bool           `json:"transition,omitempty"`
	Min                 *float64        `json:"min,omitempty"`
	Max                 *float64        `json:"max,omitempty"`
	Step                *float64        `json:"step,omitempty"`
	Mode                string          `json:"mode,omitempty"`
	Options             []string        `json:"options,omitempty"`
	EventTypes          []string        `json:"event_types,omitempty"`
	UnitOfMeasurement   string          `json:"unit_of_measurement,omitempty"`
	StateClass          string          `json:"state_class,omitempty"`
	// SuggestedDisplayPrecision is a pointer because 0 is a precision.
	SuggestedDisplayPrecision *int           `json:"suggested_display_precision,omitempty"`
	Availability              []availability `json:"availability,omitempty"`
	AvailabilityMode          string         `json:"availability_mode,omitempty"`
	Device                    deviceBlock    `json:"device"`
	Origin                    origin         `json:"origin"`
}

// availability is one entry of a config's availability list. The payloads
// are Home Assistant's defaults (online/offline), so they are left out.
type availability struct {
	Topic string `json:"topic"`
}

// deviceBlock is the device registry entry. Home Assistant rejects the
// whole config for any key it does not know, so only known keys exist here.
type deviceBlock struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer,omitempty"`
	Model        string   `json:"model,omitempty"`
	SWVersion    string   `json:"sw_version,omitempty"`
	ViaDevice    string   `json:"via_device,omitempty"`
}

// origin names the software that published the config.
type origin struct {
	Name       string `json:"name"`
	SWVersion  string `json:"sw_version,omitempty"`
	SupportURL string `json:"support_url"`
}

// Templates and payloads of the JSON states of lights and covers.
const (
	// stateTemplate reads a cover's state out of its JSON state.
	stateTemplate = "{{ value_json.state }}"
	// positionTemplate reads a cover's position out of the same state.
	positionTemplate = "{{ value_json.position }}"
)

// Command payloads Home Assistant sends with its default config, and that
// pinion publishes as states of switches and binary sensors.
const (
	payloadOn    = "ON"
	payloadOff   = "OFF"
	payloadPress = "PRESS"
	payloadOpen  = "OPEN"
	payloadClose = "CLOSE"
	payloadStop  = "STOP"
)

func ptr[T any](v T) *T { return &v }

// config builds the discovery payload of entity e of device d; d and e are
// already validated.
func (n Node) config(d Device, e drivers.Entity) config {
	component := Component(e)
	agent := d.ID == AgentDeviceID
	c := config{
		UniqueID:        n.UniqueID(d.ID, e.ID),
		DefaultEntityID: n.DefaultEntityID(component, d.ID, e.ID),
		Icon:            e.Icon,
		Origin:          origin{Name: "pinion", SWVersion: n.Version, SupportURL: SupportURL},
	}
	if e.Name != "" {
		name := e.Name
		c.Name = &name
	}
	if e.Diagnostic {
		c.EntityCategory = "diagnostic"
	}
	if e.DisabledByDefault {
		c.EnabledByDefault = ptr(false)
	}
	if Stateful(e) {
		c.StateTopic = n.StateTopic(d.ID, e.ID)
	}
	if Commandable(e) {
		c.CommandTopic = n.CommandTopic(d.ID, e.ID)
	}
	switch s := specOf(e).(type) {
	case drivers.Sensor:
		c.DeviceClass = s.Class
		c.UnitOfMeasurement = string(s.Unit)
		c.StateClass = stateClass(s.State)
		if numericSensor(s) && s.Precision >= 0 {
			c.SuggestedDisplayPrecision = ptr(s.Precision)
		}
	case drivers.BinarySensor:
		c.DeviceClass = s.Class
		c.PayloadOn, c.PayloadOff = payloadOn, payloadOff
	case drivers.Switch:
		c.DeviceClass = s.Class
		c.PayloadOn, c.PayloadOff = payloadOn, payloadOff
	case drivers.Button:
		c.DeviceClass = s.Class
		c.PayloadPress = payloadPress
	case drivers.Number:
		c.DeviceClass = s.Class
		c.Min, c.Max, c.Step = ptr(s.Min), ptr(s.Max), ptr(step(s))
		c.Mode = numberMode(s.Mode)
		c.UnitOfMeasurement = string(s.Unit)
	case drivers.Light:
		// Home Assistant's JSON schema: one topic each way, the state as
		// {"state":"ON","brightness":128}. Flash and transition are
		// declared unsupported, so Home Assistant does not offer them.
		c.Schema = "json"
		c.SupportedColorModes = []string{"onoff"}
		if s.Brightness {
			c.SupportedColorModes = []string{"brightness"}
		}
		c.Flash, c.Transition = ptr(false), ptr(false)
	case drivers.Cover:
		c.DeviceClass = s.Class
		c.ValueTemplate = stateTemplate
		c.PayloadOpen, c.PayloadClose = payloadOpen, payloadClose
		c.PayloadStop = json.RawMessage(`"` + payloadStop + `"`)
		if s.NoStop {
			c.PayloadStop = json.RawMessage("null")
		}
		if s.Position {
			// The position rides in the same JSON state, and a position
			// to go to arrives on the command topic as a plain number,
			// which ParseCommand tells apart from OPEN, CLOSE and STOP.
			c.PositionTopic = c.StateTopic
			c.PositionTemplate = positionTemplate
			c.SetPositionTopic = c.CommandTopic
		}
	case drivers.Event:
		c.DeviceClass = s.Class
		c.StateTopic = n.StateTopic(d.ID, e.ID)
		c.EventTypes = slices.Clone(s.Types)
	case drivers.Select:
		c.Options = slices.Clone(s.Options)
	}
	switch {
	case agent && e.ID == AgentConnectivity:
		// The connectivity sensor reads the node status itself. It has no
		// availability, so Home Assistant shows it "off" (disconnected)
		// rather than "unavailable" when the will fires.
		c.StateTopic = n.StatusTopic()
		c.PayloadOn, c.PayloadOff = PayloadOnline, PayloadOffline
	case agent:
		c.Availability = []availability{{Topic: n.StatusTopic()}}
	default:
		// The node, the device and the entity must all be online: the
		// agent runs, the device is open, the entity could be read.
		c.Availability = []availability{
			{Topic: n.StatusTopic()},
			{Topic: n.DeviceStatusTopic(d.ID)},
			{Topic: n.EntityStatusTopic(d.ID, e.ID)},
		}
		c.AvailabilityMode = "all"
	}
	if agent {
		c.Device = deviceBlock{
			Identifiers:  []string{n.agentIdentifier()},
			Name:         d.name(),
			Manufacturer: d.Info.Manufacturer,
			Model:        d.Info.Model,
			SWVersion:    n.Version,
		}
	} else {
		c.Device = deviceBlock{
			Identifiers:  []string{n.deviceIdentifier(d.ID)},
			Name:         d.name(),
			Manufacturer: d.Info.Manufacturer,
			Model:        d.Info.Model,
			ViaDevice:    n.agentIdentifier(),
		}
	}
	return c
}

// marshal encodes v compactly without HTML escaping: Home Assistant does
// not need "<" escaped, and people reading the broker should see "°C",
// not an escape.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
