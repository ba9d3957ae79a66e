package agent

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jonboulle/clockwork"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
)

// restoreWait bounds how long a device's first Open waits for the
// broker's retained states, when the state file does not know an entity:
// a broker that is down at start costs at most this, then the entity is
// not known and starts off.
const restoreWait = 10 * time.Second

// restorer is what the agent remembers of entities' states across
// restarts (drivers.StateHost, through each device's host). An entity is
// remembered once its driver asks for its last state (power_on =
// "restore"); from then on each change of its state is written to the
// state file in [agent] state_dir, and only then, since SD cards wear. The
// last state is looked up in the state file, else in the entity's retained
// state on the broker (fetched once, at the first need, bounded by
// restoreWait), else it is not known.
//
// lastState runs on devices' workers; observe on the pipeline (under its
// lock, so it only records and signals); the writer on a goroutine of its
// own, which close ends after a last write.
type restorer struct {
	log      *slog.Logger
	clock    clockwork.Clock
	dir      string
	path     string
	node     discovery.Node
	entities map[string]drivers.Entity // by key
	broker   restoreBroker
	// allowOn, if set, says whether an entity may be restored on, given
	// when it went on (zero: not known); relay safety refuses a second
	// member of an interlock group, and one whose max_on has passed.
	allowOn func(device, entity string, since time.Time) bool

	mu         sync.Mutex
	loaded     bool
	file       map[string]drivers.Value // what the state file held at start
	fileSince  map[string]time.Time     // when those that were on went on
	remembered map[string]bool
	current    map[string]drivers.Value // last states of remembered entities
	since      map[string]time.Time     // when those of them on went on (wall time)
	dirWarned  bool                     // the state dir was found unwritable
	writeFails int                      // writes failed in a row; warned at the first
	closed     bool

	dirty chan struct{} // a write is due; capacity 1
	quit  chan struct{}
	wg    sync.WaitGroup

	// held is closed once the session holds the node (see claim.go):
	// before that the broker's retained states may be another live
	// agent's, the one holding the node id, and are not used.
	held     chan struct{}
	heldOnce sync.Once

	fetchOnce sync.Once
	fetched   chan struct{}     // closed when retained is final
	retained  map[string][]byte // by state topic; written before fetched closes
}

// restoreBroker is how the restorer reaches the broker for retained
// states: the session's broker and credentials, under a client id of its
// own and without a will.
type restoreBroker struct {
	URL      string
	ClientID string
	Username string
	Password string
	TLS      *tls.Config
}

func stateKey(device, entity string) string { return device + "/" + entity }

func newRestorer(log *slog.Logger, clock clockwork.Clock, dir string, node discovery.Node, devs []DeviceConfig, broker restoreBroker) *restorer {
	r := &restorer{
		log:        log,
		clock:      clock,
		dir:        dir,
		path:       filepath.Join(dir, stateFileName),
		node:       node,
		entities:   map[string]drivers.Entity{},
		broker:     broker,
		remembered: map[string]bool{},
		current:    map[string]drivers.Value{},
		since:      map[string]time.Time{},
		dirty:      make(chan struct{}, 1),
		quit:       make(chan struct{}),
		fetched:    make(chan struct{}),
		held:       make(chan struct{}),
	}
	for _, dc := range devs {
		for _, e := range dc.Entities {
			r.entities[stateKey(dc.ID, e.ID)] = e
		}
	}
	r.wg.Add(1)
	go r.writer()
	return r
}

// lastState implements drivers.StateHost for device's entity.
func (r *restorer) lastState(ctx context.Context, device, entity string) (drivers.Value, bool, error) {
	key := stateKey(device, entity)
	e, ok := r.entities[key]
	if !ok {
		return drivers.Value{}, false, fmt.Errorf("last state of %s: the device declared no entity %q", key, entity)
	}
	v, ok, from, since := r.lookup(ctx, device, e)
	if ok && isOn(v) && r.allowOn != nil && !r.allowOn(device, entity, since) {
		return drivers.Value{}, false, nil // safety logs why
	}
	if ok {
		r.log.Info("state restored", "device", device, "entity", entity, "state", v, "from", from)
	} else {
		r.log.Info("no state to restore; the driver starts it off", "device", device, "entity", entity)
	}
	return v, ok, nil
}

