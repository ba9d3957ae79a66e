// Package hatest is a Home Assistant double for integration tests: it
// connects to an MQTT broker, follows discovery the way Home Assistant's
// MQTT integration does, checks every config against Home Assistant's
// rules, holds each entity's state as Home Assistant would, and drives
// entities the way Home Assistant's services do.
//
// The checks are re-implemented here from the reference description of what
// Home Assistant accepts, on purpose independently of package discovery, so
// that a bug in discovery shows up as a Problem rather than being checked
// by the code that made it.
//
// Like Home Assistant, the double subscribes to the discovery topics, and
// to each entity's state, position and availability topics once it has
// seen the entity's config; a config Home Assistant would reject does not
// become an entity. Every violation, rejecting or merely logged by Home
// Assistant, is recorded in Problems, which a test asserts is empty.
//
// Components: sensor, binary_sensor, switch, button, number, select, event,
// cover and light (JSON schema in full, the default schema's on/off state)
// are modelled: their options are checked and their states read as Home
// Assistant reads them (Entity.Value, Brightness, Position; events in
// Events). Value templates of the form {{ value_json.key }} and
// {{ value }} are evaluated like Home Assistant's Jinja, including the
// warning it logs for an undefined key; any other template is reported as
// one the double cannot check. Other components get the common checks
// only. Device-based discovery (<prefix>/device/…) is not modelled.
//
// Driving entities: Command publishes a raw payload to an entity's command
// topic; TurnOn, TurnOff, LightOn, Press, SetNumber, SelectOption,
// OpenCover, CloseCover, StopCover and SetCoverPosition publish what Home
// Assistant's services publish, and refuse what Home Assistant would
// refuse (an unavailable entity, a value out of range, a feature the
// config does not offer).
package hatest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// opTimeout bounds every broker operation (connect, subscribe, publish).
// It is generous because tests run under -race on small machines; it is
// never waited out unless the broker is gone.
const opTimeout = 10 * time.Second

// Option configures New.
type Option func(*options)

type options struct {
	prefix     string
	birthTopic string
	clientID   string
}

// WithDiscoveryPrefix sets the discovery prefix (default "homeassistant").
// The birth topic follows it ("<prefix>/status") unless WithBirthTopic is
// given.
func WithDiscoveryPrefix(prefix string) Option {
	return func(o *options) { o.prefix = prefix }
}

// WithBirthTopic sets the topic SendBirth publishes to.
func WithBirthTopic(topic string) Option {
	return func(o *options) { o.birthTopic = topic }
}

// WithClientID sets the MQTT client id (default "hatest-<random>").
func WithClientID(id string) Option {
	return func(o *options) { o.clientID = id }
}

// Entity is an entity as the double sees it: its processed config, its
// current state and its availability.
type Entity struct {
	// Component is the platform: "sensor", "switch", …
	Component string
	// Topic is the discovery config topic.
	Topic string
	// NodeID and ObjectID are the parts of Topic.
	NodeID, ObjectID string
	// UniqueID is the config's unique_id.
	UniqueID string
	// Name is the config's name; "" when it is null or absent.
	Name string
	// FriendlyName is the name Home Assistant shows: the device name and
	// the entity name, or the device name alone for "name": null.
	FriendlyName string
	// DeviceName is the name in the config's device block.
	DeviceName string
	// StateTopic and CommandTopic are the entity's topics, "" if unset.
	StateTopic, CommandTopic string
	// Config is the payload after abbreviation expansion and "~"
	// replacement; numbers are json.Number.
	Config map[string]any
	// State is the last payload on StateTopic, raw; HasState is false
	// until one arrived.
	State    string
	HasState bool
	// Value is the state as Home Assistant holds it, read from the
	// payloads with the entity's config: "on" or "off" for a switch, a
	// binary sensor or a light; "open", "closed", "opening" or
	// "closing" for a cover; the number for a number ("21.5"); the
	// option for a select; the value for a sensor; the type of the last
	// event for an event. It is Unknown until a state arrived, after a
	// state Home Assistant reads as unknown, and for a button.
	Value string
	// Brightness is a light's brightness, 1–255 on Home Assistant's
	// scale, kept while the light is off; 0 until one arrived.
	Brightness int
	// Position is a cover's position, 0 (closed) to 100 (open); -1 until
	// one arrived or for a cover without a position.
	Position int
	// Events are the events an event entity fired, in order.
	Events []Event
	// Available is the availability as Home Assistant evaluates it from
	// the availability topics and availability_mode.
	Available bool
}

