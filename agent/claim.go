package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pinion-home/pinion/discovery"
)

// One agent per node id. Every Raspberry Pi OS install is called
// raspberrypi, the default node id, and two agents with one node id would
// delete each other's entities, obey the same commands and, when one dies,
// leave the other shown offline by its will. So an agent holds its node
// before it acts under it:
//
//  1. A probe connection, under a client id of its own and with no will,
//     reads the node's retained status and claim (<prefix>/<node>/agent);
//     a message it sends itself (the fence) tells when the broker has
//     replayed every retained message. The node is free when its status is
//     not online, or when the claim is this process's own or its previous
//     incarnation's: a restart after kill -9 whose will the broker has not
//     sent yet. A previous incarnation is a claim of the same machine and
//     boot (see sameMachineAndBoot) whose pid no longer runs, or whose pid
//     is ours and whose process started before ours: a container's agent
//     has the same pid, often 1, on every run.
//     Otherwise another live agent holds it: this one says so at ERROR,
//     keeps the probe open, and decides again whenever the status or the
//     claim changes.
//  2. Once free, the agent connects with its will, subscribes to the claim
//     topic, publishes its claim (retained) and waits for it to come back.
//     A claim of another instance seen first, replayed or live, means
//     another agent claimed the node in between: the broker's order is the
//     tie-break, the same for both, so the later one yields, disconnecting
//     cleanly (no will) and probing again, and the earlier one publishes
//     its claim again over the later one's.
//
// Until it holds the node, the agent deletes nothing, obeys nothing and
// publishes nothing under it.

// claimTopicLeaf is the last level of the claim topic.
const claimTopicLeaf = "agent"

