package drivertest

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
)

// CallTimeout bounds each call into a device and each wait of a Worker,
// and each call Conformance makes. It is generous on purpose: it only
// decides when a call that hangs, or a wait for what never comes, is
// reported, never what passes.
const CallTimeout = 10 * time.Second

// waiterGrace is how long Close waits for the device's waiters to return
// after their context is cancelled before it closes the device anyway, as
// the agent does: a waiter stuck in a blocking read must not keep the
// device from closing, which usually unblocks it.
const waiterGrace = 2 * time.Second

// Report is one thing a device reported through its Output, as a Worker
// records it.
type Report struct {
	// Kind is "state", "event", "unavailable" or "reopen".
	Kind string
	// Entity is the entity the report is about; "" for a reopen.
	Entity string
	// Value is the state of a "state" report.
	Value drivers.Value
	// EventType is the type of an "event" report.
	EventType string
	// Err is why of an "unavailable" or a "reopen" report.
	Err error
}

// String formats r for test messages: `state temperature=21.5 °C`,
// `unavailable humidity: no answer`.
func (r Report) String() string {
	switch r.Kind {
	case "state":
		return fmt.Sprintf("state %s=%v", r.Entity, r.Value)
	case "event":
		return fmt.Sprintf("event %s=%s", r.Entity, r.EventType)
	case "unavailable":
		return fmt.Sprintf("unavailable %s: %v", r.Entity, r.Err)
	case "reopen":
		return fmt.Sprintf("reopen: %v", r.Err)
	}
	return fmt.Sprintf("%s %s", r.Kind, r.Entity)
}

// Worker is one opening of a device, from Open to Close, run the way the
// agent runs it: one goroutine, the worker, calls Open, Poll, Command,
// Handle and Close, one at a time; the waiters the device starts with
// Output.Go run on goroutines of their own, with a context that is
// cancelled before Close, and what they deliver is handed to Handle on the
// worker (deliver blocks until the worker takes it). The Worker records
// everything the device reports through its Output.
//
// Open and Start make one. The test drives it with Poll and Command, which
// run on the worker and return the device's error, reads what the device
// reported with State, States, Events, Unavailable, Reopens and Reports,
// and waits for what a waiter brings about with WaitState, WaitEvent and
// WaitFor. The methods that take a testing.TB must be called from the
// test's goroutine; the others are safe from any.
//
// The Worker fails the test (with Errorf, so the test goes on) when the
// device breaks the contract the agent relies on: a panic in any of its
// methods or waiters (reported with its stack), a report about an entity
// it does not declare or with a value that does not fit the entity's spec
// (the agent drops those; see discovery.StatePayload and EventPayload), an
// entity reported unavailable without a reason, a waiter delivering to a
// device that has no Handle method, or a report after Close returned.
//
// Unlike the agent, the Worker neither polls on its own nor closes and
// reopens the device when it asks for it: it records the request (see
// Reopens), and the test decides what happens next, such as Close and a
// fresh Open, which is what the agent does.
type Worker struct {
	d        drivers.Device
	timeout  time.Duration // bounds each call and each wait
	grace    time.Duration // how long Close waits for waiters before it closes anyway
	strict   bool          // a waiter still running after grace is a broken contract
	problemf func(format string, args ...any)
	logf     func(format string, args ...any)

	entities map[string]drivers.Entity
	order    []string // entity ids as Entities lists them

	ctx    context.Context // the opening's: cancelled before Close
	cancel context.CancelFunc
	jobs   chan job
	events chan any
	done   chan struct{} // closed when the worker goroutine returns

	waiters sync.WaitGroup

	onWait func() // drivertest's tests: called each time WaitFor blocks

	mu       sync.Mutex
	reports  []Report
	changed  chan struct{} // closed and replaced at every report and worker step
	step     string        // what the worker runs now, for messages
	stopped  bool          // waiters are cancelled; Go starts none
	closed   bool          // Close returned: the Output is no longer valid
	ended    bool          // the test ended: nothing more reaches it
	closing  bool          // Close was asked for
	openErr  error         // Open's error
	closeOut *outcome      // how Close ended, once it has
	consumed map[[2]string]int
}

