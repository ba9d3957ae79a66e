package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jonboulle/clockwork"

	"github.com/pinion-home/pinion/discovery"
)

// Every wait on the broker is bounded (paho #613): a broker that stops
// answering must not freeze the agent.
const (
	tokenTimeout   = 10 * time.Second
	connectTimeout = 10 * time.Second
	offlineWait    = 3 * time.Second
	drainWait      = 3 * time.Second
	birthMaxDelay  = 2 * time.Second
	// The reconnect schedule: a broker that comes back is seen within
	// reconnectMax (plus one connection's handshake), however long it was
	// gone or however often it went away. Attempts to a broker that is
	// down cost a refused TCP connection each, and their log lines back
	// off (backoff.Loud), so the low cap costs nothing worth saving.
	reconnectMin = 500 * time.Millisecond
	reconnectMax = 1500 * time.Millisecond
	// inflightMax is how many publishes may await their acknowledgement:
	// enough to fill a slow link, few enough that a stalled broker holds
	// little.
	inflightMax = 32
)

// session is the agent's MQTT connection. It follows paho's rules: options
// from NewClientOptions, the will set before NewClient, handlers that never
// block. The agent, not paho, reconnects (with its own capped, jittered
// backoff, on a clock tests control), so that each connection starts
// clean: nothing paho kept from the last one is resent (paho #703), and
// nothing of a connection runs after close.
type session struct {
	log      *slog.Logger
	broker   string // for logs, without a password
	clientID string
	node     discovery.Node
	client   mqtt.Client
	clock    clockwork.Clock
	onConn   func(up bool)

	discovery []discovery.Message
	agent     []discovery.Message // the agent's own states
	own       map[string][]byte   // our discovery configs by topic: ghost cleanup, replacing foreign ones
	states    map[string]bool     // our state and status topics, for the sweep
	devices   map[string]*device
	pipe      *pipeline
	out       *outbox

	lost   chan error // from paho's connection-lost handler
	closed atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}

	birthMu    sync.Mutex
	birthTimer clockwork.Timer

	drainMu sync.Mutex
	drained []chan struct{} // closed when the outbox is next empty

	// What is remembered of foreign configs is a few numbers, whatever
	// their count: a flood of them costs no memory.
	foreignWarned atomic.Bool // a live foreign config was reported (once per session)
	replaceMu     sync.Mutex  // guards the replacement budget
	replaceWindow time.Time   // start of the current minute of replacements
	replaceCount  int         // replacements of own configs in that minute

	connectedAt atomic.Int64 // unix nanoseconds of the last successful connect
	quickDrops  atomic.Int64 // connections in a row lost soon after they were made

	// One agent per node id (claim.go).
	opts    *mqtt.ClientOptions // the agent's options, which the probe copies
	self    claim               // this process, as its claim says
	held    atomic.Bool         // the node is ours on the current connection
	attempt atomic.Pointer[holdAttempt]
	yielded bool   // lost a tie-break since last holding the node (run's goroutine only)
	freeOf  string // instance of the stale claim the last probe judged free (run's)
	refused string // the holder last reported at ERROR (run's)
}

type sessionConfig struct {
	Broker    string
	ClientID  string
	Username  string
	Password  string
	Keepalive time.Duration
	// TLS is the TLS configuration for an ssl:// broker (from the [mqtt]
	// TLS keys); nil verifies it against the system's authorities.
	TLS *tls.Config

	// OnConnection, if set, is told each time a connection to the broker
	// is made (true) and each time one is lost (false), in that order,
	// never twice the same in a row; the session starts down and says
	// nothing for the attempts that fail. It is called on the session's
	// own goroutine, never on paho's, so it must return at once (hand
	// off, e.g. to a timer or a channel): the next reconnect waits for it.
	// Relay safety's on_disconnect uses it.
	OnConnection func(up bool)
}

