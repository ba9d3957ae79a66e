package mqttbroker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pinion-home/pinion/internal/logbuf"
)

// wait bounds every wait in these tests; it is only reached when something
// is broken.
const wait = 10 * time.Second

func TestStartPicksPortAndReleasesIt(t *testing.T) {
	b, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(b.Addr(), ":0") {
		t.Fatalf("Addr() = %s, want the real port", b.Addr())
	}
	// A full MQTT session, connected and cleanly disconnected, so Close does
	// not race the broker still setting up a half-open connection.
	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("probe"))
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect to the broker: %v", tok.Error())
	}
	c.Disconnect(100)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", b.Addr()); err == nil {
		c.Close()
		t.Fatal("broker still accepts connections after Close")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

func TestStartBusyAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Start(l.Addr().String(), nil)
	if err == nil || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("Start on a busy address: err=%v, want an error naming it", err)
	}
}

// mochi alone waits in Close for every connection to end, and one that
// never sends its CONNECT (a port scan, a telnet) never ends: the agent
// could not exit. Close must return anyway, with clients connected in
// every state.
func TestCloseDoesNotWaitForSilentConnections(t *testing.T) {
	out := newLogSink()
	b, err := Start("127.0.0.1:0", out.warnings())
	if err != nil {
		t.Fatal(err)
	}
	silent := dial(t, b.Addr())
	half := dial(t, b.Addr())
	// The first byte of a CONNECT, and nothing more.
	if _, err := half.Write([]byte{0x10}); err != nil {
		t.Fatal(err)
	}
	full := dial(t, b.Addr())
	connect(t, full, "full")
	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("paho").SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)

	done := make(chan error, 1)
	go func() { done <- b.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("Close did not return with a silent connection open")
	}
	// Every connection was closed by the broker.
	for name, conn := range map[string]net.Conn{"silent": silent, "half": half, "full": full} {
		if err := conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(conn); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s: the broker did not close it: %v", name, err)
		}
	}
	// A shutdown is not a dropped connection.
	if got := out.String(); got != "" {
		t.Errorf("Close logged:\n%s", got)
	}
}

