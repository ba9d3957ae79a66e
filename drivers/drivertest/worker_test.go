package drivertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// short is the bound of the Workers whose waits must time out here.
const short = 200 * time.Millisecond

// TestWorkerRunsTheDevice drives a device through a Worker as a driver's
// test does, and checks that every method ran on one goroutine, not the
// test's, and what the Worker recorded.
func TestWorkerRunsTheDevice(t *testing.T) {
	f := newFake()
	var test int
	ft := runFake(func(tb *fakeTB) {
		test = goid()
		w := Open(tb, f, Host(tb))
		if err := w.Poll(tb); err != nil {
			tb.Errorf("Poll: %v", err)
		}
		if err := w.Command(tb, "relay", drivers.Command{Action: drivers.ActionOn}); err != nil {
			tb.Errorf("Command: %v", err)
		}
		if err := w.Command(tb, "setpoint", drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(21.5, drivers.Celsius)}); err != nil {
			tb.Errorf("Command: %v", err)
		}
		f.edges <- edge{open: true} // the waiter delivers it to Handle
		w.WaitState(tb, "door", drivers.Bool(true))
		w.WaitEvent(tb, "press", "press")
		f.edges <- edge{open: false}
		w.WaitState(tb, "door", drivers.Bool(false))
		if err := w.Close(tb); err != nil {
			tb.Errorf("Close: %v", err)
		}

		want := []string{
			"state relay=OFF", "state door=OFF", "state setpoint=20 °C", "state temperature=21.5 °C",
			"state relay=ON", "state setpoint=21.5 °C", "state door=ON", "event press=press", "state door=OFF",
		}
		var got []string
		for _, r := range w.Reports() {
			got = append(got, r.String())
		}
		if !slices.Equal(got, want) {
			tb.Errorf("Reports:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if v, ok := w.State("relay"); !ok || !v.Equal(drivers.Bool(true)) {
			tb.Errorf("State(relay) = %v, %t; want ON", v, ok)
		}
		if _, ok := w.State("identify"); ok {
			tb.Errorf("State(identify) reports a state; a button has none")
		}
		if vs := w.States("door"); len(vs) != 3 || !vs[1].Bool || vs[2].Bool {
			tb.Errorf("States(door) = %v, want OFF ON OFF", vs)
		}
		if es := w.Events("press"); !slices.Equal(es, []string{"press"}) {
			tb.Errorf("Events(press) = %q, want one press", es)
		}
	})
	if got := ft.reported(); got != "" || ft.fatal {
		t.Fatalf("the Worker reported a device that keeps the contract (fatal %t):\n%s", ft.fatal, got)
	}
	ids := f.goroutines("Open", "Poll", "Command", "Handle", "Close")
	if len(ids) != 1 || ids[test] {
		t.Errorf("the device's methods ran on goroutines %v (the test's is %d); want one, the worker", ids, test)
	}
	if opens, closes := f.counts(); opens != 1 || closes != 1 {
		t.Errorf("%d Opens and %d Closes, want one each", opens, closes)
	}
}

func TestOpenFailsTheTest(t *testing.T) {
	f := newFake()
	f.openHook = func(*fake, context.Context, drivers.Host, drivers.Output) error { return errors.New("no such line") }
	ft := runFake(func(tb *fakeTB) { Open(tb, f, Host(tb)) })
	if !ft.fatal || ft.reported() != "Open: no such line" {
		t.Errorf("Open of a device that fails: fatal %t, reported %q; want the test stopped with Open's error", ft.fatal, ft.reported())
	}
	if _, closes := f.counts(); closes != 1 {
		t.Errorf("%d Close calls, want one: the agent closes a device whose Open failed", closes)
	}
}