func newSession(log *slog.Logger, cfg sessionConfig, node discovery.Node, msgs []discovery.Message, devs []*device, pipe *pipeline, out *outbox, clock clockwork.Clock, version string) (*session, error) {
	agentStates, err := discovery.AgentStates(node, version, clock.Now())
	if err != nil {
		return nil, fmt.Errorf("agent states: %w", err)
	}
	s := &session{
		log:       log.With("component", "mqtt"),
		broker:    redact(cfg.Broker),
		clientID:  cfg.ClientID,
		node:      node,
		onConn:    cfg.OnConnection,
		clock:     clock,
		discovery: msgs,
		agent:     agentStates,
		own:       map[string][]byte{},
		states:    pipe.topics(),
		devices:   map[string]*device{},
		pipe:      pipe,
		out:       out,
		lost:      make(chan error, 1),
		done:      make(chan struct{}),
		self:      newClaim(version, clock.Now()),
	}
	for _, m := range msgs {
		s.own[m.Topic] = m.Payload
	}
	for _, m := range agentStates {
		s.states[m.Topic] = true
	}
	for _, d := range devs {
		s.devices[d.id] = d
	}
	// Commands must reach a device in the order they were sent: with
	// SetOrderMatters(false) paho runs each message's handler on its own
	// goroutine, and ON, OFF sent quickly could leave a relay ON. Handlers
	// stay non-blocking (they only queue), which is what ordered delivery
	// asks of them.
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetKeepAlive(cfg.Keepalive).
		SetCleanSession(true).
		SetProtocolVersion(4).
		SetOrderMatters(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(connectTimeout).
		// The agent dials: TLS from the [mqtt] keys, and reads that
		// never hold an oversized payload whole (conn.go).
		SetCustomOpenConnectionFn(dialBroker(cfg.TLS, connectTimeout)).
		SetWriteTimeout(tokenTimeout).
		SetWill(node.StatusTopic(), discovery.PayloadOffline, 1, true).
		SetConnectionLostHandler(s.connectionLost)
	s.client = mqtt.NewClient(opts)
	s.opts = opts
	return s, nil
}

// quickDrop is how soon after connecting a lost connection counts as
// dropped by the broker rather than by the network.
const quickDrop = 10 * time.Second

// connectionLost hands the loss to the connection loop. It runs on a
// goroutine of paho's, possibly after close: it only hands over.
func (s *session) connectionLost(_ mqtt.Client, err error) {
	if s.closed.Load() {
		return
	}
	select {
	case s.lost <- err:
	default:
	}
}

// redact hides the password of a broker URL, for logs.
func redact(broker string) string {
	u, err := url.Parse(broker)
	if err != nil {
		return broker
	}
	return u.Redacted()
}

// connectHint says what to check for the common connection failures.
func connectHint(err error) string {
	if err == nil {
		return ""
	}
	if h := tlsHint(err); h != "" {
		return h
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "not Authorized"), strings.Contains(msg, "bad user name or password"):
		return "check [mqtt] username and password or password_file"
	case strings.Contains(msg, "connection refused"):
		return "is the broker running and listening on that address and port?"
	case strings.Contains(msg, "no such host"):
		return "check the broker's host name"
	case strings.Contains(msg, "identifier rejected"):
		return "the broker rejected [mqtt] client_id"
	case strings.HasSuffix(msg, "EOF"), strings.Contains(msg, "connection reset by peer"):
		// Mosquitto 2 closes the connection without a CONNACK when it
		// refuses a login, and a TLS listener does the same to a plain
		// tcp:// client; with TLS 1.3 a refused client certificate may
		// also show only as the connection ending.
		return "the broker closed the connection during login: check [mqtt] username and password or password_file, that the URL's scheme matches the port (ssl:// for a TLS listener), whether the broker requires a client certificate ([mqtt] cert_file and key_file), and the broker's log"
	}
	return ""
}

// start runs the connection loop until close. It does not wait for the
// broker, which may come up after the agent.
func (s *session) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		s.run(ctx)
	}()
}