// A connection that ends without a DISCONNECT is one short line with the
// client id (once known), the remote address and the reason; mochi's own
// warning, which dumps the whole packet struct, is gone.
func TestDroppedConnectionIsOneLine(t *testing.T) {
	tests := []struct {
		name   string
		client string // "" for no CONNECT
		send   []byte // after the CONNECT, if any
		reset  bool   // close with SO_LINGER 0
		reason string
	}{
		{name: "publish before connect", send: []byte{0x30, 0x03, 0x00, 0x01, 'x'},
			reason: `"protocol violation: first packet must be connect"`},
		{name: "closed without disconnect", client: "leaver",
			reason: `"closed by the client without DISCONNECT"`},
		{name: "reset", client: "crasher", reset: true,
			reason: `"connection reset by peer"`},
		{name: "second connect", client: "twice", send: connectPacket("twice"),
			reason: `"protocol violation: second connect packet"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := newLogSink()
			b, err := Start("127.0.0.1:0", out.warnings())
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			c := dial(t, b.Addr())
			if tt.client != "" {
				connect(t, c, tt.client)
			}
			if tt.send != nil {
				if _, err := c.Write(tt.send); err != nil {
					t.Fatal(err)
				}
			}
			if tt.reset {
				if err := c.(*net.TCPConn).SetLinger(0); err != nil {
					t.Fatal(err)
				}
			}
			local := c.LocalAddr().String()
			if tt.send == nil || tt.client == "" {
				c.Close()
			}
			line := waitLog(t, out, "mqtt client connection dropped")
			for _, want := range []string{"remote=" + local, "reason=" + tt.reason} {
				if !strings.Contains(line, want) {
					t.Errorf("line %q lacks %s", line, want)
				}
			}
			if hasClient := strings.Contains(line, "client="+tt.client+" "); tt.client != "" && !hasClient {
				t.Errorf("line %q does not name client %s", line, tt.client)
			}
			if tt.client == "" && strings.Contains(line, "client=") {
				t.Errorf("line %q names a client before any CONNECT", line)
			}
			// mochi's packet warning comes before the end of the
			// connection, so it would be in the log by now.
			if got := strings.TrimSpace(out.String()); strings.Count(got, "\n") != 0 || len(got) > 200 {
				t.Errorf("want one short line, got:\n%s", got)
			}
		})
	}
}

// A DISCONNECT is a clean end: nothing is logged.
func TestCleanDisconnectIsNotLogged(t *testing.T) {
	out := newLogSink()
	b, err := Start("127.0.0.1:0", out.warnings())
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("polite"))
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	c.Disconnect(waitMillis)
	// Close returns once every connection's end is handled and logged.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "" {
		t.Errorf("a clean disconnect was logged:\n%s", got)
	}
}

// waitMillis is wait as paho's Disconnect takes it.
const waitMillis = uint(wait / time.Millisecond)

func TestReason(t *testing.T) {
	opErr := func(op string, err error) error {
		return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, err)}
	}
	tests := []struct {
		err  error
		want string
	}{
		{io.EOF, "closed by the client without DISCONNECT"},
		{fmt.Errorf("read connection: %w", io.ErrUnexpectedEOF), "closed by the client without DISCONNECT"},
		{opErr("read", syscall.ECONNRESET), "connection reset by peer"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, "keepalive expired: nothing from the client for 1.5 keepalive periods"},
		{fmt.Errorf("read connection: %w", packets.ErrProtocolViolationRequireFirstConnect), "protocol violation: first packet must be connect"},
		{packets.ErrMalformedPacket, packets.ErrMalformedPacket.Reason},
		{errors.New("something else"), "something else"},
	}
	for _, tt := range tests {
		if got := reason(tt.err); got != tt.want {
			t.Errorf("reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestBrokerLogShortensPackets(t *testing.T) {
	var out logbuf.Buffer
	log := slog.New(brokerLog{slog.NewTextHandler(&out, nil)})
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "a/b", PacketID: 7, Payload: []byte("payload")}
	log.Debug("ignored below info")
	log.Info("failed publishing packet", "packet", pk, "client", "c1")
	log.With("pk", &pk).Info("with")
	log.Warn("error processing packet", "error", io.EOF, "pk", pk)
	got := out.String()
	for _, want := range []string{`packet="Publish id=7 topic=a/b qos=1" client=c1`, `msg=with pk="Publish id=7 topic=a/b qos=1"`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s:\n%s", want, got)
		}
	}
	for _, bad := range []string{"FixedHeader", "payload", "error processing packet"} {
		if strings.Contains(got, bad) {
			t.Errorf("log has %q:\n%s", bad, got)
		}
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connectPacket is an MQTT 3.1.1 CONNECT with a clean session, a 60 s
// keepalive and client id id.
func connectPacket(id string) []byte {
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, byte(len(id))}
	body = append(body, id...)
	return append([]byte{0x10, byte(len(body))}, body...)
}

// connect sends a CONNECT on c and reads the CONNACK.
func connect(t *testing.T, c net.Conn, id string) {
	t.Helper()
	if _, err := c.Write(connectPacket(id)); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil {
		t.Fatalf("read CONNACK: %v", err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK % x, want a success", ack)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
}

// logSink is a log buffer that signals every write.
type logSink struct {
	logbuf.Buffer
	wrote chan struct{} // one pending signal at most
}

func newLogSink() *logSink { return &logSink{wrote: make(chan struct{}, 1)} }

// Write appends p and signals.
func (l *logSink) Write(p []byte) (int, error) {
	n, err := l.Buffer.Write(p)
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return n, err
}

// warnings is a logger of warnings and errors into l.
func (l *logSink) warnings() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// waitLog waits for a line containing s and returns it.
func waitLog(t *testing.T, out *logSink, s string) string {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.Contains(l, s) {
				return l
			}
		}
		select {
		case <-out.wrote:
		case <-deadline.C:
			t.Fatalf("no log line with %q; log:\n%s", s, out.String())
		}
	}
}
