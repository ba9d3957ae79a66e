package agent

import (
	"bytes"
	"log/slog"
	"math"
	"sync"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
)

// stage is one step between what a driver reports and what is published:
// it may change the value, or drop it (false). Rounding is the first; the
// filters of the automation issue slot in after it, per entity, without
// drivers knowing.
type stage func(v drivers.Value) (drivers.Value, bool)

// roundStage rounds numbers to the decimals of a sensor's precision, so
// the value kept (and toggled, and filtered) is the one published.
func roundStage(decimals int) stage {
	p := math.Pow(10, float64(decimals))
	return func(v drivers.Value) (drivers.Value, bool) {
		if v.Kind == drivers.ValueNumber && !math.IsNaN(v.Num) && !math.IsInf(v.Num, 0) {
			v.Num = math.Round(v.Num*p) / p
		}
		return v, true
	}
}

// entityState is what the pipeline keeps of one entity.
type entityState struct {
	e         drivers.Entity
	device    string
	topic     string // state topic; "" for a stateless entity
	status    string // the entity's availability topic
	stages    []stage
	value     drivers.Value // the last value that went through the stages
	payload   []byte        // the last payload published (or queued)
	has       bool          // whether value and payload are set
	available bool          // false after Unavailable, until a State
	pubAvail  bool          // the availability last published
	pubKnown  bool          // whether one was published
}

// pipeline turns what devices report into messages in the outbox:
// driver → stages → formatted payload → dedupe → outbox. It holds no lock
// across network I/O: the publisher takes messages from the outbox on its
// own goroutine.
type pipeline struct {
	node discovery.Node
	out  *outbox
	log  *slog.Logger

	mu       sync.Mutex
	entities map[string]*entityState // device + "\x00" + entity
	order    []*entityState
	devices  map[string]*deviceState
	devOrder []string
	disabled map[string]bool // entities the config disables: their reports are dropped
	// observe, if set, is told each state accepted, under the lock (so it
	// must not block): the restorer remembers states across restarts.
	observe func(device, entity string, v drivers.Value)
}

// deviceState is a device's availability as published.
type deviceState struct {
	online bool
	known  bool
}

func newPipeline(node discovery.Node, out *outbox, log *slog.Logger) *pipeline {
	return &pipeline{node: node, out: out, log: log, entities: map[string]*entityState{}, devices: map[string]*deviceState{}, disabled: map[string]bool{}}
}

func entityKey(device, entity string) string { return device + "\x00" + entity }

// add registers a device's entities (already validated by discovery) and
// the ids of those the config disables.
func (p *pipeline) add(device string, entities []drivers.Entity, disabled []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range disabled {
		p.disabled[entityKey(device, id)] = true
	}
	p.devices[device] = &deviceState{}
	p.devOrder = append(p.devOrder, device)
	for _, e := range entities {
		es := &entityState{e: e, device: device, status: p.node.EntityStatusTopic(device, e.ID), available: true}
		if discovery.Stateful(e) {
			es.topic = p.node.StateTopic(device, e.ID)
		}
		if decimals, ok := discovery.Precision(e); ok {
			es.stages = append(es.stages, roundStage(decimals))
		}
		p.entities[entityKey(device, e.ID)] = es
		p.order = append(p.order, es)
	}
}

func (p *pipeline) lookup(device, entity string) *entityState {
	return p.entities[entityKey(device, entity)]
}

// state runs v through the entity's stages and queues it when its payload
// differs from the last one published, or always with force.
func (p *pipeline) state(device, entity string, v drivers.Value, force bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	es := p.lookup(device, entity)
	if es == nil && p.disabled[entityKey(device, entity)] {
		return
	}
	if es == nil || es.topic == "" {
		p.log.Warn("driver reported a state for an entity that has none or that it did not declare; ignored", "device", device, "entity", entity, "value", v)
		return
	}
	for _, st := range es.stages {
		var ok bool
		if v, ok = st(v); !ok {
			return
		}
	}
	payload, err := discovery.StatePayload(es.e, v)
	if err != nil {
		p.log.Warn("driver reported a state that does not fit its entity; ignored", "device", device, "entity", entity, "value", v, "err", err)
		return
	}
	changed := !es.has || !bytes.Equal(payload, es.payload)
	es.value, es.payload, es.has = v, payload, true
	if p.observe != nil {
		p.observe(device, entity, v)
	}
	es.available = true
	if es.pubKnown {
		p.syncAvailLocked(es)
	}
	if changed || force {
		p.out.put(message{topic: es.topic, payload: payload, retained: true})
	}
}