// run connects, serves the connection until it is lost, and connects
// again with backoff, until ctx is done.
func (s *session) run(ctx context.Context) {
	b := newBackoff(reconnectMin, reconnectMax)
	for {
		// The node is probed before every connection: while the agent
		// was away another may have taken it.
		err := s.awaitNode(ctx)
		if err == nil {
			err = s.connect(ctx)
			if err == nil {
				var held bool
				held, err = s.hold(ctx)
				if !held && ctx.Err() == nil {
					// A clean disconnect: the broker drops the will, so
					// the node's status stays the holder's.
					s.client.Disconnect(250)
					select {
					case <-s.lost:
					default:
					}
					if err == nil {
						s.yielded = true
						if !sleep(ctx, s.clock, b.Next()) {
							return
						}
						continue
					}
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// A broker that refused a connection was away (restarting),
			// which is not what a same-client-id conflict looks like: there
			// every reconnect succeeds at once.
			s.quickDrops.Store(0)
			wait := b.Next()
			if b.Failures() == 1 || b.Loud() {
				s.log.Warn("cannot connect to the broker; retrying", "broker", s.broker, "attempt", b.Failures(), "retry_in", wait.Round(time.Millisecond), "err", err, "hint", connectHint(err))
			}
			if !sleep(ctx, s.clock, wait) {
				return
			}
			continue
		}
		s.yielded = false
		s.held.Store(true)
		s.connectedAt.Store(s.clock.Now().UnixNano())
		s.log.Info("connected", "broker", s.broker, "status_topic", s.node.StatusTopic(), "claim_topic", s.claimTopic())
		s.connectionChanged(true)
		connCtx, endConn := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConnection(connCtx)
		}()
		var lostErr error
		select {
		case <-ctx.Done():
		case lostErr = <-s.lost:
		}
		endConn()
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
		s.held.Store(false)
		s.connectionChanged(false)
		s.connectionLostLog(lostErr)
		// A connection that lasted starts the backoff again, and its first
		// retry comes soon: a broker restart is usually over by the time
		// the loss is noticed. One dropped right after it was made (a
		// second client with the same id) backs off like a failed attempt.
		if s.clock.Since(time.Unix(0, s.connectedAt.Load())) > quickDrop {
			b.Reset()
		}
		if !sleep(ctx, s.clock, b.Next()/4) {
			return
		}
	}
}

// connectionChanged tells OnConnection, if set, that the connection came
// up or went down.
func (s *session) connectionChanged(up bool) {
	if s.onConn != nil {
		s.onConn(up)
	}
}

// connect makes one connection attempt, bounded.
func (s *session) connect(ctx context.Context) error {
	select {
	case <-s.lost: // a loss of the previous connection, already handled
	default:
	}
	t := s.client.Connect()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		// Let the attempt finish (paho bounds it by the connect
		// timeout), so that close finds the client settled.
		t.WaitTimeout(connectTimeout)
		return ctx.Err()
	}
}

// connectionLostLog says the connection was lost and, when the evidence
// points to it, why: brokers drop the older of two clients with the same
// client id, so two clients given one client id knock each other off the
// broker forever, each reconnect succeeding at once and being dropped soon
// after. A restarting broker looks different (it refuses connections in
// between, which resets the count in run), so it never triggers this.
func (s *session) connectionLostLog(err error) {
	s.log.Warn("connection lost; reconnecting", "broker", s.broker, "err", err)
	if s.clock.Since(time.Unix(0, s.connectedAt.Load())) > quickDrop {
		s.quickDrops.Store(0)
		return
	}
	if n := s.quickDrops.Add(1); n == 3 || n%20 == 0 {
		s.log.Warn("the broker keeps dropping the connection right after it is made, and taking it back at once: another client is likely using the same client id; give each client its own [mqtt] client_id",
			"client_id", s.clientID, "drops", n)
	}
}

// subscribeRetryMax bounds the wait between attempts to subscribe.
const subscribeRetryMax = 30 * time.Second

