package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
)

// recorder is a sink that keeps what a device worker reported.
type recorder struct {
	mu     sync.Mutex
	states []string // "entity=value"
	status []bool
}

func (r *recorder) State(_ string, e drivers.Entity, v drivers.Value) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, e.ID+"="+v.String())
}

func (r *recorder) DeviceStatus(_ string, online bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = append(r.status, online)
}

func (r *recorder) snapshot() ([]string, []bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.states...), append([]bool(nil), r.status...)
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeDev is a scriptable device: a switch "relay" and a sensor "level".
type fakeDev struct {
	mu        sync.Mutex
	openFails int
	opens     int
	readPanic bool
	readErr   error
	setErr    error
	on        bool
	level     float64
	block     chan struct{} // Set blocks until closed, when set
	closed    bool
}

func (f *fakeDev) Info() drivers.Info { return drivers.Info{Model: "fake"} }
func (f *fakeDev) Entities() []drivers.Entity {
	return []drivers.Entity{
		{ID: "relay", Kind: drivers.KindSwitch, Precision: -1},
		{ID: "level", Kind: drivers.KindSensor, Unit: drivers.Percent, State: drivers.StateMeasurement, Precision: 0},
	}
}
func (f *fakeDev) Open(context.Context, drivers.Host) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	if f.openFails > 0 {
		f.openFails--
		return errors.New("not plugged in")
	}
	return nil
}
func (f *fakeDev) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}
func (f *fakeDev) Read(context.Context) ([]drivers.Reading, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readPanic {
		panic("driver bug")
	}
	if f.readErr != nil {
		return nil, f.readErr
	}
	return []drivers.Reading{
		{Entity: "relay", Value: drivers.Bool(f.on)},
		{Entity: "level", Value: drivers.Number(f.level, drivers.Percent)},
	}, nil
}
func (f *fakeDev) Set(_ context.Context, _ string, v drivers.Value) (drivers.Value, error) {
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.setErr != nil {
		return drivers.Value{}, f.setErr
	}
	f.on = v.Bool
	return drivers.Bool(f.on), nil
}

func (f *fakeDev) set(fn func(*fakeDev)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// runFake starts a worker for f with a short interval and returns its
// recorder; the worker stops at test end.
func runFake(t *testing.T, f *fakeDev, interval time.Duration) (*device, *recorder) {
	t.Helper()
	old := openRetryMin
	openRetryMin = 10 * time.Millisecond
	t.Cleanup(func() { openRetryMin = old })
	d := newDevice(DeviceConfig{ID: "dev", Driver: "fake", Interval: interval, Device: f}, sim.NewHost(nil), slog.New(slog.DiscardHandler))
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.run(ctx, rec); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if !f.closed {
			t.Error("the device was not closed when the worker stopped")
		}
	})
	return d, rec
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestDeviceOpenRetriesUntilItWorks(t *testing.T) {
	f := &fakeDev{openFails: 2, level: 40}
	_, rec := runFake(t, f, time.Hour)
	waitFor(t, "the first reading", func() bool { s, _ := rec.snapshot(); return contains(s, "level=40 %") })
	_, status := rec.snapshot()
	if len(status) == 0 || status[0] || !status[len(status)-1] {
		t.Fatalf("status reports %v: want offline while open fails, then online", status)
	}
	if f.opens != 3 {
		t.Fatalf("opened %d times, want 3", f.opens)
	}
}

func TestDevicePanicIsContained(t *testing.T) {
	f := &fakeDev{readPanic: true}
	_, rec := runFake(t, f, 20*time.Millisecond)
	waitFor(t, "offline after the panic", func() bool { _, st := rec.snapshot(); return len(st) > 0 && !st[len(st)-1] })
	f.set(func(f *fakeDev) { f.readPanic = false; f.level = 7 })
	waitFor(t, "recovery", func() bool {
		s, st := rec.snapshot()
		return contains(s, "level=7 %") && st[len(st)-1]
	})
}

func TestDeviceStatesOnChangeAndRepublish(t *testing.T) {
	f := &fakeDev{level: 5}
	_, rec := runFake(t, f, 30*time.Millisecond)
	// The value does not change, yet it is published again every interval.
	waitFor(t, "three publications of an unchanged value", func() bool {
		s, _ := rec.snapshot()
		n := 0
		for _, x := range s {
			if x == "level=5 %" {
				n++
			}
		}
		return n >= 3
	})
}

