package drivertest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
)

// Host returns a simulated board (sim.NewHost) whose logger writes to
// t.Log, closed when the test ends. Attach chips and serial peers to it, and
// drive its lines, before handing it to a device's Open.
//
// Close runs in a t.Cleanup registered here, so cleanups the test registers
// later (closing the device, stopping a Watch) run before it.
func Host(t testing.TB) *sim.Host {
	t.Helper()
	h := sim.NewHost(Logger(t))
	t.Cleanup(func() { h.Close() })
	return h
}

// Open opens d through h, as the agent does before it reads, watches or
// commands a device, and closes d when the test ends. The test fails at
// once if Open fails. Close's error is not checked: a test that cares
// calls Close itself (a second Close must be harmless). Cleanups run last
// first, so d closes before a Host made earlier, and after a Watch started
// later (StartWatch) has stopped.
func Open(t testing.TB, d drivers.Device, h drivers.Host) {
	t.Helper()
	if err := d.Open(context.Background(), h); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
}

// Logger returns a logger that writes each record to t.Log, at every
// level, without the time (the test's output has its own order). Records
// logged after the test ended are dropped rather than passed to t.Log,
// which would panic: a driver's goroutine may outlive the test by a moment.
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