// job is one call run on the worker.
type job struct {
	what string
	f    func() error
	last bool // the worker returns after it (Close)
	res  chan outcome
}

// outcome is how a call into the device ended.
type outcome struct {
	err      error
	panicked bool
	value    any
	stack    []byte
}

// panicError is the error a Worker returns for a call that panicked; the
// panic itself, with its stack, fails the test.
type panicError struct {
	what  string
	value any
}

func (e *panicError) Error() string { return fmt.Sprintf("%s panicked: %v", e.what, e.value) }

// protect calls f, turning a panic into an outcome with its stack.
func protect(f func() error) (o outcome) {
	defer func() {
		if r := recover(); r != nil {
			o = outcome{panicked: true, value: r, stack: debug.Stack()}
		}
	}()
	return outcome{err: f()}
}

// Open opens d through h on a Worker, as the agent opens a device, and
// returns the Worker. The test fails at once if Open fails. The device is
// closed when the test ends, unless the test called Close; Close's error
// is then only logged (a test that cares calls Close itself). Cleanups run
// last first, so d closes before a Host made earlier.
//
//	h := drivertest.Host(t)
//	w := drivertest.Open(t, dev, h)
//	if err := w.Command(t, "relay", drivers.Command{Action: drivers.ActionOn}); err != nil {
//		t.Fatal(err)
//	}
//	w.WaitState(t, "relay", drivers.Bool(true))
func Open(t testing.TB, d drivers.Device, h drivers.Host) *Worker {
	t.Helper()
	w, err := Start(t, d, h)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w
}

// Start is Open for a test of Open's failures: it returns Open's error
// instead of failing the test. As the agent does, a Worker whose Open
// failed cancels the waiters Open started and closes the device at once;
// its Close returns that Close's error, and it takes no Poll or Command.
// The Worker is returned in either case.
func Start(t testing.TB, d drivers.Device, h drivers.Host) (*Worker, error) {
	t.Helper()
	w, err := start(t, d, h, options{})
	if w == nil {
		t.Fatalf("drivertest.Start: %v", err)
	}
	return w, err
}

// options are how drivertest's own callers (Conformance, the tests) run a
// Worker differently from Open.
type options struct {
	timeout  time.Duration                    // CallTimeout when zero
	grace    time.Duration                    // waiterGrace when zero
	strict   bool                             // a late waiter is a broken contract
	problemf func(format string, args ...any) // t.Errorf when nil
}

// start makes a Worker and opens d on it. It returns a nil Worker only
// when the device could not be started at all (Entities panicked, or the
// worker hung in Open).
func start(t testing.TB, d drivers.Device, h drivers.Host, o options) (*Worker, error) {
	t.Helper()
	w := &Worker{
		d:        d,
		timeout:  o.timeout,
		grace:    o.grace,
		strict:   o.strict,
		jobs:     make(chan job),
		events:   make(chan any),
		done:     make(chan struct{}),
		changed:  make(chan struct{}),
		entities: map[string]drivers.Entity{},
		consumed: map[[2]string]int{},
	}
	if w.timeout <= 0 {
		w.timeout = CallTimeout
	}
	if w.grace <= 0 {
		w.grace = waiterGrace
	}
	if w.grace > w.timeout {
		w.grace = w.timeout
	}
	report := o.problemf
	if report == nil {
		report = t.Errorf
	}
	// Nothing reaches t once the test ended: a waiter or a goroutine of
	// the driver may outlive it by a moment, and t would panic.
	w.problemf = func(format string, args ...any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.ended {
			report(format, args...)
		}
	}
	w.logf = func(format string, args ...any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.ended {
			t.Logf(format, args...)
		}
	}
	// Registered first, so it runs after the Close below.
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.ended = true
	})

	var es []drivers.Entity
	if out := protect(func() error { es = d.Entities(); return nil }); out.panicked {
		w.problemf("Entities panicked: %v\n%s", out.value, out.stack)
		return nil, &panicError{what: "Entities", value: out.value}
	}
	for _, e := range es {
		if _, dup := w.entities[e.ID]; !dup {
			w.order = append(w.order, e.ID)
		}
		w.entities[e.ID] = e
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())

	go w.loop()
	t.Cleanup(func() {
		w.mu.Lock()
		asked := w.closing
		w.mu.Unlock()
		if asked {
			return
		}
		out, ok := w.close()
		switch {
		case !ok:
		case out.panicked:
			w.problemf("Close panicked: %v\n%s", out.value, out.stack)
		case out.err != nil:
			w.logf("drivertest: Close at the end of the test: %v", out.err)
		}
	})

	out, ok := w.call("Open", func() error { return d.Open(w.ctx, h, output{w}) }, w.timeout)
	if !ok {
		return nil, fmt.Errorf("Open did not return within %v", w.timeout)
	}
	if out.panicked {
		w.problemf("Open panicked: %v\n%s", out.value, out.stack)
		out.err = &panicError{what: "Open", value: out.value}
	}
	if out.err != nil {
		w.mu.Lock()
		w.openErr = out.err
		w.mu.Unlock()
		// The agent closes a device whose Open failed, at once.
		if cout, ok := w.close(); ok && cout.panicked {
			w.problemf("Close after a failed Open panicked: %v\n%s", cout.value, cout.stack)
		}
		return w, out.err
	}
	return w, nil
}