func TestDeviceCommands(t *testing.T) {
	f := &fakeDev{}
	d, rec := runFake(t, f, time.Hour)
	waitFor(t, "the initial state", func() bool { s, _ := rec.snapshot(); return contains(s, "relay=OFF") })

	d.enqueue(command{entity: "relay", cmd: Command{Toggle: true}})
	waitFor(t, "TOGGLE to switch on", func() bool { s, _ := rec.snapshot(); return contains(s, "relay=ON") })

	// A failing command republishes what the device holds (ON), so Home
	// Assistant's switch does not show the requested OFF.
	f.set(func(f *fakeDev) { f.setErr = errors.New("relay coil open") })
	before, _ := rec.snapshot()
	d.enqueue(command{entity: "relay", cmd: Command{Value: drivers.Bool(false)}})
	waitFor(t, "the held state republished", func() bool { s, _ := rec.snapshot(); return len(s) > len(before) })
	if s, _ := rec.snapshot(); s[len(s)-1] != "relay=ON" || f.on != true {
		t.Fatalf("after a failed OFF: published %v, device on=%v; want relay=ON", s[len(before):], f.on)
	}

	// Commands for a sensor are ignored, not sent to Set.
	f.set(func(f *fakeDev) { f.setErr = nil })
	d.enqueue(command{entity: "level", cmd: Command{Value: drivers.Bool(false)}})
	d.enqueue(command{entity: "relay", cmd: Command{Value: drivers.Bool(false)}})
	waitFor(t, "OFF", func() bool { s, _ := rec.snapshot(); return s[len(s)-1] == "relay=OFF" })
}

func TestDeviceToggleBeforeStateIsIgnored(t *testing.T) {
	f := &fakeDev{readErr: errors.New("bus error")}
	d, rec := runFake(t, f, time.Hour)
	waitFor(t, "offline", func() bool { _, st := rec.snapshot(); return len(st) > 0 })
	d.enqueue(command{entity: "relay", cmd: Command{Toggle: true}})
	d.enqueue(command{entity: "relay", cmd: Command{Value: drivers.Bool(true)}})
	waitFor(t, "ON", func() bool { s, _ := rec.snapshot(); return contains(s, "relay=ON") })
	if s, _ := rec.snapshot(); len(s) != 1 {
		t.Fatalf("published %v: a TOGGLE with no known state must do nothing", s)
	}
}

func TestDeviceQueueIsBounded(t *testing.T) {
	f := &fakeDev{block: make(chan struct{})}
	d, rec := runFake(t, f, time.Hour)
	waitFor(t, "the initial state", func() bool { s, _ := rec.snapshot(); return contains(s, "relay=OFF") })
	accepted := 0
	for i := 0; i < commandQueueLen*3; i++ {
		if d.enqueue(command{entity: "relay", cmd: Command{Value: drivers.Bool(i%2 == 0)}}) {
			accepted++
		}
	}
	// One command is in Set (blocked), the queue holds commandQueueLen.
	if accepted > commandQueueLen+1 || accepted < commandQueueLen {
		t.Fatalf("accepted %d commands while the device was stuck; want the queue's %d (+1 in progress)", accepted, commandQueueLen)
	}
	close(f.block)
}

func TestDeviceDropsCommandsWhileUnavailable(t *testing.T) {
	f := &fakeDev{openFails: 1_000_000}
	d, rec := runFake(t, f, time.Hour)
	waitFor(t, "offline", func() bool { _, st := rec.snapshot(); return len(st) > 0 })
	d.enqueue(command{entity: "relay", cmd: Command{Value: drivers.Bool(true)}})
	waitFor(t, "the command taken off the queue", func() bool { return len(d.queue) == 0 })
	f.set(func(f *fakeDev) { f.openFails = 0 })
	waitFor(t, "the device up", func() bool { s, _ := rec.snapshot(); return contains(s, "relay=OFF") })
	f.set(func(f *fakeDev) {
		if f.on {
			t.Fatal("a command sent while the device was down switched the relay when it came back")
		}
	})
}

// A driver's error already names the driver and device; the worker adds
// what it was doing only to errors that do not, and never twice.
func TestDeviceProtectPrefixesOnce(t *testing.T) {
	d := &device{driver: "bme280", id: "attic", log: slog.New(slog.DiscardHandler)}
	tests := []struct {
		name string
		f    func() error
		want string
	}{
		{"prefixed by the driver", func() error { return errors.New(`bme280 "attic": read: start measurement: remote I/O error`) },
			`bme280 "attic": read: start measurement: remote I/O error`},
		{"bare error", func() error { return errors.New("remote I/O error") },
			`bme280 "attic": read: remote I/O error`},
		{"another device's prefix", func() error { return errors.New(`bme280 "cellar": gone`) },
			`bme280 "attic": read: bme280 "cellar": gone`},
		{"panic", func() error { panic("index out of range") },
			`bme280 "attic": read: panic: index out of range`},
	}
	for _, tt := range tests {
		err := d.protect("read", tt.f)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: protect = %v, want %q", tt.name, err, tt.want)
		}
	}
}