// TestStartAfterAFailedOpen checks that a failed Open is followed by
// Close at once, after the waiters it started stopped, and that the
// Worker then takes nothing but Close.
func TestStartAfterAFailedOpen(t *testing.T) {
	f := newFake()
	waiterDone := make(chan struct{})
	var waiterGone bool
	f.openHook = func(f *fake, _ context.Context, _ drivers.Host, out drivers.Output) error {
		out.Go(func(ctx context.Context, _ func(any) bool) error {
			defer close(waiterDone)
			<-ctx.Done()
			return nil
		})
		return errors.New("fake: open: chip missing")
	}
	f.closeHook = func(n int, open bool) error {
		select {
		case <-waiterDone:
			waiterGone = true
		default:
		}
		return errors.New("fake: close: nothing open")
	}
	var closesAtStart int
	ft := runFake(func(tb *fakeTB) {
		w, err := Start(tb, f, Host(tb))
		_, closesAtStart = f.counts()
		if w == nil || err == nil || err.Error() != "fake: open: chip missing" {
			tb.Errorf("Start = %v, %v; want a Worker and Open's error", w, err)
			return
		}
		if err := w.Close(tb); err == nil || err.Error() != "fake: close: nothing open" {
			tb.Errorf("Close = %v, want the device's Close error", err)
		}
		w.Poll(tb)
	})
	if closesAtStart != 1 || !waiterGone {
		t.Errorf("after a failed Open: %d Close calls, waiter returned before Close %t; want Close at once, after the waiter returned", closesAtStart, waiterGone)
	}
	if _, closes := f.counts(); closes != 1 {
		t.Errorf("%d Close calls in all, want one", closes)
	}
	if want := "Poll: the device's Open failed (fake: open: chip missing); the agent calls nothing but Close then"; !ft.fatal || ft.reported() != want {
		t.Errorf("Poll after a failed Open: fatal %t, reported %q; want the test stopped with %q", ft.fatal, ft.reported(), want)
	}
}

func TestCloseAtTheEndOfTheTest(t *testing.T) {
	f := newFake()
	f.closeHook = func(int, bool) error { return errors.New("relay stuck") }
	ft := runFake(func(tb *fakeTB) { Open(tb, f, Host(tb)) })
	if _, closes := f.counts(); closes != 1 || f.isOpen() {
		t.Errorf("%d Close calls, open %t; want the device closed once when the test ends", closes, f.isOpen())
	}
	if ft.reported() != "" || !slices.Contains(ft.logged(), "drivertest: Close at the end of the test: relay stuck") {
		t.Errorf("reported %q, logged %q; want Close's error logged, not failing the test", ft.reported(), ft.logged())
	}
}

func TestCloseOnce(t *testing.T) {
	f := newFake()
	n := 0
	f.closeHook = func(int, bool) error { n++; return fmt.Errorf("close %d", n) }
	ft := runFake(func(tb *fakeTB) {
		w := Open(tb, f, Host(tb))
		for range 2 {
			if err := w.Close(tb); err == nil || err.Error() != "close 1" {
				tb.Errorf("Close = %v, want the first Close's error", err)
			}
		}
		w.Command(tb, "relay", drivers.Command{Action: drivers.ActionOn})
	})
	if _, closes := f.counts(); closes != 1 {
		t.Errorf("%d Close calls, want one", closes)
	}
	if want := `Command("relay", ON) after Close: the agent calls nothing on a closed device`; !ft.fatal || !strings.HasPrefix(ft.reported(), want) {
		t.Errorf("Command after Close: fatal %t, reported %q; want the test stopped with %q", ft.fatal, ft.reported(), want)
	}
}

// TestWaiters checks the waiters' life: their context is cancelled before
// Close, which runs once they returned; deliver then returns false; Go
// during Close starts nothing.
func TestWaiters(t *testing.T) {
	f := newFake()
	var (
		mu             sync.Mutex
		ctxDoneAtClose bool
		returned       = make(chan struct{})
		returnedFirst  bool
		late           bool // deliver's result once the context is done
		started        bool // a waiter started during Close ran
	)
	f.waiter = func(ctx context.Context, deliver func(any) bool) error {
		defer close(returned)
		<-ctx.Done()
		ok := deliver(edge{})
		mu.Lock()
		late = ok
		mu.Unlock()
		return ctx.Err()
	}
	f.closeHook = func(_ int, _ bool) error {
		select {
		case <-returned:
			returnedFirst = true
		default:
		}
		f.output().Go(func(context.Context, func(any) bool) error {
			mu.Lock()
			started = true
			mu.Unlock()
			return nil
		})
		return nil
	}
	var ctx context.Context
	f.openHook = func(f *fake, c context.Context, h drivers.Host, out drivers.Output) error {
		ctx = c
		return f.defaultOpen(h, out)
	}
	f.closeHook = func(hook func(int, bool) error) func(int, bool) error {
		return func(n int, open bool) error {
			ctxDoneAtClose = ctx.Err() != nil
			return hook(n, open)
		}
	}(f.closeHook)
	ft := runFake(func(tb *fakeTB) {
		w := Open(tb, f, Host(tb))
		w.Close(tb)
	})
	if ft.reported() != "" {
		t.Fatalf("reported %q", ft.reported())
	}
	mu.Lock()
	defer mu.Unlock()
	if !ctxDoneAtClose || !returnedFirst || late || started {
		t.Errorf("at Close: context done %t, waiter returned %t; deliver after that %t; a waiter started in Close ran %t. Want the context done and the waiter returned before Close, deliver false, and no waiter started", ctxDoneAtClose, returnedFirst, late, started)
	}
}