// lookup marks the entity remembered and finds its last state: from the
// state file, else the broker; since is when it went on, if the file says.
func (r *restorer) lookup(ctx context.Context, device string, e drivers.Entity) (drivers.Value, bool, string, time.Time) {
	key := stateKey(device, e.ID)
	r.mu.Lock()
	r.remembered[key] = true
	if !r.loaded {
		r.loaded = true
		// Said once, when the first entity asks to be remembered, and
		// only then: an agent with nothing to restore needs no state dir.
		if err := checkStateDir(r.dir); err != nil {
			r.dirWarned = true
			r.log.Warn("the state directory cannot be written, so entities with power_on = \"restore\" restore from the broker's retained states only: make it writable by the agent, or set [agent] state_dir to a directory that is (systemd: StateDirectory=pinion)", "state_dir", r.dir, "err", err)
		}
		r.load()
	}
	v, ok := r.file[key]
	since := r.fileSince[key]
	if ok {
		// Restored as it is on file: reporting it again is no change, and
		// it has been on since it went on before the restart.
		r.current[key] = v
		if !since.IsZero() && isOn(v) {
			r.since[key] = since
		}
	}
	r.mu.Unlock()
	if ok {
		return v, true, "state file", since
	}
	payload, ok := r.fromBroker(ctx, r.node.StateTopic(device, e.ID))
	if !ok {
		return drivers.Value{}, false, "", time.Time{}
	}
	v, ok = stateValue(e, payload)
	if !ok {
		r.log.Warn("the broker's retained state does not fit the entity; not restored", "device", device, "entity", e.ID, "payload", truncatePayload(payload))
	}
	return v, ok, "broker", time.Time{}
}

// load reads the state file; r.mu is held. A missing file is no news (a
// first start); anything else wrong with it is said once, and the broker
// is asked instead.
func (r *restorer) load() {
	node, states, since, err := readStateFileOf(r.path)
	r.fileSince = map[string]time.Time{}
	switch {
	case err == nil && node != "" && node != r.node.ID:
		// Two agents sharing a state_dir: the file is the other's.
		r.file = map[string]drivers.Value{}
		r.log.Warn("the state file belongs to another node, so it is not used and is replaced at the next change: give each agent a state_dir of its own", "path", r.path, "file_node", node, "node", r.node.ID)
	case err == nil:
		r.file, r.fileSince = states, since
	case errors.Is(err, os.ErrNotExist):
		r.file = map[string]drivers.Value{}
	case r.dirWarned:
		r.file = map[string]drivers.Value{} // the warning about the dir said it
	default:
		r.file = map[string]drivers.Value{}
		r.log.Warn("the state file cannot be used, so states are restored from the broker's retained states; it is replaced at the next change", "path", r.path, "err", err)
	}
}

// observe records a state the pipeline accepted; for a remembered entity
// whose state changed it asks the writer for a write. It never blocks.
func (r *restorer) observe(device, entity string, v drivers.Value) {
	key := stateKey(device, entity)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.remembered[key] || r.closed {
		return
	}
	old, known := r.current[key]
	if known && old.Equal(v) {
		return
	}
	switch {
	case !isOn(v):
		delete(r.since, key)
	case !known || !isOn(old):
		r.since[key] = r.clock.Now() // for max_on across a restart
	}
	r.current[key] = v
	select {
	case r.dirty <- struct{}{}:
	default:
	}
}

// writer writes the state file each time it is due, until close.
func (r *restorer) writer() {
	defer r.wg.Done()
	for {
		select {
		case <-r.dirty:
			r.write()
		case <-r.quit:
			select {
			case <-r.dirty:
				r.write()
			default:
			}
			return
		}
	}
}

