package hatest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// call is a service call resolved against an entity, ready to publish.
type call struct {
	topic   string
	payload string
	qos     byte
	retain  bool
}

// target looks uniqueID up for a service of Home Assistant's, which it
// calls only on an entity of one of components that is available, and
// returns a copy of its config with the publish options of its commands.
// Returned under no lock.
func (h *HA) target(uniqueID, service string, components ...string) (*parsed, call, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.findLocked(uniqueID)
	switch {
	case e == nil:
		return nil, call{}, fmt.Errorf("hatest: %s: no entity with unique_id %q", service, uniqueID)
	case !slices.Contains(components, e.component):
		return nil, call{}, fmt.Errorf("hatest: %s: %s is a %s; the service is for %s", service, uniqueID, e.component, strings.Join(components, ", "))
	case !h.availableLocked(e):
		return nil, call{}, fmt.Errorf("hatest: %s: %s is unavailable, and Home Assistant does not call services on unavailable entities (wait with WaitAvailable first)", service, uniqueID)
	}
	c := call{topic: e.commandTopic}
	if n, ok := e.cfg["qos"].(json.Number); ok {
		q, _ := n.Int64()
		c.qos = byte(q)
	}
	c.retain, _ = e.cfg["retain"].(bool)
	p := *e.parsed
	p.cfg = deepCopy(e.cfg).(map[string]any)
	return &p, c, nil
}

// send publishes c for service on uniqueID.
func (h *HA) send(service, uniqueID string, c call) error {
	if c.topic == "" {
		return fmt.Errorf("hatest: %s: %s has no command topic to publish to", service, uniqueID)
	}
	if err := h.publish(c.topic, c.payload, c.qos, c.retain); err != nil {
		return fmt.Errorf("hatest: %s %s: publish %q to %s: %w", service, uniqueID, c.payload, c.topic, err)
	}
	return nil
}

// noCommandTemplate refuses a config whose commands go through a template,
// which the double does not render.
func noCommandTemplate(p *parsed, service, key string) error {
	if t, ok := p.cfg[key]; ok {
		return fmt.Errorf("hatest: %s: %s has %s %v, which hatest does not render", service, p.uniqueID, key, t)
	}
	return nil
}

// TurnOn calls switch.turn_on or light.turn_on on the entity: a switch
// gets its payload_on ("ON"), a JSON light {"state":"ON"}, a default-schema
// light its payload_on.
func (h *HA) TurnOn(uniqueID string) error {
	return h.turn(uniqueID, true)
}

// TurnOff calls switch.turn_off or light.turn_off on the entity.
func (h *HA) TurnOff(uniqueID string) error {
	return h.turn(uniqueID, false)
}

func (h *HA) turn(uniqueID string, on bool) error {
	service := map[bool]string{true: "turn_on", false: "turn_off"}[on]
	p, c, err := h.target(uniqueID, service, "switch", "light")
	if err != nil {
		return err
	}
	switch {
	case p.component == "light" && lightSchema(p.cfg) == "json":
		c.payload = `{"state":"OFF"}`
		if on {
			c.payload = `{"state":"ON"}`
		}
	case p.component == "light" && lightSchema(p.cfg) != "basic":
		return fmt.Errorf("hatest: %s: %s is a light of schema %s, which hatest does not drive", service, uniqueID, lightSchema(p.cfg))
	default:
		if err := noCommandTemplate(p, service, "command_template"); err != nil {
			return err
		}
		c.payload = strOr(p.cfg, "payload_off", "OFF")
		if on {
			c.payload = strOr(p.cfg, "payload_on", "ON")
		}
	}
	return h.send(p.component+"."+service, uniqueID, c)
}

// LightOn calls light.turn_on with a brightness, 0–255 on Home Assistant's
// scale, on a JSON light that can be dimmed: it publishes
// {"state":"ON","brightness":N}, N scaled to the light's brightness_scale
// and at least 1. Brightness 0 turns the light off, as it does in Home
// Assistant. A light that cannot be dimmed is an error: Home Assistant
// would drop the brightness.
func (h *HA) LightOn(uniqueID string, brightness int) error {
	const service = "light.turn_on"
	if brightness < 0 || brightness > 255 {
		return fmt.Errorf("hatest: %s: brightness %d is outside 0 to 255", service, brightness)
	}
	p, c, err := h.target(uniqueID, service, "light")
	if err != nil {
		return err
	}
	switch {
	case lightSchema(p.cfg) != "json":
		return fmt.Errorf("hatest: %s: %s is a light of schema %s; hatest sets the brightness of JSON lights only", service, uniqueID, lightSchema(p.cfg))
	case !dimmable(p.cfg):
		return fmt.Errorf("hatest: %s: %s cannot be dimmed (color modes %s): Home Assistant would drop the brightness", service, uniqueID, strings.Join(colorModes(p.cfg), ", "))
	case brightness == 0:
		c.payload = `{"state":"OFF"}`
		return h.send(service, uniqueID, c)
	}
	scale, _ := cfgFloat(p.cfg, "brightness_scale", 255)
	n := max(int(math.RoundToEven(float64(brightness)*scale/255)), 1)
	c.payload = fmt.Sprintf(`{"state":"ON","brightness":%d}`, n)
	return h.send(service, uniqueID, c)
}

