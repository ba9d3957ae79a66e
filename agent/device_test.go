package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/logbuf"
)

const testWait = 15 * time.Second

// harness runs one device worker on a fake clock, with what it publishes
// collected from the outbox.
type harness struct {
	t     *testing.T
	clock *clockwork.FakeClock
	node  discovery.Node
	out   *outbox
	pipe  *pipeline
	d     *device
	logs  *logbuf.Buffer

	mu     sync.Mutex
	msgs   []message
	notify chan struct{}
}

var fakeEntities = []drivers.Entity{
	{ID: "relay", Spec: drivers.Switch{}},
	{ID: "level", Name: "Level", Spec: drivers.Sensor{Unit: drivers.Percent, State: drivers.StateMeasurement}},
	{ID: "press", Name: "Press", Spec: drivers.Event{Types: []string{"press"}}},
}

func newHarness(t *testing.T, dev drivers.Device) *harness {
	t.Helper()
	return newHarnessFor(t, DeviceConfig{ID: "dev", Driver: "fake", Device: dev, Entities: fakeEntities, Interval: time.Minute}, sim.NewHost(nil))
}

// newHarnessFor runs the worker of device dc, whose id must be "dev", on
// host.
func newHarnessFor(t *testing.T, dc DeviceConfig, host drivers.Host) *harness {
	t.Helper()
	h := &harness{t: t, clock: clockwork.NewFakeClock(), node: discovery.Node{ID: "n"}, out: newOutbox(), logs: &logbuf.Buffer{}, notify: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.pipe = newPipeline(h.node, h.out, log)
	h.d = newDevice(dc, host, h.pipe, h.clock, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.d.run(ctx)
	}()
	go h.collect(ctx)
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(testWait):
			t.Error("the worker did not stop")
		}
		if t.Failed() {
			t.Logf("log:\n%s", h.logs.String())
		}
	})
	return h
}

// collect is the harness's publisher: it takes what the outbox holds.
func (h *harness) collect(ctx context.Context) {
	for {
		m, ok := h.out.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-h.out.wake:
				continue
			}
		}
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		close(h.notify)
		h.notify = make(chan struct{})
		h.mu.Unlock()
	}
}

// payloads returns what was published to topic, in order.
func (h *harness) payloads(topic string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var p []string
	for _, m := range h.msgs {
		if m.topic == topic {
			p = append(p, string(m.payload))
		}
	}
	return p
}

// waitFor waits until cond holds of what was published.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.After(testWait)
	for {
		h.mu.Lock()
		ch := h.notify
		h.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			h.mu.Lock()
			defer h.mu.Unlock()
			var got []string
			for _, m := range h.msgs {
				got = append(got, m.topic+"="+string(m.payload))
			}
			h.t.Fatalf("timed out waiting for %s; published: %q", what, got)
		}
	}
}

// waitPayload waits until topic's latest payload is want.
func (h *harness) waitPayload(topic, want string) {
	h.t.Helper()
	h.waitFor(fmt.Sprintf("%s = %q", topic, want), func() bool {
		p := h.payloads(topic)
		return len(p) > 0 && p[len(p)-1] == want
	})
}

func (h *harness) status() string { return h.node.DeviceStatusTopic("dev") }
func (h *harness) state(e string) string {
	return h.node.StateTopic("dev", e)
}

// advance waits until the worker sleeps on the clock, then moves it on.
func (h *harness) advance(d time.Duration) { h.t.Helper(); h.advanceN(d, 1) }

// advanceN waits until the worker waits on n timers of the clock (an open
// device waits on its interval's ticker, and one that failed on its retry
// too), then moves it on.
func (h *harness) advanceN(d time.Duration, n int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := h.clock.BlockUntilContext(ctx, n); err != nil {
		h.t.Fatalf("the worker never waited on %d timers of the clock: %v", n, err)
	}
	h.clock.Advance(d)
}

func (h *harness) command(entity string, c discovery.Command) {
	h.t.Helper()
	if !h.d.enqueue(command{entity: entity, cmd: c, source: "test"}) {
		h.t.Fatal("queue full")
	}
}

