package hatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// discoveryTopic is Home Assistant's discovery topic pattern, applied to
// the topic with "<prefix>/" removed.
var discoveryTopic = regexp.MustCompile(`^(\w+)/(?:([a-zA-Z0-9_-]+)/)?([a-zA-Z0-9_-]+)/config$`)

// entityObjectID is the part after the "." of a valid entity id.
var entityObjectID = regexp.MustCompile(`^[a-z0-9_]+$`)

// finding is one rule violation in a config. A rejecting finding keeps the
// entity out, as Home Assistant would; the others are what Home Assistant
// logs (or silently drops) while still adding the entity.
type finding struct {
	reason string
	reject bool
}

// availEntry is one availability topic with its payloads.
type availEntry struct {
	topic, on, off string
}

// parsed is a discovery message after Home Assistant's processing.
type parsed struct {
	component, nodeID, objectID string
	removal                     bool
	cfg                         map[string]any
	uniqueID                    string
	stateTopic, commandTopic    string
	avail                       []availEntry
	availMode                   string
	findings                    []finding
}

func (p *parsed) reject(format string, args ...any) {
	p.findings = append(p.findings, finding{reason: fmt.Sprintf(format, args...), reject: true})
}

func (p *parsed) warn(format string, args ...any) {
	p.findings = append(p.findings, finding{reason: fmt.Sprintf(format, args...)})
}

func (p *parsed) rejected() bool {
	return slices.ContainsFunc(p.findings, func(f finding) bool { return f.reject })
}

