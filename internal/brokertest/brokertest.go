// Package brokertest starts MQTT brokers for tests: the embedded one, or a
// real Mosquitto process on a free loopback port, and a TCP proxy that can
// cut connections to simulate a network that goes away.
package brokertest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pinion-home/pinion/internal/mqttbroker"
)

// RequireMosquittoEnv names the environment variable that turns a missing
// mosquitto binary from a skip into a failure; CI sets it so the Mosquitto
// suite cannot be skipped silently.
const RequireMosquittoEnv = "PINION_REQUIRE_MOSQUITTO"

// Embedded starts the embedded broker on a free loopback port and returns
// its URL. It stops when the test ends.
func Embedded(t testing.TB) string {
	t.Helper()
	b, err := mqttbroker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatalf("start embedded broker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b.URL()
}

// Mosquitto starts a mosquitto process on a free loopback port and returns
// its URL; it is killed when the test ends. Without the binary the test is
// skipped, unless PINION_REQUIRE_MOSQUITTO=1, when it fails.
func Mosquitto(t testing.TB) string {
	t.Helper()
	return StartMosquitto(t).URL()
}

// Broker is a Mosquitto process a test can kill and start again on the
// same port, as a broker that crashes and is restarted by systemd.
type Broker struct {
	t    testing.TB
	bin  string
	conf string
	log  string
	addr string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMosquitto starts Mosquitto as Mosquitto does and returns it; it is
// killed when the test ends. It keeps no retained messages across a
// restart (persistence off), like a broker that lost its state.
func StartMosquitto(t testing.TB) *Broker {
	t.Helper()
	return startMosquitto(t, "")
}

// startMosquitto starts Mosquitto with the lines in extra added to its
// one listener's settings.
func startMosquitto(t testing.TB, extra string) *Broker {
	t.Helper()
	b := newMosquitto(t, extra)
	t.Cleanup(b.Kill)
	if err := b.start(); err != nil {
		t.Fatal(err)
	}
	return b
}

// URL is the broker's URL.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Kill kills the broker with SIGKILL and waits for it to be gone: clients
// see their connections drop, and connecting is refused until Restart.
func (b *Broker) Kill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	<-b.done
	b.cmd = nil
}

// Restart starts the broker again on the same port, once killed, and
// returns when it accepts connections.
func (b *Broker) Restart() {
	b.t.Helper()
	if err := b.start(); err != nil {
		b.t.Fatal(err)
	}
}

func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return nil
	}
	// The port of a killed broker may be held for a moment by the kernel
	// (the listening socket closing): try again, bounded.
	deadline := time.Now().Add(30 * time.Second)
	for {
		logf, err := os.OpenFile(b.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		cmd := exec.Command(b.bin, "-c", b.conf)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return fmt.Errorf("start mosquitto: %w", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
		for {
			c, err := net.Dial("tcp", b.addr)
			if err == nil {
				c.Close()
				b.cmd, b.done = cmd, done
				return nil
			}
			exited := false
			select {
			case <-done:
				exited = true
			default:
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				<-done
				out, _ := os.ReadFile(b.log)
				return fmt.Errorf("mosquitto did not listen on %s within 30s:\n%s", b.addr, out)
			}
			if exited {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newMosquitto(t testing.TB, extra string) *Broker {
	t.Helper()
	bin := ""
	for _, p := range []string{"mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if found, err := exec.LookPath(p); err == nil {
			bin = found
			break
		}
	}
	if bin == "" {
		if os.Getenv(RequireMosquittoEnv) == "1" {
			t.Fatalf("mosquitto is not installed but %s=1: install it (apt-get install -y mosquitto)", RequireMosquittoEnv)
		}
		t.Skip("mosquitto not installed (apt-get install -y mosquitto); set " + RequireMosquittoEnv + "=1 to make this a failure")
	}
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n%s", port, extra)
	if os.Geteuid() == 0 {
		// Run as root, mosquitto drops to user mosquitto, which cannot
		// read the test's files (its temporary directories are 0700).
		body = "user root\n" + body
	}
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return &Broker{
		t:    t,
		bin:  bin,
		conf: conf,
		log:  filepath.Join(dir, "mosquitto.log"),
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Proxy forwards TCP connections to a broker so a test can cut them, as a
// network failure would: the broker sees the connection drop without an
// MQTT DISCONNECT and publishes the client's will.
type Proxy struct {
	target  string
	l       net.Listener
	mu      sync.Mutex
	conns   []net.Conn
	paused  bool
	stalled bool
	open    *sync.Cond // signalled when a stall ends
}

// NewProxy starts a proxy to brokerURL (tcp://host:port) and returns it;
// URL() is what clients connect to.
func NewProxy(t testing.TB, brokerURL string) *Proxy {
	t.Helper()
	host := brokerURL[len("tcp://"):]
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: host, l: l}
	p.open = sync.NewCond(&p.mu)
	go p.serve()
	t.Cleanup(func() { p.Unstall(); l.Close(); p.Cut() })
	return p
}

// URL is the proxy's address as a broker URL.
func (p *Proxy) URL() string { return "tcp://" + p.l.Addr().String() }

func (p *Proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		paused := p.paused
		p.mu.Unlock()
		if paused {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipeUp(up, c)
		go pipe(c, up)
	}
}

// pipe copies until either side closes; a cut connection ends here.
func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// pipeUp copies what clients send to the broker, unless stalled.
func (p *Proxy) pipeUp(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		p.waitOpen()
		n, err := src.Read(buf)
		if n > 0 {
			p.waitOpen()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) waitOpen() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.stalled {
		p.open.Wait()
	}
}

// Stall stops reading what clients send, as a broker that hangs does: the
// connections stay open, their sockets fill up, and nothing they send
// reaches the broker until Unstall. What the broker sends still arrives.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
}

// Unstall lets what clients send through again, in order.
func (p *Proxy) Unstall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
	p.open.Broadcast()
}

// Cut closes every connection through the proxy. New connections are still
// accepted unless Pause is in effect.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Pause cuts every connection and refuses new ones until Resume, like a
// broker that went away.
func (p *Proxy) Pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
	p.Cut()
}

// Resume accepts connections again.
func (p *Proxy) Resume() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
}