// fakeDev is a scriptable device: a switch "relay", a sensor "level" and an
// event "press". Every method records its call; overlapping calls, which
// the one-worker rule forbids, are counted.
type fakeDev struct {
	calls chan string
	// unrecorded leaves calls out of calls, for a test that does not read
	// them.
	unrecorded bool
	opens      atomic.Int32
	inside     atomic.Int32
	overlap    atomic.Int32

	mu        sync.Mutex
	out       drivers.Output
	openErrs  []error       // returned by the next Opens, one each
	openErr   error         // returned by every Open after those
	openGate  chan struct{} // Open waits for it to close, if set
	panicIn   string        // the method that panics next, once
	pollErr   error
	cmdErr    error
	reopenIn  string // the method that asks to be reopened next, once
	waiterErr error  // Open starts a waiter returning it at once
	events    []any  // delivered by a waiter started in Open
	on        bool
	level     float64
}

func newFake() *fakeDev { return &fakeDev{calls: make(chan string, 1000), level: 40} }

func (f *fakeDev) enter(name string) func() {
	if f.inside.Add(1) > 1 {
		f.overlap.Add(1)
	}
	if !f.unrecorded {
		f.calls <- name
	}
	f.mu.Lock()
	p := f.panicIn == name
	if p {
		f.panicIn = ""
	}
	f.mu.Unlock()
	if p {
		f.inside.Add(-1)
		panic("boom in " + name)
	}
	return func() { f.inside.Add(-1) }
}

func (f *fakeDev) set(fn func(f *fakeDev)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeDev) reopenNow(name string) bool {
	if f.reopenIn == name {
		f.reopenIn = ""
		return true
	}
	return false
}

func (f *fakeDev) Info() drivers.Info         { return drivers.Info{Model: "fake"} }
func (f *fakeDev) Entities() []drivers.Entity { return fakeEntities }
func (f *fakeDev) Claims() []drivers.Resource { return nil }
func (f *fakeDev) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	f.opens.Add(1)
	defer f.enter("open")()
	f.mu.Lock()
	gate := f.openGate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out = out
	if len(f.openErrs) > 0 {
		err := f.openErrs[0]
		f.openErrs = f.openErrs[1:]
		if err != nil {
			return err
		}
	}
	if f.openErr != nil {
		return f.openErr
	}
	out.State("relay", drivers.Bool(f.on))
	if f.waiterErr != nil {
		err := f.waiterErr
		out.Go(func(ctx context.Context, deliver func(any) bool) error { return err })
	}
	if len(f.events) > 0 {
		evs := f.events
		out.Go(func(ctx context.Context, deliver func(any) bool) error {
			for _, ev := range evs {
				if !deliver(ev) {
					return nil
				}
			}
			<-ctx.Done()
			return nil
		})
	}
	return nil
}

func (f *fakeDev) Poll(ctx context.Context) error {
	// What the poll does is settled before the test hears of the call, so
	// a test can change it for the next poll as soon as it has.
	f.mu.Lock()
	reopen, err := f.reopenNow("poll"), f.pollErr
	f.mu.Unlock()
	defer f.enter("poll")()
	f.mu.Lock()
	defer f.mu.Unlock()
	if reopen {
		f.out.Reopen(errors.New("adapter unplugged"))
		return nil
	}
	if err != nil {
		return err
	}
	f.out.State("level", drivers.Num(f.level, drivers.Percent))
	return nil
}

func (f *fakeDev) Command(ctx context.Context, entity string, c drivers.Command) error {
	f.mu.Lock()
	err := f.cmdErr
	f.mu.Unlock()
	defer f.enter("command " + c.String())()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		return err
	}
	f.on = c.Action == drivers.ActionOn
	f.out.State("relay", drivers.Bool(f.on))
	return nil
}

func (f *fakeDev) Handle(ctx context.Context, ev any) error {
	defer f.enter(fmt.Sprint("handle ", ev))()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch ev {
	case "press":
		f.out.Event("press", "press")
	case "fail":
		return errors.New("the line went away")
	}
	return nil
}

func (f *fakeDev) Close() error {
	defer f.enter("close")()
	return nil
}

// countLines counts the lines of logs that contain every one of parts.
func countLines(logs *logbuf.Buffer, parts ...string) int {
	n := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			n++
		}
	}
	return n
}

