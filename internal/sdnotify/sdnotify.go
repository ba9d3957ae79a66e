// Package sdnotify speaks systemd's notification protocol: READY=1,
// STOPPING=1 and WATCHDOG=1 sent as datagrams to the socket named by
// $NOTIFY_SOCKET (a path, or an abstract socket when it starts with '@').
// It is the protocol's few lines rather than a dependency; outside systemd
// (no $NOTIFY_SOCKET) every call does nothing.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/jonboulle/clockwork"
)

// Notifier sends state changes to systemd. The zero value, and one made
// without $NOTIFY_SOCKET, sends nothing.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration // WATCHDOG_USEC, 0 when systemd does not watch
}

// FromEnv returns the notifier that the service manager asked for through
// $NOTIFY_SOCKET and $WATCHDOG_USEC (and $WATCHDOG_PID: the watchdog is
// this process's only if the variable is unset or names it).
func FromEnv() (*Notifier, error) {
	n := &Notifier{}
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return n, nil
	}
	if sock[0] != '/' && sock[0] != '@' {
		return n, fmt.Errorf("NOTIFY_SOCKET=%q: want an absolute path or @abstract name", sock)
	}
	// A name starting with '@' is in the abstract namespace: package net
	// turns the '@' into the leading NUL that the kernel expects.
	n.addr = &net.UnixAddr{Name: sock, Net: "unixgram"}
	if us := os.Getenv("WATCHDOG_USEC"); us != "" {
		if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
			return n, nil
		}
		v, err := strconv.ParseUint(us, 10, 63)
		if err != nil || v == 0 {
			return n, fmt.Errorf("WATCHDOG_USEC=%q: want a positive number of microseconds", us)
		}
		n.watchdog = time.Duration(v) * time.Microsecond
	}
	return n, nil
}

// Enabled reports whether a service manager listens.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// WatchdogInterval is how often the service expects WATCHDOG=1: half of
// WATCHDOG_USEC, as sd_watchdog_enabled(3) advises; 0 when not watched.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog / 2
}

// Notify sends state, one or more "KEY=value" lines, in one datagram.
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	return nil
}

// Ready tells systemd that the service has started (Type=notify).
func (n *Notifier) Ready() error { return n.Notify("READY=1") }

// Stopping tells systemd that the service is shutting down.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1") }

// Watchdog pings WATCHDOG=1 every WatchdogInterval on clock until ctx ends, calling
// alive first when it is not nil: a ping is skipped while alive reports
// false, so that systemd restarts a service that is stuck. errf receives
// failed sends (it may be nil).
func (n *Notifier) Watchdog(ctx context.Context, clock clockwork.Clock, alive func() bool, errf func(error)) {
	iv := n.WatchdogInterval()
	if !n.Enabled() || iv <= 0 {
		return
	}
	t := clock.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
		if alive != nil && !alive() {
			continue
		}
		if err := n.Notify("WATCHDOG=1"); err != nil && errf != nil {
			errf(err)
		}
	}
}