// TestDeliverWaitsForTheWorker checks that deliver returns only once the
// worker takes what it hands over, so not while the worker polls, and
// that Handle then runs on the worker.
func TestDeliverWaitsForTheWorker(t *testing.T) {
	f := newFake()
	inDeliver := make(chan struct{})
	delivered := make(chan struct{})
	f.waiter = func(ctx context.Context, deliver func(any) bool) error {
		<-f.edges
		close(inDeliver)
		if deliver(edge{open: true}) {
			close(delivered)
		}
		<-ctx.Done()
		return nil
	}
	var early bool
	f.pollHook = func(f *fake, _ context.Context, out drivers.Output, _ bool) error {
		<-inDeliver
		// A deliver that did not wait for the worker returns at once.
		select {
		case <-delivered:
			early = true
		case <-time.After(50 * time.Millisecond):
		}
		out.State("temperature", drivers.Num(20, drivers.Celsius))
		return nil
	}
	ft := runFake(func(tb *fakeTB) {
		w := Open(tb, f, Host(tb))
		go func() { f.edges <- edge{open: true} }()
		w.Poll(tb)
		w.WaitState(tb, "door", drivers.Bool(true))
		<-delivered
	})
	if ft.reported() != "" || early {
		t.Errorf("reported %q; deliver returned while the worker polled: %t", ft.reported(), early)
	}
	if ids := f.goroutines("Open", "Poll", "Handle", "Close"); len(ids) != 1 {
		t.Errorf("Open, Poll, Handle and Close ran on %d goroutines, want the worker's alone", len(ids))
	}
}

// TestWorkerPanics checks that a panic in any method or waiter fails the
// test with its stack, and what the Worker's calls return then.
func TestWorkerPanics(t *testing.T) {
	bug := func() { panic("driver bug") }
	for _, tc := range []struct {
		name  string
		setup func(f *fake)
		run   func(tb testing.TB, w *Worker) error
		want  string
	}{
		{"Open", func(f *fake) {
			f.openHook = func(*fake, context.Context, drivers.Host, drivers.Output) error { bug(); return nil }
		}, nil, "Open panicked: driver bug"},
		{"Poll", func(f *fake) {
			f.pollHook = func(*fake, context.Context, drivers.Output, bool) error { bug(); return nil }
		}, func(tb testing.TB, w *Worker) error { return w.Poll(tb) }, "Poll panicked: driver bug"},
		{"Command", func(f *fake) {
			f.cmdHook = func(*fake, string, drivers.Command, drivers.Output, bool) error { bug(); return nil }
		}, func(tb testing.TB, w *Worker) error {
			return w.Command(tb, "identify", drivers.Command{Action: drivers.ActionPress})
		}, `Command("identify", PRESS) panicked: driver bug`},
		{"Handle", func(f *fake) {
			f.handle = func(*fake, any, drivers.Output) error { bug(); return nil }
		}, func(tb testing.TB, w *Worker) error {
			f := w.d.(*fake)
			f.edges <- edge{}
			// Handle started: it ends, and is reported, before the worker
			// takes Close.
			w.WaitFor(tb, "Handle", func(*Worker) bool { return len(f.goroutines("Handle")) > 0 })
			w.Close(tb)
			return nil
		}, "Handle(drivertest.edge) panicked: driver bug"},
		{"a waiter", func(f *fake) {
			f.waiter = func(context.Context, func(any) bool) error { bug(); return nil }
		}, func(tb testing.TB, w *Worker) error { w.Close(tb); return nil }, "a waiter (started with Output.Go) panicked: driver bug"},
		{"Close", func(f *fake) {
			f.closeHook = func(int, bool) error { bug(); return nil }
		}, func(tb testing.TB, w *Worker) error { return w.Close(tb) }, "Close panicked: driver bug"},
		{"Close at the end of the test", func(f *fake) {
			f.closeHook = func(int, bool) error { bug(); return nil }
		}, func(testing.TB, *Worker) error { return nil }, "Close panicked: driver bug"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			tc.setup(f)
			var err error
			ft := runFake(func(tb *fakeTB) {
				w, serr := Start(tb, f, Host(tb))
				if tc.run == nil {
					err = serr
					return
				}
				err = tc.run(tb, w)
			})
			got := ft.reported()
			if !strings.HasPrefix(got, tc.want) || !strings.Contains(got, "goroutine ") || !strings.Contains(got, "worker_test.go") {
				t.Errorf("reported:\n%s\nwant %q with the stack", got, tc.want)
			}
			if err != nil && err.Error() != tc.want {
				t.Errorf("the call returned %v, want %q", err, tc.want)
			}
			if ft.fatal {
				t.Error("a panic stopped the test; it must fail it with Errorf")
			}
		})
	}
}

