package drivertest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// pushed is a Watch that emits what the test sends, in order, and returns
// what the test says once its context is done or when told to.
type pushed struct {
	emits  chan drivers.Reading
	end    chan error // Watch returns this at once
	result error      // returned once the context is done
	ctxErr chan error // what the context said when Watch saw it done
}

func newPushed() *pushed {
	return &pushed{emits: make(chan drivers.Reading), end: make(chan error, 1), ctxErr: make(chan error, 1)}
}

func (p *pushed) watch(ctx context.Context, _ bool, emit func(drivers.Reading)) error {
	for {
		select {
		case r := <-p.emits:
			emit(r)
		case err := <-p.end:
			return err
		case <-ctx.Done():
			p.ctxErr <- ctx.Err()
			return p.result
		}
	}
}

func on(entity string) drivers.Reading {
	return drivers.Reading{Entity: entity, Value: drivers.Bool(true)}
}
func off(entity string) drivers.Reading {
	return drivers.Reading{Entity: entity, Value: drivers.Bool(false)}
}

func TestStartWatch(t *testing.T) {
	p := newPushed()
	p.result = errors.New("stopped")
	w := StartWatch(t, &fake{watchHook: p.watch})
	if got := w.Readings(); len(got) != 0 {
		t.Errorf("Readings before any emit = %v", got)
	}
	p.emits <- on("door")
	p.emits <- off("door")
	if got := w.WaitFor(t, 2); !slices.Equal(got, []drivers.Reading{on("door"), off("door")}) {
		t.Errorf("WaitFor(2) = %v, want both readings in order", got)
	}
	p.emits <- on("relay")
	if got := w.WaitFor(t, 3); len(got) != 3 || got[2] != on("relay") {
		t.Errorf("WaitFor(3) = %v", got)
	}
	if err := w.Stop(t); err == nil || err.Error() != "stopped" {
		t.Errorf("Stop = %v, want what Watch returned", err)
	}
	if err := <-p.ctxErr; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch saw %v, want its context cancelled", err)
	}
	// Wait after Stop returns the same again.
	if err := w.Wait(t); err == nil || err.Error() != "stopped" {
		t.Errorf("Wait after Stop = %v", err)
	}
}

// TestStartWatchEndsByItself is a Watch that fails on its own, as a
// device whose line goes away does.
func TestStartWatchEndsByItself(t *testing.T) {
	p := newPushed()
	w := StartWatch(t, &fake{watchHook: p.watch})
	p.emits <- on("door")
	lost := errors.New("line lost")
	p.end <- lost
	if err := w.Wait(t); !errors.Is(err, lost) {
		t.Errorf("Wait = %v, want %v", err, lost)
	}
	if got := w.Readings(); len(got) != 1 {
		t.Errorf("Readings = %v, want the one emitted before the end", got)
	}
}

func TestStartWatchCancelsWhenTheTestEnds(t *testing.T) {
	p := newPushed()
	ft := runFake(func(tb *fakeTB) {
		w := StartWatch(tb, &fake{watchHook: p.watch})
		p.emits <- on("door")
		w.WaitFor(tb, 1)
	})
	select {
	case err := <-p.ctxErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Watch saw %v, want its context cancelled", err)
		}
	default:
		t.Error("the test ended and Watch's context is not done")
	}
	if ft.fatal || ft.reported() != "" {
		t.Errorf("a Watch that stops when told: fatal %t, reported %q", ft.fatal, ft.reported())
	}
}

func TestStartWatchFails(t *testing.T) {
	const short = 50 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	// stuck emits one reading and then ignores its context.
	stuck := &fake{watchHook: func(_ context.Context, _ bool, emit func(drivers.Reading)) error {
		emit(on("door"))
		<-release
		return nil
	}}
	for _, tc := range []struct {
		name  string
		run   func(tb *fakeTB)
		fatal bool
		want  string
	}{
		{"not a watcher", func(tb *fakeTB) { startWatch(tb, readerOnly{&fake{}, &fake{}}, short) }, true,
			"drivertest.readerOnly does not implement drivers.Watcher"},
		{"too few readings", func(tb *fakeTB) { startWatch(tb, stuck, short).WaitFor(tb, 2) }, true,
			"want at least 2 readings within 50ms"},
		{"Stop on a Watch that does not return", func(tb *fakeTB) { startWatch(tb, stuck, short).Stop(tb) }, true,
			"Watch did not return within 50ms"},
		{"a Watch that does not return at the end of the test", func(tb *fakeTB) { startWatch(tb, stuck, short) }, false,
			"Watch did not return within 50ms after its context was cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := runFake(tc.run)
			if ft.fatal != tc.fatal || !strings.Contains(ft.reported(), tc.want) {
				t.Errorf("fatal %t, reported %q; want fatal %t and %q", ft.fatal, ft.reported(), tc.fatal, tc.want)
			}
		})
	}
}
