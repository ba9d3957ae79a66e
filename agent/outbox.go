package agent

import "sync"

// message is one MQTT publish the agent makes.
type message struct {
	topic    string
	payload  []byte
	retained bool
	event    bool // never coalesced with another message of its topic
}

// maxPendingEvents bounds the events kept while the broker cannot take
// them; states need no bound, one per topic.
const maxPendingEvents = 256

// outbox holds what is to be published, for the one publisher goroutine.
// A state replaces a pending state of the same topic (latest value wins),
// so a broker that stalls costs memory per topic, not per reading, and
// the hardware side never waits for the network. Events queue in order.
type outbox struct {
	mu      sync.Mutex
	queue   []*message          // in publishing order
	pending map[string]*message // the queued state of each topic
	dropped int                 // events dropped since the last report
	closed  bool
	wake    chan struct{}
}

func newOutbox() *outbox {
	return &outbox{pending: map[string]*message{}, wake: make(chan struct{}, 1)}
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// put queues m. A state whose topic is already queued takes that place
// with the new payload.
func (o *outbox) put(m message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	if m.event {
		n := 0
		for _, q := range o.queue {
			if q.event {
				n++
			}
		}
		if n >= maxPendingEvents {
			o.dropOldestEventLocked()
		}
		o.queue = append(o.queue, &m)
		o.signal()
		return
	}
	if q, ok := o.pending[m.topic]; ok {
		q.payload, q.retained = m.payload, m.retained
		return
	}
	o.pending[m.topic] = &m
	o.queue = append(o.queue, &m)
	o.signal()
}

func (o *outbox) dropOldestEventLocked() {
	for i, q := range o.queue {
		if q.event {
			o.queue = append(o.queue[:i], o.queue[i+1:]...)
			o.dropped++
			return
		}
	}
}

// putBack queues ms, in their order, before everything else: the events
// a connection could not publish, which go first at the next one.
func (o *outbox) putBack(ms []message) {
	if len(ms) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	q := make([]*message, 0, len(ms)+len(o.queue))
	for i := range ms {
		m := ms[i]
		if !m.event {
			if _, ok := o.pending[m.topic]; ok {
				continue // a newer state is queued already
			}
			o.pending[m.topic] = &m
		}
		q = append(q, &m)
	}
	o.queue = append(q, o.queue...)
	o.signal()
}

// restart puts first before everything queued, at a (re)connection:
// availability, discovery and every state, in that order. A queued state
// of a topic in first is dropped, so each topic goes out once.
func (o *outbox) restart(first []message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	in := make(map[string]bool, len(first))
	q := make([]*message, 0, len(first)+len(o.queue))
	for i := range first {
		m := first[i]
		in[m.topic] = true
		q = append(q, &m)
	}
	pending := map[string]*message{}
	for _, m := range o.queue {
		if !m.event && in[m.topic] {
			continue
		}
		if !m.event {
			pending[m.topic] = m
		}
		q = append(q, m)
	}
	o.queue, o.pending = q, pending
	o.signal()
}

// next takes the first queued message.
func (o *outbox) next() (message, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) == 0 {
		return message{}, false
	}
	m := o.queue[0]
	o.queue[0] = nil
	o.queue = o.queue[1:]
	if !m.event {
		delete(o.pending, m.topic)
	}
	return *m, true
}

// takeDropped returns how many events were dropped since the last call.
func (o *outbox) takeDropped() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.dropped
	o.dropped = 0
	return n
}

// close makes the outbox take nothing more: after the agent's last word
// (offline), nothing may follow.
func (o *outbox) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	o.queue, o.pending = nil, map[string]*message{}
}

// len returns how many messages are queued, for tests and benchmarks.
func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue)
}