// TestWorkerChecksReports checks that reports the agent would drop fail
// the test, saying what is wrong and when it was reported.
func TestWorkerChecksReports(t *testing.T) {
	for _, tc := range []struct {
		name string
		poll func(out drivers.Output)
		want string
	}{
		{"undeclared", func(out drivers.Output) { out.State("humidity", drivers.Num(50, drivers.Percent)) },
			`*drivertest.fake reported state 50 % for entity "humidity" during Poll, which Entities() does not declare (it has ["relay" "door" "temperature" "setpoint" "identify" "press"]): the agent drops it`},
		{"a value the spec does not take", func(out drivers.Output) { out.State("relay", drivers.Text("on")) },
			`*drivertest.fake reported state on for entity "relay" during Poll, which its spec drivers.Switch does not take: `},
		{"a state of a button", func(out drivers.Output) { out.State("identify", drivers.Bool(true)) },
			`reported state ON for entity "identify" during Poll, which its spec drivers.Button does not take`},
		{"an event of a switch", func(out drivers.Output) { out.Event("relay", "press") },
			`reported event "press" for entity "relay" during Poll, which its spec drivers.Switch does not take`},
		{"unavailable without a reason", func(out drivers.Output) { out.Unavailable("temperature", nil) },
			`reported entity "temperature" unavailable during Poll with a nil error: say why, the agent logs it`},
		{"unavailable and undeclared", func(out drivers.Output) { out.Unavailable("humidity", errors.New("gone")) },
			`reported unavailability for entity "humidity" during Poll, which Entities() does not declare`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.pollHook = func(_ *fake, _ context.Context, out drivers.Output, _ bool) error { tc.poll(out); return nil }
			var reports []Report
			ft := runFake(func(tb *fakeTB) {
				w := Open(tb, f, Host(tb))
				w.Poll(tb)
				reports = w.Reports()
			})
			if got := ft.reported(); !strings.HasPrefix(strings.TrimPrefix(got, "*drivertest.fake "), strings.TrimPrefix(tc.want, "*drivertest.fake ")) || ft.fatal {
				t.Errorf("reported (fatal %t):\n%s\nwant %q", ft.fatal, got, tc.want)
			}
			if len(reports) != 4 {
				t.Errorf("recorded %v; want the report recorded all the same", reports)
			}
		})
	}
}

// TestReportAfterClose checks that a report through an Output whose Close
// returned fails the test.
func TestReportAfterClose(t *testing.T) {
	f := newFake()
	ft := runFake(func(tb *fakeTB) {
		w := Open(tb, f, Host(tb))
		w.Close(tb)
		f.output().State("relay", drivers.Bool(true))
		f.output().Reopen(errors.New("late"))
	})
	want := "*drivertest.fake reported state ON after Close returned: the Output is valid only until Close returns\n" +
		"*drivertest.fake reported a reopen after Close returned: the Output is valid only until Close returns"
	if got := ft.reported(); got != want {
		t.Errorf("reported:\n%s\nwant:\n%s", got, want)
	}
}