// Press calls button.press: the button's payload_press ("PRESS").
func (h *HA) Press(uniqueID string) error {
	const service = "button.press"
	p, c, err := h.target(uniqueID, service, "button")
	if err != nil {
		return err
	}
	if err := noCommandTemplate(p, service, "command_template"); err != nil {
		return err
	}
	c.payload = strOr(p.cfg, "payload_press", "PRESS")
	return h.send(service, uniqueID, c)
}

// SetNumber calls number.set_value: Home Assistant refuses a value outside
// [min, max] and publishes the value as Python prints it, a whole number
// without decimals ("21", "21.5").
func (h *HA) SetNumber(uniqueID string, v float64) error {
	const service = "number.set_value"
	p, c, err := h.target(uniqueID, service, "number")
	if err != nil {
		return err
	}
	lo, _ := cfgFloat(p.cfg, "min", 1)
	hi, _ := cfgFloat(p.cfg, "max", 100)
	if math.IsNaN(v) || v < lo || v > hi {
		return fmt.Errorf("hatest: %s: value %v for %s is outside valid range %s - %s", service, v, uniqueID, pyFloat(lo), pyFloat(hi))
	}
	if err := noCommandTemplate(p, service, "command_template"); err != nil {
		return err
	}
	c.payload = pyFloat(v)
	if v == math.Trunc(v) && !math.IsInf(v, 0) {
		c.payload = strconv.FormatFloat(v, 'f', 0, 64) // int(v) in Python
	}
	return h.send(service, uniqueID, c)
}

// SelectOption calls select.select_option: Home Assistant refuses an
// option that is not one of the entity's and publishes the option.
func (h *HA) SelectOption(uniqueID, option string) error {
	const service = "select.select_option"
	p, c, err := h.target(uniqueID, service, "select")
	if err != nil {
		return err
	}
	if opts := cfgStrings(p.cfg, "options"); !slices.Contains(opts, option) {
		return fmt.Errorf("hatest: %s: option %q is not one of %s's options %q", service, option, uniqueID, opts)
	}
	if err := noCommandTemplate(p, service, "command_template"); err != nil {
		return err
	}
	c.payload = option
	return h.send(service, uniqueID, c)
}

// OpenCover calls cover.open_cover: the cover's payload_open ("OPEN").
func (h *HA) OpenCover(uniqueID string) error {
	return h.coverCommand(uniqueID, "open_cover", "payload_open", "OPEN")
}

// CloseCover calls cover.close_cover: the cover's payload_close ("CLOSE").
func (h *HA) CloseCover(uniqueID string) error {
	return h.coverCommand(uniqueID, "close_cover", "payload_close", "CLOSE")
}

// StopCover calls cover.stop_cover: the cover's payload_stop ("STOP"). A
// cover whose payload_stop is null does not offer the service.
func (h *HA) StopCover(uniqueID string) error {
	return h.coverCommand(uniqueID, "stop_cover", "payload_stop", "STOP")
}

func (h *HA) coverCommand(uniqueID, service, key, def string) error {
	service = "cover." + service
	p, c, err := h.target(uniqueID, service, "cover")
	if err != nil {
		return err
	}
	raw, set := p.cfg[key]
	if c.topic == "" || set && raw == nil {
		return fmt.Errorf("hatest: %s: %s does not support it (%s is null, or there is no command_topic)", service, uniqueID, key)
	}
	c.payload = strOr(p.cfg, key, def)
	return h.send(service, uniqueID, c)
}

// SetCoverPosition calls cover.set_cover_position with a position from 0
// (closed) to 100 (open): Home Assistant publishes it, scaled to the
// cover's position_closed and position_open, on set_position_topic. A
// cover without a set_position_topic does not offer the service.
func (h *HA) SetCoverPosition(uniqueID string, position int) error {
	const service = "cover.set_cover_position"
	if position < 0 || position > 100 {
		return fmt.Errorf("hatest: %s: position %d is outside 0 to 100", service, position)
	}
	p, c, err := h.target(uniqueID, service, "cover")
	if err != nil {
		return err
	}
	if p.setPositionTopic == "" {
		return fmt.Errorf("hatest: %s: %s does not support it (no set_position_topic)", service, uniqueID)
	}
	if err := noCommandTemplate(p, service, "set_position_template"); err != nil {
		return err
	}
	openAt, _ := cfgFloat(p.cfg, "position_open", 100)
	closedAt, _ := cfgFloat(p.cfg, "position_closed", 0)
	n := int(math.RoundToEven((openAt-closedAt)*float64(position)/100)) + int(closedAt)
	c.topic, c.payload = p.setPositionTopic, strconv.Itoa(n)
	return h.send(service, uniqueID, c)
}

