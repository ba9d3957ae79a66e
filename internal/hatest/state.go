package hatest

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Unknown is the state Home Assistant shows for an entity whose state it
// does not know: before the first state, and after a "None" (or a JSON
// null state).
const Unknown = "unknown"

// Event is one event an event entity fired.
type Event struct {
	// Type is the payload's event_type.
	Type string
	// Attributes are the payload's other keys, with numbers as
	// json.Number; nil when there are none.
	Attributes map[string]any
}

// haState is what Home Assistant holds for an entity, built from the
// messages on its state and position topics.
type haState struct {
	value      string  // the state, Unknown until one is known
	brightness int     // a light's brightness, 0–255; 0 when not known
	position   int     // a cover's position, 0–100; -1 when not known
	events     []Event // an event entity's events, in order
	matched    int     // how many of events WaitEvent has gone past
}

func newHAState() *haState { return &haState{value: Unknown, position: -1} }

// receive applies a message that arrived on topic to st, the way the
// entity Home Assistant builds from p's config would, and returns what
// Home Assistant would log about it. A cover's position topic is read
// before its state topic when both are the same topic, as Home Assistant
// subscribes them in that order.
func (p *parsed) receive(st *haState, topic, payload string, retained bool) []string {
	var out []string
	if p.component == "cover" && topic == p.positionTopic {
		out = append(out, p.coverPosition(st, payload)...)
	}
	if topic != p.stateTopic {
		return out
	}
	switch p.component {
	case "sensor":
		return append(out, p.sensorState(st, payload)...)
	case "binary_sensor", "switch":
		return append(out, p.onOffState(st, payload)...)
	case "number":
		return append(out, p.numberState(st, payload)...)
	case "select":
		return append(out, p.selectState(st, payload)...)
	case "light":
		return append(out, p.lightState(st, payload)...)
	case "cover":
		return append(out, p.coverState(st, payload)...)
	case "event":
		return append(out, p.eventMessage(st, payload, retained)...)
	}
	return out
}

// render applies the template t (nil for none) to payload.
func render(t *template, payload string) (string, []string) {
	if t == nil {
		return payload, nil
	}
	v, warning := t.render(payload)
	if warning != "" {
		return v, []string{warning}
	}
	return v, nil
}

func (p *parsed) sensorState(st *haState, payload string) []string {
	v, out := render(p.valueTpl, payload)
	if len(out) > 0 && v == "" {
		return out // the template's warning says it all
	}
	f := sensorStateFindings(p.cfg, v)
	if len(f) > 0 {
		return append(out, f...)
	}
	st.value = v
	if v == "None" {
		st.value = Unknown
	}
	return out
}

func sensorStateFindings(cfg map[string]any, payload string) []string {
	if payload == "None" {
		return nil // unknown
	}
	if payload == "" {
		return []string{"empty state: Home Assistant ignores it"}
	}
	var out []string
	if n := utf8.RuneCountInString(payload); n > 255 {
		out = append(out, fmt.Sprintf("state has %d characters: Home Assistant keeps at most 255", n))
	}
	class, _ := cfg["device_class"].(string)
	class = strings.ToLower(class)
	switch class {
	case "timestamp":
		if _, err := time.Parse(time.RFC3339, payload); err != nil {
			out = append(out, fmt.Sprintf("state %q is not an ISO 8601 timestamp with a time zone", payload))
		}
		return out
	case "date":
		if _, err := time.Parse(time.DateOnly, payload); err != nil {
			out = append(out, fmt.Sprintf("state %q is not an ISO 8601 date", payload))
		}
		return out
	}
	_, hasUnit := cfg["unit_of_measurement"].(string)
	_, hasStateClass := cfg["state_class"].(string)
	_, hasPrecision := cfg["suggested_display_precision"]
	numeric := hasUnit || hasStateClass || hasPrecision || class != "" && !nonNumericSensor[class]
	if numeric {
		f, err := strconv.ParseFloat(strings.TrimSpace(payload), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			out = append(out, fmt.Sprintf("state %q is not a number, but the sensor has a unit, a state class, a display precision or a numeric device class", payload))
		}
	}
	return out
}

// onOffState reads a binary sensor's or a switch's state.
func (p *parsed) onOffState(st *haState, payload string) []string {
	on, off := strOr(p.cfg, "payload_on", "ON"), strOr(p.cfg, "payload_off", "OFF")
	if p.component == "switch" {
		on, off = strOr(p.cfg, "state_on", on), strOr(p.cfg, "state_off", off)
	}
	return p.readOnOff(st, payload, on, off)
}

