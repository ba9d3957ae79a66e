package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/pinion-home/pinion/drivers"
)

// opened is one opening of a device, from Open to Close: the Output the
// driver reports through, its waiters, and the worker loop that serves
// it. A reopen makes a new one, so nothing a waiter of the old one
// delivers reaches the new one.
type opened struct {
	d      *device
	ctx    context.Context
	cancel context.CancelFunc
	events chan any
	reopen chan error

	mu      sync.Mutex
	stopped bool
	// closed is set once Close returned: an overdue goroutine of the
	// driver's cannot report for an opening that is over.
	closed  atomic.Bool
	waiters sync.WaitGroup

	// failing is why the device is unavailable while it stays open: a
	// poll, or a command of a device with Poll, failed. The poll is
	// retried with backoff (retry) until one works, and commands are
	// refused meanwhile. Only the worker touches these.
	failing error
	retry   clockwork.Timer
}

var _ drivers.Output = (*opened)(nil)

func newOpened(parent context.Context, d *device) *opened {
	ctx, cancel := context.WithCancel(parent)
	return &opened{d: d, ctx: ctx, cancel: cancel, events: make(chan any), reopen: make(chan error, 1)}
}

// State implements drivers.Output.
func (o *opened) State(entity string, v drivers.Value) {
	if o.closed.Load() {
		return
	}
	o.d.pipe.state(o.d.id, entity, v, false)
}

// Event implements drivers.Output.
func (o *opened) Event(entity, eventType string) {
	if o.closed.Load() {
		return
	}
	o.d.pipe.event(o.d.id, entity, eventType)
}

// Unavailable implements drivers.Output.
func (o *opened) Unavailable(entity string, err error) {
	if o.closed.Load() {
		return
	}
	switch o.d.pipe.unavailable(o.d.id, entity) {
	case reportTaken:
		o.d.log.Warn("entity unavailable", "entity", entity, "err", err)
	case reportUnknown:
		o.d.log.Warn("driver reported an entity it did not declare unavailable; ignored", "entity", entity, "err", err)
	}
}

// Reopen implements drivers.Output.
func (o *opened) Reopen(err error) {
	if err == nil {
		err = errReopen
	}
	select {
	case o.reopen <- err:
	default: // a reopen is already asked for
	}
}

// Go implements drivers.Output.
func (o *opened) Go(wait func(ctx context.Context, deliver func(ev any) bool) error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return // Close is under way: nothing is waited for any more
	}
	o.waiters.Add(1)
	go func() {
		defer o.waiters.Done()
		err := o.runWaiter(wait)
		if err != nil && o.ctx.Err() == nil {
			o.Reopen(fmt.Errorf("waiter: %w", err))
		}
	}()
}

// runWaiter runs wait, turning a panic into an error.
func (o *opened) runWaiter(wait func(ctx context.Context, deliver func(ev any) bool) error) (err error) {
	return o.d.protect("waiter", func() error { return wait(o.ctx, o.deliver) })
}

// deliver hands ev to the worker, waiting until it takes it.
func (o *opened) deliver(ev any) bool {
	select {
	case o.events <- ev:
		return true
	case <-o.ctx.Done():
		return false
	}
}

// stop cancels the waiters and waits for them, a little: a waiter stuck
// in a blocking read must not keep the device from being closed, which
// usually unblocks it.
func (o *opened) stop() {
	o.mu.Lock()
	o.stopped = true
	o.mu.Unlock()
	o.cancel()
	done := make(chan struct{})
	go func() {
		o.waiters.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waiterGrace):
		o.d.log.Warn("a waiter did not return within its grace period after being cancelled; closing the device anyway", "grace", waiterGrace)
	}
}

// serve runs the worker loop of an open device until ctx is done (nil), a
// provider goes down (nil), or the device fails (its error): a reopen it
// asked for, a waiter or handler that failed, a panic, a failed command of
// a device without Poll. A failed poll, or a failed command of a device
// with Poll, keeps it open but unavailable until a poll, retried with
// backoff, works.
func (o *opened) serve(providerDown <-chan struct{}) error {
	d := o.d
	poller, _ := d.dev.(drivers.Poller)
	handler, _ := d.dev.(drivers.Handler)
	defer o.stopRetry()
	d.up.set(true)
	if poller != nil {
		// Available once a poll works.
		if err := o.poll(poller); err != nil {
			return err
		}
	} else {
		o.works()
	}
	ticker := d.clock.NewTicker(d.interval)
	defer ticker.Stop()
	for {
		select {
		case <-o.ctx.Done():
			return nil
		case <-providerDown:
			d.log.Warn("a device it uses went down; closing it until that one is back")
			return nil
		case err := <-o.reopen:
			d.log.Warn("the driver reports its hardware went away; reopening", "err", err)
			return err
		case c := <-d.queue:
			if err := o.command(c, poller != nil); err != nil {
				return err
			}
		case ev := <-o.events:
			if handler == nil {
				d.log.Warn("a waiter delivered an event but the device has no Handle method; dropped", "event", fmt.Sprintf("%T", ev))
				continue
			}
			if err := d.protect("handle", func() error { return handler.Handle(o.ctx, ev) }); err != nil {
				if o.ctx.Err() != nil {
					return nil
				}
				return err
			}
		case <-o.retryChan():
			o.retry = nil
			if err := o.poll(poller); err != nil {
				return err
			}
		case <-ticker.Chan():
			if o.failing != nil {
				continue // the retry polls, sooner than the interval
			}
			// Every state again, then a fresh read: a consumer that missed
			// a state catches up within an interval, and a reading that
			// changed replaces its republish in the outbox.
			d.pipe.republish(d.id, "")
			if poller != nil {
				if err := o.poll(poller); err != nil {
					return err
				}
			}
		}
	}
}