// entity is the double's record of an accepted config.
type entity struct {
	*parsed
	topic string
	st    *haState
}

// topicState is what arrived on one subscribed topic.
type topicState struct {
	last     string
	seen     bool
	retained bool // the last message had the retain flag
	// subscribed is set once the broker granted the subscription.
	subscribed bool
	n          int // messages received
	// seqOf is the sequence number of the last arrival of each distinct
	// payload, which is enough to evaluate availability in every mode.
	seqOf map[string]uint64
}

// HA is the Home Assistant double. Its methods are safe for concurrent use.
type HA struct {
	t      testing.TB
	url    string
	opts   options
	client mqtt.Client
	ready  chan struct{}
	subWG  sync.WaitGroup

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every change
	closed     bool
	seq        uint64
	entities   map[string]*entity // by config topic
	counts     map[string]int     // config messages received per topic
	problems   []string
	problemSet map[string]bool
	removed    []string
	topics     map[string]*topicState // by subscribed topic
}

// New connects a Home Assistant double to the broker at brokerURL
// ("tcp://127.0.0.1:1883") and subscribes to <prefix>/+/+/config and
// <prefix>/+/+/+/config, the discovery topics. It fails the test if the
// broker cannot be reached, and disconnects when the test ends.
func New(t testing.TB, brokerURL string, opts ...Option) *HA {
	t.Helper()
	o := options{prefix: "homeassistant"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.birthTopic == "" {
		o.birthTopic = o.prefix + "/status"
	}
	if o.clientID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		o.clientID = "hatest-" + hex.EncodeToString(b[:])
	}
	h := &HA{
		t:          t,
		url:        brokerURL,
		opts:       o,
		ready:      make(chan struct{}),
		changed:    make(chan struct{}),
		entities:   map[string]*entity{},
		counts:     map[string]int{},
		problemSet: map[string]bool{},
		topics:     map[string]*topicState{},
	}
	co := mqtt.NewClientOptions().
		AddBroker(brokerURL).
		SetClientID(o.clientID).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectTimeout(opTimeout).
		SetWriteTimeout(opTimeout).
		SetMaxReconnectInterval(time.Second).
		SetOnConnectHandler(h.onConnect)
	// OrderMatters stays true (the default): states on one topic must be
	// seen in the order they were published. The handlers never block;
	// subscribing happens on goroutines of its own.
	h.client = mqtt.NewClient(co)
	tok := h.client.Connect()
	if !tok.WaitTimeout(opTimeout) {
		t.Fatalf("hatest: connect to %s: timed out after %v", brokerURL, opTimeout)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("hatest: connect to %s: %v", brokerURL, err)
	}
	t.Cleanup(h.close)
	select {
	case <-h.ready:
	case <-time.After(2 * opTimeout):
		t.Fatalf("hatest: subscribe to discovery topics on %s: timed out", brokerURL)
	}
	return h
}

// close lets subscriptions in flight finish while the connection is still
// up (no new ones start once closed is set), then disconnects: a Subscribe
// racing a Disconnect would block in paho until its write timeout.
func (h *HA) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.subWG.Wait()
	h.client.Disconnect(250)
}

func (h *HA) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// onConnect (re)subscribes to discovery and to every topic seen so far, as
// Home Assistant does after a reconnect. paho runs it on its own goroutine.
func (h *HA) onConnect(c mqtt.Client) {
	filters := []string{h.opts.prefix + "/+/+/config", h.opts.prefix + "/+/+/+/config"}
	for _, f := range filters {
		if err := h.subscribe(f, h.onConfig); err != nil {
			h.problem("hatest: subscribe %s: %v", f, err)
		}
	}
	// A broker sends the SUBACK before it replays the retained messages
	// of the new subscription, so a config published right after New
	// returns could arrive twice: live and replayed. A broker handles one
	// client's packets in order, so once a QoS 1 publish sent after the
	// SUBSCRIBEs is acknowledged, the replay is done; New waits for that.
	if err := h.barrier(); err != nil {
		h.problem("hatest: publish subscription barrier: %v", err)
	}
	h.mu.Lock()
	topics := make([]string, 0, len(h.topics))
	for t := range h.topics {
		topics = append(topics, t)
	}
	h.mu.Unlock()
	for _, t := range topics {
		if err := h.subscribe(t, h.topicHandler(t)); err != nil {
			h.problem("hatest: subscribe %s: %v", t, err)
		}
	}
	select {
	case <-h.ready:
	default:
		close(h.ready)
	}
}

