package sdnotify_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/pinion-home/pinion/internal/sdnotify"
)

const wait = 15 * time.Second

// listen is the service manager's end: a datagram socket at name (a path,
// or @abstract), returned with a function that reads the next datagram.
func listen(t *testing.T, name string) func() string {
	t.Helper()
	addr := name
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return func() string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read notification: %v", err)
		}
		return string(buf[:n])
	}
}

// socketPath is a path short enough for sun_path (108 bytes), which
// t.TempDir's may not be.
func socketPath(t *testing.T) string {
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "notify")
}

func TestNotify(t *testing.T) {
	for _, tt := range []struct {
		name string
		sock func(t *testing.T) string
	}{
		{"path", socketPath},
		{"abstract", func(*testing.T) string {
			return fmt.Sprintf("@pinion-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sock := tt.sock(t)
			next := listen(t, sock)
			t.Setenv("NOTIFY_SOCKET", sock)
			t.Setenv("WATCHDOG_USEC", "")
			n, err := sdnotify.FromEnv()
			if err != nil {
				t.Fatal(err)
			}
			if !n.Enabled() || n.WatchdogInterval() != 0 {
				t.Fatalf("enabled %v, watchdog %v", n.Enabled(), n.WatchdogInterval())
			}
			if err := n.Ready(); err != nil {
				t.Fatal(err)
			}
			if got := next(); got != "READY=1" {
				t.Fatalf("got %q, want READY=1", got)
			}
			if err := n.Stopping(); err != nil {
				t.Fatal(err)
			}
			if got := next(); got != "STOPPING=1" {
				t.Fatalf("got %q, want STOPPING=1", got)
			}
		})
	}
}

// Without NOTIFY_SOCKET (not run by systemd) nothing is sent and nothing fails.
func TestNotInSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "30000000")
	n, err := sdnotify.FromEnv()
	if err != nil || n.Enabled() {
		t.Fatalf("enabled %v, err %v", n.Enabled(), err)
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	n.Watchdog(context.Background(), clockwork.NewFakeClock(), nil, nil) // returns at once
}

func TestEnvErrors(t *testing.T) {
	for _, tt := range []struct{ sock, usec, pid string }{
		{"relative/path", "", ""},
		{"/run/x", "soon", ""},
		{"/run/x", "0", ""},
	} {
		t.Setenv("NOTIFY_SOCKET", tt.sock)
		t.Setenv("WATCHDOG_USEC", tt.usec)
		if _, err := sdnotify.FromEnv(); err == nil {
			t.Errorf("NOTIFY_SOCKET=%q WATCHDOG_USEC=%q: no error", tt.sock, tt.usec)
		}
	}
	// A watchdog meant for another process (WATCHDOG_PID) is not ours.
	t.Setenv("NOTIFY_SOCKET", "/run/x")
	t.Setenv("WATCHDOG_USEC", "1000000")
	t.Setenv("WATCHDOG_PID", "1")
	if n, err := sdnotify.FromEnv(); err != nil || n.WatchdogInterval() != 0 {
		t.Fatalf("watchdog %v, err %v", n.WatchdogInterval(), err)
	}
}

// WATCHDOG=1 goes out at half of WATCHDOG_USEC, and not while the agent
// says it is stuck.
func TestWatchdog(t *testing.T) {
	sock := socketPath(t)
	next := listen(t, sock)
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "20000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	n, err := sdnotify.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if got := n.WatchdogInterval(); got != 10*time.Second {
		t.Fatalf("interval %v, want 10s", got)
	}
	clock := clockwork.NewFakeClock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	alive := make(chan bool)
	go func() {
		defer close(done)
		n.Watchdog(ctx, clock, func() bool { return <-alive }, func(err error) { t.Error(err) })
	}()
	ctx2, c2 := context.WithTimeout(context.Background(), wait)
	defer c2()
	if err := clock.BlockUntilContext(ctx2, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	alive <- false // stuck: no ping
	clock.Advance(10 * time.Second)
	alive <- true
	if got := next(); got != "WATCHDOG=1" {
		t.Fatalf("got %q, want WATCHDOG=1", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Watchdog did not return after its context ended")
	}
}