// parseConfig processes a message received on a discovery topic the way
// Home Assistant's discovery and platform schemas do, independently of
// package discovery.
func parseConfig(prefix, topic string, payload []byte) *parsed {
	p := &parsed{}
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	m := discoveryTopic.FindStringSubmatch(rest)
	if !ok || m == nil {
		p.reject("illegal discovery topic: the topic contains non allowed characters (node and object ids take [a-zA-Z0-9_-])")
		return p
	}
	p.component, p.nodeID, p.objectID = m[1], m[2], m[3]
	if p.component == "device" {
		p.reject("device-based discovery is not modelled by hatest")
		return p
	}
	if !supportedComponents[p.component] {
		p.reject("component %q is not one Home Assistant supports: it never subscribes to this topic", p.component)
		return p
	}
	if len(payload) == 0 {
		p.removal = true
		return p
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		p.reject("unable to parse JSON: %q", truncate(payload))
		return p
	}
	cfg, ok := v.(map[string]any)
	if !ok {
		p.reject("payload is not a JSON object: %q", truncate(payload))
		return p
	}
	if len(cfg) == 0 {
		p.removal = true // {} is falsy in Python: Home Assistant removes
		return p
	}
	expandAbbreviations(cfg)
	replaceTopicBase(p, cfg)
	p.cfg = cfg
	checkOrigin(p, cfg)
	checkEntity(p, cfg)
	return p
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// expandAbbreviations rewrites short keys to long ones in the root, the
// device, the origin and each availability entry; the short key wins when
// both are present, as in Home Assistant.
func expandAbbreviations(cfg map[string]any) {
	expand(cfg, abbr.Root)
	if d, ok := cfg["device"].(map[string]any); ok {
		expand(d, abbr.Device)
	}
	if o, ok := cfg["origin"].(map[string]any); ok {
		expand(o, abbr.Origin)
	}
	if list, ok := cfg["availability"].([]any); ok {
		for _, a := range list {
			if m, ok := a.(map[string]any); ok {
				expand(m, abbr.Root)
			}
		}
	}
}

func expand(m map[string]any, table map[string]string) {
	var shorts []string
	for k := range m {
		if long, ok := table[k]; ok && long != k {
			shorts = append(shorts, k)
		}
	}
	for _, k := range shorts {
		m[table[k]] = m[k]
		delete(m, k)
	}
}

// replaceTopicBase applies "~": a leading or trailing "~" in a key ending
// in "topic" (and in availability topics) becomes the base.
func replaceTopicBase(p *parsed, cfg map[string]any) {
	raw, ok := cfg["~"]
	if !ok {
		return
	}
	delete(cfg, "~")
	base, ok := raw.(string)
	if !ok {
		p.reject("~ must be a string")
		return
	}
	sub := func(v string) string {
		out := v
		if strings.HasPrefix(v, "~") {
			out = base + v[1:]
		}
		if strings.HasSuffix(v, "~") {
			out = v[:len(v)-1] + base
		}
		return out
	}
	for k, v := range cfg {
		if s, ok := v.(string); ok && s != "" && strings.HasSuffix(k, "topic") {
			cfg[k] = sub(s)
		}
	}
	if list, ok := cfg["availability"].([]any); ok {
		for _, a := range list {
			if m, ok := a.(map[string]any); ok {
				if s, ok := m["topic"].(string); ok && s != "" {
					m["topic"] = sub(s)
				}
			}
		}
	}
}

func checkOrigin(p *parsed, cfg map[string]any) {
	raw, ok := cfg["origin"]
	if !ok {
		return
	}
	o, ok := raw.(map[string]any)
	if !ok {
		p.reject("unable to parse origin information: origin is not an object")
		return
	}
	for _, k := range slices.Sorted(maps.Keys(o)) {
		if !originKeys[k] {
			p.reject("unable to parse origin information: extra key %q not allowed in origin", k)
		}
	}
	if name, ok := o["name"].(string); !ok || name == "" {
		p.reject("unable to parse origin information: origin needs a name")
	}
	if v, ok := o["sw_version"]; ok {
		if _, ok := v.(string); !ok {
			p.reject("unable to parse origin information: sw_version must be a string")
		}
	}
	if v, ok := o["support_url"]; ok {
		if s, _ := v.(string); !validURL(s, "http", "https", "homeassistant") {
			p.reject("unable to parse origin information: support_url %v is not an http, https or homeassistant URL", v)
		}
	}
}

func validURL(s string, schemes ...string) bool {
	u, err := url.Parse(s)
	return err == nil && slices.Contains(schemes, u.Scheme) && u.Host != ""
}

// stringKeys are options Home Assistant reads with cv.string; nullable ones
// also take JSON null.
var stringKeys = map[string]bool{
	"name": true, "device_class": true, "state_class": true, "unit_of_measurement": true,
	"unique_id": false, "default_entity_id": false, "icon": false, "entity_category": false,
	"availability_mode": false, "payload_available": false, "payload_not_available": false,
	"payload_on": false, "payload_off": false, "state_on": false, "state_off": false,
	"payload_press": false, "encoding": false, "value_template": false, "command_template": false,
	"json_attributes_template": false, "availability_template": false, "entity_picture": false,
}

func checkEntity(p *parsed, cfg map[string]any) {
	c := p.component
	for _, key := range slices.Sorted(maps.Keys(stringKeys)) {
		nullable := stringKeys[key]
		v, ok := cfg[key]
		if !ok {
			continue
		}
		switch v.(type) {
		case string:
		case nil:
			if !nullable {
				p.reject("%s is null; it must be a string", key)
			}
		case bool, json.Number:
			p.warn("%s is %v, not a string: Home Assistant turns it into a string, so %s compares as text", key, v, key)
		default:
			p.reject("%s must be a string, not %T", key, v)
		}
	}

	p.uniqueID, _ = cfg["unique_id"].(string)
	if p.uniqueID == "" && c != "device_automation" && c != "tag" {
		p.reject("unique_id missing: Home Assistant cannot register the entity, attach its device or restore it at startup")
	}

	checkTopics(p, cfg)
	switch c {
	case "sensor", "binary_sensor":
		if _, ok := cfg["state_topic"]; !ok {
			p.reject("required key not provided: state_topic")
		}
	case "switch", "button":
		if _, ok := cfg["command_topic"]; !ok {
			p.reject("required key not provided: command_topic")
		}
	}
	p.stateTopic, _ = cfg["state_topic"].(string)
	p.commandTopic, _ = cfg["command_topic"].(string)

	checkAvailability(p, cfg)
	checkDevice(p, cfg)

	if v, ok := cfg["entity_category"].(string); ok {
		switch {
		case v != "config" && v != "diagnostic":
			p.reject("entity_category %q is not config or diagnostic", v)
		case v == "config" && (c == "sensor" || c == "binary_sensor"):
			p.reject("entity_category config is not allowed on a %s (the entity cannot be added)", c)
		}
	}
	if v, ok := cfg["icon"].(string); ok && !strings.Contains(v, ":") {
		p.reject("icon %q must be written prefix:name", v)
	}
	if v, ok := cfg["qos"]; ok {
		if n, ok := v.(json.Number); !ok || (n != "0" && n != "1" && n != "2") {
			p.reject("qos %v is not 0, 1 or 2", v)
		}
	}
	for _, key := range []string{"enabled_by_default", "visible_by_default", "retain", "optimistic", "force_update"} {
		if v, ok := cfg[key]; ok {
			if _, ok := v.(bool); !ok {
				p.warn("%s is %v, not true or false", key, v)
			}
		}
	}
	if v, ok := cfg["default_entity_id"].(string); ok {
		obj, found := strings.CutPrefix(v, c+".")
		if !found || !entityObjectID.MatchString(obj) || strings.Contains(obj, "__") || strings.HasPrefix(obj, "_") || strings.HasSuffix(obj, "_") {
			p.warn("default_entity_id %q is not a valid %s entity id (%s.<lower-case letters, digits and single underscores>): Home Assistant will not use it", v, c, c)
		}
	}

	if classes, ok := deviceClasses[c]; ok {
		if v, ok := cfg["device_class"].(string); ok && !classes[strings.ToLower(v)] {
			p.reject("device_class %q is not valid for %s", v, c)
		}
	}
	if c == "event" {
		if v, ok := cfg["device_class"]; ok && v == nil {
			p.reject("device_class null is not accepted for an event")
		}
	}
	if c == "sensor" {
		checkSensor(p, cfg)
	}
	checkName(p, cfg)

	if known, ok := platformKeys[c]; ok {
		for _, k := range slices.Sorted(maps.Keys(cfg)) {
			switch {
			case known[k]:
			case k == "object_id":
				p.warn("object_id was removed in Home Assistant 2026.4 and is ignored; use default_entity_id %q", c+".<object_id>")
			default:
				p.warn("%q is not an option of %s: Home Assistant silently drops it", k, c)
			}
		}
	}
}

// checkTopics validates every option whose name ends in "topic".
func checkTopics(p *parsed, cfg map[string]any) {
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		v := cfg[k]
		if !strings.HasSuffix(k, "topic") {
			continue
		}
		s, ok := v.(string)
		if !ok {
			p.reject("%s must be a string topic, not %v", k, v)
			continue
		}
		if err := validTopic(s); err != nil {
			p.reject("%s %q: %v", k, s, err)
			continue
		}
		if publishTopicKey(k) {
			if strings.ContainsAny(s, "+#") {
				p.reject("%s %q: wildcards cannot be used in topic names", k, s)
			}
		} else if err := validFilter(s); err != nil {
			p.reject("%s %q: %v", k, s, err)
		}
	}
}