// write writes the remembered states. A failure is warned about once,
// until a write works again; the states stay in memory and go out with the
// next change.
func (r *restorer) write() {
	r.mu.Lock()
	// What the file held stays in it until its entity reports: an entity
	// still waiting for its provider, or failing to open, keeps its state.
	states := make(map[string]drivers.Value, len(r.file)+len(r.current))
	for k, v := range r.file {
		states[k] = v
	}
	since := make(map[string]time.Time, len(r.fileSince)+len(r.since))
	for k, t := range r.fileSince {
		since[k] = t
	}
	for k, v := range r.current {
		states[k] = v
		delete(since, k)
		if t, ok := r.since[k]; ok {
			since[k] = t
		}
	}
	r.mu.Unlock()
	err := writeStateFile(r.path, r.node.ID, states, since)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.writeFails++
		if r.writeFails == 1 && !r.dirWarned {
			r.log.Warn("the state file cannot be written, so a restart restores from the broker's retained states: make [agent] state_dir writable by the agent (systemd: StateDirectory=pinion)", "path", r.path, "err", err)
		}
		return
	}
	if r.writeFails > 0 || r.dirWarned {
		r.log.Info("the state file is written again", "path", r.path, "failed_writes", r.writeFails)
	}
	r.writeFails, r.dirWarned = 0, false
}

// nodeHeld says the session holds the node: the broker's retained states
// are this node's own from now on. It returns at once; calls after the
// first do nothing.
func (r *restorer) nodeHeld() {
	r.heldOnce.Do(func() { close(r.held) })
}

// close writes what is due and stops the writer and any broker fetch.
func (r *restorer) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	close(r.quit)
	r.wg.Wait()
}

// fromBroker returns the retained payload on topic, fetching the node's
// retained states once the session holds the node (the first caller
// starts it; all wait for it, bounded by restoreWait and ctx). An agent
// refused the node never reads them: they are the holder's.
func (r *restorer) fromBroker(ctx context.Context, topic string) ([]byte, bool) {
	deadline := r.clock.After(restoreWait)
	select {
	case <-r.held:
	case <-ctx.Done():
		return nil, false
	case <-deadline:
		r.log.Warn("the node was not held in time (no broker, or another agent holds it), so the broker's retained states are not used; not restored", "topic", topic, "waited", restoreWait)
		return nil, false
	case <-r.quit:
		return nil, false
	}
	r.fetchOnce.Do(func() {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.retained = r.fetch()
			close(r.fetched)
		}()
	})
	select {
	case <-r.fetched:
	case <-ctx.Done():
		return nil, false
	case <-deadline:
		r.log.Warn("no answer from the broker for retained states in time; not restored", "topic", topic, "waited", restoreWait)
		return nil, false
	case <-r.quit:
		return nil, false
	}
	p, ok := r.retained[topic]
	return p, ok
}