// waitCount waits until logs has n lines that contain every one of parts.
func waitCount(t *testing.T, logs *logbuf.Buffer, n int, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for countLines(logs, parts...) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines logged with %q, want %d", countLines(logs, parts...), parts, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCall waits for the device's next call and checks it.
func waitCall(t *testing.T, f *fakeDev, want string) {
	t.Helper()
	select {
	case got := <-f.calls:
		if got != want {
			t.Fatalf("the worker called %q, want %q", got, want)
		}
	case <-time.After(testWait):
		t.Fatalf("the worker never called %q", want)
	}
}

func TestDeviceOpenRetriesWithBackoff(t *testing.T) {
	f := newFake()
	f.openErrs = []error{errors.New("no such bus"), errors.New("no such bus")}
	h := newHarness(t, f)
	waitCall(t, f, "open")
	waitCall(t, f, "close") // Close follows every Open, a failed one too
	h.waitPayload(h.status(), "offline")
	h.advance(1200 * time.Millisecond)
	waitCall(t, f, "open")
	waitCall(t, f, "close")
	h.advance(2400 * time.Millisecond)
	waitCall(t, f, "open")
	waitCall(t, f, "poll")
	h.waitPayload(h.status(), "online")
	h.waitPayload(h.state("level"), "40")
	waitLog(t, h.logs, "device works again", "after_failures=2 unavailable_for=3.6s")
	if n := countLines(h.logs, "device works again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once", n)
	}
}

func TestDeviceRoundsBeforeDeduplicating(t *testing.T) {
	f := newFake()
	f.level = 40.2
	h := newHarness(t, f)
	waitCall(t, f, "open")
	waitCall(t, f, "poll")
	h.waitPayload(h.state("level"), "40")
	for _, v := range []float64{40.3, 40.4, 40.6} {
		f.set(func(f *fakeDev) { f.level = v })
		h.advance(time.Minute)
		waitCall(t, f, "poll")
	}
	h.waitPayload(h.state("level"), "41")
	// Each interval republishes the state too; what must not happen is a
	// publication of "40" as a change within the same poll.
	got := h.payloads(h.state("level"))
	if n := strings.Count(strings.Join(got, ","), "41"); n != 1 {
		t.Errorf("published %q: 41 once", got)
	}
	if got[0] != "40" {
		t.Errorf("published %q: want 40 first", got)
	}
}

func TestDeviceCommandsAndToggle(t *testing.T) {
	f := newFake()
	h := newHarness(t, f)
	waitCall(t, f, "open")
	waitCall(t, f, "poll")
	h.waitPayload(h.state("relay"), "OFF")
	h.command("relay", discovery.Command{Toggle: true})
	waitCall(t, f, "command ON")
	h.waitPayload(h.state("relay"), "ON")
	h.command("relay", discovery.Command{Toggle: true})
	waitCall(t, f, "command OFF")
	h.waitPayload(h.state("relay"), "OFF")

	// A failed command republishes the state the device holds.
	f.set(func(f *fakeDev) { f.cmdErr = errors.New("relay stuck") })
	before := len(h.payloads(h.state("relay")))
	h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}})
	waitCall(t, f, "command ON")
	h.waitFor("the state republished after the failed command", func() bool {
		p := h.payloads(h.state("relay"))
		return len(p) > before && p[len(p)-1] == "OFF"
	})
}

func TestDeviceWaiterDeliversToHandle(t *testing.T) {
	f := newFake()
	f.events = []any{"press", "press"}
	h := newHarness(t, f)
	h.waitFor("two press events", func() bool { return len(h.payloads(h.state("press"))) == 2 })
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.msgs {
		if m.topic == h.state("press") && (m.retained || !m.event) {
			t.Errorf("event %q published retained or as a state", m.payload)
		}
	}
	if n := f.overlap.Load(); n != 0 {
		t.Errorf("%d driver calls overlapped: the worker must run one at a time", n)
	}
}