func publishTopicKey(k string) bool {
	return k == "command_topic" || strings.HasSuffix(k, "_command_topic") || slices.Contains(enums.PublishTopicKeys, k)
}

// validTopic is Home Assistant's valid_topic.
func validTopic(s string) error {
	if len(s) == 0 || len(s) > 65535 {
		return fmt.Errorf("topic must be 1 to 65535 bytes long")
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("topic is not valid UTF-8")
	}
	for _, r := range s {
		switch {
		case r <= 0x1f || r >= 0x7f && r <= 0x9f:
			return fmt.Errorf("topic contains a control character")
		case r >= 0xfdd0 && r <= 0xfdef || r&0xfffe == 0xfffe:
			return fmt.Errorf("topic contains a Unicode non-character")
		}
	}
	return nil
}

// validFilter checks that wildcards in a subscribe topic are well formed.
func validFilter(s string) error {
	levels := strings.Split(s, "/")
	for i, l := range levels {
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("single-level wildcard must occupy an entire level")
		}
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("multi-level wildcard must be the last character in the topic, after a /")
		}
	}
	return nil
}

func checkAvailability(p *parsed, cfg map[string]any) {
	_, hasList := cfg["availability"]
	_, hasTopic := cfg["availability_topic"]
	if hasList && hasTopic {
		p.reject("availability and availability_topic are mutually exclusive: two or more values in the same group of exclusion 'availability'")
		return
	}
	p.availMode = "latest"
	if v, ok := cfg["availability_mode"]; ok {
		s, _ := v.(string)
		if s != "all" && s != "any" && s != "latest" {
			p.reject("availability_mode %v is not all, any or latest", v)
		}
		p.availMode = s
	}
	if hasTopic {
		t, _ := cfg["availability_topic"].(string)
		p.avail = []availEntry{{topic: t, on: strOr(cfg, "payload_available", "online"), off: strOr(cfg, "payload_not_available", "offline")}}
		return
	}
	if !hasList {
		return
	}
	var entries []any
	switch v := cfg["availability"].(type) {
	case []any:
		entries = v
	case map[string]any:
		entries = []any{v}
	default:
		p.reject("availability must be a list of {topic: …} objects")
		return
	}
	for i, raw := range entries {
		e, ok := raw.(map[string]any)
		if !ok {
			p.reject("availability[%d] is not an object", i)
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(e)) {
			v := e[k]
			switch k {
			case "topic", "payload_available", "payload_not_available", "value_template":
				if _, ok := v.(string); !ok {
					p.reject("availability[%d].%s must be a string", i, k)
				}
			default:
				p.reject("availability[%d]: extra key %q not allowed", i, k)
			}
		}
		t, ok := e["topic"].(string)
		if !ok {
			p.reject("availability[%d]: required key not provided: topic", i)
			continue
		}
		if err := validTopic(t); err != nil {
			p.reject("availability[%d].topic %q: %v", i, t, err)
		} else if err := validFilter(t); err != nil {
			p.reject("availability[%d].topic %q: %v", i, t, err)
		}
		p.avail = append(p.avail, availEntry{topic: t, on: strOr(e, "payload_available", "online"), off: strOr(e, "payload_not_available", "offline")})
	}
}