// fetch connects to the broker, subscribes to the state topics of the
// configured entities and collects the retained messages until a fence: a
// message it publishes to a topic of its own after subscribing, which the
// broker delivers after the retained ones. What it holds is bounded by the
// config.
func (r *restorer) fetch() map[string][]byte {
	got := map[string][]byte{}
	wanted := map[string]bool{}
	for key := range r.entities {
		dev, ent, _ := splitStateKey(key)
		wanted[r.node.StateTopic(dev, ent)] = true
	}
	var mu sync.Mutex
	fence := make(chan struct{})
	var fenceOnce sync.Once
	id := restoreNonce(6)
	fenceTopic := "pinion-restore/" + r.broker.ClientID + "-" + id
	opts := mqtt.NewClientOptions().
		AddBroker(r.broker.URL).
		SetClientID(r.broker.ClientID + "-restore-" + id).
		SetUsername(r.broker.Username).
		SetPassword(r.broker.Password).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(true).
		SetConnectTimeout(connectTimeout).
		SetCustomOpenConnectionFn(dialBroker(r.broker.TLS, connectTimeout)).
		SetWriteTimeout(tokenTimeout)
	opts.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
		if m.Topic() == fenceTopic {
			fenceOnce.Do(func() { close(fence) })
			return
		}
		if m.Retained() && wanted[m.Topic()] && len(m.Payload()) > 0 {
			mu.Lock()
			got[m.Topic()] = append([]byte(nil), m.Payload()...)
			mu.Unlock()
		}
	})
	c := mqtt.NewClient(opts)
	fail := func(what string, err error) map[string][]byte {
		r.log.Warn("cannot read the broker's retained states; entities the state file does not know start off", "step", what, "err", err)
		return map[string][]byte{}
	}
	if err := waitRestore(c.Connect(), connectTimeout); err != nil {
		return fail("connect", err)
	}
	defer c.Disconnect(100)
	// A refused subscription would leave the fence waiting for a message
	// that never comes: subscribeGranted checks the grant and retries.
	real := clockwork.NewRealClock()
	if err := subscribeGranted(context.Background(), real, c, map[string]byte{fenceTopic: 1}, nil); err != nil {
		return fail("subscribe", err)
	}
	// Exact topics, not a wildcard: bounded by the config, and mochi
	// (v2.7.9) scans retained messages for a wildcard filter without the
	// lock a concurrent retained publish takes (a data race under -race).
	filters := make(map[string]byte, len(wanted))
	for topic := range wanted {
		filters[topic] = 1
	}
	if err := subscribeGranted(context.Background(), real, c, filters, nil); err != nil {
		return fail("subscribe", err)
	}
	if err := waitRestore(c.Publish(fenceTopic, 1, false, "fence"), tokenTimeout); err != nil {
		return fail("publish", err)
	}
	select {
	case <-fence:
	case <-time.After(restoreWait):
		return fail("wait", errors.New("the broker did not deliver our own message back"))
	case <-r.quit:
		return map[string][]byte{}
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

// waitRestore waits for t, bounded.
func waitRestore(t mqtt.Token, d time.Duration) error {
	if !t.WaitTimeout(d) {
		return fmt.Errorf("no answer within %s", d)
	}
	return t.Error()
}

func splitStateKey(key string) (device, entity string, ok bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}

func restoreNonce(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// truncatePayload shortens a payload for a log line.
func truncatePayload(p []byte) string {
	if len(p) > 64 {
		return string(p[:64]) + "…"
	}
	return string(p)
}

// stateValue turns an entity's retained state payload back into the value
// its driver reported, for the entities a driver can restore: switches,
// lights and numbers. The state payloads of these are forms their command
// parser takes, so discovery's parser reads them.
func stateValue(e drivers.Entity, payload []byte) (drivers.Value, bool) {
	c, err := discovery.ParseCommand(e, payload)
	if err != nil || c.Toggle {
		return drivers.Value{}, false
	}
	switch e.Spec.(type) {
	case drivers.Switch:
		switch c.Action {
		case drivers.ActionOn:
			return drivers.Bool(true), true
		case drivers.ActionOff:
			return drivers.Bool(false), true
		}
	case drivers.Light:
		switch c.Action {
		case drivers.ActionOn:
			b := 0.0
			if c.Value.Kind == drivers.ValueNumber {
				b = c.Value.Num
			}
			return drivers.LightState(true, b), true
		case drivers.ActionOff:
			return drivers.LightState(false, 0), true
		}
	case drivers.Number:
		if c.Action == drivers.ActionSet && c.Value.Kind == drivers.ValueNumber {
			return c.Value, true
		}
	}
	return drivers.Value{}, false
}

// isOn says whether a restored value switches something on.
func isOn(v drivers.Value) bool {
	switch v.Kind {
	case drivers.ValueBool:
		return v.Bool
	case drivers.ValueNumber:
		return v.Num != 0
	case drivers.ValueFields:
		st, ok := v.Field(drivers.FieldState)
		return ok && st.Kind == drivers.ValueBool && st.Bool
	}
	return false
}

// restoreOnConnection wraps the session's OnConnection next: the session
// says up only once it holds the node, which lets r use the broker's
// retained states.
func restoreOnConnection(r *restorer, next func(up bool)) func(up bool) {
	return func(up bool) {
		if up {
			r.nodeHeld()
		}
		if next != nil {
			next(up)
		}
	}
}
