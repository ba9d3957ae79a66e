// Package mqttbroker runs the embedded MQTT broker (mochi-mqtt v2) that
// serves `broker = "embedded"`: one process is enough on a machine with no
// broker, and tests need no external one.
//
// It must deliver what Mosquitto delivers. mochi v2.7.9 acknowledges a QoS 1
// or 2 PUBLISH (PUBACK, PUBREC) before it hands the message to subscribers,
// and when that write fails it gives up on the message: a client that
// publishes and disconnects at once, and whose connection is reset by then
// (a one-shot script that exits with a CONNACK unread), lost nearly every
// message. The broker therefore serves its clients through connections on
// which a write to a peer that reset the connection counts as written (see
// peerConn): those bytes would have been lost a moment later anyway, reads
// still see the reset, so the connection ends at its next read as before,
// but the message already read is delivered first.
//
// A connection that ends without a DISCONNECT is logged in one line: the
// client id, the remote address and the reason.
//
// A client may send no packet larger than MaxPacketSize (mochi's
// Capabilities.MaximumPacketSize, which mochi checks on the fixed header
// of every packet, before reading its body, for MQTT 3.1.1 clients as for
// 5): a larger one ends the client's connection ("packet too large") and
// nothing of it is held, so a 200 MB publish costs the broker nothing.
package mqttbroker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// MaxPacketSize is the largest packet, in bytes, that the broker takes
// from a client unless Options say otherwise: Home Assistant's commands
// and discovery configs are a few KiB at most, and the agent ignores
// payloads over 64 KiB anyway.
const MaxPacketSize = 256 << 10

// Broker is a running embedded broker.
type Broker struct {
	srv       *mqtt.Server
	l         *listener
	tls       bool
	closeOnce sync.Once
}

// Options are the broker's settings beyond its address.
type Options struct {
	// TLS, if set, makes the broker serve TLS only (clients connect to
	// ssl://); with ClientAuth set to tls.RequireAndVerifyClientCert it
	// asks clients for certificates.
	TLS *tls.Config
	// MaxPacketSize is the largest packet a client may send, in bytes; 0
	// means the package's MaxPacketSize.
	MaxPacketSize uint32
}

// Start listens on addr ("127.0.0.1:1883"; port 0 picks a free one) and
// serves MQTT 3.1.1 and 5 clients without authentication, so bind it to
// loopback unless the network is trusted. log may be nil.
func Start(addr string, log *slog.Logger) (*Broker, error) {
	return StartOptions(addr, log, Options{})
}

// StartOptions is Start with options.
func StartOptions(addr string, log *slog.Logger, o Options) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = o.MaxPacketSize
	if caps.MaximumPacketSize == 0 {
		caps.MaximumPacketSize = MaxPacketSize
	}
	srv := mqtt.New(&mqtt.Options{InlineClient: false, Logger: slog.New(brokerLog{log.Handler()}), Capabilities: caps})
	for _, h := range []mqtt.Hook{new(auth.AllowHook), new(sessions)} {
		if err := srv.AddHook(h, nil); err != nil {
			return nil, fmt.Errorf("embedded broker: add hook %s: %w", h.ID(), err)
		}
	}
	l := &listener{
		TCP:   listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "tcp", Address: addr, TLSConfig: o.TLS}),
		log:   log,
		conns: map[*peerConn]bool{},
	}
	if err := srv.AddListener(l); err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w (is another broker, or another pinion, running there? set [mqtt] listen to another address such as 127.0.0.1:1884; or, if it is a broker and not a pinion with the same [agent] id, use it with -broker tcp://%s)", addr, err, addr)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedded broker: serve: %w", err)
	}
	return &Broker{srv: srv, l: l, tls: o.TLS != nil}, nil
}

// Addr is the address the broker listens on, with the real port.
func (b *Broker) Addr() string { return b.l.Address() }

// URL is the broker's address as a client URL: tcp://host:port, or
// ssl://host:port with TLS.
func (b *Broker) URL() string {
	if b.tls {
		return "ssl://" + b.Addr()
	}
	return "tcp://" + b.Addr()
}

