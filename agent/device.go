package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
)

// Queue and retry bounds. The queue is small because commands for one
// device are few; a full queue means the device is stuck, and dropping
// (with a warning) is better than stalling the MQTT client.
const (
	commandQueueLen = 16
	defaultInterval = 30 * time.Second
	openRetryMin    = time.Second
	openRetryMax    = time.Minute
	// stableAfter is how long a device must have worked for its retry
	// backoff to start again from openRetryMin.
	stableAfter = 10 * time.Second
	// quietAfter is how long a device must have worked for its next
	// outage to be logged as a first one: a device that keeps failing and
	// recovering logs its outages with backoff too (the 1st, 2nd, 3rd,
	// 4th, 8th, …) until it has stayed up this long.
	quietAfter = time.Hour
	// waiterGrace is how long Close waits for the device's waiters to
	// return after their context is cancelled; a waiter stuck in a
	// blocking read must not stop the agent from closing the device.
	waiterGrace = 2 * time.Second
)

type command struct {
	entity string
	cmd    discovery.Command
	source string // topic, for logs
	// downErr is set by enqueue when the device was unavailable: the
	// worker refuses the command even if the device is back by the time
	// it takes it, so a command never waits for the hardware and then
	// switches a relay long after it was asked for.
	downErr error
	// ticket is set on the commands relay safety sends (safety.go); the
	// worker settles it with the result.
	ticket *ticket
}

// device runs one configured device: one goroutine, its worker, owns its
// hardware and runs, in turn, Open, Poll, Command, Handle and Close.
type device struct {
	id       string
	driver   string
	dev      drivers.Device
	host     *deviceHost
	log      *slog.Logger
	clock    clockwork.Clock
	interval time.Duration
	entities map[string]drivers.Entity
	queue    chan command
	pipe     *pipeline
	// safety enforces the relay-safety options of the device's entities
	// (safety.go); nil when none of them has any.
	safety *safety

	// providers are the devices whose lines or buses this one uses; it
	// opens after they are up and closes when one goes down.
	providers []*device
	up        *upState
	// users counts the devices open on this one's lines or buses: when it
	// fails, it waits for them to close before it closes itself.
	users userCount

	// health is the worker's record of the device's failures.
	health health
	// down holds why the device is unavailable, from its failure (or its
	// provider's) until it works again; nil while it works or has not
	// been tried yet. enqueue reads it on the MQTT client's goroutine.
	down atomic.Pointer[downReason]
}

// downReason is why a device is unavailable.
type downReason struct{ err error }

func newDevice(dc DeviceConfig, host drivers.Host, pipe *pipeline, clock clockwork.Clock, log *slog.Logger) *device {
	d := &device{
		id:       dc.ID,
		driver:   dc.Driver,
		dev:      dc.Device,
		log:      log.With("device", dc.ID, "driver", dc.Driver),
		clock:    clock,
		interval: dc.Interval,
		entities: map[string]drivers.Entity{},
		queue:    make(chan command, commandQueueLen),
		pipe:     pipe,
		up:       newUpState(),
	}
	if d.interval <= 0 {
		d.interval = defaultInterval
	}
	d.health = health{clock: clock, log: d.log, retry: newBackoff(openRetryMin, openRetryMax)}
	d.host = &deviceHost{base: host, log: d.log, providers: map[string]*device{}}
	for _, e := range dc.Entities {
		d.entities[e.ID] = e
	}
	pipe.add(dc.ID, dc.Entities, dc.Disabled)
	return d
}

// enqueue hands a command to the device's worker without blocking: it is
// called from MQTT handlers, which must never block. It is the one entry
// point of commands, wherever they come from: relay safety takes those of
// its entities first. A command for an unavailable device is marked so,
// and the worker refuses it. enqueue returns false only when the queue is
// full.
func (d *device) enqueue(c command) bool {
	if g := d.safety.guard(d.id, c.entity); g != nil && c.ticket == nil {
		return g.submit(c)
	}
	if r := d.down.Load(); r != nil {
		c.downErr = r.err
	}
	select {
	case d.queue <- c:
		return true
	default:
		return false
	}
}

// protect runs f and turns a driver panic into an error, so one broken
// driver never takes the agent down.
func (d *device) protect(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("driver panicked", "during", what, "panic", r, "stack", string(debug.Stack()))
			err = &panicError{fmt.Errorf("%s %q: %s: panic: %v", d.driver, d.id, what, r)}
		}
	}()
	if err := f(); err != nil {
		// Drivers prefix their errors with driver and device, as the
		// driver API asks; add the prefix only to those that lack it, so
		// a log line does not say bme280 "attic": open: twice.
		prefix := fmt.Sprintf("%s %q: ", d.driver, d.id)
		if strings.HasPrefix(err.Error(), prefix) {
			return err
		}
		return fmt.Errorf("%s%s: %w", prefix, what, err)
	}
	return nil
}