// TestDeviceReopens checks each way a device asks to be reopened: Reopen
// from Poll, a waiter that fails, a Handle that fails.
func TestDeviceReopens(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fakeDev)
		after string // the call after which the device fails
	}{
		{"Reopen from Poll", func(f *fakeDev) { f.reopenIn = "poll" }, "poll"},
		{"a waiter that fails", func(f *fakeDev) { f.waiterErr = errors.New("edge watch failed") }, "open"},
		{"a Handle that fails", func(f *fakeDev) { f.events = []any{"fail"} }, "handle fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			tt.setup(f)
			h := newHarness(t, f)
			waitCall(t, f, "open")
			h.waitFor("offline", func() bool { return slices.Contains(h.payloads(h.status()), "offline") })
			f.set(func(f *fakeDev) { f.waiterErr = nil; f.events = nil })
			h.advance(1200 * time.Millisecond)
			// The outbox keeps the latest state of a topic, so a quick
			// online-offline may reach the broker as offline alone.
			h.waitFor("reopened", func() bool {
				p := h.payloads(h.status())
				return f.opens.Load() == 2 && len(p) >= 2 && p[len(p)-1] == "online"
			})
			if n := f.overlap.Load(); n != 0 {
				t.Errorf("%d driver calls overlapped", n)
			}
		})
	}
}

// TestDevicePanicsAreContained panics in each driver method the worker
// calls: the panic is logged with its stack and the device fails and is
// reopened; the agent goes on.
func TestDevicePanicsAreContained(t *testing.T) {
	for _, method := range []string{"open", "poll", "command ON", "handle press", "close"} {
		t.Run(method, func(t *testing.T) {
			f := newFake()
			f.events = []any{"press"}
			f.panicIn = method
			if method == "close" {
				// Close runs when the device is reopened: make it fail once.
				f.reopenIn = "poll"
			}
			h := newHarness(t, f)
			if method == "command ON" {
				h.waitPayload(h.state("relay"), "OFF")
				h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}})
			}
			h.waitFor("the device failing", func() bool { return slices.Contains(h.payloads(h.status()), "offline") })
			h.advance(1200 * time.Millisecond)
			h.waitFor("the device back", func() bool {
				p := h.payloads(h.status())
				return f.opens.Load() == 2 && p[len(p)-1] == "online"
			})
			logs := h.logs.String()
			if !strings.Contains(logs, "driver panicked") || !strings.Contains(logs, "boom in "+method) || !strings.Contains(logs, "goroutine") {
				t.Errorf("the panic was not logged with its stack:\n%s", logs)
			}
		})
	}
}

func TestDeviceWaiterPanicIsContained(t *testing.T) {
	f := newFake()
	h := newHarness(t, f)
	waitCall(t, f, "open")
	f.mu.Lock()
	out := f.out
	f.mu.Unlock()
	out.Go(func(ctx context.Context, deliver func(any) bool) error { panic("waiter boom") })
	h.waitFor("the device failing", func() bool { return slices.Contains(h.payloads(h.status()), "offline") })
	if !strings.Contains(h.logs.String(), "waiter boom") {
		t.Error("the waiter's panic was not logged")
	}
}

func TestDeviceDropsCommandsWhileUnavailable(t *testing.T) {
	f := newFake()
	f.openErrs = []error{errors.New("unplugged")}
	h := newHarness(t, f)
	waitCall(t, f, "open")
	waitCall(t, f, "close")
	h.waitPayload(h.status(), "offline")
	h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}})
	h.advance(1200 * time.Millisecond)
	waitCall(t, f, "open")
	waitCall(t, f, "poll")
	h.waitPayload(h.status(), "online")
	select {
	case c := <-f.calls:
		t.Errorf("the worker called %q: a command sent while the device was unavailable must be dropped, not run later", c)
	default:
	}
	if !strings.Contains(h.logs.String(), "command dropped") {
		t.Error("the dropped command was not logged")
	}
}

func TestDeviceEntityUnavailable(t *testing.T) {
	f := newFake()
	h := newHarness(t, f)
	waitCall(t, f, "open")
	waitCall(t, f, "poll")
	status := h.node.EntityStatusTopic("dev", "level")
	h.waitPayload(status, "online")
	f.mu.Lock()
	f.out.Unavailable("level", errors.New("CRC mismatch"))
	f.mu.Unlock()
	h.waitPayload(status, "offline")
	h.advance(time.Minute)
	h.waitPayload(status, "online") // the next state brings it back
}

// unavailableInOpen reports its sensor unavailable while it opens.
type unavailableInOpen struct{ *fakeDev }

func (u unavailableInOpen) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	if err := u.fakeDev.Open(ctx, h, out); err != nil {
		return err
	}
	out.Unavailable("level", errors.New("not warmed up"))
	return nil
}

func (u unavailableInOpen) Poll(ctx context.Context) error { return nil }