// subscribe subscribes and checks the broker's grant, retrying a refusal.
//
// A completed token with a nil Error does not mean the subscription
// exists: paho reports the broker's per-filter return code only in
// SubscribeToken.Result. mochi v2.7.9 refuses (0x80) a SUBSCRIBE whose
// packet id equals that of a QoS 1 message it is still delivering to the
// client (server.go, processSubscribe), which happens when retained states
// arrive while the double subscribes to further topics; the refusal is
// transient, so it is retried.
func (h *HA) subscribe(filter string, handler mqtt.MessageHandler) error {
	return subscribeGranted(h.client, map[string]byte{filter: 1}, handler, h.isClosed)
}

// subscribeGranted subscribes c to filters and retries while the broker
// refuses any of them, up to ten times or until stop says so.
func subscribeGranted(c mqtt.Client, filters map[string]byte, handler mqtt.MessageHandler, stop func() bool) error {
	const attempts = 10
	for i := 1; ; i++ {
		tok := c.SubscribeMultiple(filters, handler)
		if !tok.WaitTimeout(opTimeout) {
			return fmt.Errorf("timed out after %v", opTimeout)
		}
		if err := tok.Error(); err != nil {
			return err
		}
		refused, code := false, byte(0)
		result := tok.(*mqtt.SubscribeToken).Result()
		for f := range filters {
			if c, ok := result[f]; !ok || c > 2 {
				refused, code = true, c
			}
		}
		if !refused {
			return nil
		}
		if i == attempts || stop() {
			return fmt.Errorf("broker refused the subscription %d times (return code %#x)", i, code)
		}
		time.Sleep(time.Duration(i) * 10 * time.Millisecond)
	}
}

// Retained reports whether the broker at brokerURL holds a non-empty
// retained message on topic, as a client subscribing now would find it.
func Retained(t testing.TB, brokerURL, topic string) bool {
	t.Helper()
	found, err := retained(brokerURL, topic)
	if err != nil {
		t.Fatalf("hatest: %v", err)
	}
	return found
}

// retained probes the broker with a client of its own, which subscribes
// to topic and finds any retained message there.
func retained(brokerURL, topic string) (bool, error) {
	got := make(chan struct{}, 1)
	marker := make(chan struct{}, 1)
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := "hatest-probe-" + hex.EncodeToString(b[:])
	mt := "hatest/probe/" + id
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(id))
	if tok := c.Connect(); !tok.WaitTimeout(opTimeout) || tok.Error() != nil {
		return false, fmt.Errorf("probe connect to %s: %v", brokerURL, tok.Error())
	}
	defer c.Disconnect(0)
	handler := func(_ mqtt.Client, m mqtt.Message) {
		ch := got
		switch {
		case m.Topic() == mt:
			ch = marker
		case !m.Retained() || len(m.Payload()) == 0:
			return
		}
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	if err := subscribeGranted(c, map[string]byte{topic: 1, mt: 1}, handler, func() bool { return false }); err != nil {
		return false, fmt.Errorf("probe subscribe to %s: %w", topic, err)
	}
	// Retained messages are sent right after the subscription is granted;
	// a QoS 1 round trip on the probe's own topic marks the end of that
	// replay.
	if tok := c.Publish(mt, 1, false, "x"); !tok.WaitTimeout(opTimeout) || tok.Error() != nil {
		return false, fmt.Errorf("probe publish: %v", tok.Error())
	}
	select {
	case <-marker:
	case <-time.After(opTimeout):
		return false, fmt.Errorf("probe: its own message on %s did not come back", mt)
	}
	select {
	case <-got:
		return true, nil
	default:
		return false, nil
	}
}

// problem records a violation once; republished configs repeat theirs.
func (h *HA) problem(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.addProblemLocked(fmt.Sprintf(format, args...))
}