func TestRecords(t *testing.T) {
	f := newFake()
	f.pollHook = func(_ *fake, _ context.Context, out drivers.Output, _ bool) error {
		out.Unavailable("temperature", errors.New("no answer"))
		out.Unavailable("setpoint", errors.New("busy"))
		out.State("setpoint", drivers.Num(20, drivers.Celsius))
		out.Reopen(nil)
		out.Reopen(errors.New("adapter gone"))
		return nil
	}
	f.handle = func(_ *fake, ev any, out drivers.Output) error { return errors.New("bad frame") }
	f.waiter = func(ctx context.Context, deliver func(any) bool) error {
		deliver(edge{})
		return errors.New("line lost")
	}
	ft := runFake(func(tb *fakeTB) {
		w := Open(tb, f, Host(tb))
		w.Poll(tb)
		w.WaitFor(tb, "four reopens", func(w *Worker) bool { return len(w.Reopens()) == 4 })
		if err := w.Unavailable("temperature"); err == nil || err.Error() != "no answer" {
			tb.Errorf("Unavailable(temperature) = %v, want its reason", err)
		}
		if err := w.Unavailable("setpoint"); err != nil {
			tb.Errorf("Unavailable(setpoint) = %v, want nil: a state came after", err)
		}
		if err := w.Unavailable("relay"); err != nil {
			tb.Errorf("Unavailable(relay) = %v, want nil", err)
		}
		var got []string
		for _, err := range w.Reopens() {
			got = append(got, err.Error())
		}
		// The waiter's and Handle's may come before Poll's.
		slices.Sort(got)
		want := []string{"adapter gone", "handle: bad frame", "the driver asked to be reopened without saying why", "waiter: line lost"}
		if !slices.Equal(got, want) {
			tb.Errorf("Reopens() = %q, want %q", got, want)
		}
		i := slices.IndexFunc(w.Reports(), func(r Report) bool { return r.Kind == "unavailable" })
		if r := w.Reports()[i]; r.Entity != "temperature" || r.String() != "unavailable temperature: no answer" {
			tb.Errorf("report %+v, %q", r, r)
		}
	})
	if ft.reported() != "" {
		t.Errorf("reported %q", ft.reported())
	}
}

// TestWaitState checks that WaitState takes the latest state when it is
// called, or any state reported after, and fails the test with what was
// reported when it times out.
func TestWaitState(t *testing.T) {
	// flip is a Handle that reports the door open and closed at once.
	flip := func(_ *fake, _ any, out drivers.Output) error {
		out.State("door", drivers.Bool(true))
		out.State("door", drivers.Bool(false))
		return nil
	}
	t.Run("latest", func(t *testing.T) {
		ft := runFake(func(tb *fakeTB) {
			w := Open(tb, newFake(), Host(tb))
			w.WaitState(tb, "door", drivers.Bool(false))
		})
		if ft.reported() != "" {
			t.Errorf("reported %q", ft.reported())
		}
	})
	t.Run("passing by, after the call", func(t *testing.T) {
		f := newFake()
		f.handle = flip
		blocked := make(chan struct{})
		ft := runFake(func(tb *fakeTB) {
			w := Open(tb, f, Host(tb))
			var once sync.Once
			w.onWait = func() { once.Do(func() { close(blocked) }) }
			go func() {
				<-blocked
				f.edges <- edge{}
			}()
			w.WaitState(tb, "door", drivers.Bool(true))
		})
		if ft.reported() != "" {
			t.Errorf("reported %q", ft.reported())
		}
	})
	t.Run("passed by before the call", func(t *testing.T) {
		f := newFake()
		f.handle = flip
		ft := runFake(func(tb *fakeTB) {
			w, _ := start(tb, f, Host(tb), options{timeout: short})
			f.edges <- edge{}
			w.WaitFor(tb, "the flip", func(w *Worker) bool { return len(w.States("door")) == 3 })
			w.WaitState(tb, "door", drivers.Bool(true))
		})
		want := `waited 200ms for state ON of "door"; the device reported:
	state relay=OFF
	state door=OFF
	state setpoint=20 °C
	state door=ON
	state door=OFF`
		if !ft.fatal || ft.reported() != want {
			t.Errorf("fatal %t, reported:\n%s\nwant:\n%s", ft.fatal, ft.reported(), want)
		}
	})
}

