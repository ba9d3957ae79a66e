package gpio

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/drivers/sim"
)

// deadline bounds every wait in these tests. It is generous on purpose:
// it only decides when a test gives up, never what passes.
const deadline = 10 * time.Second

// newDevice builds a device from src as the agent would, or fails the
// test.
func newDevice(t *testing.T, id, src string) drivers.Device {
	t.Helper()
	return drivertest.Device[drivers.Device](t, New, id, src)
}

// testHost is the simulated board with the seams a test needs: a clock it
// controls, a logger it reads and lines it can wrap to misbehave.
type testHost struct {
	*sim.Host
	clock drivers.Clock // nil: the simulated board's
	logs  *logRecorder
	wrap  func(gpio.PinIO) gpio.PinIO // nil: the simulated line itself
}

func newTestHost(t *testing.T) *testHost {
	return &testHost{Host: drivertest.Host(t), logs: &logRecorder{}}
}

func (h *testHost) GPIO(name string) (gpio.PinIO, error) {
	p, err := h.Host.GPIO(name)
	if err != nil || h.wrap == nil {
		return p, err
	}
	return h.wrap(p), nil
}

func (h *testHost) Clock() drivers.Clock {
	if h.clock != nil {
		return h.clock
	}
	return h.Host.Clock()
}

func (h *testHost) Logger() *slog.Logger { return slog.New(h.logs) }

// logRecorder is a slog.Handler that keeps the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}

// count returns how many messages contain s.
func (r *logRecorder) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

// stepClock is a clock whose Sleep blocks until the test releases it, so a
// test decides exactly what happens on the line during a debounce delay or
// between two polls.
type stepClock struct {
	sleeps chan time.Duration
	wake   chan struct{}
}

func newStepClock() *stepClock {
	return &stepClock{sleeps: make(chan time.Duration), wake: make(chan struct{})}
}

func (c *stepClock) Now() time.Time { return time.Now() }

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case c.sleeps <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// asleep waits until the driver sleeps and checks for how long.
func (c *stepClock) asleep(t *testing.T, want time.Duration) {
	t.Helper()
	select {
	case d := <-c.sleeps:
		if d != want {
			t.Fatalf("driver sleeps %v, want %v", d, want)
		}
	case <-time.After(deadline):
		t.Fatalf("driver did not sleep %v within %v", want, deadline)
	}
}

// release ends the sleep the driver is in.
func (c *stepClock) release(t *testing.T) {
	t.Helper()
	select {
	case c.wake <- struct{}{}:
	case <-time.After(deadline):
		t.Fatalf("driver was not sleeping")
	}
}

// states returns the on/off states in readings, checking that each
// reading is an on/off of the input entity.
func states(t *testing.T, rs []drivers.Reading) []bool {
	t.Helper()
	out := make([]bool, len(rs))
	for i, r := range rs {
		if r.Entity != EntityInput || r.Value.Kind != drivers.ValueBool {
			t.Fatalf("emit %d: %q = %v, want an on/off of %q", i, r.Entity, r.Value, EntityInput)
		}
		out[i] = r.Value.Bool
	}
	return out
}

// waitStates waits until w emitted n states and returns them all.
func waitStates(t *testing.T, w *drivertest.Watch, n int) []bool {
	t.Helper()
	return states(t, w.WaitFor(t, n))
}

// stopBy ends a running Watch the way how says — "cancel" its context or
// "close" the device — and returns what Watch returned.
func stopBy(t *testing.T, how string, d drivers.Device, w *drivertest.Watch) error {
	t.Helper()
	if how == "cancel" {
		return w.Stop(t)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return w.Wait(t)
}
