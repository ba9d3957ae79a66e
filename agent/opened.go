package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

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

	pollFailing bool
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
// asked for, a waiter or handler that failed, a panic.
func (o *opened) serve(providerDown <-chan struct{}) error {
	d := o.d
	poller, _ := d.dev.(drivers.Poller)
	handler, _ := d.dev.(drivers.Handler)
	d.pipe.deviceStatus(d.id, true)
	d.up.set(true)
	if poller != nil {
		if err := o.poll(poller); err != nil {
			return err
		}
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
			if err := o.command(c); err != nil {
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
		case <-ticker.Chan():
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

// poll polls the device. A failed poll makes the device unavailable until
// one succeeds; only a panic fails the device.
func (o *opened) poll(p drivers.Poller) error {
	d := o.d
	var pe *panicError
	err := d.protect("poll", func() error { return p.Poll(o.ctx) })
	switch {
	case err == nil:
		if o.pollFailing {
			o.pollFailing = false
			d.log.Info("poll works again")
			d.pipe.deviceStatus(d.id, true)
		}
		return nil
	case errors.As(err, &pe):
		return err
	case o.ctx.Err() != nil:
		return nil
	}
	if !o.pollFailing {
		d.log.Warn("poll failed; entities unavailable until it works", "err", err)
		o.pollFailing = true
	}
	d.pipe.deviceStatus(d.id, false)
	return nil
}

// command runs one command on the worker. Only a panic fails the device.
func (o *opened) command(c command) error {
	d := o.d
	if o.ctx.Err() != nil {
		// The worker's select picks at random between a queued command and
		// the end: a command that arrives while the agent stops is not run.
		d.log.Info("shutting down; command not run", "entity", c.entity, "topic", c.source)
		return nil
	}
	commander, ok := d.dev.(drivers.Commander)
	if !ok {
		d.log.Warn("command for a device that takes none; ignored", "entity", c.entity, "topic", c.source)
		return nil
	}
	cmd := c.cmd.Command
	if c.cmd.Toggle {
		on, known := o.isOn(c.entity)
		if !known {
			d.log.Warn("TOGGLE before the state is known; ignored", "entity", c.entity, "topic", c.source)
			return nil
		}
		cmd = drivers.Command{Action: drivers.ActionOn}
		if on {
			cmd.Action = drivers.ActionOff
		}
	}
	var pe *panicError
	err := d.protect("command "+c.entity, func() error { return commander.Command(o.ctx, c.entity, cmd) })
	if errors.As(err, &pe) {
		return err
	}
	if err != nil {
		d.log.Error("command failed", "entity", c.entity, "command", cmd, "topic", c.source, "err", err)
	} else {
		d.log.Info("command", "entity", c.entity, "command", cmd, "topic", c.source)
	}
	// The entity's state again, even unchanged: Home Assistant shows what
	// it asked for until a state arrives, and must see the real one.
	d.pipe.republish(d.id, c.entity)
	return nil
}

// isOn returns whether an on/off entity (a switch, a light) is on.
func (o *opened) isOn(entity string) (on, known bool) {
	v, ok := o.d.pipe.last(o.d.id, entity)
	if !ok {
		return false, false
	}
	if v.Kind == drivers.ValueFields {
		v, ok = v.Field(drivers.FieldState)
	}
	if !ok || v.Kind != drivers.ValueBool {
		return false, false
	}
	return v.Bool, true
}