func (h *HA) addProblemLocked(p string) {
	if h.closed || h.problemSet[p] {
		return
	}
	h.problemSet[p] = true
	h.problems = append(h.problems, p)
	h.notifyLocked()
}

func (h *HA) notifyLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// onConfig handles a message on a discovery topic.
func (h *HA) onConfig(_ mqtt.Client, msg mqtt.Message) {
	topic := msg.Topic()
	p := parseConfig(h.opts.prefix, topic, msg.Payload())

	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[topic]++
	h.notifyLocked()
	for _, f := range p.findings {
		h.addProblemLocked(topic + ": " + f.reason)
	}
	if p.removal {
		h.removed = append(h.removed, topic)
		delete(h.entities, topic)
		return
	}
	if p.rejected() {
		return // Home Assistant keeps the previous config, if any
	}
	for other, e := range h.entities {
		if other != topic && e.component == p.component && e.uniqueID == p.uniqueID {
			h.addProblemLocked(fmt.Sprintf("%s: unique_id %q is already used by %s: Home Assistant does not add this entity", topic, p.uniqueID, other))
			return
		}
	}
	// Home Assistant matches devices by identifier: two device blocks
	// that share one are one device, whatever their names say, which is
	// what ids that collide across nodes or devices look like.
	ids, name := deviceIdentity(p.cfg)
	for other, e := range h.entities {
		otherIDs, otherName := deviceIdentity(e.cfg)
		for _, id := range ids {
			if other != topic && slices.Contains(otherIDs, id) && otherName != name {
				h.addProblemLocked(fmt.Sprintf("%s: device identifier %q is also the identifier of device %q (%s): Home Assistant merges them into one device", topic, id, otherName, other))
			}
		}
	}
	st := newHAState()
	if old, ok := h.entities[topic]; ok {
		// An update of the same entity: Home Assistant keeps its
		// history, so the events seen so far stay.
		st.events, st.matched = old.st.events, old.st.matched
	}
	e := &entity{parsed: p, topic: topic, st: st}
	h.entities[topic] = e

	// Subscribe to the entity's topics, as Home Assistant does when it
	// adds the entity. A topic already subscribed has its last message
	// here already; it is read with this entity's config, as Home
	// Assistant reads the retained message again, which catches a
	// retained state that does not fit a changed config. An event is
	// not replayed: Home Assistant ignores retained events.
	want := []string{}
	for _, t := range []string{p.positionTopic, p.stateTopic} {
		if t != "" && !slices.Contains(want, t) {
			want = append(want, t)
		}
	}
	for _, a := range p.avail {
		want = append(want, a.topic)
	}
	for _, t := range want {
		if ts, ok := h.topics[t]; ok {
			if ts.seen && p.component != "event" && (t == p.stateTopic || t == p.positionTopic) {
				for _, f := range p.receive(st, t, ts.last, ts.retained) {
					h.addProblemLocked(fmt.Sprintf("%s (%s): %s", t, p.uniqueID, f))
				}
			}
			continue
		}
		h.topics[t] = &topicState{seqOf: map[string]uint64{}}
		if h.closed {
			continue
		}
		h.subWG.Add(1)
		go func() {
			defer h.subWG.Done()
			if err := h.subscribe(t, h.topicHandler(t)); err != nil {
				h.problem("hatest: subscribe %s: %v", t, err)
				return
			}
			h.mu.Lock()
			h.topics[t].subscribed = true
			h.notifyLocked()
			h.mu.Unlock()
		}()
	}
}

// deviceIdentity returns the identifiers and the name of a config's
// device block.
func deviceIdentity(cfg map[string]any) (ids []string, name string) {
	d, _ := cfg["device"].(map[string]any)
	switch v := d["identifiers"].(type) {
	case string:
		ids = []string{v}
	case []any:
		for _, id := range v {
			ids = append(ids, pyStr(id))
		}
	}
	name, _ = d["name"].(string)
	return ids, name
}

// readyLocked reports whether the double has subscribed to every topic of
// e, so that it sees whatever is published there from now on.
func (h *HA) readyLocked(e *entity) bool {
	for _, t := range []string{e.stateTopic, e.positionTopic} {
		if ts := h.topics[t]; t != "" && (ts == nil || !ts.subscribed) {
			return false
		}
	}
	for _, a := range e.avail {
		if ts := h.topics[a.topic]; ts == nil || !ts.subscribed {
			return false
		}
	}
	return true
}

