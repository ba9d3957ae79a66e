package agent

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
)

// Every token wait is bounded (paho #613): a broker that stops answering
// must not freeze the agent.
const (
	tokenTimeout  = 10 * time.Second
	offlineWait   = 3 * time.Second
	birthMaxDelay = 2 * time.Second
)

// session is the agent's MQTT connection. It follows paho's rules: options
// from NewClientOptions, the will set before NewClient, handlers that never
// block, and subscriptions, availability and discovery redone in OnConnect.
type session struct {
	log       *slog.Logger
	broker    string // for logs, without a password
	node      discovery.Node
	client    mqtt.Client
	discovery []discovery.Message
	agent     []discovery.Message // the agent's own states
	known     map[string]bool     // our discovery topics, for ghost cleanup
	states    map[string]bool     // our state and status topics, for the sweep
	devices   map[string]*device

	birthMu    sync.Mutex
	birthTimer *time.Timer

	connMu  sync.Mutex
	connEnd context.CancelFunc // ends the goroutines of the current connection

	foreign sync.Map // discovery topics another agent was seen publishing under our node id

	attempt atomic.Int64 // connection attempts since the last success

	clientID    string
	connectedAt atomic.Int64 // unix nanoseconds of the last successful connect
	quickDrops  atomic.Int64 // connections in a row lost soon after they were made
}

type sessionConfig struct {
	Broker    string
	ClientID  string
	Username  string
	Password  string
	Keepalive time.Duration
}

func newSession(log *slog.Logger, cfg sessionConfig, node discovery.Node, msgs []discovery.Message, devs []*device, version string) (*session, error) {
	agentStates, err := discovery.AgentStates(node, version, time.Now())
	if err != nil {
		return nil, fmt.Errorf("agent states: %w", err)
	}
	s := &session{
		log:       log.With("component", "mqtt"),
		broker:    redact(cfg.Broker),
		clientID:  cfg.ClientID,
		node:      node,
		discovery: msgs,
		agent:     agentStates,
		known:     map[string]bool{},
		states:    map[string]bool{},
		devices:   map[string]*device{},
	}
	for _, m := range msgs {
		s.known[m.Topic] = true
	}
	for _, m := range agentStates {
		s.states[m.Topic] = true
	}
	for _, d := range devs {
		s.devices[d.id] = d
		s.states[node.DeviceStatusTopic(d.id)] = true
		for id := range d.entities {
			s.states[node.StateTopic(d.id, id)] = true
		}
	}
	// Commands must reach a device in the order they were sent: with
	// SetOrderMatters(false) paho runs each message's handler on its own
	// goroutine, and ON, OFF sent quickly could leave a relay ON. Handlers
	// stay non-blocking (they only queue, or hand publishing to a
	// goroutine), which is what ordered delivery asks of them.
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetKeepAlive(cfg.Keepalive).
		SetCleanSession(true).
		SetStore(newCopyingStore()).
		SetProtocolVersion(4).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2*time.Second).
		SetMaxReconnectInterval(30*time.Second).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(tokenTimeout).
		SetWill(node.StatusTopic(), "offline", 1, true).
		SetOnConnectHandler(s.onConnect).
		SetConnectionLostHandler(s.connectionLost).
		SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
			s.log.Debug("reconnecting", "broker", s.broker)
		}).
		SetConnectionNotificationHandler(s.notify)
	s.client = mqtt.NewClient(opts)
	return s, nil
}

// quickDrop is how soon after connecting a lost connection counts as
// dropped by the broker rather than by the network.
const quickDrop = 10 * time.Second