func strOr(m map[string]any, key, def string) string {
	if s, ok := m[key].(string); ok {
		return s
	}
	return def
}

func checkDevice(p *parsed, cfg map[string]any) {
	raw, ok := cfg["device"]
	if !ok {
		return
	}
	d, ok := raw.(map[string]any)
	if !ok {
		p.reject("device must be an object")
		return
	}
	for _, k := range slices.Sorted(maps.Keys(d)) {
		v := d[k]
		if !deviceKeys[k] {
			p.reject("extra keys not allowed @ data['device'][%q]", k)
			continue
		}
		switch k {
		case "identifiers", "connections":
		case "configuration_url":
			if s, _ := v.(string); !validURL(s, "http", "https", "homeassistant") {
				p.reject("device configuration_url %v is not an http, https or homeassistant URL", v)
			}
		default:
			if !cvString(v) {
				p.reject("device %s must be a string", k)
			}
		}
	}
	identifying := false
	switch ids := d["identifiers"].(type) {
	case nil:
	case string:
		identifying = ids != ""
	case []any:
		for _, id := range ids {
			if !cvString(id) {
				p.reject("device identifiers must be strings")
				continue
			}
			identifying = identifying || fmt.Sprint(id) != ""
		}
	default:
		p.reject("device identifiers must be a string or a list of strings")
	}
	if raw, ok := d["connections"]; ok {
		conns, ok := raw.([]any)
		if !ok {
			p.reject("device connections must be a list of [type, id] lists")
		}
		for _, c := range conns {
			pair, ok := c.([]any)
			if !ok || len(pair) < 2 {
				p.reject("device connections must be a list of [type, id] lists, not %v", c)
				continue
			}
			identifying = true
		}
	}
	if !identifying {
		p.reject("device must have at least one identifying value in 'identifiers' and/or 'connections'")
	}
	if _, ok := d["name"]; !ok {
		p.warn("device has no name: MQTT device information always needs to include a name")
	}
}