// claim is what an agent publishes, retained, on its node's claim topic:
// who holds the node. Host and PID are for people; Machine and Boot are
// hashes (the machine id is meant to stay private) that let a restarted
// agent recognise its own previous incarnation. Since is on the session's
// clock, for people; Started is when this process started, on the wall
// clock at full precision, and tells a previous process with our pid from
// another agent inside this one.
type claim struct {
	Instance string    `json:"instance"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Machine  string    `json:"machine,omitempty"`
	Boot     string    `json:"boot,omitempty"`
	Version  string    `json:"version,omitempty"`
	Since    time.Time `json:"since"`
	Started  time.Time `json:"started,omitempty"`
}

// processStart is when this process started (when the package was
// initialised, before main): the same for every agent in the process.
var processStart = time.Now().UTC().Round(0)

// newClaim describes this process: a fresh random instance id, the host
// name, pid, and hashes of the machine and boot ids.
func newClaim(version string, now time.Time) claim {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return claim{
		Instance: randomHex(),
		Host:     host,
		PID:      os.Getpid(),
		Machine:  idHash(firstFile("/etc/machine-id", "/var/lib/dbus/machine-id")),
		Boot:     idHash(firstFile("/proc/sys/kernel/random/boot_id")),
		Version:  version,
		Since:    now.UTC().Truncate(time.Second),
		Started:  processStart,
	}
}

// randomHex returns 16 random hex digits.
func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand's doc)
	return hex.EncodeToString(b[:])
}

// firstFile returns the trimmed content of the first of paths that reads.
func firstFile(paths ...string) string {
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			if s := strings.TrimSpace(string(b)); s != "" {
				return s
			}
		}
	}
	return ""
}

// idHash hashes an id that should not be published as it is, keyed to
// pinion as machine-id(5) asks of applications.
func idHash(id string) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("pinion:" + id))
	return hex.EncodeToString(sum[:8])
}

func (c claim) json() []byte {
	b, _ := json.Marshal(c) // plain fields: cannot fail
	return b
}

// parseClaim reads a claim; an unreadable one is an error.
func parseClaim(b []byte) (*claim, error) {
	var c claim
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	if c.Instance == "" {
		return nil, errors.New("claim: no instance")
	}
	return &c, nil
}

// pidAlive reports whether a process with pid runs on this machine. A
// process of another user still counts (EPERM).
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// verdict is what the probe makes of a node's status and claim.
type verdict int

const (
	nodeFree      verdict = iota // take it
	nodeHeld                     // a live agent holds it
	nodeUnsettled                // our own stale claim after yielding: wait for the winner's
)

// judgement is the probe's decision and, for the log, why.
type judgement struct {
	verdict verdict
	holder  *claim // the claim judged; nil when there is none
	why     string
}

// judge decides whether self may take a node whose retained status and
// claim are as given. yielded says that self lost a tie-break since it
// last held the node, so a claim of its own on the broker is a leftover,
// not a sign that the node is its own. alive tells whether a pid runs here.
func judge(self claim, status string, other *claim, yielded bool, alive func(int) bool) judgement {
	switch {
	case strings.TrimSpace(status) != discovery.PayloadOnline:
		return judgement{nodeFree, other, "its status is not online"}
	case other == nil:
		return judgement{nodeHeld, nil, "its status is online and it has no readable claim"}
	case other.Instance == self.Instance && yielded:
		return judgement{nodeUnsettled, nil, "our own claim is left from a tie-break we lost"}
	case other.Instance == self.Instance:
		return judgement{nodeFree, other, "the claim is this agent's own (a connection the broker has not dropped yet)"}
	case !sameMachineAndBoot(self, *other):
		// Another machine or boot: its pid says nothing here.
	case other.PID != self.PID && !alive(other.PID):
		return judgement{nodeFree, other, "the claim is this agent's previous run on this machine, whose process is gone" + byHost(self)}
	case other.PID == self.PID && !other.Started.IsZero() && !self.Started.IsZero() && other.Started.Before(self.Started):
		// Our pid in this boot, from a process that started before ours:
		// that process has ended, or the pid would not be ours. Another
		// agent in this process has our Started, never an earlier one.
		return judgement{nodeFree, other, "the claim is this agent's previous run on this machine: our pid, from a process that started before this one (a container's agent has the same pid on every run)" + byHost(self)}
	}
	return judgement{nodeHeld, other, "another live agent holds it"}
}

// sameMachineAndBoot reports whether other was claimed on self's machine
// during self's boot: same machine id, host name and boot id. Where
// neither has a machine id (a container without /etc/machine-id) it is
// decided by the host name and boot id alone; where only one has one, the
// machines differ. Without a boot id, a pid says nothing.
func sameMachineAndBoot(self, other claim) bool {
	return self.Boot != "" && other.Boot == self.Boot && other.Host == self.Host && other.Machine == self.Machine
}

// byHost says, for the log, when there was no machine id to go by.
func byHost(self claim) string {
	if self.Machine == "" {
		return " (no machine id here: judged by host name and boot id)"
	}
	return ""
}

// claimTopic is the node's claim topic, "<prefix>/<node>/agent": three
// levels, so no state, status or command filter of the node matches it.
func (s *session) claimTopic() string {
	return strings.TrimSuffix(s.node.StatusTopic(), "/status") + "/" + claimTopicLeaf
}

// fenceTopic is where the probe sends itself a message: outside every
// node (a node id cannot hold a dot), so it publishes nothing under one.
func (s *session) fenceTopic() string {
	prefix := strings.TrimSuffix(strings.TrimSuffix(s.node.StatusTopic(), "/status"), "/"+s.node.ID)
	return prefix + "/.probe/" + s.self.Instance
}

// probeClientID is the probe's client id: distinct from the agent's, so
// the probe never takes over the connection of an agent holding the node,
// and within the 23 characters every MQTT 3.1.1 broker must accept (mochi
// refuses longer ones).
func (s *session) probeClientID() string {
	return "pinion-probe-" + s.self.Instance[:10]
}

// nodeWatch collects what the probe learns; paho's handler only stores
// and signals, never blocks.
type nodeWatch struct {
	mu       sync.Mutex
	status   string
	claim    *claim
	fenced   bool
	changed  chan struct{} // a message arrived
	lostConn chan error    // the probe connection was lost
}

func newNodeWatch() *nodeWatch {
	return &nodeWatch{changed: make(chan struct{}, 1), lostConn: make(chan error, 1)}
}

func (w *nodeWatch) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *nodeWatch) snapshot() (status string, c *claim, fenced bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status, w.claim, w.fenced
}

// awaitNode probes the node until it is free to take: it returns nil
// then, or an error when the probe could not connect or lost its
// connection (run retries with backoff), or when ctx ends.
func (s *session) awaitNode(ctx context.Context) error {
	w := newNodeWatch()
	// The agent's own connection settings (broker, credentials, TLS and
	// the bounded reads of conn.go), without its will.
	o := s.opts
	opts := mqtt.NewClientOptions().
		SetClientID(s.probeClientID()).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetKeepAlive(time.Duration(o.KeepAlive) * time.Second).
		SetCleanSession(true).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(tokenTimeout).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case w.lostConn <- err:
			default:
			}
		})
	for _, u := range o.Servers {
		opts.AddBroker(u.String())
	}
	if o.CustomOpenConnectionFn != nil {
		opts.SetCustomOpenConnectionFn(o.CustomOpenConnectionFn)
	}
	if o.TLSConfig != nil {
		opts.SetTLSConfig(o.TLSConfig)
	}
	c := mqtt.NewClient(opts)
	t := c.Connect()
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return err
		}
	case <-ctx.Done():
		t.WaitTimeout(connectTimeout)
		c.Disconnect(0)
		return ctx.Err()
	}
	defer c.Disconnect(250)

	status, claimTopic, fence := s.node.StatusTopic(), s.claimTopic(), s.fenceTopic()
	fenceID := randomHex()
	handler := func(_ mqtt.Client, m mqtt.Message) {
		w.mu.Lock()
		defer w.mu.Unlock()
		switch m.Topic() {
		case status:
			w.status = string(m.Payload())
		case claimTopic:
			w.claim, _ = parseClaim(m.Payload()) // unreadable: as good as none
		case fence:
			if string(m.Payload()) == fenceID {
				w.fenced = true
			}
		}
		w.signal()
	}
	filters := map[string]byte{status: 1, claimTopic: 1, fence: 1}
	if err := subscribeGranted(ctx, s.clock, c, filters, handler); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	// The broker replays retained messages on a subscription before it
	// handles what the client sends next: once the fence comes back, the
	// node's retained status and claim (if any) are known.
	if err := waitToken(ctx, s.clock, c.Publish(fence, 1, false, fenceID)); err != nil {
		return fmt.Errorf("probe: publish %s: %w", fence, err)
	}
	timer := s.clock.NewTimer(tokenTimeout)
	defer timer.Stop()
	for {
		st, cl, fenced := w.snapshot()
		if fenced {
			j := judge(s.self, st, cl, s.yielded, pidAlive)
			switch j.verdict {
			case nodeFree:
				s.freeOf = ""
				if j.holder != nil {
					s.freeOf = j.holder.Instance
				}
				if s.refused != "" {
					s.log.Info("the node is free now; taking it", "node", s.node.ID, "why", j.why)
					s.refused = ""
				} else {
					s.log.Debug("the node is free", "node", s.node.ID, "why", j.why)
				}
				return nil
			case nodeHeld:
				s.reportHolder(j)
			}
		}
		select {
		case <-w.changed:
		case err := <-w.lostConn:
			return fmt.Errorf("probe: connection lost: %w", err)
		case <-timer.Chan():
			if !fenced {
				return fmt.Errorf("probe: no answer from the broker within %v", tokenTimeout)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reportHolder says, once per holder, that another agent holds the node.
func (s *session) reportHolder(j judgement) {
	key := "unknown"
	if j.holder != nil {
		key = j.holder.Instance
	}
	if s.refused == key {
		return
	}
	s.refused = key
	attrs := []any{"node", s.node.ID, "this_host", s.self.Host, "this_pid", s.self.PID, "status_topic", s.node.StatusTopic(), "claim_topic", s.claimTopic()}
	if h := j.holder; h != nil {
		attrs = append(attrs, "other_host", h.Host, "other_pid", h.PID, "other_since", h.Since.Format(time.RFC3339), "other_version", h.Version)
	} else {
		attrs = append(attrs, "other_host", "unknown (status online, no claim: an older pinion, or a status kept on the broker by hand; if no agent runs, clear it with mosquitto_pub -r -n -t "+s.node.StatusTopic()+")")
	}
	s.log.Error("another agent holds this node id: this agent will not take it over, and deletes, obeys and publishes nothing under it until the other goes offline; give each agent its own [agent] id", attrs...)
}

// holdAttempt is one claim of the node on a fresh connection; paho's
// handler reports to it.
type holdAttempt struct {
	freeOf string        // the stale claim's instance the probe judged free
	echo   chan struct{} // our own claim came back
	rival  chan *claim   // another's claim came first
	echoed atomic.Bool
}

// hold claims the node on the connection just made and reports whether
// the agent holds it; false with a nil error means another agent claimed
// it first. It subscribes to the claim and status topics for the whole
// connection, so that the holder also hears of later claims and of an
// offline written over its status.
func (s *session) hold(ctx context.Context) (bool, error) {
	a := &holdAttempt{freeOf: s.freeOf, echo: make(chan struct{}, 1), rival: make(chan *claim, 1)}
	s.attempt.Store(a)
	filters := map[string]byte{s.claimTopic(): 1, s.node.StatusTopic(): 1}
	if err := s.subscribe(ctx, filters, s.nodeMessage); err != nil {
		return false, fmt.Errorf("claim: %w", err)
	}
	if err := waitToken(ctx, s.clock, s.client.Publish(s.claimTopic(), 1, true, s.self.json())); err != nil {
		return false, fmt.Errorf("claim: publish %s: %w", s.claimTopic(), err)
	}
	timer := s.clock.NewTimer(tokenTimeout)
	defer timer.Stop()
	select {
	case <-a.echo:
		return true, nil
	case r := <-a.rival:
		s.log.Warn("another agent claimed this node id first; yielding it", "node", s.node.ID, "this_host", s.self.Host, "other_host", r.Host, "other_pid", r.PID)
		return false, nil
	case <-timer.Chan():
		return false, fmt.Errorf("claim: our claim did not come back within %v", tokenTimeout)
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// nodeMessage handles the claim and status topics on the agent's own
// connection. It runs on paho's router goroutine and never blocks.
func (s *session) nodeMessage(_ mqtt.Client, m mqtt.Message) {
	a := s.attempt.Load()
	if s.closed.Load() || a == nil {
		return
	}
	if m.Topic() == s.node.StatusTopic() {
		// An offline over a live holder's status (a stray will, a tool)
		// would show every entity unavailable: say online again.
		if s.held.Load() && !m.Retained() && strings.TrimSpace(string(m.Payload())) != discovery.PayloadOnline && s.replaceBudget() {
			s.log.Warn("the node's status was set to something else while this agent holds it; publishing online again", "topic", m.Topic(), "payload", truncate(string(m.Payload())))
			s.out.put(message{topic: m.Topic(), payload: []byte(discovery.PayloadOnline), retained: true})
		}
		return
	}
	c, _ := parseClaim(m.Payload())
	switch {
	case c != nil && c.Instance == s.self.Instance:
		if a.echoed.CompareAndSwap(false, true) {
			a.echo <- struct{}{}
		}
	case !a.echoed.Load():
		// Before our claim came back: a claim other than the stale one
		// the probe saw was made after the probe, before ours.
		if c != nil && c.Instance != a.freeOf {
			select {
			case a.rival <- c:
			default:
			}
		}
	case s.replaceBudget():
		// After it: a later claim, or the claim cleared. The later agent
		// yields; its claim must not stay on the broker.
		host := ""
		if c != nil {
			host = c.Host
		}
		s.log.Warn("the node's claim was overwritten after this agent claimed it; publishing ours again", "node", s.node.ID, "other_host", host)
		s.out.put(message{topic: s.claimTopic(), payload: s.self.json(), retained: true})
	}
}