// loop is the worker goroutine: it runs the calls the test makes and
// hands what the waiters deliver to Handle, one at a time, until Close.
func (w *Worker) loop() {
	defer close(w.done)
	for {
		select {
		case j := <-w.jobs:
			out := w.run(j.what, j.f)
			j.res <- out
			if j.last {
				return
			}
		case ev := <-w.events:
			w.handle(ev)
		}
	}
}

// run runs one driver method on the worker and tells the waiting tests
// that the worker made a step.
func (w *Worker) run(what string, f func() error) outcome {
	w.mu.Lock()
	w.step = what
	w.mu.Unlock()
	out := protect(f)
	w.mu.Lock()
	w.step = ""
	w.signalLocked()
	w.mu.Unlock()
	return out
}

// handle hands what a waiter delivered to the device's Handle.
func (w *Worker) handle(ev any) {
	hd, ok := w.d.(drivers.Handler)
	if !ok {
		return // deliver reported it; the agent drops it
	}
	what := fmt.Sprintf("Handle(%T)", ev)
	out := w.run(what, func() error { return hd.Handle(w.ctx, ev) })
	switch {
	case out.panicked:
		w.problemf("%s panicked: %v\n%s", what, out.value, out.stack)
	case out.err != nil && w.ctx.Err() == nil:
		// The agent closes and reopens a device whose Handle failed.
		w.record(Report{Kind: "reopen", Err: fmt.Errorf("handle: %w", out.err)})
	}
}

// call runs f on the worker and waits for it at most bound. ok is false
// when it did not return in time (a problem then reported) or the worker
// is gone.
func (w *Worker) call(what string, f func() error, bound time.Duration) (outcome, bool) {
	return w.send(job{what: what, f: f, res: make(chan outcome, 1)}, bound)
}

func (w *Worker) send(j job, bound time.Duration) (outcome, bool) {
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case w.jobs <- j:
	case <-w.done:
		return outcome{}, false
	case <-timer.C:
		w.mu.Lock()
		busy := w.step
		w.mu.Unlock()
		w.problemf("%s: the worker is still in %s after %v: a device's methods must return", j.what, busy, bound)
		return outcome{}, false
	}
	select {
	case out := <-j.res:
		return out, true
	case <-timer.C:
		w.problemf("%s did not return within %v", j.what, bound)
		return outcome{}, false
	}
}

// close stops the waiters and closes the device on the worker, once; later
// calls return the first one's outcome.
func (w *Worker) close() (outcome, bool) {
	w.mu.Lock()
	if w.closing {
		out := w.closeOut
		w.mu.Unlock()
		if out == nil {
			return outcome{}, false // the first Close hung
		}
		return *out, true
	}
	w.closing = true
	w.mu.Unlock()
	j := job{what: "Close", last: true, res: make(chan outcome, 1), f: func() error {
		w.stopWaiters()
		return w.d.Close()
	}}
	out, ok := w.send(j, w.timeout+w.grace)
	w.mu.Lock()
	w.closed = true
	if ok {
		w.closeOut = &out
	}
	w.signalLocked()
	w.mu.Unlock()
	if ok {
		w.waitWaiters()
	}
	return out, ok
}