// poll polls the device. A failed poll makes the device unavailable and
// is retried with backoff until one works; only a panic, or a reopen the
// driver asked for, fails the device.
func (o *opened) poll(p drivers.Poller) error {
	d := o.d
	var pe *panicError
	err := d.protect("poll", func() error { return p.Poll(o.ctx) })
	switch {
	case err == nil:
		o.works()
		return nil
	case errors.As(err, &pe):
		return err
	case o.ctx.Err() != nil:
		return nil
	}
	// A driver that asked to be reopened has lost its hardware (an
	// adapter unplugged): polling again cannot bring it back.
	select {
	case rerr := <-o.reopen:
		d.log.Warn("the driver reports its hardware went away; reopening", "err", rerr)
		return rerr
	default:
	}
	o.fail("poll failed", err)
	return nil
}

// works records that the open device works: it is available, and no
// retry is pending.
func (o *opened) works() {
	o.stopRetry()
	o.failing = nil
	o.d.works()
	o.d.pipe.deviceStatus(o.d.id, true)
}

// fail makes the open device unavailable and schedules a poll after the
// backoff's delay, at most an interval away.
func (o *opened) fail(what string, err error, attrs ...any) {
	d := o.d
	o.failing = err
	d.pipe.deviceStatus(d.id, false)
	wait := d.failed(what, err, d.interval, attrs...)
	o.stopRetry()
	o.retry = d.clock.NewTimer(wait)
}

// retryChan is the pending retry's channel, or nil (never ready).
func (o *opened) retryChan() <-chan time.Time {
	if o.retry == nil {
		return nil
	}
	return o.retry.Chan()
}

func (o *opened) stopRetry() {
	if o.retry != nil {
		o.retry.Stop()
		o.retry = nil
	}
}

// command runs one command on the worker. A command for an unavailable
// device is refused. A command that fails makes the device unavailable:
// one with Poll (polls) stays open and is polled with backoff until that
// works; one without fails (its error) and is closed and opened again.
func (o *opened) command(c command, polls bool) error {
	d := o.d
	if o.ctx.Err() != nil {
		// The worker's select picks at random between a queued command and
		// the end: a command that arrives while the agent stops is not run.
		d.log.Info("shutting down; command not run", "entity", c.entity, "topic", c.source)
		c.ticket.done(errors.New("not run: the agent is shutting down"))
		return nil
	}
	if why := c.downErr; why != nil {
		d.refuse(c, why)
		return nil
	}
	if why := o.failing; why != nil {
		d.refuse(c, why)
		return nil
	}
	commander, ok := d.dev.(drivers.Commander)
	if !ok {
		d.log.Warn("command for a device that takes none; ignored", "entity", c.entity, "topic", c.source)
		c.ticket.done(errors.New("not run: the device takes no commands"))
		return nil
	}
	cmd := c.cmd.Command
	if c.cmd.Toggle {
		on, known := o.isOn(c.entity)
		if !known {
			d.log.Warn("TOGGLE before the state is known; ignored", "entity", c.entity, "topic", c.source)
			c.ticket.done(errors.New("not run: TOGGLE before the state is known"))
			return nil
		}
		cmd = drivers.Command{Action: drivers.ActionOn}
		if on {
			cmd.Action = drivers.ActionOff
		}
	}
	if !c.ticket.start() {
		// Relay safety stopped waiting for it and went on (an interlock
		// ON not carried out in time): running it now could put two
		// members of a group on.
		d.log.Warn("command abandoned by relay safety (not carried out in time); not run", "entity", c.entity, "topic", c.source)
		return nil
	}
	var pe *panicError
	err := d.protect("command "+c.entity, func() error { return commander.Command(o.ctx, c.entity, cmd) })
	c.ticket.done(err) // relay safety waits for its own commands' results
	if errors.As(err, &pe) {
		return err
	}
	// The entity's state again, even unchanged: Home Assistant shows what
	// it asked for until a state arrives, and must see the real one.
	d.pipe.republish(d.id, c.entity)
	switch {
	case err == nil:
		d.log.Info("command", "entity", c.entity, "command", cmd, "topic", c.source)
	case errors.Is(err, drivers.ErrUnsupported):
		// The driver refused what it cannot do (an action the entity does
		// not take): the hardware did not fail, so the device stays up.
		d.log.Warn("command not supported by the driver; ignored", "entity", c.entity, "command", cmd, "topic", c.source, "err", err)
	case polls:
		o.fail("command failed", err, "entity", c.entity, "command", cmd, "topic", c.source)
	default:
		return &commandError{c: c, cmd: cmd, err: err}
	}
	return nil
}

// isOn returns whether an on/off entity (a switch, a light) is on.
func (o *opened) isOn(entity string) (on, known bool) {
	return isOnValue(o.d.pipe.last(o.d.id, entity))
}