// topicHandler records what arrives on a subscribed state, position or
// availability topic and has every entity that reads the topic read it.
func (h *HA) topicHandler(filter string) mqtt.MessageHandler {
	return func(_ mqtt.Client, msg mqtt.Message) {
		payload := string(msg.Payload())
		h.mu.Lock()
		defer h.mu.Unlock()
		ts := h.topics[filter]
		h.seq++
		ts.last, ts.seen, ts.retained = payload, true, msg.Retained()
		ts.n++
		ts.seqOf[payload] = h.seq
		h.notifyLocked()
		for _, e := range h.entities {
			if e.stateTopic != filter && e.positionTopic != filter {
				continue
			}
			for _, f := range e.receive(e.st, filter, payload, msg.Retained()) {
				h.addProblemLocked(fmt.Sprintf("%s (%s): %s", filter, e.uniqueID, f))
			}
		}
	}
}

// availableLocked evaluates e's availability like Home Assistant: with no
// availability configured it is available; otherwise each topic counts as
// available once its last matching payload was payload_available, combined
// with availability_mode.
func (h *HA) availableLocked(e *entity) bool {
	if len(e.avail) == 0 {
		return true
	}
	var latestSeq uint64
	latest := false
	all, some := true, false
	for _, a := range e.avail {
		ts := h.topics[a.topic]
		var on, off uint64
		if ts != nil {
			on, off = ts.seqOf[a.on], ts.seqOf[a.off]
		}
		up := on > off
		all = all && up
		some = some || up
		if on > latestSeq {
			latestSeq, latest = on, true
		}
		if off > latestSeq {
			latestSeq, latest = off, false
		}
	}
	switch e.availMode {
	case "all":
		return all
	case "any":
		return some
	}
	return latest
}

func (h *HA) snapshotLocked(e *entity) Entity {
	out := Entity{
		Component:    e.component,
		Topic:        e.topic,
		NodeID:       e.nodeID,
		ObjectID:     e.objectID,
		UniqueID:     e.uniqueID,
		FriendlyName: friendlyName(e.component, e.cfg),
		StateTopic:   e.stateTopic,
		CommandTopic: e.commandTopic,
		Config:       deepCopy(e.cfg).(map[string]any),
		Value:        e.st.value,
		Brightness:   e.st.brightness,
		Position:     e.st.position,
		Available:    h.availableLocked(e),
	}
	for _, ev := range e.st.events {
		if ev.Attributes != nil {
			ev.Attributes = deepCopy(ev.Attributes).(map[string]any)
		}
		out.Events = append(out.Events, ev)
	}
	out.Name, _ = e.cfg["name"].(string)
	if d, ok := e.cfg["device"].(map[string]any); ok {
		out.DeviceName, _ = d["name"].(string)
	}
	if ts := h.topics[e.stateTopic]; ts != nil && ts.seen {
		out.State, out.HasState = ts.last, true
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = deepCopy(v)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, v := range x {
			s[i] = deepCopy(v)
		}
		return s
	}
	return v
}

// Entities returns every entity Home Assistant would have, sorted by config
// topic.
func (h *HA) Entities() []Entity {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Entity, 0, len(h.entities))
	for _, e := range h.entities {
		out = append(out, h.snapshotLocked(e))
	}
	slices.SortFunc(out, func(a, b Entity) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// Entity returns the entity with the unique id. Unique ids are unique per
// platform only; if two platforms share one, the first by config topic is
// returned.
func (h *HA) Entity(uniqueID string) (Entity, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.findLocked(uniqueID)
	if e == nil {
		return Entity{}, false
	}
	return h.snapshotLocked(e), true
}

func (h *HA) findLocked(uniqueID string) *entity {
	var found *entity
	for _, e := range h.entities {
		if e.uniqueID == uniqueID && (found == nil || e.topic < found.topic) {
			found = e
		}
	}
	return found
}

// Problems returns every rule violation seen, each once, as
// "<topic>: <reason>", in the order they were found.
func (h *HA) Problems() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.problems)
}

// Removed returns the config topics that received an empty payload (or
// "{}"), which Home Assistant takes as a removal, in arrival order.
func (h *HA) Removed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.removed)
}