// TestDeviceUnavailableInOpenStays checks that the device coming online
// does not make an entity that its driver reported unavailable available.
func TestDeviceUnavailableInOpenStays(t *testing.T) {
	f := newFake()
	h := newHarness(t, unavailableInOpen{f})
	h.waitPayload(h.status(), "online")
	if got := h.payloads(h.node.EntityStatusTopic("dev", "level")); len(got) == 0 || got[len(got)-1] != "offline" {
		t.Fatalf("the level's availability went %q: reported unavailable in Open, it must stay so", got)
	}
	if got := h.payloads(h.node.EntityStatusTopic("dev", "relay")); len(got) != 1 || got[0] != "online" {
		t.Errorf("the relay's availability went %q, want online once", got)
	}
}

// TestDeviceThatFailsRightAfterOpenBacksOff checks that a device whose
// Open works but which fails at once (an adapter that enumerates but
// cannot be read) is retried ever less often, not every second.
func TestDeviceThatFailsRightAfterOpenBacksOff(t *testing.T) {
	f := newFake()
	f.waiterErr = errors.New("read: input/output error")
	h := newHarness(t, f)
	var delays []time.Duration
	for n := 1; n <= 4; n++ {
		// The worker logs each failure with the delay it then waits.
		re := regexp.MustCompile(fmt.Sprintf(`retry_in=(\S+) failures=%d\b`, n))
		waitLog(t, h.logs, fmt.Sprintf("failures=%d", n))
		m := re.FindStringSubmatch(h.logs.String())
		if m == nil {
			t.Fatalf("failure %d logged without its delay:\n%s", n, h.logs.String())
		}
		d, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatal(err)
		}
		delays = append(delays, d)
		h.advance(d + time.Millisecond)
	}
	for i := 1; i < len(delays); i++ {
		// Twice, give or take the ±20% jitter of each: at least 1.6/1.2.
		if delays[i] < delays[i-1]*13/10 {
			t.Fatalf("reopen delays %v: want each about twice the one before", delays)
		}
	}
}

// orderedClose records its Close in a shared log.
type orderedClose struct {
	*fakeDev
	name  string
	order chan string
}

func (c orderedClose) Close() error {
	c.order <- c.name
	return c.fakeDev.Close()
}

func (c orderedClose) ProvidedLines() []string { return []string{"A0"} }

// TestProviderClosesAfterItsUsers fails a provider: the device using its
// line closes before the provider does.
func TestProviderClosesAfterItsUsers(t *testing.T) {
	clock := clockwork.NewFakeClock()
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	out := newOutbox()
	pipe := newPipeline(discovery.Node{ID: "n"}, out, log)
	order := make(chan string, 100)
	prov, user := newFake(), newFake()
	host := sim.NewHost(nil)
	pd := newDevice(DeviceConfig{ID: "prov", Driver: "fake", Device: orderedClose{prov, "provider", order}, Entities: fakeEntities, Interval: time.Minute}, host, pipe, clock, log)
	ud := newDevice(DeviceConfig{ID: "user", Driver: "fake", Device: orderedClose{user, "user", order}, Entities: fakeEntities, Interval: time.Minute}, host, pipe, clock, log)
	ud.providers = []*device{pd}
	ud.host.providers["prov"] = pd
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, d := range []*device{pd, ud} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.run(ctx)
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	waitCall(t, prov, "open")
	waitCall(t, user, "open")
	prov.mu.Lock()
	prov.out.Reopen(errors.New("the expander stopped acknowledging"))
	prov.mu.Unlock()
	var got []string
	for len(got) < 2 {
		select {
		case name := <-order:
			got = append(got, name)
		case <-time.After(testWait):
			t.Fatalf("closed so far: %v", got)
		}
	}
	if !slices.Equal(got, []string{"user", "provider"}) {
		t.Errorf("closed in the order %v: the user of a provider's line must close first", got)
	}
}