func TestWaitEvent(t *testing.T) {
	f := newFake()
	ft := runFake(func(tb *fakeTB) {
		w, _ := start(tb, f, Host(tb), options{timeout: short})
		f.edges <- edge{open: true}
		f.edges <- edge{open: true}
		w.WaitEvent(tb, "press", "press")
		w.WaitEvent(tb, "press", "press")
		w.WaitEvent(tb, "press", "press") // there were two
	})
	if want := `waited 200ms for event "press" of "press"; the device reported:`; !ft.fatal || !strings.HasPrefix(ft.reported(), want) {
		t.Errorf("fatal %t, reported %q; want the third wait to fail the test with %q", ft.fatal, ft.reported(), want)
	}
	if n := strings.Count(ft.reported(), "event press=press"); n != 2 {
		t.Errorf("the message lists %d events, want the 2 reported", n)
	}
}

func TestWaitForNothingReported(t *testing.T) {
	f := newFake()
	f.openHook = func(*fake, context.Context, drivers.Host, drivers.Output) error { return nil }
	ft := runFake(func(tb *fakeTB) {
		w, _ := start(tb, f, Host(tb), options{timeout: short})
		w.WaitFor(tb, "a miracle", func(*Worker) bool { return false })
	})
	if want := "waited 200ms for a miracle; the device reported:\n\tnothing"; !ft.fatal || ft.reported() != want {
		t.Errorf("fatal %t, reported %q; want %q", ft.fatal, ft.reported(), want)
	}
}

// TestWorkerRefuses checks the calls the agent never makes, which fail the
// test at once.
func TestWorkerRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		dev  func(f *fake, stuck chan struct{}) drivers.Device
		run  func(tb testing.TB, w *Worker)
		want string
	}{
		{"Poll of no Poller", func(f *fake, _ chan struct{}) drivers.Device { return noPoller{f, f, f, f} },
			func(tb testing.TB, w *Worker) { w.Poll(tb) }, "Poll: drivertest.noPoller is not a drivers.Poller: the agent never polls it"},
		{"Command of no Commander", func(f *fake, _ chan struct{}) drivers.Device { return noCommander{f, f, f, f} },
			func(tb testing.TB, w *Worker) { w.Command(tb, "relay", drivers.Command{Action: drivers.ActionOn}) },
			`Command("relay", ON): drivertest.noCommander is not a drivers.Commander: the agent sends it no command`},
		{"Command of an undeclared entity", func(f *fake, _ chan struct{}) drivers.Device { return f },
			func(tb testing.TB, w *Worker) { w.Command(tb, "pump", drivers.Command{Action: drivers.ActionOn}) },
			`Command("pump", ON): Entities() does not declare "pump" (it has ["relay" "door" "temperature" "setpoint" "identify" "press"])`},
		{"a press of a switch", func(f *fake, _ chan struct{}) drivers.Device { return f },
			func(tb testing.TB, w *Worker) { w.Command(tb, "relay", drivers.Command{Action: drivers.ActionPress}) },
			`Command("relay", PRESS): a switch takes ActionOn and ActionOff, without a value`},
		{"a number out of range", func(f *fake, _ chan struct{}) drivers.Device { return f },
			func(tb testing.TB, w *Worker) {
				w.Command(tb, "setpoint", drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(31, drivers.Celsius)})
			}, `Command("setpoint", SET 31 °C): a number takes ActionSet with a Num from Min 5 to Max 30`},
		{"a command to a sensor", func(f *fake, _ chan struct{}) drivers.Device { return f },
			func(tb testing.TB, w *Worker) { w.Command(tb, "door", drivers.Command{Action: drivers.ActionOn}) },
			`Command("door", ON): a drivers.BinarySensor takes no commands`},
		{"a Poll that hangs", func(f *fake, stuck chan struct{}) drivers.Device {
			f.pollHook = func(*fake, context.Context, drivers.Output, bool) error {
				<-stuck
				return nil
			}
			return f
		}, func(tb testing.TB, w *Worker) { w.Poll(tb) }, "Poll did not return within 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stuck := make(chan struct{})
			d := tc.dev(newFake(), stuck)
			ft := runFake(func(tb *fakeTB) {
				defer close(stuck) // lets a hung Poll return before the cleanups
				w, _ := start(tb, d, Host(tb), options{timeout: short})
				tc.run(tb, w)
			})
			if !ft.fatal || !strings.HasPrefix(ft.reported(), tc.want) {
				t.Errorf("fatal %t, reported:\n%s\nwant the test stopped with %q", ft.fatal, ft.reported(), tc.want)
			}
		})
	}
}