// Events returns the events the entity fired so far, in order; nil for an
// unknown entity.
func (h *HA) Events(uniqueID string) []Event {
	e, ok := h.Entity(uniqueID)
	if !ok {
		return nil
	}
	return e.Events
}

// WaitEvent waits for the entity's next event, the first one no earlier
// WaitEvent returned for, and fails if it is not of eventType. So two
// presses are two WaitEvent(uid, "press", …) calls, and an event of
// another type in between fails the second.
//
// An event published retained reaches a client already subscribed without
// its retain flag, so once the event arrived WaitEvent also asks the
// broker, with a client of its own, whether it holds a retained message on
// the event topic, and records a Problem if it does: Home Assistant
// ignores such an event whenever it subscribes again, and every other
// client that subscribes gets it as if it had just happened.
func (h *HA) WaitEvent(uniqueID, eventType string, timeout time.Duration) error {
	var exists bool
	var got, topic string
	ok := h.waitFor(timeout, func() bool {
		e := h.findLocked(uniqueID)
		exists = e != nil
		if !exists || e.st.matched >= len(e.st.events) {
			return false
		}
		got, topic = e.st.events[e.st.matched].Type, e.stateTopic
		e.st.matched++
		return true
	})
	if ok {
		switch found, err := retained(h.url, topic); {
		case err != nil:
			return fmt.Errorf("hatest: event %q of %s: %w", got, uniqueID, err)
		case found:
			h.problem("%s (%s): retained event: the broker keeps it and hands it to every client that subscribes; Home Assistant ignores it then", topic, uniqueID)
		}
	}
	switch {
	case ok && got == eventType:
		return nil
	case ok:
		return fmt.Errorf("hatest: %s fired event %q, want %q", uniqueID, got, eventType)
	case !exists:
		return fmt.Errorf("hatest: %w after %v waiting for event %q: no entity with unique_id %q", errTimeout, timeout, eventType, uniqueID)
	}
	return fmt.Errorf("hatest: %w after %v waiting for %s to fire %q; events so far: %v", errTimeout, timeout, uniqueID, eventType, h.Events(uniqueID))
}

// WaitEntity waits until the entity exists, the double has subscribed to
// all its topics, and cond holds for it. cond
// runs with the double locked: it must not call the double's methods.
// what describes the condition in the error.
func (h *HA) WaitEntity(uniqueID, what string, cond func(Entity) bool, timeout time.Duration) error {
	var last *Entity
	ok := h.waitFor(timeout, func() bool {
		e := h.findLocked(uniqueID)
		if e == nil {
			return false
		}
		snap := h.snapshotLocked(e)
		last = &snap
		return h.readyLocked(e) && cond(snap)
	})
	switch {
	case ok:
		return nil
	case last == nil:
		return fmt.Errorf("hatest: %w after %v waiting for %s: no entity with unique_id %q", errTimeout, timeout, what, uniqueID)
	}
	return fmt.Errorf("hatest: %w after %v waiting for %s to be %s: value %q, brightness %d, position %d, available %v, last state %q",
		errTimeout, timeout, uniqueID, what, last.Value, last.Brightness, last.Position, last.Available, last.State)
}

// WaitValue waits until the entity's state as Home Assistant holds it
// (Entity.Value: "on", "open", "21.5", Unknown) is want.
func (h *HA) WaitValue(uniqueID, want string, timeout time.Duration) error {
	return h.WaitEntity(uniqueID, fmt.Sprintf("%q", want), func(e Entity) bool { return e.Value == want }, timeout)
}

// WaitLight waits until the light is on or off as wanted and, if
// brightness is above 0, at that brightness (0–255).
func (h *HA) WaitLight(uniqueID string, on bool, brightness int, timeout time.Duration) error {
	want := map[bool]string{true: "on", false: "off"}[on]
	what := want
	if brightness > 0 {
		what = fmt.Sprintf("%s at brightness %d", want, brightness)
	}
	return h.WaitEntity(uniqueID, what, func(e Entity) bool {
		return e.Value == want && (brightness <= 0 || e.Brightness == brightness)
	}, timeout)
}

// WaitCover waits until the cover's state is state ("open", "closed",
// "opening", "closing") and, if position is 0 or more, its position is
// position.
func (h *HA) WaitCover(uniqueID, state string, position int, timeout time.Duration) error {
	what := fmt.Sprintf("%q", state)
	if position >= 0 {
		what = fmt.Sprintf("%q at position %d", state, position)
	}
	return h.WaitEntity(uniqueID, what, func(e Entity) bool {
		return e.Value == state && (position < 0 || e.Position == position)
	}, timeout)
}