func checkSensor(p *parsed, cfg map[string]any) {
	class, _ := cfg["device_class"].(string)
	class = strings.ToLower(class)
	unit, hasUnit := cfg["unit_of_measurement"].(string)
	if strings.TrimSpace(unit) == "" {
		hasUnit = false
	}
	stateClass, hasStateClass := cfg["state_class"].(string)
	stateClass = strings.ToLower(stateClass)
	if hasStateClass {
		switch stateClass {
		case "measurement", "measurement_angle", "total", "total_increasing":
		default:
			p.reject("state_class %q is not measurement, measurement_angle, total or total_increasing", stateClass)
		}
		if stateClass == "measurement_angle" && unit != "°" {
			p.reject("state_class measurement_angle needs unit °")
		}
	}
	if _, ok := cfg["last_reset_value_template"]; ok && stateClass != "total" {
		p.reject("last_reset_value_template needs state_class total")
	}
	if raw, ok := cfg["options"]; ok {
		opts, _ := raw.([]any)
		switch {
		case len(opts) == 0:
			p.reject("options must be a non-empty list")
		case hasStateClass || hasUnit:
			p.reject("options cannot be combined with state_class or unit_of_measurement")
		case class != "enum":
			p.reject("options need device_class enum")
		}
	}
	if v, ok := cfg["suggested_display_precision"]; ok {
		if n, ok := v.(json.Number); !ok || !isNonNegativeInt(n) {
			p.reject("suggested_display_precision %v is not an integer >= 0", v)
		}
	}
	if v, ok := cfg["expire_after"]; ok {
		if n, ok := v.(json.Number); !ok || !isNonNegativeInt(n) {
			p.reject("expire_after %v is not an integer >= 0", v)
		}
	}
	if class == "" || !deviceClasses["sensor"][class] {
		return
	}
	if allowed, ok := enums.SensorUnits[class]; ok {
		names, noUnit := unitNames(allowed)
		normalized := strings.ReplaceAll(unit, "\u00b5", "\u03bc")
		switch {
		case hasUnit && len(names) == 0:
			p.reject("the unit of measurement %q is not valid together with device class %s, which takes no unit", unit, class)
		case hasUnit && !slices.Contains(names, normalized):
			p.reject("the unit of measurement %q is not valid together with device class %s (valid: %s)", unit, class, strings.Join(names, ", "))
		case !hasUnit && !noUnit:
			p.warn("device class %s without a unit: Home Assistant expects one of %s", class, strings.Join(names, ", "))
		}
	}
	if nonNumericSensor[class] {
		if hasUnit {
			p.warn("device class %s is not numeric but has unit %q: Home Assistant raises on every state", class, unit)
		}
		if hasStateClass {
			p.warn("device class %s is not numeric but has state_class %s: Home Assistant raises on every state", class, stateClass)
		}
	}
}

func unitNames(allowed []*string) (names []string, noUnit bool) {
	for _, a := range allowed {
		if a == nil {
			noUnit = true
			continue
		}
		names = append(names, *a)
	}
	return names, noUnit
}

func isNonNegativeInt(n json.Number) bool {
	i, err := strconv.ParseInt(string(n), 10, 64)
	return err == nil && i >= 0
}

// checkName reports names Home Assistant would show oddly.
func checkName(p *parsed, cfg map[string]any) {
	name, ok := cfg["name"].(string)
	if !ok {
		return
	}
	dev, _ := cfg["device"].(map[string]any)
	devName, _ := dev["name"].(string)
	if devName != "" && strings.HasPrefix(strings.ToLower(name), strings.ToLower(devName)) {
		p.warn("entity name %q repeats the device name %q: Home Assistant shows the device name first already", name, devName)
	}
}

// friendlyName is the name Home Assistant shows for an entity: the device
// name followed by the entity's own name, the device name alone for
// "name": null, and a device-class or platform default when name is absent.
func friendlyName(component string, cfg map[string]any) string {
	dev, _ := cfg["device"].(map[string]any)
	devName, _ := dev["name"].(string)
	join := func(own string) string {
		if devName == "" {
			return own
		}
		return devName + " " + own
	}
	raw, present := cfg["name"]
	switch {
	case present && raw == nil:
		return devName
	case present:
		return join(fmt.Sprint(raw))
	}
	if class, ok := cfg["device_class"].(string); ok && class != "" && slices.Contains([]string{"sensor", "binary_sensor", "number", "button"}, component) {
		s := strings.ReplaceAll(strings.ToLower(class), "_", " ")
		return join(strings.ToUpper(s[:1]) + s[1:])
	}
	title := strings.ReplaceAll(component, "_", " ")
	return join("MQTT " + strings.ToUpper(title[:1]) + title[1:])
}

// stateFindings returns what Home Assistant would log for payload arriving
// on the state topic of an entity with config cfg.
func stateFindings(component string, cfg map[string]any, payload string) []string {
	if _, templated := cfg["value_template"]; templated {
		return nil // the double does not evaluate templates
	}
	switch component {
	case "binary_sensor", "switch":
		on, off := strOr(cfg, "payload_on", "ON"), strOr(cfg, "payload_off", "OFF")
		if component == "switch" {
			on, off = strOr(cfg, "state_on", on), strOr(cfg, "state_off", off)
		}
		if payload != on && payload != off && payload != "None" {
			return []string{fmt.Sprintf("state %q is neither %q nor %q: Home Assistant ignores it", payload, on, off)}
		}
	case "sensor":
		return sensorStateFindings(cfg, payload)
	}
	return nil
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

// cvString reports whether Home Assistant's cv.string accepts v: anything
// but null, a list or an object; numbers and booleans become strings.
func cvString(v any) bool {
	switch v.(type) {
	case nil, []any, map[string]any:
		return false
	}
	return true
}