// ConfigCount returns how many messages arrived on a config topic,
// removals included; a republish on birth increments it.
func (h *HA) ConfigCount(topic string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[topic]
}

// StateCount returns how many messages arrived on the state topic of the
// entity with uniqueID, retained or not; 0 for an unknown entity.
func (h *HA) StateCount(uniqueID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.findLocked(uniqueID)
	if e == nil {
		return 0
	}
	if ts := h.topics[e.stateTopic]; ts != nil {
		return ts.n
	}
	return 0
}

// Publish publishes payload to topic at QoS 0, as someone at a shell does
// with mosquitto_pub (-r for retain), and returns once the broker has
// processed it (stored it, if retained). Its messages and the double's
// commands keep their order.
func (h *HA) Publish(topic, payload string, retain bool) error {
	if err := h.publish(topic, payload, 0, retain); err != nil {
		return fmt.Errorf("hatest: publish %q to %s: %w", payload, topic, err)
	}
	return nil
}

// SendBirth publishes Home Assistant's birth message, "online" on the
// birth topic, QoS 0 and not retained, as Home Assistant does by default
// when it (re)starts.
func (h *HA) SendBirth() {
	if err := h.publish(h.opts.birthTopic, "online", 0, false); err != nil {
		h.t.Errorf("hatest: send birth: %v", err)
	}
}

// Command publishes payload to the entity's command_topic with the entity's
// qos and retain options, as Home Assistant does when a user flips a switch,
// and returns once the broker has processed it.
func (h *HA) Command(uniqueID, payload string) error {
	h.mu.Lock()
	e := h.findLocked(uniqueID)
	var topic string
	var qos byte
	var retain bool
	if e != nil {
		topic = e.commandTopic
		if n, ok := e.cfg["qos"].(json.Number); ok {
			q, _ := n.Int64()
			qos = byte(q)
		}
		retain, _ = e.cfg["retain"].(bool)
	}
	h.mu.Unlock()
	switch {
	case e == nil:
		return fmt.Errorf("hatest: command %q: no entity with unique_id %q", payload, uniqueID)
	case topic == "":
		return fmt.Errorf("hatest: command %q: entity %q has no command_topic", payload, uniqueID)
	}
	if err := h.publish(topic, payload, qos, retain); err != nil {
		return fmt.Errorf("hatest: command %q to %s: %w", payload, topic, err)
	}
	return nil
}

// publish publishes and returns once the broker has processed the
// message: stored it if retained, and passed it on to the subscribers'
// queues. A QoS 0 publish completes when it is written, so a QoS 1
// publish on the double's own barrier topic follows it: a broker handles
// a client's packets in order, so its PUBACK comes after the first
// message was handled.
//
// Every message the double sends to pinion goes at the QoS Home Assistant
// uses, 0 unless a config sets qos: a broker keeps the order of one
// client's messages only within a QoS (Mosquitto sends a QoS 0 message at
// once while a QoS 1 message before it waits for an inflight slot), and
// tests publish a retained command and then a command to the same topic.
func (h *HA) publish(topic, payload string, qos byte, retain bool) error {
	tok := h.client.Publish(topic, qos, retain, payload)
	if !tok.WaitTimeout(opTimeout) {
		return fmt.Errorf("publish to %s: timed out after %v", topic, opTimeout)
	}
	if err := tok.Error(); err != nil || qos > 0 {
		return err
	}
	return h.barrier()
}

// barrier publishes at QoS 1 on the double's own topic, which nobody else
// reads, and waits for the acknowledgement.
func (h *HA) barrier() error {
	topic := "hatest/" + h.opts.clientID + "/barrier"
	tok := h.client.Publish(topic, 1, false, "")
	if !tok.WaitTimeout(opTimeout) {
		return fmt.Errorf("publish to %s: timed out after %v", topic, opTimeout)
	}
	return tok.Error()
}

// errTimeout is wrapped by every Wait method's error.
var errTimeout = errors.New("timed out")

// waitFor polls cond, under the lock, on every change until it holds or
// timeout passes.
func (h *HA) waitFor(timeout time.Duration, cond func() bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		h.mu.Lock()
		ok := cond()
		ch := h.changed
		h.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			h.mu.Lock()
			ok = cond()
			h.mu.Unlock()
			return ok
		}
	}
}