// retryIn returns the delay that the worker logged with the failure that
// the nth log line of msg reports.
func retryIn(t *testing.T, logs *logbuf.Buffer, msg string, n int) time.Duration {
	t.Helper()
	waitCount(t, logs, n, msg)
	re := regexp.MustCompile(`retry_in=(\S+)`)
	var lines []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, msg) {
			lines = append(lines, line)
		}
	}
	if len(lines) < n {
		t.Fatalf("%d lines with %q, want %d:\n%s", len(lines), msg, n, logs.String())
	}
	m := re.FindStringSubmatch(lines[n-1])
	if m == nil {
		t.Fatalf("logged without its delay: %s", lines[n-1])
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDevicePollFailureRetriesWithBackoff fails a device's polls: it goes
// unavailable at once, its poll is retried after 1 s, 2 s, … (not at its
// one-minute interval), and it comes back on its own with its recovery
// logged once.
func TestDevicePollFailureRetriesWithBackoff(t *testing.T) {
	f := newFake()
	h := newHarness(t, f)
	waitCall(t, f, "open")
	waitCall(t, f, "poll")
	h.waitPayload(h.status(), "online")

	f.set(func(f *fakeDev) { f.pollErr = errors.New("i2c: remote I/O error") })
	h.advance(time.Minute)
	waitCall(t, f, "poll")
	h.waitPayload(h.status(), "offline")
	const failed = "poll failed; entities unavailable, retrying"
	waitLog(t, h.logs, failed, "failures=1")
	var total time.Duration
	for n := 1; n <= 3; n++ {
		d := retryIn(t, h.logs, failed, n)
		if lo, hi := time.Duration(1<<(n-1))*800*time.Millisecond, time.Duration(1<<(n-1))*1200*time.Millisecond; d < lo || d > hi {
			t.Fatalf("retry %d after %v, want %v to %v", n, d, lo, hi)
		}
		if n == 3 {
			f.set(func(f *fakeDev) { f.pollErr = nil })
		}
		// Ticker and retry: the poll comes when the retry is due (the log
		// rounds the delay to the millisecond).
		d += time.Millisecond
		h.advanceN(d, 2)
		total += d
		waitCall(t, f, "poll")
		if n < 3 {
			waitLog(t, h.logs, failed, fmt.Sprintf("failures=%d", n+1))
		}
	}
	h.waitPayload(h.status(), "online")
	h.waitPayload(h.state("level"), "40")
	waitLog(t, h.logs, "device works again", "after_failures=3", "unavailable_for="+total.String())
	if n := countLines(h.logs, "device works again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once", n)
	}
	if n := f.opens.Load(); n != 1 {
		t.Errorf("opened %d times: a failing poll is retried on the open device", n)
	}
	// Back to the interval: no retry is pending, only the ticker.
	h.advanceN(time.Minute, 1)
	waitCall(t, f, "poll")
}

// noPoll is a fake device without Poll, as a relay board with nothing to
// read is.
type noPoll struct{ f *fakeDev }

func (n noPoll) Info() drivers.Info         { return n.f.Info() }
func (n noPoll) Entities() []drivers.Entity { return n.f.Entities() }
func (n noPoll) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	return n.f.Open(ctx, h, out)
}
func (n noPoll) Command(ctx context.Context, entity string, c drivers.Command) error {
	return n.f.Command(ctx, entity, c)
}
func (n noPoll) Close() error { return n.f.Close() }

// TestDeviceCommandFailureMakesUnavailable fails a command: the device goes
// unavailable and is retried with backoff — by polling, for a device with
// Poll; by closing and opening it again, for one without — and comes back
// on its own.
func TestDeviceCommandFailureMakesUnavailable(t *testing.T) {
	tests := []struct {
		name      string
		dev       func(f *fakeDev) drivers.Device
		retry     string // the call that retries
		opens     int32  // Opens in all
		timers    int    // the worker's timers while it waits to retry
		afterFail []string
	}{
		{"with Poll", func(f *fakeDev) drivers.Device { return f }, "poll", 1, 2, nil},
		{"without Poll", func(f *fakeDev) drivers.Device { return noPoll{f} }, "open", 2, 1, []string{"close"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			h := newHarness(t, tt.dev(f))
			waitCall(t, f, "open")
			if tt.retry == "poll" {
				waitCall(t, f, "poll")
			}
			h.waitPayload(h.status(), "online")
			h.waitPayload(h.state("relay"), "OFF")
			f.set(func(f *fakeDev) { f.cmdErr = errors.New("write: remote I/O error") })
			h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}})
			waitCall(t, f, "command ON")
			for _, c := range tt.afterFail {
				waitCall(t, f, c)
			}
			h.waitPayload(h.status(), "offline")
			waitLog(t, h.logs, "command failed; entities unavailable, retrying", "entity=relay", "topic=test", "failures=1")
			f.set(func(f *fakeDev) { f.cmdErr = nil })
			h.advanceN(retryIn(t, h.logs, "command failed", 1)+time.Millisecond, tt.timers)
			waitCall(t, f, tt.retry)
			h.waitPayload(h.status(), "online")
			waitLog(t, h.logs, "device works again", "after_failures=1")
			if n := f.opens.Load(); n != tt.opens {
				t.Errorf("opened %d times, want %d", n, tt.opens)
			}
			// It takes commands again.
			h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}})
			waitCall(t, f, "command ON")
			h.waitPayload(h.state("relay"), "ON")
		})
	}
}