// serveConnection sets up a new connection and publishes until ctx ends.
// Until the subscriptions are granted nothing is published: an entity
// announced online whose commands nobody receives would mislead Home
// Assistant.
func (s *session) serveConnection(ctx context.Context) {
	subs := map[string]byte{
		s.node.CommandFilter(): 1,
		s.node.BirthTopic():    1,
		s.node.ConfigFilter():  1,
	}
	b := newBackoff(time.Second, subscribeRetryMax)
	for {
		err := s.subscribe(ctx, subs, s.route)
		if err == nil {
			break
		}
		if !s.connectionLive(ctx) {
			return
		}
		wait := b.Next()
		s.log.Error("subscribing failed; commands are not received until it works", "err", err, "retry_in", wait.Round(time.Millisecond))
		if !sleep(ctx, s.clock, wait) {
			return
		}
	}
	if ctx.Err() != nil {
		return
	}
	s.pipe.restart(s.connectBatch())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.sweep(ctx)
	}()
	s.publisher(ctx)
	wg.Wait()
}

// connectBatch is what a connection starts with, before every device's
// availability and state: the agent's availability, discovery, the
// agent's own states.
func (s *session) connectBatch() []message {
	msgs := []message{{topic: s.node.StatusTopic(), payload: []byte(discovery.PayloadOnline), retained: true}}
	for _, m := range s.discovery {
		msgs = append(msgs, message{topic: m.Topic, payload: m.Payload, retained: true})
	}
	for _, m := range s.agent {
		msgs = append(msgs, message{topic: m.Topic, payload: m.Payload, retained: true})
	}
	return msgs
}

// inflight is a publish awaiting its acknowledgement.
type inflight struct {
	m message
	t mqtt.Token
}

// publisher is the one goroutine that publishes: it takes messages from
// the outbox in order and hands them to paho, with a bounded number
// awaiting acknowledgement. Nothing else waits on the network, so a
// broker that stalls holds up only this goroutine.
func (s *session) publisher(ctx context.Context) {
	acks := make(chan inflight, inflightMax)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.acknowledgements(ctx, acks)
	}()
	defer func() {
		close(acks)
		wg.Wait()
	}()
	for {
		m, ok := s.out.next()
		if !ok {
			s.notifyDrained()
			select {
			case <-ctx.Done():
				return
			case <-s.out.wake:
				continue
			}
		}
		if ctx.Err() != nil {
			if m.event {
				s.out.putBack([]message{m})
			}
			return
		}
		t := s.client.Publish(m.topic, 1, m.retained, m.payload)
		select {
		case acks <- inflight{m, t}:
		case <-ctx.Done():
			// Handed to paho, but not to the acknowledgements: put back
			// only if paho refused it for certain.
			if m.event && t.WaitTimeout(0) && t.Error() != nil {
				s.out.putBack([]message{m})
			}
			return
		}
	}
}

// acknowledgements waits for each publish in turn and logs the ones that
// failed. An event whose publish failed for certain goes back to the
// outbox, all of them in their order, when the connection ends; one whose
// fate is unknown (no answer in time, the connection ending while it was
// in flight) does not, since it may have been delivered, and an
// automation run twice is worse than a doorbell missed once. A failed
// state needs nothing: every state is published again at the next
// connection.
func (s *session) acknowledgements(ctx context.Context, acks <-chan inflight) {
	var failed []message
	defer func() { s.out.putBack(failed) }()
	for a := range acks {
		certain, err := s.await(ctx, a.t)
		if err != nil {
			if s.connectionLive(ctx) {
				s.log.Warn("publish failed", "topic", a.m.topic, "err", err)
			}
			if certain && a.m.event {
				failed = append(failed, a.m)
			}
		}
		if n := s.out.takeDropped(); n > 0 {
			s.log.Warn("events dropped: the broker did not take them fast enough", "dropped", n, "kept", maxPendingEvents)
		}
	}
}