// Close disconnects every client and stops listening. Clients see their
// connection drop, so the broker sends their wills. A connection that has
// not finished its CONNECT is closed too (mochi alone would wait for it
// forever). When Close returns, nothing of the broker runs or logs any
// more. Calling it again does nothing.
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.l.shutdown()
		// Every connection ends before mochi's Close: its Close takes
		// the client list's read lock twice over (Clients.GetByListener
		// calls Len), so a connection ending at the same moment, which
		// takes the write lock in between, deadlocks both (mochi v2.7.9).
		// Closed from here, a client's connection drops as it would at
		// mochi's Close, and the broker sends its will.
		b.l.closeAll()
		b.l.active.Wait()
		err = b.srv.Close()
	})
	return err
}

// listener is mochi's TCP listener with every accepted connection wrapped
// in a peerConn and tracked until it ends, and with the end of each
// connection logged by the broker rather than by mochi (which logs an
// empty message with the bare error).
type listener struct {
	*listeners.TCP
	log *slog.Logger

	mu      sync.Mutex
	closing bool               // shutdown began: new connections are closed at once
	conns   map[*peerConn]bool // connections being served
	active  sync.WaitGroup     // one per connection being served
}

// Serve accepts connections until the listener is closed.
func (l *listener) Serve(establish listeners.EstablishFn) {
	l.TCP.Serve(func(id string, c net.Conn) error {
		pc := &peerConn{Conn: c, entered: make(chan struct{}), ended: make(chan struct{})}
		l.mu.Lock()
		if l.closing {
			l.mu.Unlock()
			_ = c.Close()
			return nil
		}
		l.conns[pc] = true
		l.active.Add(1)
		l.mu.Unlock()
		defer l.active.Done()
		err := establish(id, pc)
		close(pc.ended)
		l.mu.Lock()
		delete(l.conns, pc)
		l.mu.Unlock()
		logEnd(l.log, pc, err)
		return nil
	})
}

// shutdown prepares mochi's Close: no connection is served from now on,
// the ones whose session is not established yet are closed (mochi only
// disconnects the clients it has registered, and would wait for the others
// until they send something), and it returns once each tracked connection
// is inside mochi's accounting of client goroutines, so that mochi does
// not start waiting for them while one is still being added.
func (l *listener) shutdown() {
	l.mu.Lock()
	l.closing = true
	conns := make([]*peerConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.abortUnlessEstablished()
		// mochi adds a connection to its wait group before its first
		// read, so a connection that has read has been added.
		select {
		case <-c.entered:
		case <-c.ended:
		}
	}
}

// closeAll closes every connection being served.
func (l *listener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		_ = c.Conn.Close()
	}
}

// logEnd logs how a client connection ended, in one line, unless it ended
// well: with a DISCONNECT (err is nil), or closed by the broker itself at
// Close or when another connection took over the client id (net.ErrClosed).
func logEnd(log *slog.Logger, c *peerConn, err error) {
	if err == nil || errors.Is(err, net.ErrClosed) {
		return
	}
	args := []any{"remote", c.RemoteAddr().String(), "reason", reason(err)}
	if id := c.clientID(); id != "" {
		args = append([]any{"client", id}, args...)
	}
	log.Warn("mqtt client connection dropped", args...)
}

// reason says in a few words why a connection ended: the system's words for
// a network error without the addresses (logged beside it), mochi's reason
// for a protocol error.
func reason(err error) string {
	var code packets.Code
	var errno syscall.Errno
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by the client without DISCONNECT"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "keepalive expired: nothing from the client for 1.5 keepalive periods"
	case errors.As(err, &errno):
		return errno.Error()
	case errors.As(err, &code):
		if code.Reason != "" {
			return code.Reason
		}
	}
	return err.Error()
}

