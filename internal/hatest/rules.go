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
	positionTopic               string // a cover's position_topic
	setPositionTopic            string // a cover's set_position_topic
	valueTpl, positionTpl       *template
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
	for _, key := range requiredKeys[c] {
		if _, ok := cfg[key]; !ok {
			p.reject("required key not provided: %s", key)
		}
	}
	p.stateTopic, _ = cfg["state_topic"].(string)
	p.commandTopic, _ = cfg["command_topic"].(string)
	p.positionTopic, _ = cfg["position_topic"].(string)
	p.setPositionTopic, _ = cfg["set_position_topic"].(string)
	if c == "light" {
		p.valueTpl = templateOption(p, cfg, "state_value_template")
	} else {
		p.valueTpl = templateOption(p, cfg, "value_template")
	}
	p.positionTpl = templateOption(p, cfg, "position_template")

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
	switch c {
	case "sensor":
		checkSensor(p, cfg)
	case "number":
		checkNumber(p, cfg)
	case "select":
		checkSelect(p, cfg)
	case "light":
		checkLight(p, cfg)
	case "cover":
		checkCover(p, cfg)
	case "event":
		checkEvent(p, cfg)
	}
	checkName(p, cfg)

	known, ok := platformKeys[c]
	if c == "light" {
		known, ok = lightKeys[lightSchema(cfg)]
	}
	if ok {
		for _, k := range slices.Sorted(maps.Keys(cfg)) {
			switch {
			case known[k]:
			case c == "light" && legacyLightKeys[k]:
				// reported by checkLight
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

// cvString reports whether Home Assistant's cv.string accepts v: anything
// but null, a list or an object; numbers and booleans become strings.
func cvString(v any) bool {
	switch v.(type) {
	case nil, []any, map[string]any:
		return false
	}
	return true
}

// requiredKeys are the options each platform cannot do without: the
// read-only platforms read a state topic, the read-write ones publish
// commands.
var requiredKeys = map[string][]string{
	"sensor":        {"state_topic"},
	"binary_sensor": {"state_topic"},
	"switch":        {"command_topic"},
	"button":        {"command_topic"},
	"number":        {"command_topic"},
	"select":        {"command_topic", "options"},
	"light":         {"command_topic"},
	"event":         {"state_topic", "event_types"},
}

// templateOption parses the template option key, if set. A template the
// double cannot evaluate is reported, since the states it reads then go
// unchecked.
func templateOption(p *parsed, cfg map[string]any, key string) *template {
	raw, ok := cfg[key]
	if !ok {
		return nil
	}
	s, ok := raw.(string)
	if !ok {
		p.reject("%s must be a template string, not %v", key, raw)
		return nil
	}
	t, err := parseTemplate(s)
	if err != nil {
		p.warn("%s: %v", key, err)
		return nil
	}
	return t
}

// floatOption reads option key as Home Assistant's vol.Coerce(float) does: a
// JSON number or a numeric string. It returns def when the key is absent.
func floatOption(p *parsed, cfg map[string]any, key string, def float64) (float64, bool) {
	raw, ok := cfg[key]
	if !ok {
		return def, true
	}
	var s string
	switch v := raw.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = strings.TrimSpace(v)
	default:
		p.reject("%s must be a number, not %v", key, raw)
		return def, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.reject("%s must be a number, not %v", key, raw)
		return def, false
	}
	return f, true
}

// intOption reads option key as vol.Coerce(int) with a lower bound.
func intOption(p *parsed, cfg map[string]any, key string, def, least int) int {
	f, ok := floatOption(p, cfg, key, float64(def))
	if !ok {
		return def
	}
	n := int(f) // Python's int() truncates
	if n < least {
		p.reject("%s %v must be at least %d", key, cfg[key], least)
		return def
	}
	return n
}

// boolOption checks option key as cv.boolean reads it.
func boolOption(p *parsed, cfg map[string]any, key string) {
	raw, ok := cfg[key]
	if !ok {
		return
	}
	switch v := raw.(type) {
	case bool:
	case json.Number:
		p.warn("%s is %v, not true or false", key, v)
	case string:
		switch strings.ToLower(v) {
		case "true", "yes", "on", "enable", "1", "false", "no", "off", "disable", "0":
			p.warn("%s is %q, not true or false", key, v)
		default:
			p.reject("%s %q is not a boolean", key, v)
		}
	default:
		p.reject("%s must be true or false, not %v", key, raw)
	}
}

// listOption reads option key as vol.All(cv.ensure_list, [cv.string]).
func listOption(p *parsed, cfg map[string]any, key string) ([]string, bool) {
	raw, ok := cfg[key]
	if !ok {
		return nil, false
	}
	items, ok := raw.([]any)
	if !ok {
		if raw == nil {
			return nil, true // ensure_list(None) is []
		}
		items = []any{raw}
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if !cvString(it) {
			p.reject("%s must be a list of strings, not %v", key, raw)
			return nil, false
		}
		out = append(out, pyStr(it))
	}
	return out, true
}

func checkNumber(p *parsed, cfg map[string]any) {
	lo, okLo := floatOption(p, cfg, "min", 1)
	hi, okHi := floatOption(p, cfg, "max", 100)
	step, okStep := floatOption(p, cfg, "step", 1)
	if okLo && okHi && hi <= lo {
		p.reject("'max' must be > 'min' (min %v, max %v)", lo, hi)
	}
	if okStep && step < 1e-3 {
		p.reject("step %v must be at least 0.001", step)
	}
	if v, ok := cfg["mode"]; ok {
		if s, _ := v.(string); s != "auto" && s != "box" && s != "slider" {
			p.reject("mode %v is not auto, box or slider", v)
		}
	}
	class, _ := cfg["device_class"].(string)
	unit, hasUnit := cfg["unit_of_measurement"].(string)
	if allowed, ok := enums.SensorUnits[strings.ToLower(class)]; ok && hasUnit && class != "" {
		names, _ := unitNames(allowed)
		if !slices.Contains(names, strings.ReplaceAll(unit, "\u00b5", "\u03bc")) {
			p.warn("the unit of measurement %q does not fit device class %s (Home Assistant expects one of %s)", unit, class, strings.Join(names, ", "))
		}
	}
}

func checkSelect(p *parsed, cfg map[string]any) {
	opts, ok := listOption(p, cfg, "options")
	if !ok {
		return
	}
	if len(opts) == 0 {
		p.warn("options is empty: the select can never have a state or be set")
	}
	seen := map[string]bool{}
	for _, o := range opts {
		if seen[o] {
			p.warn("option %q is listed twice", o)
		}
		seen[o] = true
		if strings.EqualFold(o, "none") {
			p.warn("option %q reads as unknown when it is the state", o)
		}
	}
}

func checkEvent(p *parsed, cfg map[string]any) {
	types, ok := listOption(p, cfg, "event_types")
	if ok && len(types) == 0 {
		p.warn("event_types is empty: every event will be refused as an invalid event type")
	}
}

// lightSchema is a light config's schema, lower-cased as Home Assistant
// reads it; "basic" when absent.
func lightSchema(cfg map[string]any) string {
	s, ok := cfg["schema"].(string)
	if !ok {
		return "basic"
	}
	return strings.ToLower(s)
}

func checkLight(p *parsed, cfg map[string]any) {
	schema := lightSchema(cfg)
	switch schema {
	case "basic", "json", "template":
	default:
		p.reject("schema %v is not basic, json or template", cfg["schema"])
		return
	}
	if schema != "json" {
		return
	}
	for _, key := range []string{"brightness", "color_temp_kelvin", "effect", "flash", "transition"} {
		boolOption(p, cfg, key)
	}
	intOption(p, cfg, "brightness_scale", 255, 1)
	intOption(p, cfg, "white_scale", 255, 1)
	intOption(p, cfg, "flash_time_long", 10, 0)
	intOption(p, cfg, "flash_time_short", 2, 0)
	if _, ok := cfg["supported_color_modes"]; ok {
		modes, ok := listOption(p, cfg, "supported_color_modes")
		if ok {
			if why := invalidColorModes(modes); why != "" {
				p.reject("Invalid supported_color_modes %q: %s", modes, why)
			}
		}
	}
	for _, legacy := range slices.Sorted(maps.Keys(legacyLightKeys)) {
		if _, ok := cfg[legacy]; ok {
			p.warn("%q was removed from the JSON light schema in 2025.3 and is ignored; use supported_color_modes", legacy)
		}
	}
}

// legacyLightKeys are the JSON light's color flags that Home Assistant
// 2025.3 removed in favour of supported_color_modes.
var legacyLightKeys = map[string]bool{"color_mode": true, "color_temp": true, "hs": true, "rgb": true, "xy": true}

// invalidColorModes is Home Assistant's valid_supported_color_modes: says
// what is wrong with modes, or "".
func invalidColorModes(modes []string) string {
	if len(modes) == 0 {
		return "the list is empty"
	}
	valid := set(enums.ValidColorModes)
	color := set(enums.ColorModesColor)
	seen := map[string]bool{}
	hasColor := false
	for _, m := range modes {
		switch {
		case !valid[m]:
			return fmt.Sprintf("%q is not a color mode (%s)", m, strings.Join(enums.ValidColorModes, ", "))
		case seen[m]:
			return fmt.Sprintf("%q is listed twice", m)
		}
		seen[m] = true
		hasColor = hasColor || color[m]
	}
	if (seen["onoff"] || seen["brightness"]) && len(modes) > 1 {
		return "onoff and brightness must be the only mode"
	}
	if seen["white"] && !hasColor {
		return "white needs a color mode beside it"
	}
	return ""
}

func checkCover(p *parsed, cfg map[string]any) {
	needs := [][2]string{
		{"set_position_topic", "position_topic"},
		{"value_template", "state_topic"},
		{"position_template", "position_topic"},
		{"set_position_template", "set_position_topic"},
		{"tilt_command_template", "tilt_command_topic"},
		{"tilt_status_template", "tilt_status_topic"},
	}
	for _, n := range needs {
		_, has := cfg[n[0]]
		_, needed := cfg[n[1]]
		if has && !needed {
			p.reject("%s needs %s", n[0], n[1])
		}
	}
	for _, key := range []string{"payload_open", "payload_close", "payload_stop", "payload_stop_tilt",
		"state_open", "state_opening", "state_closed", "state_closing", "state_stopped"} {
		v, ok := cfg[key]
		if !ok {
			continue
		}
		switch v.(type) {
		case string:
		case nil:
			if !strings.HasPrefix(key, "payload_") {
				p.reject("%s is null; it must be a string", key)
			}
		case bool, json.Number:
			p.warn("%s is %v, not a string: Home Assistant turns it into a string", key, v)
		default:
			p.reject("%s must be a string, not %T", key, v)
		}
	}
	open := intOption(p, cfg, "position_open", 100, math.MinInt)
	closed := intOption(p, cfg, "position_closed", 0, math.MinInt)
	if open == closed {
		p.reject("position_open and position_closed are both %d: no position can be worked out", open)
	}
	for _, key := range []string{"tilt_min", "tilt_max", "tilt_opened_value", "tilt_closed_value"} {
		intOption(p, cfg, key, 0, math.MinInt)
	}
	boolOption(p, cfg, "tilt_optimistic")
	if _, ok := cfg["command_topic"]; !ok {
		if _, ok := cfg["set_position_topic"]; !ok {
			p.warn("neither command_topic nor set_position_topic: the cover cannot be driven")
		}
	}
}