// stopWaiters cancels the waiters' context and waits for them, as the
// agent does before Close: at most the grace period, after which the
// device is closed anyway.
func (w *Worker) stopWaiters() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.cancel()
	if !w.waitFor(w.grace) {
		msg := "a waiter (started with Output.Go) did not return within %v after its context was cancelled; the agent closes the device anyway, so a waiter must return once its context is done"
		if w.strict {
			w.problemf(msg, w.grace)
		} else {
			w.logf("drivertest: "+msg, w.grace)
		}
	}
}

// waitWaiters waits for the waiters after Close: one still running then
// leaks a goroutine in the agent at every reopen.
func (w *Worker) waitWaiters() {
	if !w.waitFor(w.timeout) {
		w.problemf("a waiter (started with Output.Go) was still running %v after Close: a waiter must return once its context is done", w.timeout)
	}
}

// waitFor waits at most d for the waiters to return.
func (w *Worker) waitFor(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		w.waiters.Wait()
		close(done)
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// deliver hands ev to the worker, waiting until it takes it; false once
// the waiters' context is done.
func (w *Worker) deliver(ev any) bool {
	if _, ok := w.d.(drivers.Handler); !ok {
		w.problemf("a waiter delivered a %T, but %T has no Handle method (drivers.Handler): the agent drops it", ev, w.d)
	}
	select {
	case w.events <- ev:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// signalLocked wakes the tests that wait for a report or a step.
func (w *Worker) signalLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// record records a report and wakes the waiting tests.
func (w *Worker) record(r Report) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reports = append(w.reports, r)
	w.signalLocked()
}

// during says what the worker runs now, for messages about reports.
func (w *Worker) during() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		return "after Close returned"
	case w.step != "":
		return "during " + w.step
	}
	return "from a waiter"
}

// output is the drivers.Output a Worker hands to Open.
type output struct{ w *Worker }

var _ drivers.Output = output{}

// entity returns the declared entity id, or reports that it is not one.
func (o output) entity(what, id string) (drivers.Entity, bool) {
	w := o.w
	e, ok := w.entities[id]
	if !ok {
		w.problemf("%T reported %s for entity %q %s, which Entities() does not declare (it has %q): the agent drops it", w.d, what, id, w.during(), w.order)
	}
	return e, ok
}

// afterClose reports a report made after Close returned.
func (o output) afterClose(what string) {
	w := o.w
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		w.problemf("%T reported %s after Close returned: the Output is valid only until Close returns", w.d, what)
	}
}

// State implements drivers.Output.
func (o output) State(entity string, v drivers.Value) {
	what := fmt.Sprintf("state %v", v)
	o.afterClose(what)
	if e, ok := o.entity(what, entity); ok {
		if _, err := discovery.StatePayload(e, v); err != nil {
			o.w.problemf("%T reported state %v for entity %q %s, which its spec %T does not take: %v", o.w.d, v, entity, o.w.during(), e.Spec, err)
		}
	}
	o.w.record(Report{Kind: "state", Entity: entity, Value: v})
}

// Event implements drivers.Output.
func (o output) Event(entity, eventType string) {
	what := fmt.Sprintf("event %q", eventType)
	o.afterClose(what)
	if e, ok := o.entity(what, entity); ok {
		if _, err := discovery.EventPayload(e, eventType); err != nil {
			o.w.problemf("%T reported event %q for entity %q %s, which its spec %T does not take: %v", o.w.d, eventType, entity, o.w.during(), e.Spec, err)
		}
	}
	o.w.record(Report{Kind: "event", Entity: entity, EventType: eventType})
}

// Unavailable implements drivers.Output.
func (o output) Unavailable(entity string, err error) {
	o.afterClose("unavailability")
	o.entity("unavailability", entity)
	if err == nil {
		o.w.problemf("%T reported entity %q unavailable %s with a nil error: say why, the agent logs it", o.w.d, entity, o.w.during())
	}
	o.w.record(Report{Kind: "unavailable", Entity: entity, Err: err})
}

// Reopen implements drivers.Output.
func (o output) Reopen(err error) {
	o.afterClose("a reopen")
	if err == nil {
		err = errors.New("the driver asked to be reopened without saying why")
	}
	o.w.record(Report{Kind: "reopen", Err: err})
}

