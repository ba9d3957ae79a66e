package drivertest

import (
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/pinion-home/pinion/drivers/sim"
)

// Host returns a simulated board (sim.NewHost) whose logger writes to
// t.Log, closed when the test ends. Attach chips and serial peers to it, and
// drive its lines, before handing it to a device's Open.
//
// Close runs in a t.Cleanup registered here, so cleanups the test registers
// later (closing a device opened with Open, and stopping its waiters) run
// before it.
func Host(t testing.TB) *sim.Host {
	t.Helper()
	h := sim.NewHost(Logger(t))
	t.Cleanup(func() { h.Close() })
	return h
}

// Logger returns a logger that writes each record to t.Log, at every
// level, without the time (the test's output has its own order). Records
// logged after the test ended are dropped rather than passed to t.Log,
// which would panic: a waiter may outlive the test by a moment.
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// testWriter passes each line the text handler writes to t.Log until the
// test ends.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}