// await waits for a publish's token, bounded, and says whether its error,
// if any, is certain: the token completed with it.
func (s *session) await(ctx context.Context, t mqtt.Token) (certain bool, err error) {
	select {
	case <-t.Done():
		return true, t.Error()
	default:
	}
	timer := s.clock.NewTimer(tokenTimeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		return true, t.Error()
	case <-timer.Chan():
		return false, errNoAnswer
	case <-ctx.Done():
		select {
		case <-t.Done():
			return true, t.Error()
		default:
			return false, ctx.Err()
		}
	}
}

// notifyDrained wakes those waiting for the outbox to be empty.
func (s *session) notifyDrained() {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	for _, c := range s.drained {
		close(c)
	}
	s.drained = nil
}

// drain waits, a little, for what is queued to be handed to paho: the
// last states of the devices go out before offline.
func (s *session) drain() {
	c := make(chan struct{})
	s.drainMu.Lock()
	s.drained = append(s.drained, c)
	s.drainMu.Unlock()
	s.out.signal()
	t := time.NewTimer(drainWait)
	defer t.Stop()
	select {
	case <-c:
	case <-t.C:
	}
}

// sweepWindow is how long after connecting retained states and statuses of
// devices no longer configured are looked for: the broker replays retained
// messages right after the subscription.
const sweepWindow = 5 * time.Second

// sweep clears the retained states and statuses that devices and entities
// removed from the config left behind, so the broker holds no stale values
// for them. Their discovery configs are removed by otherConfig, on the
// subscription made before discovery is published, so Home Assistant drops
// an entity before its state topic is emptied (an empty state would be
// logged there).
func (s *session) sweep(ctx context.Context) {
	filters := map[string]byte{s.node.StateTopic("+", "+"): 1, s.node.EntityStatusTopic("+", "+"): 1}
	err := s.subscribe(ctx, filters, func(_ mqtt.Client, m mqtt.Message) {
		if s.closed.Load() || !m.Retained() || len(m.Payload()) == 0 || s.states[m.Topic()] {
			return
		}
		s.log.Info("clearing a retained state no longer in the config", "topic", m.Topic())
		s.out.put(message{topic: m.Topic(), retained: true})
	})
	if err != nil {
		if s.connectionLive(ctx) {
			s.log.Warn("cannot look for stale retained states", "err", err)
		}
		return
	}
	if !sleep(ctx, s.clock, sweepWindow) {
		return
	}
	topics := make([]string, 0, len(filters))
	for f := range filters {
		topics = append(topics, f)
	}
	// A connection that dropped has no subscriptions left to end, and
	// paho would only say it is not connected: the loss is logged once,
	// by run.
	if !s.connectionLive(ctx) {
		return
	}
	if err := waitToken(ctx, s.clock, s.client.Unsubscribe(topics...)); err != nil && s.connectionLive(ctx) {
		s.log.Warn("unsubscribe failed", "topics", topics, "err", err)
		return
	}
	s.log.Debug("sweep ended", "window", sweepWindow)
}

// connectionLive reports whether the connection ctx belongs to is still
// up: its context not ended and paho's connection open. A failure on a
// connection that is gone is not worth a line of its own.
func (s *session) connectionLive(ctx context.Context) bool {
	return ctx.Err() == nil && s.client.IsConnectionOpen()
}

// subscribe subscribes to filters and checks what the broker granted: a
// refusal (return code 0x80) completes the token without an error in paho,
// and some brokers refuse a subscription transiently (mochi, while a QoS 1
// message with the same packet id is in flight), so it is tried again.
func (s *session) subscribe(ctx context.Context, filters map[string]byte, handler mqtt.MessageHandler) error {
	return subscribeGranted(ctx, s.clock, s.client, filters, handler)
}