// readOnOff reads a state that is on, off or None (unknown).
func (p *parsed) readOnOff(st *haState, payload, on, off string) []string {
	v, out := render(p.valueTpl, payload)
	switch v {
	case on:
		st.value = "on"
	case off:
		st.value = "off"
	case "None":
		st.value = Unknown
	default:
		out = append(out, fmt.Sprintf("state %q is neither %q nor %q: Home Assistant ignores it", v, on, off))
	}
	return out
}

func (p *parsed) numberState(st *haState, payload string) []string {
	v, out := render(p.valueTpl, payload)
	if strings.EqualFold(v, strOr(p.cfg, "payload_reset", "None")) {
		st.value = Unknown
		return out
	}
	f, ok := pyNumeric(v)
	if !ok {
		return append(out, fmt.Sprintf("Payload '%s' is not a Number: Home Assistant ignores it", v))
	}
	lo, _ := cfgFloat(p.cfg, "min", 1)
	hi, _ := cfgFloat(p.cfg, "max", 100)
	if f < lo || f > hi {
		return append(out, fmt.Sprintf("Invalid value %s (range %s - %s): Home Assistant ignores it", v, pyFloat(lo), pyFloat(hi)))
	}
	if isDigits(v) {
		st.value = strconv.FormatFloat(f, 'f', -1, 64)
	} else {
		st.value = pyFloat(f)
	}
	return out
}

// pyNumeric reads v as Home Assistant's number does: int(v) if
// v.isnumeric(), else float(v).
func pyNumeric(v string) (float64, bool) {
	if isDigits(v) {
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, true // Python's float() gives inf too
		}
		return 0, false
	}
	return f, true
}

// isDigits is Python's str.isnumeric for ASCII: digits only, at least one.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// cfgFloat reads a number option of an accepted config.
func cfgFloat(cfg map[string]any, key string, def float64) (float64, bool) {
	var s string
	switch v := cfg[key].(type) {
	case nil:
		return def, false
	case string:
		s = strings.TrimSpace(v)
	default:
		s = fmt.Sprint(v)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return def, false
	}
	return f, true
}

func cfgStrings(cfg map[string]any, key string) []string {
	switch v := cfg[key].(type) {
	case []any:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = pyStr(s)
		}
		return out
	case nil:
		return nil
	default:
		return []string{pyStr(v)}
	}
}

func (p *parsed) selectState(st *haState, payload string) []string {
	v, out := render(p.valueTpl, payload)
	if strings.EqualFold(v, "none") {
		st.value = Unknown
		return out
	}
	opts := cfgStrings(p.cfg, "options")
	if !slices.Contains(opts, v) {
		return append(out, fmt.Sprintf("Invalid option '%s' (valid options: %s): Home Assistant ignores it", v, strings.Join(opts, ", ")))
	}
	st.value = v
	return out
}

// colorModes are the color modes a JSON light supports: its
// supported_color_modes, or brightness or on/off alone.
func colorModes(cfg map[string]any) []string {
	if modes := cfgStrings(cfg, "supported_color_modes"); len(modes) > 0 {
		return modes
	}
	if b, _ := cfg["brightness"].(bool); b {
		return []string{"brightness"}
	}
	return []string{"onoff"}
}

// dimmable is Home Assistant's brightness_supported.
func dimmable(cfg map[string]any) bool {
	return slices.ContainsFunc(colorModes(cfg), func(m string) bool { return m != "onoff" })
}

func (p *parsed) lightState(st *haState, payload string) []string {
	if lightSchema(p.cfg) != "json" {
		return p.basicLightState(st, payload)
	}
	v, ok := decodeJSON(payload)
	obj, isObj := v.(map[string]any)
	if !ok || !isObj {
		return []string{fmt.Sprintf("state %q is not a JSON object: Home Assistant's JSON light cannot read it", truncate([]byte(payload)))}
	}
	var out []string
	state, has := obj["state"]
	switch {
	case !has:
		return []string{fmt.Sprintf("state %s has no \"state\" key: Home Assistant's JSON light fails on it (KeyError) and reads nothing of it", payload)}
	case state == "ON":
		st.value = "on"
	case state == "OFF":
		st.value = "off"
	case state == nil:
		st.value = Unknown
	default:
		out = append(out, fmt.Sprintf("state %v is not \"ON\", \"OFF\" or null: Home Assistant leaves the light as it was", state))
	}
	raw, has := obj["brightness"]
	if !has || !dimmable(p.cfg) || !pyTruthy(raw) {
		return out // a zero brightness is ignored, as is one of a light that cannot dim
	}
	n, isNum := raw.(json.Number)
	f, err := strconv.ParseFloat(string(n), 64)
	if !isNum || err != nil {
		return append(out, fmt.Sprintf("Invalid brightness value '%s': Home Assistant ignores it", pyStr(raw)))
	}
	scale, _ := cfgFloat(p.cfg, "brightness_scale", 255)
	if !(f >= 0 && f <= scale) {
		// Home Assistant would scale it past 255 (or below 0); the
		// double keeps the last brightness that made sense.
		return append(out, fmt.Sprintf("brightness %s is outside 1 to the brightness_scale %s", pyStr(raw), pyFloat(scale)))
	}
	st.brightness = int(math.Floor(f * 255 / scale))
	return out
}