// peerConn is a client connection on which a write to a peer that has reset
// the connection (ECONNRESET, EPIPE) reports success.
//
// mochi treats a failed write as the end of the packet it is processing,
// and it writes a PUBLISH's acknowledgement before delivering it; without
// this, a message it has read is dropped because its publisher is gone.
// Nothing else changes: the peer could not have read those bytes either
// way, and the next read returns the reset, which ends the connection.
type peerConn struct {
	net.Conn
	entered   chan struct{} // closed at the first Read: mochi serves it
	ended     chan struct{} // closed when mochi is done with it
	enterOnce sync.Once

	mu          sync.Mutex
	id          string // the client id, once its CONNECT was read
	established bool   // mochi registered the client and acknowledged it
	aborted     bool   // closed by shutdown before that
}

// Read reads from the connection.
func (c *peerConn) Read(b []byte) (int, error) {
	c.enterOnce.Do(func() { close(c.entered) })
	return c.Conn.Read(b)
}

// Write writes b, or pretends to when the peer has reset the connection.
func (c *peerConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		return len(b), nil
	}
	return n, err
}

func (c *peerConn) clientID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// abortUnlessEstablished closes the connection unless mochi has registered
// its client, which mochi's Close then disconnects itself.
func (c *peerConn) abortUnlessEstablished() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.established {
		c.aborted = true
		_ = c.Conn.Close()
	}
}

// sessions records on each connection its client id, when the broker
// reads its CONNECT, so that the end of the connection can name it, and
// when the client's session is established, which is when mochi's Close
// will disconnect it.
type sessions struct{ mqtt.HookBase }

// ID names the hook.
func (*sessions) ID() string { return "pinion-sessions" }

// Provides says which events the hook handles.
func (*sessions) Provides(b byte) bool {
	return b == mqtt.OnConnect || b == mqtt.OnSessionEstablished
}

// OnConnect records cl's id on its connection.
func (*sessions) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	if c, ok := cl.Net.Conn.(*peerConn); ok {
		c.mu.Lock()
		c.id = cl.ID
		c.mu.Unlock()
	}
	return nil
}

// OnSessionEstablished marks cl's connection as registered with mochi.
func (*sessions) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if c, ok := cl.Net.Conn.(*peerConn); ok {
		c.mu.Lock()
		c.established = !c.aborted
		c.mu.Unlock()
	}
}

// brokerLog is the handler mochi logs through. It drops mochi's "error
// processing packet" warning, which dumps the whole packet struct (some
// 2 KB) and is followed by the end of the same connection, which the
// listener logs in one line; packets in other records (mochi's debug
// logs) are shortened to their type, id and topic.
type brokerLog struct{ slog.Handler }

// Handle passes r on, unless it is the warning described above.
func (h brokerLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "error processing packet" {
		return nil
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(shortPacket(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

// WithAttrs keeps the handler's filtering for a logger with attributes.
func (h brokerLog) WithAttrs(as []slog.Attr) slog.Handler {
	short := make([]slog.Attr, len(as))
	for i, a := range as {
		short[i] = shortPacket(a)
	}
	return brokerLog{h.Handler.WithAttrs(short)}
}

// WithGroup keeps the handler's filtering for a logger with a group.
func (h brokerLog) WithGroup(name string) slog.Handler {
	return brokerLog{h.Handler.WithGroup(name)}
}

// shortPacket replaces a packet value by a line such as
// "PUBLISH id=3 topic=a/b qos=1".
func shortPacket(a slog.Attr) slog.Attr {
	var pk packets.Packet
	switch v := a.Value.Any().(type) {
	case packets.Packet:
		pk = v
	case *packets.Packet:
		if v == nil {
			return a
		}
		pk = *v
	default:
		return a
	}
	s := packets.PacketNames[pk.FixedHeader.Type]
	if s == "" {
		s = fmt.Sprintf("type %d", pk.FixedHeader.Type)
	}
	if pk.PacketID != 0 {
		s += fmt.Sprintf(" id=%d", pk.PacketID)
	}
	if pk.TopicName != "" {
		s += fmt.Sprintf(" topic=%s qos=%d", pk.TopicName, pk.FixedHeader.Qos)
	}
	return slog.String(a.Key, s)
}