// WaitEntities waits until at least n valid configs (entities) are known
// and the double has subscribed to all their topics: a state or an event
// published after it returns is seen.
func (h *HA) WaitEntities(n int, timeout time.Duration) error {
	var got int
	ready := func() bool {
		got = 0
		for _, e := range h.entities {
			if h.readyLocked(e) {
				got++
			}
		}
		return got >= n
	}
	if h.waitFor(timeout, ready) {
		return nil
	}
	return fmt.Errorf("hatest: %w after %v waiting for %d entities: have %d (subscribed to all their topics); problems: %q", errTimeout, timeout, n, got, h.Problems())
}

// WaitState waits until the entity exists and its state topic's last
// payload is want, byte for byte ("ON", "21.5"). For the state as Home
// Assistant reads it (a JSON light's or cover's, a templated one), use
// WaitValue, WaitLight or WaitCover.
func (h *HA) WaitState(uniqueID, want string, timeout time.Duration) error {
	var last string
	var exists bool
	ok := h.waitFor(timeout, func() bool {
		e := h.findLocked(uniqueID)
		exists = e != nil
		if !exists {
			return false
		}
		ts := h.topics[e.stateTopic]
		if ts == nil || !ts.seen {
			last = "(no state yet)"
			return false
		}
		last = fmt.Sprintf("%q", ts.last)
		return ts.last == want
	})
	switch {
	case ok:
		return nil
	case !exists:
		return fmt.Errorf("hatest: %w after %v waiting for state %q: no entity with unique_id %q", errTimeout, timeout, want, uniqueID)
	}
	return fmt.Errorf("hatest: %w after %v waiting for %s to have state %q: last state %s", errTimeout, timeout, uniqueID, want, last)
}

// WaitAvailable waits until the entity exists, the double has subscribed
// to all its topics, and its availability, as Home Assistant evaluates
// it, is want.
func (h *HA) WaitAvailable(uniqueID string, want bool, timeout time.Duration) error {
	var exists bool
	ok := h.waitFor(timeout, func() bool {
		e := h.findLocked(uniqueID)
		exists = e != nil
		return exists && h.readyLocked(e) && h.availableLocked(e) == want
	})
	switch {
	case ok:
		return nil
	case !exists:
		return fmt.Errorf("hatest: %w after %v waiting for availability %v: no entity with unique_id %q", errTimeout, timeout, want, uniqueID)
	}
	return fmt.Errorf("hatest: %w after %v waiting for %s to be available=%v", errTimeout, timeout, uniqueID, want)
}

// WaitNumericState waits until the entity exists and its state is a finite
// number, as a sensor reports once it has a reading.
func (h *HA) WaitNumericState(uniqueID string, timeout time.Duration) error {
	last := "(no entity)"
	ok := h.waitFor(timeout, func() bool {
		e := h.findLocked(uniqueID)
		if e == nil {
			return false
		}
		ts := h.topics[e.stateTopic]
		if ts == nil || !ts.seen {
			last = "(no state yet)"
			return false
		}
		last = fmt.Sprintf("%q", ts.last)
		f, err := strconv.ParseFloat(ts.last, 64)
		return err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	})
	if ok {
		return nil
	}
	return fmt.Errorf("hatest: %w after %v waiting for %s to have a numeric state: last state %s", errTimeout, timeout, uniqueID, last)
}

// WaitConfigCount waits until at least n messages arrived on a config
// topic; with n = ConfigCount(topic)+1 it waits for a republish.
func (h *HA) WaitConfigCount(topic string, n int, timeout time.Duration) error {
	var got int
	if h.waitFor(timeout, func() bool { got = h.counts[topic]; return got >= n }) {
		return nil
	}
	return fmt.Errorf("hatest: %w after %v waiting for %d messages on %s: have %d", errTimeout, timeout, n, topic, got)
}

// WaitRemoved waits until the config topic received a removal (an empty
// payload).
func (h *HA) WaitRemoved(topic string, timeout time.Duration) error {
	if h.waitFor(timeout, func() bool { return slices.Contains(h.removed, topic) }) {
		return nil
	}
	return fmt.Errorf("hatest: %w after %v waiting for %s to be removed; removed: %q", errTimeout, timeout, topic, h.Removed())
}