// Go implements drivers.Output.
func (o output) Go(wait func(ctx context.Context, deliver func(ev any) bool) error) {
	w := o.w
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return // Close is under way: nothing is waited for any more
	}
	w.waiters.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.waiters.Done()
		out := protect(func() error { return wait(w.ctx, w.deliver) })
		switch {
		case out.panicked:
			w.problemf("a waiter (started with Output.Go) panicked: %v\n%s", out.value, out.stack)
		case out.err != nil && w.ctx.Err() == nil:
			// The agent closes and reopens a device whose waiter failed.
			w.record(Report{Kind: "reopen", Err: fmt.Errorf("waiter: %w", out.err)})
		}
		w.mu.Lock()
		w.signalLocked()
		w.mu.Unlock()
	}()
}

// usable fails the test when the Worker takes no more calls.
func (w *Worker) usable(t testing.TB, what string) {
	t.Helper()
	w.mu.Lock()
	openErr, closing := w.openErr, w.closing
	w.mu.Unlock()
	switch {
	case openErr != nil:
		t.Fatalf("%s: the device's Open failed (%v); the agent calls nothing but Close then", what, openErr)
	case closing:
		t.Fatalf("%s after Close: the agent calls nothing on a closed device (call the device's method directly to test that)", what)
	}
}

// do runs a call of the test on the worker and returns the device's
// error. A panic fails the test, with its stack, and is returned as an
// error; a call that hangs fails the test at once.
func (w *Worker) do(t testing.TB, what string, f func() error) error {
	t.Helper()
	w.usable(t, what)
	out, ok := w.call(what, f, w.timeout)
	if !ok {
		t.FailNow()
	}
	if out.panicked {
		t.Errorf("%s panicked: %v\n%s", what, out.value, out.stack)
		return &panicError{what: what, value: out.value}
	}
	return out.err
}

// Poll polls the device on the worker, as the agent does every interval,
// and returns Poll's error. The test fails at once if the device is no
// drivers.Poller.
func (w *Worker) Poll(t testing.TB) error {
	t.Helper()
	p, ok := w.d.(drivers.Poller)
	if !ok {
		t.Fatalf("Poll: %T is not a drivers.Poller: the agent never polls it", w.d)
	}
	return w.do(t, "Poll", func() error { return p.Poll(w.ctx) })
}

// Command runs a command for entity on the worker, as the agent does once
// it parsed a payload, and returns Command's error. Build c as the agent
// does for the entity's spec: drivers.Command{Action: drivers.ActionOn}
// for a switch, {Action: drivers.ActionSet, Value: drivers.Num(21.5,
// drivers.Celsius)} for a number. The test fails at once if the device is
// no drivers.Commander, if it does not declare entity, or if the agent
// never sends c to an entity of that spec (call the device's Command
// directly to test that).
func (w *Worker) Command(t testing.TB, entity string, c drivers.Command) error {
	t.Helper()
	cm, ok := w.d.(drivers.Commander)
	if !ok {
		t.Fatalf("Command(%q, %v): %T is not a drivers.Commander: the agent sends it no command", entity, c, w.d)
	}
	e, ok := w.entities[entity]
	if !ok {
		t.Fatalf("Command(%q, %v): Entities() does not declare %q (it has %q)", entity, c, entity, w.order)
	}
	if why := commandProblem(e, c); why != "" {
		t.Fatalf("Command(%q, %v): %s", entity, c, why)
	}
	what := fmt.Sprintf("Command(%q, %v)", entity, c)
	return w.do(t, what, func() error { return cm.Command(w.ctx, entity, c) })
}

// Close cancels the waiters' context, waits for them (a while: as the
// agent, it closes the device anyway after two seconds, and fails the test
// if a waiter still runs long after), and then closes the device on the
// worker, and returns Close's error. It closes once: later calls return
// the same error. A panic fails the test and is returned as an error.
func (w *Worker) Close(t testing.TB) error {
	t.Helper()
	out, ok := w.close()
	if !ok {
		t.FailNow()
	}
	if out.panicked {
		t.Errorf("Close panicked: %v\n%s", out.value, out.stack)
		return &panicError{what: "Close", value: out.value}
	}
	return out.err
}

