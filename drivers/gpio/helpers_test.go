package gpio

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

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
// controls, a logger it reads and lines it can wrap to misbehave or to
// watch what the driver does.
type testHost struct {
	*sim.Host
	clock   drivers.Clock // nil: the simulated board's
	logs    *logRecorder
	wrap    func(gpio.PinIO) gpio.PinIO   // nil: the simulated line itself
	wrapPWM func(gpio.PinOut) gpio.PinOut // nil: the simulated line itself
	// provided maps lines another device provides ("relays/GPA0") to
	// lines of the board, as the agent's host does for a provider's lines.
	provided map[string]string
}

func newTestHost(t *testing.T) *testHost {
	return &testHost{Host: drivertest.Host(t), logs: &logRecorder{}}
}

// GPIO implements drivers.GPIOHost.
func (h *testHost) GPIO(name string) (gpio.PinIO, error) {
	if board, ok := h.provided[name]; ok {
		name = board
	}
	p, err := h.Host.GPIO(name)
	if err != nil || h.wrap == nil {
		return p, err
	}
	return h.wrap(p), nil
}

// PWM implements drivers.PWMHost.
func (h *testHost) PWM(name string) (gpio.PinOut, error) {
	p, err := h.Host.PWM(name)
	if err != nil || h.wrapPWM == nil {
		return p, err
	}
	return h.wrapPWM(p), nil
}

// Clock implements drivers.Host.
func (h *testHost) Clock() drivers.Clock {
	if h.clock != nil {
		return h.clock
	}
	return h.Host.Clock()
}

// Logger implements drivers.Host.
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
// test decides exactly what happens on the line during a debounce delay,
// between two polls or during a pulse.
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

// watched is a line that records what the driver does to it and wakes the
// test at each call, so that a test waits for the driver's next step on
// the line rather than for time to pass.
type watched struct {
	gpio.PinIO

	mu      sync.Mutex
	outs    []gpio.Level
	pwms    []pwmCall
	reads   int
	halts   int
	changed chan struct{} // closed and replaced at each call
}

// pwmCall is one call of PWM.
type pwmCall struct {
	Duty gpio.Duty
	Freq physic.Frequency
}

func watch(p gpio.PinIO) *watched {
	return &watched{PinIO: p, changed: make(chan struct{})}
}

// note records a call with f and wakes the waiters.
func (w *watched) note(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f()
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *watched) Out(l gpio.Level) error {
	err := w.PinIO.Out(l)
	w.note(func() { w.outs = append(w.outs, l) })
	return err
}

func (w *watched) PWM(d gpio.Duty, f physic.Frequency) error {
	err := w.PinIO.PWM(d, f)
	w.note(func() { w.pwms = append(w.pwms, pwmCall{d, f}) })
	return err
}

func (w *watched) Read() gpio.Level {
	l := w.PinIO.Read()
	w.note(func() { w.reads++ })
	return l
}

func (w *watched) Halt() error {
	err := w.PinIO.Halt()
	w.note(func() { w.halts++ })
	return err
}

// Outs returns the levels the driver set with Out, in order.
func (w *watched) Outs() []gpio.Level {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.outs)
}

// PWMs returns the driver's PWM calls, in order.
func (w *watched) PWMs() []pwmCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.pwms)
}

// Reads returns how many times the driver read the line.
func (w *watched) Reads() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reads
}

// until waits until cond holds of the line's record, checked at each call
// of the driver, or fails the test saying what it waited for.
func (w *watched) until(t *testing.T, what string, cond func(w *watched) bool) {
	t.Helper()
	timeout := time.After(deadline)
	for {
		w.mu.Lock()
		ch := w.changed
		w.mu.Unlock()
		if cond(w) {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("waited %v for %s; outs %v, PWM %v, reads %d", deadline, what, w.Outs(), w.PWMs(), w.Reads())
		}
	}
}

// watchLines makes h hand out watched lines, and returns them by name as
// the driver opens them.
func watchLines(h *testHost) func(name string) *watched {
	var mu sync.Mutex
	lines := map[string]*watched{}
	get := func(p gpio.PinIO) *watched {
		mu.Lock()
		defer mu.Unlock()
		w, ok := lines[p.Name()]
		if !ok {
			w = watch(p)
			lines[p.Name()] = w
		}
		return w
	}
	h.wrap = func(p gpio.PinIO) gpio.PinIO { return get(p) }
	h.wrapPWM = func(p gpio.PinOut) gpio.PinOut {
		pio, ok := p.(gpio.PinIO)
		if !ok {
			return p
		}
		return get(pio)
	}
	return func(name string) *watched {
		l := h.Line(name)
		if l == nil {
			return nil
		}
		return get(l)
	}
}

// wantLevel is the level a line must show: High for ON, Low for ON on an
// active-low (inverted) line. It is spelled out here rather than taken
// from the driver so that the tests check the driver's mapping.
func wantLevel(on, inverted bool) gpio.Level {
	switch {
	case on && !inverted, !on && inverted:
		return gpio.High
	}
	return gpio.Low
}

// bools returns the on/off of each value, failing the test for a value
// that is no on/off.
func bools(t *testing.T, vs []drivers.Value) []bool {
	t.Helper()
	out := make([]bool, len(vs))
	for i, v := range vs {
		if v.Kind != drivers.ValueBool {
			t.Fatalf("state %d is %v, want an on/off", i, v)
		}
		out[i] = v.Bool
	}
	return out
}

// command is a command with no value.
func command(a drivers.Action) drivers.Command { return drivers.Command{Action: a} }