// run is the device's worker. It opens the device (after its providers),
// serves it until it fails or ctx is done, closes it, and opens it again
// with backoff. It returns when ctx is done, after the last Close.
func (d *device) run(ctx context.Context) {
	for {
		down, release, ok := d.waitProviders(ctx)
		if !ok {
			return
		}
		for _, p := range d.providers {
			p.users.add()
		}
		d.pipe.opening(d.id)
		o := newOpened(ctx, d)
		err := d.protect("open", func() error { return d.dev.Open(o.ctx, d.host, o) })
		if err != nil {
			// A restore it asked for will not report: the interlock must
			// not stay reserved for it.
			d.safety.openFailed(d.id)
		}
		if err == nil {
			if !d.health.failing {
				d.log.Info("device ready")
			}
			err = o.serve(down)
		}
		o.stop()
		release()
		d.up.set(false)
		// The devices using this one's lines close first: their Close may
		// still drive those lines (on_exit).
		if !d.users.wait(waiterGrace) {
			d.log.Warn("a device using its lines did not close in time; closing anyway", "grace", waiterGrace)
		}
		d.closeDevice()
		o.closed.Store(true)
		for _, p := range d.providers {
			p.users.done()
		}
		if ctx.Err() != nil {
			return
		}
		d.pipe.deviceStatus(d.id, false)
		if err == nil {
			continue // a provider went down: wait for it, without backoff
		}
		what, attrs := "device failed", []any(nil)
		var ce *commandError
		if errors.As(err, &ce) {
			what, attrs = "command failed", ce.attrs()
		}
		wait := d.failed(what, err, openRetryMax, attrs...)
		if !d.drainFor(ctx, wait, err) {
			return
		}
	}
}

// failed records that the device failed (see health.failed): it is
// unavailable, and commands are refused, until it works again.
func (d *device) failed(what string, err error, limit time.Duration, attrs ...any) time.Duration {
	d.down.Store(&downReason{err})
	return d.health.failed(what, err, limit, attrs...)
}

// works records that the device works: it is available again, and its
// recovery is logged if its failure was.
func (d *device) works() {
	d.down.Store(nil)
	d.health.works()
}

// refuse turns down a command the device cannot carry out now, because it
// is unavailable: it is dropped, never run later.
func (d *device) refuse(c command, why error) {
	d.log.Warn("device unavailable; command dropped, not run later", "entity", c.entity, "topic", c.source, "err", why)
	// Relay safety, waiting for its own command, learns at once.
	c.ticket.done(fmt.Errorf("device %q unavailable: %w", d.id, why))
}

// closeDevice calls Close, containing a panic.
func (d *device) closeDevice() {
	if err := d.protect("close", d.dev.Close); err != nil {
		d.log.Warn("close failed", "err", err)
	}
}

// waitProviders waits until every provider of the device is up and
// returns a channel closed when one of them goes down, and a release that
// ends the goroutines watching them, called when the opening ends.
func (d *device) waitProviders(ctx context.Context) (<-chan struct{}, func(), bool) {
	if len(d.providers) == 0 {
		return nil, func() {}, ctx.Err() == nil
	}
	announced := false
	for {
		var downs []<-chan struct{}
		allUp := true
		for _, p := range d.providers {
			upc, downc := p.up.chans()
			if upc != nil {
				allUp = false
				if !announced {
					d.log.Info("waiting for the device it uses to be ready", "provider", p.id)
					d.pipe.deviceStatus(d.id, false)
					announced = true
				}
				if !d.drainUntil(ctx, upc, fmt.Errorf("waiting for device %q, whose lines or bus it uses", p.id)) {
					return nil, nil, false
				}
				break
			}
			downs = append(downs, downc)
		}
		if !allUp {
			continue
		}
		// One channel closed when any provider goes down, watched until
		// the opening ends.
		down, stop := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		var once sync.Once
		for _, c := range downs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-c:
					once.Do(func() { close(down) })
				case <-stop:
				}
			}()
		}
		return down, func() { close(stop); wg.Wait() }, true
	}
}

// drainFor waits d, refusing the commands that arrive meanwhile: a
// command must not wait for the hardware to come back and then switch a
// relay long after it was asked for.
func (dv *device) drainFor(ctx context.Context, d time.Duration, why error) bool {
	t := dv.clock.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case c := <-dv.queue:
			dv.refuse(c, why)
		case <-t.Chan():
			return true
		}
	}
}

// drainUntil waits for ch to close, refusing commands meanwhile; why says
// what the device waits for.
func (dv *device) drainUntil(ctx context.Context, ch <-chan struct{}, why error) bool {
	dv.down.Store(&downReason{why})
	for {
		select {
		case <-ctx.Done():
			return false
		case c := <-dv.queue:
			dv.refuse(c, why)
		case <-ch:
			return true
		}
	}
}