// subscribeGranted is subscribe on any client: the probe's and the
// restorer's connections too, whose fences would otherwise wait for
// messages a refused subscription never brings.
func subscribeGranted(ctx context.Context, clock clockwork.Clock, c mqtt.Client, filters map[string]byte, handler mqtt.MessageHandler) error {
	var refused []string
	for attempt := 0; attempt < 3; attempt++ {
		t := c.SubscribeMultiple(filters, handler)
		if err := waitToken(ctx, clock, t); err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		refused = refused[:0]
		if st, ok := t.(*mqtt.SubscribeToken); ok {
			for f, code := range st.Result() {
				if code >= 0x80 {
					refused = append(refused, f)
				}
			}
		}
		if len(refused) == 0 {
			return nil
		}
		if !sleep(ctx, clock, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("subscribe: the broker refused %s (check its ACLs for this user)", strings.Join(refused, ", "))
}

// errNoAnswer is a token wait that ran out: the broker, or the network to
// it, stopped answering.
var errNoAnswer = fmt.Errorf("no answer from the broker within %v", tokenTimeout)

// waitToken waits for t, bounded (paho #613), and returns why it failed:
// no answer in time, the end of ctx, or the error the token completed with.
func waitToken(ctx context.Context, clock clockwork.Clock, t mqtt.Token) error {
	timer := clock.NewTimer(tokenTimeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.Chan():
		return errNoAnswer
	}
}

// route dispatches every incoming message. It runs on paho's router
// goroutine, in the order messages arrived, and never blocks: commands go
// to the device's bounded queue, publishes to the outbox.
func (s *session) route(_ mqtt.Client, m mqtt.Message) {
	if s.closed.Load() || !s.held.Load() {
		return
	}
	topic := m.Topic()
	if n, ok := oversized(m.Payload()); ok {
		// conn.go replaced it as it streamed past.
		s.log.Warn("incoming payload over the size limit; ignored", "topic", topic, "bytes", n, "limit", maxIncoming)
		return
	}
	switch {
	case topic == s.node.BirthTopic():
		if strings.TrimSpace(string(m.Payload())) == "online" {
			s.scheduleBirth()
		}
	case strings.HasSuffix(topic, "/config"):
		s.otherConfig(topic, m.Payload(), m.Retained())
	case strings.HasSuffix(topic, "/set"):
		switch {
		case len(m.Payload()) == 0:
			// What a subscriber sees when a retained command is cleared.
			s.log.Debug("empty command ignored", "topic", topic)
		case m.Retained():
			// The broker replays a retained command at every (re)connect:
			// obeying it would switch the device without anyone asking.
			// Live commands arrive with the retain flag cleared, even when
			// they were published retained.
			s.log.Warn("retained command ignored: a command kept on the broker would switch the device at every restart; clear it with mosquitto_pub -r -n -t "+topic,
				"topic", topic, "payload", truncate(string(m.Payload())))
		default:
			s.command(topic, m.Payload())
		}
	}
}

// scheduleBirth republishes discovery and states after Home Assistant
// (re)starts, after a short random delay as its docs ask, so many devices
// do not answer at once. Births in quick succession coalesce.
func (s *session) scheduleBirth() {
	s.birthMu.Lock()
	defer s.birthMu.Unlock()
	if s.birthTimer != nil || s.closed.Load() {
		return
	}
	delay := time.Duration(rand.Int64N(int64(birthMaxDelay)))
	s.log.Info("Home Assistant came online; republishing discovery and states", "in", delay.Round(time.Millisecond))
	s.birthTimer = s.clock.AfterFunc(delay, func() {
		s.birthMu.Lock()
		s.birthTimer = nil
		s.birthMu.Unlock()
		s.pipe.restart(s.connectBatch())
	})
}

// otherConfig handles a discovery config of this node that the agent did
// not publish as it is (its own come back to it too, and are ignored).
//
// On one of its own topics, a different config arriving live (someone
// else's, published retained or not) is replaced with the agent's at
// once: Home Assistant would otherwise show that entity as the other
// publisher described it until the next reconnect. One replayed at the
// subscription (retain flag set) predates this connection, whose first
// batch publishes the agent's own after it; the agent's previous version
// wrote most of those. An empty one is left alone: it is how Home Assistant
// deletes a device the user removed, and the agent's next connection
// brings the entity back if it is still configured.
//
// On another topic, a retained config is an entity the agent published
// before that is no longer configured: it is removed with an empty
// retained config, so it does not linger in Home Assistant, which reads
// retained configs when it starts. A live one means something else
// publishes under this node id (the claim keeps a second pinion away, so
// it is a tool or an older agent); that is said once per session.
func (s *session) otherConfig(topic string, payload []byte, retained bool) {
	if len(payload) == 0 {
		return
	}
	if own, ok := s.own[topic]; ok {
		if !retained && !bytes.Equal(own, payload) && s.replaceBudget() {
			s.log.Warn("a foreign discovery config was written over one of this agent's; publishing ours again", "topic", topic)
			s.out.put(message{topic: topic, payload: own, retained: true})
		}
		return
	}
	if _, _, ok := s.node.ParseConfigTopic(topic); !ok {
		return
	}
	if retained {
		s.log.Info("removing entity no longer in the config", "topic", topic)
		s.out.put(message{topic: topic, retained: true})
		return
	}
	if s.foreignWarned.CompareAndSwap(false, true) {
		s.log.Warn("something else publishes discovery under this node id; give each agent its own [agent] id", "node", s.node.ID, "topic", topic)
	}
}

// replacesPerMinute bounds how often the agent republishes its configs
// over foreign ones: a publisher that keeps writing over them (a
// misconfigured bridge, a script in a loop) must not start a publishing
// race that floods the broker.
const replacesPerMinute = 100

// replaceBudget reports whether one more replacement fits in this minute.
func (s *session) replaceBudget() bool {
	s.replaceMu.Lock()
	defer s.replaceMu.Unlock()
	now := s.clock.Now()
	if now.Sub(s.replaceWindow) >= time.Minute {
		s.replaceWindow, s.replaceCount = now, 0
	}
	if s.replaceCount >= replacesPerMinute {
		return false
	}
	s.replaceCount++
	return true
}

// command parses a command for its entity and queues it for the device.
func (s *session) command(topic string, payload []byte) {
	dev, entity, ok := s.node.ParseCommandTopic(topic)
	d := s.devices[dev]
	if !ok || d == nil {
		s.log.Warn("command for an unknown device; ignored", "topic", topic)
		return
	}
	e, ok := d.entities[entity]
	if !ok {
		s.log.Warn("command for an unknown entity; ignored", "topic", topic)
		return
	}
	if !discovery.Commandable(e) {
		s.log.Warn("command for an entity that takes none; ignored", "topic", topic, "component", discovery.Component(e))
		return
	}
	c, err := discovery.ParseCommand(e, payload)
	if err != nil {
		s.log.Warn("invalid command; ignored", "topic", topic, "err", err)
		return
	}
	if !d.enqueue(command{entity: entity, cmd: c, source: topic}) {
		s.log.Warn("device busy: command queue full; command dropped", "topic", topic, "queue", commandQueueLen)
	}
}

// close ends the session: what the devices left in the outbox goes out,
// then offline (the broker drops the will on a clean disconnect, so it
// must be said), and nothing after it.
func (s *session) close() {
	if s.client.IsConnectionOpen() && s.held.Load() {
		s.drain()
	}
	s.closed.Store(true)
	s.birthMu.Lock()
	if s.birthTimer != nil {
		s.birthTimer.Stop()
		s.birthTimer = nil
	}
	s.birthMu.Unlock()
	s.out.close()
	s.cancel()
	<-s.done
	// Only the holder speaks for the node: an agent that was refused it,
	// or was still claiming it, leaves its status to the holder.
	if s.client.IsConnectionOpen() && s.held.Load() {
		t := s.client.Publish(s.node.StatusTopic(), 1, true, discovery.PayloadOffline)
		var err error
		if !t.WaitTimeout(offlineWait) {
			err = fmt.Errorf("no answer from the broker within %v", offlineWait)
		} else {
			err = t.Error()
		}
		if err != nil {
			s.log.Warn("could not publish offline before exit; the broker will not send the will after a clean disconnect", "topic", s.node.StatusTopic(), "err", err)
		}
	}
	s.client.Disconnect(250)
}

// truncate shortens s, on a rune boundary, for logs.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