// TestCommandProblem pins which commands the Worker lets through for each
// spec: those the agent sends after parsing a payload.
func TestCommandProblem(t *testing.T) {
	on, off := drivers.Command{Action: drivers.ActionOn}, drivers.Command{Action: drivers.ActionOff}
	set := func(v drivers.Value) drivers.Command { return drivers.Command{Action: drivers.ActionSet, Value: v} }
	num := func(n float64) drivers.Value { return drivers.Num(n, "") }
	press := drivers.Command{Action: drivers.ActionPress}
	open, shut, stop := drivers.Command{Action: drivers.ActionOpen}, drivers.Command{Action: drivers.ActionClose}, drivers.Command{Action: drivers.ActionStop}
	for _, tc := range []struct {
		spec    drivers.Spec
		takes   []drivers.Command
		refuses []drivers.Command
		refusal string
	}{
		{drivers.Switch{}, []drivers.Command{on, off}, []drivers.Command{press, set(num(1)), {Action: drivers.ActionOn, Value: num(1)}},
			"a switch takes ActionOn and ActionOff"},
		{&drivers.Switch{}, []drivers.Command{on}, []drivers.Command{stop}, "a switch"},
		{drivers.Light{}, []drivers.Command{on, off}, []drivers.Command{{Action: drivers.ActionOn, Value: num(128)}},
			"a light without Brightness takes ActionOn and ActionOff, without a value"},
		{drivers.Light{Brightness: true}, []drivers.Command{on, off, {Action: drivers.ActionOn, Value: num(1)}, {Action: drivers.ActionOn, Value: num(255)}},
			[]drivers.Command{{Action: drivers.ActionOn, Value: num(0)}, {Action: drivers.ActionOn, Value: num(256)}, {Action: drivers.ActionOff, Value: num(3)}},
			"a dimmable light takes ActionOff, and ActionOn without a value or with a brightness Num from 1 to 255"},
		{drivers.Button{}, []drivers.Command{press}, []drivers.Command{on}, "a button takes ActionPress"},
		{drivers.Number{Min: -1, Max: 1}, []drivers.Command{set(num(-1)), set(num(0.5)), set(num(1))},
			[]drivers.Command{set(num(1.5)), set(drivers.Text("1")), on}, "a number takes ActionSet with a Num from Min -1 to Max 1"},
		{drivers.Cover{}, []drivers.Command{open, shut, stop}, []drivers.Command{set(num(50))}, "this cover takes ActionOpen, ActionClose, ActionStop"},
		{drivers.Cover{Position: true, NoStop: true}, []drivers.Command{open, shut, set(num(0)), set(num(100))},
			[]drivers.Command{stop, set(num(101))}, "this cover takes ActionOpen, ActionClose, and ActionSet with a Num position from 0 to 100"},
		{drivers.Select{Options: []string{"eco", "comfort"}}, []drivers.Command{set(drivers.Text("eco"))},
			[]drivers.Command{set(drivers.Text("Eco")), set(num(0))}, `a select takes ActionSet with a Text that is one of its options ["eco" "comfort"]`},
		{drivers.Sensor{}, nil, []drivers.Command{on}, "a drivers.Sensor takes no commands"},
		{drivers.Event{Types: []string{"press"}}, nil, []drivers.Command{press}, "a drivers.Event takes no commands"},
		{nil, nil, []drivers.Command{on}, "the entity has no spec"},
		{(*drivers.Light)(nil), nil, []drivers.Command{on}, "the entity has no spec"},
	} {
		e := drivers.Entity{ID: "x", Spec: tc.spec}
		for _, c := range tc.takes {
			if why := commandProblem(e, c); why != "" {
				t.Errorf("%T %+v: %v refused: %s", tc.spec, tc.spec, c, why)
			}
		}
		for _, c := range tc.refuses {
			if why := commandProblem(e, c); !strings.HasPrefix(why, tc.refusal) {
				t.Errorf("%T %+v: %v: %q, want it refused with %q", tc.spec, tc.spec, c, why, tc.refusal)
			}
		}
	}
}
