package drivertest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// Watch is a device's Watch running on a goroutine of its own, as the
// agent runs it, recording every reading it emits. StartWatch starts one.
type Watch struct {
	timeout time.Duration // CallTimeout, but shorter in drivertest's own tests
	cancel  context.CancelFunc
	done    chan struct{} // closed when Watch returned
	err     error         // what Watch returned, once done is closed

	mu  sync.Mutex
	got []drivers.Reading
}

// StartWatch calls the Watch method of d, which must be open, on a
// goroutine of its own, and records what it emits. The test fails at once
// if d is not a drivers.Watcher. When the test ends, Watch's context is
// cancelled, and the test fails if Watch does not return within
// CallTimeout. Cleanups run last first, so open d and register its Close
// before StartWatch: the Watch then stops before the device closes.
func StartWatch(t testing.TB, d drivers.Device) *Watch {
	t.Helper()
	return startWatch(t, d, CallTimeout)
}

// startWatch is StartWatch with the bound on each wait as a parameter, so
// that drivertest's own tests of a Watch that hangs need not wait
// CallTimeout.
func startWatch(t testing.TB, d drivers.Device, timeout time.Duration) *Watch {
	t.Helper()
	wd, ok := d.(drivers.Watcher)
	if !ok {
		t.Fatalf("%T does not implement drivers.Watcher", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watch{timeout: timeout, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.err = wd.Watch(ctx, w.emit)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(w.timeout):
			t.Errorf("Watch did not return within %v after its context was cancelled", w.timeout)
		}
	})
	return w
}

func (w *Watch) emit(r drivers.Reading) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, r)
}

// Readings returns what Watch emitted so far, in order.
func (w *Watch) Readings() []drivers.Reading {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.got)
}

// WaitFor waits until Watch emitted at least n readings and returns them
// all. The test fails at once if that takes longer than CallTimeout, which
// is generous on purpose: it decides when a test gives up, never what
// passes.
func (w *Watch) WaitFor(t testing.TB, n int) []drivers.Reading {
	t.Helper()
	end := time.Now().Add(w.timeout)
	for {
		got := w.Readings()
		if len(got) >= n {
			return got
		}
		if time.Now().After(end) {
			t.Fatalf("Watch emitted %v, want at least %d readings within %v", got, n, w.timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Stop cancels Watch's context and returns what Watch returned; see Wait.
func (w *Watch) Stop(t testing.TB) error {
	t.Helper()
	w.cancel()
	return w.Wait(t)
}

// Wait waits for Watch to return, such as after the device failed, and
// returns its error. The test fails at once if Watch does not return
// within CallTimeout.
func (w *Watch) Wait(t testing.TB) error {
	t.Helper()
	select {
	case <-w.done:
		return w.err
	case <-time.After(w.timeout):
		t.Fatalf("Watch did not return within %v", w.timeout)
		return nil
	}
}