// Reports returns everything the device reported, in order.
func (w *Worker) Reports() []Report {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.reports)
}

// State returns the latest state reported for entity, and whether there
// is one.
func (w *Worker) State(entity string) (drivers.Value, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.reports) - 1; i >= 0; i-- {
		if r := w.reports[i]; r.Kind == "state" && r.Entity == entity {
			return r.Value, true
		}
	}
	return drivers.Value{}, false
}

// States returns every state reported for entity, in order.
func (w *Worker) States(entity string) []drivers.Value {
	w.mu.Lock()
	defer w.mu.Unlock()
	var vs []drivers.Value
	for _, r := range w.reports {
		if r.Kind == "state" && r.Entity == entity {
			vs = append(vs, r.Value)
		}
	}
	return vs
}

// Events returns the types of the events reported for entity, in order.
func (w *Worker) Events(entity string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ts []string
	for _, r := range w.reports {
		if r.Kind == "event" && r.Entity == entity {
			ts = append(ts, r.EventType)
		}
	}
	return ts
}

// Unavailable returns why entity was last reported unavailable, or nil
// when it was not, or when a state of it was reported since: the agent
// shows it unavailable until its next state.
func (w *Worker) Unavailable(entity string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.reports) - 1; i >= 0; i-- {
		r := w.reports[i]
		if r.Entity != entity {
			continue
		}
		switch r.Kind {
		case "state":
			return nil
		case "unavailable":
			if r.Err == nil {
				return errors.New("unavailable, without a reason")
			}
			return r.Err
		}
	}
	return nil
}

// Reopens returns, in order, every reason for which the agent would close
// the device and open it again: each Output.Reopen (a nil error there
// replaced by one that says so), a waiter's error ("waiter: …") and a
// Handle error ("handle: …").
func (w *Worker) Reopens() []error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for _, r := range w.reports {
		if r.Kind == "reopen" {
			errs = append(errs, r.Err)
		}
	}
	return errs
}

// WaitFor waits until cond returns true, and fails the test at once,
// saying what it waited for and what the device reported, if that takes
// longer than CallTimeout (which only decides when a test gives up, never
// what passes). cond is called now, and again after each report and each
// call the worker finishes (a Handle of what a waiter delivered, say), so
// it must look only at what those change: the Worker's records, or the
// state of a simulated part that the device drives. It runs on the test's
// goroutine, beside the worker, so it must not call the device.
//
//	w.WaitFor(t, "the relay line high", func(*drivertest.Worker) bool { return h.Line("GPIO17").Level() == gpio.High })
func (w *Worker) WaitFor(t testing.TB, what string, cond func(*Worker) bool) {
	t.Helper()
	timer := time.NewTimer(w.timeout)
	defer timer.Stop()
	for {
		w.mu.Lock()
		ch := w.changed
		w.mu.Unlock()
		if cond(w) {
			return
		}
		if w.onWait != nil {
			w.onWait()
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("waited %v for %s; the device reported:\n%s", w.timeout, what, w.reported())
		}
	}
}

// WaitState waits until entity's state is want (drivers.Value.Equal): its
// latest state when WaitState is called, or any state reported after, so
// that a state that passes by is not missed. The test fails at once if
// that takes longer than CallTimeout.
func (w *Worker) WaitState(t testing.TB, entity string, want drivers.Value) {
	t.Helper()
	w.mu.Lock()
	from := len(w.reports)
	w.mu.Unlock()
	if v, ok := w.State(entity); ok && v.Equal(want) {
		return
	}
	w.WaitFor(t, fmt.Sprintf("state %v of %q", want, entity), func(w *Worker) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, r := range w.reports[from:] {
			if r.Kind == "state" && r.Entity == entity && r.Value.Equal(want) {
				return true
			}
		}
		return false
	})
}

// WaitEvent waits for an event of eventType on entity that no earlier
// WaitEvent for them returned for: the first call returns for the first
// such event, the second for the second, whether they were reported before
// the call or after. The test fails at once if that takes longer than
// CallTimeout.
func (w *Worker) WaitEvent(t testing.TB, entity, eventType string) {
	t.Helper()
	key := [2]string{entity, eventType}
	w.WaitFor(t, fmt.Sprintf("event %q of %q", eventType, entity), func(w *Worker) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		n := 0
		for _, r := range w.reports {
			if r.Kind == "event" && r.Entity == entity && r.EventType == eventType {
				n++
			}
		}
		if n > w.consumed[key] {
			w.consumed[key]++
			return true
		}
		return false
	})
}