// TestDeviceUnsupportedCommandKeepsDevice: a driver refusing a command it
// cannot carry out (an error wrapping drivers.ErrUnsupported) is not a
// hardware failure: the device stays available, is neither reopened nor
// polled again early, and the next command runs.
func TestDeviceUnsupportedCommandKeepsDevice(t *testing.T) {
	tests := []struct {
		name string
		dev  func(f *fakeDev) drivers.Device
		poll bool
	}{
		{"with Poll", func(f *fakeDev) drivers.Device { return f }, true},
		{"without Poll", func(f *fakeDev) drivers.Device { return noPoll{f} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			h := newHarness(t, tt.dev(f))
			waitCall(t, f, "open")
			if tt.poll {
				waitCall(t, f, "poll")
			}
			h.waitPayload(h.status(), "online")
			h.waitPayload(h.state("relay"), "OFF")
			f.set(func(f *fakeDev) { f.cmdErr = fmt.Errorf("relay takes no STOP: %w", drivers.ErrUnsupported) })
			h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOff}})
			waitCall(t, f, "command OFF")
			waitLog(t, h.logs, "command not supported by the driver; ignored", "entity=relay")
			f.set(func(f *fakeDev) { f.cmdErr = nil })
			h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}})
			// The next call is the command: no close, reopen or retry poll
			// came between.
			waitCall(t, f, "command ON")
			h.waitPayload(h.state("relay"), "ON")
			if n := f.opens.Load(); n != 1 {
				t.Errorf("opened %d times, want 1", n)
			}
			if strings.Contains(h.logs.String(), "entities unavailable") {
				t.Errorf("an unsupported command made the device unavailable:\n%s", h.logs.String())
			}
		})
	}
}

// TestDeviceRefusesCommandsWhileUnavailable sends a command while the
// device is unavailable in each way: it is refused with a warning that
// names the device, the entity, the topic and why, and never runs later.
func TestDeviceRefusesCommandsWhileUnavailable(t *testing.T) {
	tests := []struct {
		name string
		// fail makes the device unavailable; recover makes it work again
		// and lets the worker find out.
		fail    func(h *harness, f *fakeDev)
		recover func(h *harness, f *fakeDev)
		why     string
	}{
		{
			name: "open fails",
			fail: func(h *harness, f *fakeDev) {
				f.set(func(f *fakeDev) { f.reopenIn = "poll"; f.openErr = errors.New("no such bus") })
				h.advance(time.Minute)
				waitCall(h.t, f, "poll")
				waitCall(h.t, f, "close")
				h.advance(retryIn(h.t, h.logs, "device failed", 1) + time.Millisecond)
				waitCall(h.t, f, "open")
				waitCall(h.t, f, "close")
			},
			recover: func(h *harness, f *fakeDev) {
				f.set(func(f *fakeDev) { f.openErr = nil })
				h.advance(retryIn(h.t, h.logs, "device failed", 2) + time.Millisecond)
				waitCall(h.t, f, "open")
				waitCall(h.t, f, "poll")
			},
			why: "no such bus",
		},
		{
			name: "poll fails",
			fail: func(h *harness, f *fakeDev) {
				f.set(func(f *fakeDev) { f.pollErr = errors.New("CRC mismatch") })
				h.advance(time.Minute)
				waitCall(h.t, f, "poll")
			},
			recover: func(h *harness, f *fakeDev) {
				f.set(func(f *fakeDev) { f.pollErr = nil })
				h.advanceN(retryIn(h.t, h.logs, "poll failed", 1)+time.Millisecond, 2)
				waitCall(h.t, f, "poll")
			},
			why: "CRC mismatch",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			h := newHarness(t, f)
			waitCall(t, f, "open")
			waitCall(t, f, "poll")
			h.waitPayload(h.status(), "online")
			tt.fail(h, f)
			h.waitPayload(h.status(), "offline")
			h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}})
			waitLog(t, h.logs, "device unavailable; command dropped, not run later", "device=dev", "entity=relay", "topic=test", tt.why)
			tt.recover(h, f)
			h.waitPayload(h.status(), "online")
			// A command after the recovery runs, and is the first to.
			h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOff}})
			waitCall(t, f, "command OFF")
			f.mu.Lock()
			on := f.on
			f.mu.Unlock()
			if on {
				t.Error("the relay is on: the refused ON ran")
			}
		})
	}
}