// pyTruthy is Python's truth value of a decoded JSON value.
func pyTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return err != nil || f != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// basicLightState reads the state of a light of the default schema, whose
// state topic carries payload_on or payload_off; its other state topics
// are not modelled.
func (p *parsed) basicLightState(st *haState, payload string) []string {
	if lightSchema(p.cfg) != "basic" {
		return nil // the template schema is not modelled
	}
	return p.readOnOff(st, payload, strOr(p.cfg, "payload_on", "ON"), strOr(p.cfg, "payload_off", "OFF"))
}

func (p *parsed) coverState(st *haState, payload string) []string {
	v, out := render(p.valueTpl, payload)
	if v == "" {
		return out // Home Assistant ignores an empty state
	}
	switch v {
	case strOr(p.cfg, "state_stopped", "stopped"):
		switch {
		case p.positionTopic != "" && st.position == 0:
			st.value = "closed"
		case p.positionTopic != "":
			st.value = "open"
		case st.value == "closed" || st.value == "closing":
			st.value = "closed"
		default:
			st.value = "open"
		}
	case strOr(p.cfg, "state_opening", "opening"):
		st.value = "opening"
	case strOr(p.cfg, "state_closing", "closing"):
		st.value = "closing"
	case strOr(p.cfg, "state_open", "open"):
		st.value = "open"
	case strOr(p.cfg, "state_closed", "closed"):
		st.value = "closed"
	case "None":
		st.value = Unknown
	default:
		out = append(out, fmt.Sprintf("Payload is not supported (e.g. open, closed, opening, closing, stopped): %s", v))
	}
	return out
}

func (p *parsed) coverPosition(st *haState, payload string) []string {
	v, out := render(p.positionTpl, payload)
	if v == "" {
		return out // Home Assistant ignores an empty position
	}
	if d, ok := decodeJSON(v); ok {
		if obj, isObj := d.(map[string]any); isObj && len(obj) > 0 {
			pos, has := obj["position"]
			if !has {
				return append(out, "Template (position_template) returned JSON without position attribute: Home Assistant ignores it")
			}
			v = pyStr(pos)
		}
	}
	if !isDigits(v) {
		return append(out, fmt.Sprintf("Payload '%s' is not numeric: Home Assistant ignores the position", v))
	}
	f, _ := strconv.ParseFloat(v, 64)
	openAt, _ := cfgFloat(p.cfg, "position_open", 100)
	closedAt, _ := cfgFloat(p.cfg, "position_closed", 0)
	pct := math.RoundToEven((f - closedAt) / (openAt - closedAt) * 100)
	st.position = int(min(max(pct, 0), 100))
	if p.stateTopic == "" {
		st.value = "open"
		if st.position == 0 {
			st.value = "closed"
		}
	}
	return out
}

func (p *parsed) eventMessage(st *haState, payload string, retained bool) []string {
	if retained {
		return []string{fmt.Sprintf("retained event %s: Home Assistant ignores events with the retain flag, and the broker hands it to every client that subscribes", truncate([]byte(payload)))}
	}
	v, out := render(p.valueTpl, payload)
	if v == "" {
		return out
	}
	d, ok := decodeJSON(v)
	obj, isObj := d.(map[string]any)
	typ, has := obj["event_type"]
	if !ok || !isObj || !has {
		return append(out, fmt.Sprintf("`event_type` missing in JSON event payload %q: Home Assistant ignores it", truncate([]byte(v))))
	}
	ev := Event{Type: pyStr(typ)}
	if types := cfgStrings(p.cfg, "event_types"); !slices.Contains(types, ev.Type) {
		return append(out, fmt.Sprintf("Invalid event type %s (event_types: %s): Home Assistant ignores it", ev.Type, strings.Join(types, ", ")))
	}
	if len(obj) > 1 {
		ev.Attributes = maps.Clone(obj)
		delete(ev.Attributes, "event_type")
	}
	st.events = append(st.events, ev)
	st.value = ev.Type
	return out
}