// reported formats the reports for a test message.
func (w *Worker) reported() string {
	rs := w.Reports()
	if len(rs) == 0 {
		return "\tnothing"
	}
	lines := make([]string, len(rs))
	for i, r := range rs {
		lines[i] = "\t" + r.String()
	}
	return strings.Join(lines, "\n")
}

// commandProblem says why the agent never sends c to e, or "". The agent
// parses payloads per spec (see discovery.ParseCommand) and turns TOGGLE
// into ActionOn or ActionOff, so a device sees only these.
func commandProblem(e drivers.Entity, c drivers.Command) string {
	none := func(v drivers.Value) bool { return v.IsZero() }
	num := func(v drivers.Value, lo, hi float64) bool {
		return v.Kind == drivers.ValueNumber && v.Num >= lo && v.Num <= hi
	}
	switch s := specValue(e.Spec).(type) {
	case drivers.Switch:
		if (c.Action == drivers.ActionOn || c.Action == drivers.ActionOff) && none(c.Value) {
			return ""
		}
		return "a switch takes ActionOn and ActionOff, without a value"
	case drivers.Light:
		switch {
		case c.Action == drivers.ActionOff && none(c.Value):
			return ""
		case c.Action == drivers.ActionOn && none(c.Value):
			return ""
		case c.Action == drivers.ActionOn && s.Brightness && num(c.Value, 1, 255):
			return ""
		case s.Brightness:
			return "a dimmable light takes ActionOff, and ActionOn without a value or with a brightness Num from 1 to 255"
		}
		return "a light without Brightness takes ActionOn and ActionOff, without a value"
	case drivers.Button:
		if c.Action == drivers.ActionPress && none(c.Value) {
			return ""
		}
		return "a button takes ActionPress, without a value"
	case drivers.Number:
		if c.Action == drivers.ActionSet && num(c.Value, s.Min, s.Max) {
			return ""
		}
		return fmt.Sprintf("a number takes ActionSet with a Num from Min %v to Max %v", s.Min, s.Max)
	case drivers.Cover:
		switch {
		case (c.Action == drivers.ActionOpen || c.Action == drivers.ActionClose) && none(c.Value):
			return ""
		case c.Action == drivers.ActionStop && !s.NoStop && none(c.Value):
			return ""
		case c.Action == drivers.ActionSet && s.Position && num(c.Value, 0, 100):
			return ""
		}
		takes := "ActionOpen, ActionClose"
		if !s.NoStop {
			takes += ", ActionStop"
		}
		if s.Position {
			takes += ", and ActionSet with a Num position from 0 to 100"
		}
		return "this cover takes " + takes
	case drivers.Select:
		if c.Action == drivers.ActionSet && c.Value.Kind == drivers.ValueText && slices.Contains(s.Options, c.Value.Text) {
			return ""
		}
		return fmt.Sprintf("a select takes ActionSet with a Text that is one of its options %q", s.Options)
	case nil:
		return "the entity has no spec"
	}
	return fmt.Sprintf("a %T takes no commands", specValue(e.Spec))
}

// specValue returns a spec given as a pointer as the value it points to,
// since drivers take both.
func specValue(s drivers.Spec) drivers.Spec {
	switch p := s.(type) {
	case *drivers.Sensor:
		if p != nil {
			return *p
		}
	case *drivers.BinarySensor:
		if p != nil {
			return *p
		}
	case *drivers.Switch:
		if p != nil {
			return *p
		}
	case *drivers.Button:
		if p != nil {
			return *p
		}
	case *drivers.Number:
		if p != nil {
			return *p
		}
	case *drivers.Light:
		if p != nil {
			return *p
		}
	case *drivers.Cover:
		if p != nil {
			return *p
		}
	case *drivers.Event:
		if p != nil {
			return *p
		}
	case *drivers.Select:
		if p != nil {
			return *p
		}
	default:
		return s
	}
	return nil
}