// event queues an event; events are never deduplicated or kept.
func (p *pipeline) event(device, entity, eventType string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	es := p.lookup(device, entity)
	if es == nil && p.disabled[entityKey(device, entity)] {
		return
	}
	if es == nil {
		p.log.Warn("driver reported an event for an entity it did not declare; ignored", "device", device, "entity", entity, "event_type", eventType)
		return
	}
	payload, err := discovery.EventPayload(es.e, eventType)
	if err != nil {
		p.log.Warn("driver reported an event its entity does not have; ignored", "device", device, "entity", entity, "event_type", eventType, "err", err)
		return
	}
	p.out.put(message{topic: p.node.StateTopic(device, entity), payload: payload, event: true})
}

// report says what became of a driver's report.
type report int

const (
	reportTaken    report = iota
	reportDisabled        // of an entity the config disables: dropped silently
	reportUnknown         // of an entity the driver did not declare
)

// unavailable marks one entity unavailable until its next state.
func (p *pipeline) unavailable(device, entity string) report {
	p.mu.Lock()
	defer p.mu.Unlock()
	es := p.lookup(device, entity)
	if es == nil {
		if p.disabled[entityKey(device, entity)] {
			return reportDisabled
		}
		return reportUnknown
	}
	es.available = false
	p.syncAvailLocked(es)
	return reportTaken
}

// syncAvailLocked publishes an entity's availability if it is not the
// one last published.
func (p *pipeline) syncAvailLocked(es *entityState) {
	if es.pubKnown && es.pubAvail == es.available {
		return
	}
	es.pubAvail, es.pubKnown = es.available, true
	p.out.put(message{topic: es.status, payload: []byte(statusPayload(es.available)), retained: true})
}

// opening marks a device's entities available before it is opened: an
// opening starts afresh, and what the driver reports unavailable during
// it stays so until its next state.
func (p *pipeline) opening(device string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, es := range p.order {
		if es.device == device {
			es.available = true
		}
	}
}

// last returns the entity's last value, for TOGGLE.
func (p *pipeline) last(device, entity string) (drivers.Value, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	es := p.lookup(device, entity)
	if es == nil || !es.has {
		return drivers.Value{}, false
	}
	return es.value, true
}

// republish queues every state a device has, so that a consumer that
// missed one catches up within an interval; with entity set, only that
// entity's.
func (p *pipeline) republish(device, entity string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, es := range p.order {
		if es.device == device && es.has && (entity == "" || es.e.ID == entity) {
			p.out.put(message{topic: es.topic, payload: es.payload, retained: true})
		}
	}
}

// deviceStatus publishes a device's availability when it changes; the
// first call always publishes, so a retained online of an earlier run
// does not outlive a device that fails now.
func (p *pipeline) deviceStatus(device string, online bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ds := p.devices[device]
	if ds == nil || ds.known && ds.online == online {
		return
	}
	ds.online, ds.known = online, true
	if online {
		// The entity topics go first, so that Home Assistant, which needs
		// all of node, device and entity online, never sees a stale one.
		for _, es := range p.order {
			if es.device == device {
				p.syncAvailLocked(es)
			}
		}
	}
	p.out.put(message{topic: p.node.DeviceStatusTopic(device), payload: []byte(statusPayload(online)), retained: true})
}

func statusPayload(online bool) string {
	if online {
		return discovery.PayloadOnline
	}
	return discovery.PayloadOffline
}

// restart queues first, then every availability and state known, before
// anything else in the outbox, for a (re)connection or Home Assistant's
// birth. The pipeline's lock is held throughout, so no state a worker
// reports meanwhile can be dropped for an older one of the snapshot.
func (p *pipeline) restart(first []message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out.restart(append(first, p.snapshotLocked()...))
}

// snapshotLocked returns every availability and state known, devices in
// config order and entities in the order their drivers declared them.
func (p *pipeline) snapshotLocked() []message {
	var msgs []message
	for _, id := range p.devOrder {
		if ds := p.devices[id]; ds.known {
			msgs = append(msgs, message{topic: p.node.DeviceStatusTopic(id), payload: []byte(statusPayload(ds.online)), retained: true})
		}
	}
	for _, es := range p.order {
		if es.pubKnown {
			msgs = append(msgs, message{topic: es.status, payload: []byte(statusPayload(es.pubAvail)), retained: true})
		}
	}
	for _, es := range p.order {
		if es.has {
			msgs = append(msgs, message{topic: es.topic, payload: es.payload, retained: true})
		}
	}
	return msgs
}

// topics returns every state and status topic of the configured devices,
// which the sweep of stale retained messages leaves alone.
func (p *pipeline) topics() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := map[string]bool{}
	for _, id := range p.devOrder {
		t[p.node.DeviceStatusTopic(id)] = true
	}
	for _, es := range p.order {
		t[es.status] = true
		t[p.node.StateTopic(es.device, es.e.ID)] = true
	}
	return t
}