// TestDeviceRefusesCommandQueuedWhileDown sends a command while the device,
// unavailable, is being opened again: the worker takes it only after the
// Open succeeded, and refuses it all the same, because a command must not
// wait for the hardware and switch a relay long after it was asked for.
func TestDeviceRefusesCommandQueuedWhileDown(t *testing.T) {
	f := newFake()
	f.openErrs = []error{errors.New("unplugged")}
	h := newHarness(t, f)
	waitCall(t, f, "open")
	waitCall(t, f, "close")
	h.waitPayload(h.status(), "offline")
	gate := make(chan struct{})
	f.set(func(f *fakeDev) { f.openGate = gate })
	h.advance(retryIn(t, h.logs, "device failed", 1) + time.Millisecond)
	waitCall(t, f, "open") // and waits at the gate
	h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}})
	close(gate)
	waitCall(t, f, "poll")
	h.waitPayload(h.status(), "online")
	waitLog(t, h.logs, "device unavailable; command dropped, not run later", "entity=relay", "unplugged")
	h.command("relay", discovery.Command{Command: drivers.Command{Action: drivers.ActionOff}})
	waitCall(t, f, "command OFF") // the next call: the ON never ran
}

// TestDeviceFlappingLogsBackOff makes a device fail and recover again and
// again: its outages are logged like failures are (the 1st, 2nd, 3rd, 4th,
// 8th, …), each logged one with its recovery, until it has worked for
// quietAfter; then the next outage is logged as a first one.
func TestDeviceFlappingLogsBackOff(t *testing.T) {
	f := newFake()
	h := newHarness(t, f)
	waitCall(t, f, "open")
	waitCall(t, f, "poll")
	h.waitPayload(h.status(), "online")
	const outages = 40
	const retry = 1500 * time.Millisecond
	tick := time.Minute // to the interval's next poll
	for i := 1; i <= outages; i++ {
		f.set(func(f *fakeDev) { f.pollErr = errors.New("CRC mismatch") })
		h.advanceN(tick, 1) // the interval's poll fails
		waitCall(t, f, "poll")
		h.waitPayload(h.status(), "offline")
		f.set(func(f *fakeDev) { f.pollErr = nil })
		// The retry, 1 s ± 20% after a device that worked most of a minute
		// failed, works.
		h.advanceN(retry, 2)
		waitCall(t, f, "poll")
		h.waitPayload(h.status(), "online")
		tick = time.Minute - retry
	}
	// Logged: outages 1, 2, 3, 4, 8, 16 and 32, each with its recovery.
	const logged = 7
	if n := countLines(h.logs, "poll failed"); n != logged {
		t.Errorf("%d of %d outages logged, want %d:\n%s", n, outages, logged, h.logs.String())
	}
	if n := countLines(h.logs, "device works again"); n != logged {
		t.Errorf("%d recoveries logged, want %d", n, logged)
	}
	if countLines(h.logs, "poll failed", "outages=32") != 1 {
		t.Error("the 32nd outage was not logged with its number")
	}
	// An hour of work: the next outage is news again.
	for i := 0; i < 60; i++ {
		h.advanceN(tick, 1)
		waitCall(t, f, "poll")
		tick = time.Minute
	}
	f.set(func(f *fakeDev) { f.pollErr = errors.New("CRC mismatch") })
	h.advanceN(tick, 1)
	waitCall(t, f, "poll")
	waitCount(t, h.logs, logged+1, "poll failed")
	if countLines(h.logs, "poll failed", "outages=") != logged-1 {
		t.Error("the outage after an hour of work was logged with a number: it counts as a first one")
	}
}