// upState says whether a device is open and serving, for the devices
// that use its lines or buses.
type upState struct {
	mu   sync.Mutex
	up   bool
	upc  chan struct{} // closed when the device comes up
	down chan struct{} // closed when it goes down
}

func newUpState() *upState { return &upState{upc: make(chan struct{})} }

// chans returns, while the device is down, a channel closed when it comes
// up; while it is up, nil and a channel closed when it goes down.
func (u *upState) chans() (upc, down <-chan struct{}) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.up {
		return nil, u.down
	}
	return u.upc, nil
}

func (u *upState) set(up bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.up == up {
		return
	}
	u.up = up
	if up {
		u.down = make(chan struct{})
		close(u.upc)
	} else {
		u.upc = make(chan struct{})
		close(u.down)
	}
}

// panicError is a driver method's panic, which fails the device whatever
// the method was.
type panicError struct{ err error }

func (e *panicError) Error() string { return e.err.Error() }
func (e *panicError) Unwrap() error { return e.err }

// userCount counts the devices open on a provider's lines or buses.
type userCount struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to zero
}

func (u *userCount) add() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n == 0 {
		u.zero = make(chan struct{})
	}
	u.n++
}

func (u *userCount) done() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.n--
	if u.n == 0 {
		close(u.zero)
	}
}

// wait waits until no device uses the provider, at most d; it reports
// whether none does.
func (u *userCount) wait(d time.Duration) bool {
	u.mu.Lock()
	if u.n == 0 {
		u.mu.Unlock()
		return true
	}
	zero := u.zero
	u.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-zero:
		return true
	case <-t.C:
		return false
	}
}

// errReopen is why a device asked to be reopened when the driver gave no
// reason.
var errReopen = errors.New("the driver asked to be reopened")

// commandError is a command that failed on a device without Poll, which
// then fails as a whole: it is closed and opened again.
type commandError struct {
	c   command
	cmd drivers.Command
	err error
}

func (e *commandError) Error() string { return e.err.Error() }
func (e *commandError) Unwrap() error { return e.err }

// attrs names the command in a log line.
func (e *commandError) attrs() []any {
	return []any{"entity", e.c.entity, "command", e.cmd, "topic", e.c.source}
}

// health is a device's record of its failures, kept by its worker: it
// schedules the retries and decides which failures and recoveries are
// logged, so that a device broken for a week, or one that keeps failing
// and recovering, writes a few lines and not one per retry.
//
// An outage runs from a failure to the device working again (an Open, for
// a device without Poll; a Poll that succeeds, for one with it). Within an
// outage, failures are logged with backoff (see loud); a new outage is
// logged likewise by its number since the device last worked for
// quietAfter, except that one lasting four failures is always reported. A
// recovery is logged, once, when its outage was.
type health struct {
	clock clockwork.Clock
	log   *slog.Logger
	retry *backoff

	failing    bool      // in an outage
	since      time.Time // when it began
	failures   int       // failures in it
	logged     bool      // whether one of them was logged
	outages    int       // outages since the device last worked for quietAfter
	worksSince time.Time // when the device last started working; zero if never
}

// failed records a failure (what failed and why; attrs for the log line)
// and returns how long to wait before retrying, at most limit.
func (h *health) failed(what string, err error, limit time.Duration, attrs ...any) time.Duration {
	now := h.clock.Now()
	if !h.failing {
		if worked := now.Sub(h.worksSince); !h.worksSince.IsZero() {
			if worked >= stableAfter {
				h.retry.Reset()
			}
			if worked >= quietAfter {
				h.outages = 0
			}
		}
		h.outages++
		h.failing, h.since, h.failures, h.logged = true, now, 0, false
	}
	h.failures++
	wait := min(h.retry.Next(), max(limit, openRetryMin))
	if loud(h.failures) && (loud(h.outages) || h.failures > 3) {
		h.logged = true
		args := append([]any{"err", err, "retry_in", wait.Round(time.Millisecond), "failures", h.retry.Failures()}, attrs...)
		if h.outages > 1 {
			args = append(args, "outages", h.outages)
		}
		h.log.Error(what+"; entities unavailable, retrying", args...)
	}
	return wait
}

// works records that the device works, which ends an outage.
func (h *health) works() {
	now := h.clock.Now()
	if h.worksSince.IsZero() {
		h.worksSince = now
	}
	if !h.failing {
		return
	}
	if h.logged {
		h.log.Info("device works again", "after_failures", h.failures, "unavailable_for", now.Sub(h.since).Round(time.Millisecond))
	}
	h.failing, h.worksSince = false, now
}