// connectionLost ends the connection's goroutines and says why the
// connection may have been lost. Brokers drop the older of two clients
// with the same client id, and two agents given the same [agent] id (two
// Pis both called raspberrypi, or a second demo pointed at the first's
// broker) then knock each other off the broker forever.
func (s *session) connectionLost(_ mqtt.Client, err error) {
	// The connection's goroutines are not cancelled here: paho runs this
	// handler on a goroutine of its own, possibly after the next
	// connection's OnConnect began, whose context it would cancel. The
	// next OnConnect, or close, ends them.
	s.log.Warn("connection lost; reconnecting", "broker", s.broker, "err", err)
	if time.Since(time.Unix(0, s.connectedAt.Load())) > quickDrop {
		s.quickDrops.Store(0)
		return
	}
	if n := s.quickDrops.Add(1); n == 3 || n%20 == 0 {
		s.log.Warn("the broker keeps dropping the connection right after it is made: another client may be using the same client id, such as a second pinion with the same [agent] id; give each agent its own [agent] id or [mqtt] client_id",
			"client_id", s.clientID, "drops", n)
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

// notify logs failed connection attempts, so someone watching the log of
// an agent that cannot reach its broker learns why: the first failure, and
// then every 30th while the broker stays unreachable.
func (s *session) notify(_ mqtt.Client, n mqtt.ConnectionNotification) {
	switch n := n.(type) {
	case mqtt.ConnectionNotificationConnecting:
		s.attempt.Add(1)
	case mqtt.ConnectionNotificationConnected:
		s.attempt.Store(0)
		s.connectedAt.Store(time.Now().UnixNano())
	case mqtt.ConnectionNotificationFailed:
		// Sent for every failed attempt, whether the broker could not be
		// reached or refused the login (paho's BrokerFailed covers only
		// the former).
		if a := s.attempt.Load(); a <= 1 || a%30 == 0 {
			s.log.Warn("cannot connect to the broker; retrying", "broker", s.broker, "attempt", a, "err", n.Reason, "hint", connectHint(n.Reason))
		}
	}
}

// connectHint says what to check for the common connection failures.
func connectHint(err error) string {
	if err == nil {
		return ""
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
	}
	return ""
}

// connect starts connecting; it does not wait for the broker, which may
// come up after the agent (ConnectRetry keeps trying, OnConnect does the
// setup).
func (s *session) connect() {
	s.client.Connect()
}

// subscribeRetryMax bounds the wait between attempts to subscribe.
const subscribeRetryMax = 30 * time.Second

// onConnect runs on its own goroutine for every (re)connection. Until the
// subscriptions are granted nothing is published: an entity announced
// online whose commands nobody receives would mislead Home Assistant.
func (s *session) onConnect(c mqtt.Client) {
	ctx := s.newConnection()
	s.log.Info("connected", "status_topic", s.node.StatusTopic())
	subs := map[string]byte{
		s.node.CommandFilter(): 1,
		s.node.BirthTopic():    1,
		s.node.ConfigFilter():  1,
	}
	for delay := time.Second; ; delay = min(2*delay, subscribeRetryMax) {
		err := s.subscribe(c, subs, s.route)
		if err == nil {
			break
		}
		s.log.Error("subscribing failed; commands are not received until it works", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	if ctx.Err() != nil {
		// Closed (or reconnected) while subscribing: an "online" now could
		// land after close's "offline".
		return
	}
	s.publishAll()
	s.sweep(ctx, c)
}

// newConnection ends the goroutines of the previous connection and returns
// the context of the new one.
func (s *session) newConnection() context.Context {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.connEnd != nil {
		s.connEnd()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.connEnd = cancel
	return ctx
}

// endConnection ends the goroutines of the current connection.
func (s *session) endConnection() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.connEnd != nil {
		s.connEnd()
		s.connEnd = nil
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
func (s *session) sweep(ctx context.Context, c mqtt.Client) {
	filter := s.node.StateTopic("+", "+")
	err := s.subscribe(c, map[string]byte{filter: 1}, func(_ mqtt.Client, m mqtt.Message) {
		if !m.Retained() || len(m.Payload()) == 0 || s.states[m.Topic()] {
			return
		}
		s.log.Info("clearing a retained state no longer in the config", "topic", m.Topic())
		go s.publish(m.Topic(), nil, true)
	})
	if err != nil {
		s.log.Warn("cannot look for stale retained states", "err", err)
		return
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(sweepWindow):
			s.logFailure(c.Unsubscribe(filter), "unsubscribe "+filter)
		}
	}()
}

// subscribe subscribes to filters and checks what the broker granted: a
// refusal (return code 0x80) completes the token without an error in paho,
// and some brokers refuse a subscription transiently (mochi, while a QoS 1
// message with the same packet id is in flight), so it is retried.
func (s *session) subscribe(c mqtt.Client, filters map[string]byte, handler mqtt.MessageHandler) error {
	var refused []string
	for attempt := 0; attempt < 3; attempt++ {
		t := c.SubscribeMultiple(filters, handler)
		if err := wait(t); err != nil {
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
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("subscribe: the broker refused %s (check its ACLs for this user)", strings.Join(refused, ", "))
}

// publishAll sends availability, discovery and every known state.
func (s *session) publishAll() {
	s.publish(s.node.StatusTopic(), []byte("online"), true)
	for _, m := range s.discovery {
		s.publish(m.Topic, m.Payload, true)
	}
	for _, m := range s.agent {
		s.publish(m.Topic, m.Payload, true)
	}
	for _, d := range s.devices {
		d.publishAll(s)
	}
}

// route dispatches every incoming message. It runs on paho's router
// goroutine, in the order messages arrived, and never blocks: commands go
// to the device's bounded queue, publishes to goroutines of their own.
func (s *session) route(_ mqtt.Client, m mqtt.Message) {
	topic := m.Topic()
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
	if s.birthTimer != nil {
		return
	}
	delay := time.Duration(rand.Int64N(int64(birthMaxDelay)))
	s.log.Info("Home Assistant came online; republishing discovery and states", "in", delay.Round(time.Millisecond))
	s.birthTimer = time.AfterFunc(delay, func() {
		s.birthMu.Lock()
		s.birthTimer = nil
		s.birthMu.Unlock()
		s.publishAll()
	})
}

// otherConfig handles a discovery config of this node that the agent does
// not publish itself (its own come back to it too). A retained one is an
// entity it published before that is no longer configured: it is removed
// with an empty retained config, so it does not linger in Home Assistant,
// which reads retained configs when it starts. A live one means another
// agent uses the same node id (two Pis both called raspberrypi), and the
// two would remove each other's entities whenever one restarts: that is
// said once per topic.
func (s *session) otherConfig(topic string, payload []byte, retained bool) {
	if len(payload) == 0 || s.known[topic] {
		return
	}
	if _, _, ok := s.node.ParseConfigTopic(topic); !ok {
		return
	}
	if retained {
		s.log.Info("removing entity no longer in the config", "topic", topic)
		go s.publish(topic, nil, true)
		return
	}
	if _, seen := s.foreign.LoadOrStore(topic, true); !seen {
		s.log.Warn("another agent publishes discovery under this node id; give each agent its own [agent] id", "node", s.node.ID, "topic", topic)
	}
}

func (s *session) command(topic string, payload []byte) {
	dev, entity, ok := s.node.ParseCommandTopic(topic)
	d := s.devices[dev]
	if !ok || d == nil {
		s.log.Warn("command for an unknown device; ignored", "topic", topic, "devices", s.deviceIDs())
		return
	}
	if _, ok := d.entities[entity]; !ok {
		s.log.Warn("command for an unknown entity; ignored", "topic", topic)
		return
	}
	c, err := ParseCommand(payload)
	if err != nil {
		s.log.Warn("invalid command; ignored", "topic", topic, "err", err)
		return
	}
	if !d.enqueue(command{entity: entity, cmd: c, source: topic}) {
		s.log.Warn("device busy: command queue full; command dropped", "topic", topic, "queue", commandQueueLen)
	}
}

func (s *session) deviceIDs() string {
	ids := make([]string, 0, len(s.devices))
	for id := range s.devices {
		ids = append(ids, id)
	}
	return strings.Join(ids, ", ")
}

// State implements sink.
func (s *session) State(device string, e drivers.Entity, v drivers.Value) {
	p, err := discovery.StatePayload(e, v)
	if err != nil {
		s.log.Warn("state not publishable", "device", device, "entity", e.ID, "value", v, "err", err)
		return
	}
	s.publish(s.node.StateTopic(device, e.ID), p, true)
}

// DeviceStatus implements sink.
func (s *session) DeviceStatus(device string, online bool) {
	p := "offline"
	if online {
		p = "online"
	}
	s.publish(s.node.DeviceStatusTopic(device), []byte(p), true)
}

// publish sends a message at QoS 1 without blocking the caller. While the
// connection is down it drops the message: states are kept by the devices
// and republished in full on reconnect. (paho still resends, on reconnect,
// the few messages in flight when the connection dropped, possibly after
// that republish (paho #731); the next interval's republish corrects them.)
func (s *session) publish(topic string, payload []byte, retained bool) {
	if !s.client.IsConnectionOpen() {
		return
	}
	t := s.client.Publish(topic, 1, retained, payload)
	go s.logFailure(t, "publish "+topic)
}

// errNoAnswer is a token wait that ran out: the broker, or the network to
// it, stopped answering.
var errNoAnswer = fmt.Errorf("no answer from the broker within %v", tokenTimeout)

// wait waits for t, bounded (paho #613), and returns why it failed: no
// answer in time, or the error the token completed with (a lost
// connection, a refusal).
func wait(t mqtt.Token) error {
	if !t.WaitTimeout(tokenTimeout) {
		return errNoAnswer
	}
	return t.Error()
}

// logFailure waits for t and logs what went wrong with op.
func (s *session) logFailure(t mqtt.Token, op string) {
	if err := wait(t); err != nil {
		s.log.Warn("MQTT operation failed", "op", op, "err", err)
	}
}

// close publishes offline (the broker drops the will on a clean
// disconnect, so it must be said) and disconnects.
func (s *session) close() {
	s.birthMu.Lock()
	if s.birthTimer != nil {
		s.birthTimer.Stop()
	}
	s.birthMu.Unlock()
	s.endConnection()
	if s.client.IsConnectionOpen() {
		t := s.client.Publish(s.node.StatusTopic(), 1, true, "offline")
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
