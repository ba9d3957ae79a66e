package agent

// Relay safety: the interlock, max_on, min_interval and on_disconnect
// options of switches and lights ([device.entity.<id>] tables), enforced
// below the commands.
//
// The one entry point is device.enqueue: every source of commands (MQTT
// today, automation rules later) hands its commands to it, and it passes
// those for a guarded entity to guard.submit. What safety then sends to
// the device's worker carries a ticket, which enqueue lets through and
// the worker settles with the command's result.
//
// Each device has its own worker, so the coordination never makes a
// worker wait: submit only queues (it runs on the MQTT client's
// goroutine), each interlock group has one coordinator goroutine that
// sends commands to its members' queues and waits for their tickets, and
// the timers (max_on, a delayed command, on_disconnect) run on the clock's
// own goroutines. Lock order: group.mu, then guard.mu; the pipeline's lock
// (taken before guard.mu by the stage that observes states) is never
// taken while holding a guard's.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/internal/devconf"
)

// Bounds of relay safety.
const (
	// confirmWait is how long the agent waits for a device to carry out a
	// command that safety sent it (an interlock's off, max_on's off):
	// past it, the command counts as failed.
	confirmWait = 10 * time.Second
	// safetyRetry is how long after a failed max_on or on_disconnect off
	// the agent tries again, while the entity is still on.
	safetyRetry = 30 * time.Second
	// groupQueueLen bounds the commands waiting for an interlock group's
	// coordinator, as commandQueueLen bounds a device's.
	groupQueueLen = 16
)

// ticket goes with a command that relay safety sends to a device: the
// worker settles it with the command's result. A nil ticket is a command
// from outside, which enqueue hands to safety first.
type ticket struct {
	result chan error // nil: nobody waits for the result
	// state is ticketPending until the worker starts the command
	// (ticketRunning) or the waiter gives up on it (ticketAbandoned):
	// whichever comes first wins, so a command safety stopped waiting for
	// never runs later.
	state atomic.Int32
}

// A ticket's states.
const (
	ticketPending int32 = iota
	ticketRunning
	ticketAbandoned
)

// newTicket returns a ticket whose result is waited for.
func newTicket() *ticket { return &ticket{result: make(chan error, 1)} }

// start is the worker's claim to run the command: false when its waiter
// gave up on it, and the command must not run. Commands nobody waits for
// always run.
func (t *ticket) start() bool {
	if t == nil || t.result == nil {
		return true
	}
	return t.state.CompareAndSwap(ticketPending, ticketRunning)
}

// abandon gives up on a command not started yet; false when the worker
// has started it already.
func (t *ticket) abandon() bool {
	return t.state.CompareAndSwap(ticketPending, ticketAbandoned)
}

// passed marks commands that safety let through and nobody waits for.
var passed = &ticket{}

// done settles the ticket with a command's result; the worker calls it
// once the driver's Command returned. It never blocks.
func (t *ticket) done(err error) {
	if t == nil || t.result == nil {
		return
	}
	select {
	case t.result <- err:
	default:
	}
}

// errNotCarriedOut is a ticket that was not settled in time: the device
// refused the command (unavailable, shutting down) or is stuck.
var errNotCarriedOut = errors.New("not carried out in time (device unavailable or busy)")

// safety enforces the relay-safety options of a node's entities.
type safety struct {
	log    *slog.Logger
	clock  clockwork.Clock
	pipe   *pipeline
	guards map[string]*guard // entityKey(device, entity)
	groups map[string]*group
	order  []*guard // config order, for on_disconnect's timers and logs

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	connMu sync.Mutex
	closed bool
}

// guard is one entity with relay-safety options.
type guard struct {
	s      *safety
	d      *device
	entity string
	opt    devconf.Safety
	group  *group
	log    *slog.Logger

	mu sync.Mutex
	// on and known are the state the entity last reported.
	on, known bool
	// want is the state the commands let through so far lead to; it
	// follows the reported state too.
	want, wantKnown bool
	// lastSwitch is when the entity last switched, as commanded or
	// reported, for min_interval; zero before the first.
	lastSwitch time.Time
	// lastOff is when it last went from on to off, for dead_time.
	lastOff time.Time
	// onSince is when it last went on, as reported.
	onSince time.Time
	maxOn   clockwork.Timer
	// pending is the command a min_interval delays, and its timer.
	pending      *command
	pendingTimer clockwork.Timer
	// reserved says allowRestoreOn let it be restored on: its group's
	// other members may not be until it reports (or its Open fails).
	reserved bool
	// inflight says the coordinator sent it an ON whose ticket has not
	// settled: its group's other members may not go on (nor be restored
	// on) until it has.
	inflight bool
	// disconnect is on_disconnect's timer while the broker is gone.
	disconnect clockwork.Timer
	// brokerDown and downSince are the connection as on_disconnect last
	// learned it: an entity going on while the broker is gone is switched
	// off once on_disconnect_after has passed since downSince.
	brokerDown bool
	downSince  time.Time
}

// group is an interlock group: at most one member on.
type group struct {
	name     string
	members  []*guard
	deadTime time.Duration
	reqs     chan groupReq
	// mu serialises the last check of the others and the ON that follows
	// with allowRestoreOn.
	mu sync.Mutex
}

// groupReq is a command for a member of an interlock group, to its
// coordinator.
type groupReq struct {
	g *guard
	c command
}

// newSafety builds relay safety for devs from their configs; it returns
// nil when no entity asks for any. start runs it.
func newSafety(cfgs []DeviceConfig, devs map[string]*device, pipe *pipeline, clock clockwork.Clock, log *slog.Logger) *safety {
	s := &safety{log: log.With("component", "safety"), clock: clock, pipe: pipe, guards: map[string]*guard{}, groups: map[string]*group{}}
	for _, dc := range cfgs {
		d := devs[dc.ID]
		if d == nil {
			continue
		}
		for _, e := range dc.Entities {
			opt, ok := dc.Safety[e.ID]
			if !ok || !opt.Enabled() {
				continue
			}
			g := &guard{s: s, d: d, entity: e.ID, opt: opt, log: s.log.With("device", d.id, "entity", e.ID)}
			if opt.Interlock != "" {
				gr := s.groups[opt.Interlock]
				if gr == nil {
					gr = &group{name: opt.Interlock, reqs: make(chan groupReq, groupQueueLen)}
					s.groups[opt.Interlock] = gr
				}
				gr.members = append(gr.members, g)
				gr.deadTime = max(gr.deadTime, opt.DeadTime)
				g.group = gr
			}
			s.guards[entityKey(d.id, e.ID)] = g
			s.order = append(s.order, g)
			pipe.addStage(d.id, e.ID, g.observe)
			d.safety = s
		}
	}
	if len(s.guards) == 0 {
		return nil
	}
	for _, gr := range s.groups {
		if len(gr.members) == 1 {
			m := gr.members[0]
			s.log.Warn("interlock group has one member, so it locks nothing out; give the other entities the same interlock name", "group", gr.name, "device", m.d.id, "entity", m.entity)
		}
	}
	return s
}

// start runs the groups' coordinators and arms on_disconnect: the agent
// starts without a connection, and a broker that never comes is gone too.
func (s *safety) start() {
	if s == nil {
		return
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, gr := range s.groups {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			gr.coordinate(s.ctx)
		}()
	}
	s.connection(false)
}

// close stops the coordinators and every timer: nothing of safety runs
// after it returns but a timer's function already under way.
func (s *safety) close() {
	if s == nil {
		return
	}
	s.connMu.Lock()
	s.closed = true
	s.connMu.Unlock()
	if s.cancel != nil { // started
		s.cancel()
	}
	s.wg.Wait()
	for _, g := range s.order {
		g.mu.Lock()
		for _, t := range []clockwork.Timer{g.maxOn, g.pendingTimer, g.disconnect} {
			if t != nil {
				t.Stop()
			}
		}
		g.maxOn, g.pendingTimer, g.disconnect, g.pending = nil, nil, nil, nil
		g.mu.Unlock()
	}
}

// guard returns the guard of a device's entity, nil when it has no
// relay-safety options (or s is nil).
func (s *safety) guard(device, entity string) *guard {
	if s == nil {
		return nil
	}
	return s.guards[entityKey(device, entity)]
}

// allowRestoreOn says whether a device's entity may be switched on as it
// opens, from a remembered state (power_on = "restore") whose time on is
// not known; see allowRestoreOnSince.
func (s *safety) allowRestoreOn(device, entity string) bool {
	return s.allowRestoreOnSince(device, entity, time.Time{})
}

// allowRestoreOnSince says whether a device's entity may be switched on as
// it opens, from a remembered state that went on at since (zero: not
// known). An entity with max_on is not once max_on has passed since then,
// so a crash loop or a brownout cannot keep it on for ever; otherwise
// max_on switches it off once the rest has passed (observe's own timer
// runs the full max_on from the report). An interlocked entity only while
// no other member of its group is on or was allowed on; it reserves the
// group for the entity until the entity reports a state. Other entities
// are always allowed.
func (s *safety) allowRestoreOnSince(device, entity string, since time.Time) bool {
	g := s.guard(device, entity)
	if g == nil {
		return true
	}
	var left time.Duration
	if g.opt.MaxOn > 0 && !since.IsZero() {
		on := s.clock.Now().Sub(since)
		if on >= g.opt.MaxOn {
			g.log.Info("max_on: not restored on, it has been on for longer than max_on since it went on before the restart", "max_on", g.opt.MaxOn, "on_since", since, "on_for", on.Round(time.Second))
			return false
		}
		left = g.opt.MaxOn - max(on, 0)
	}
	if gr := g.group; gr != nil {
		gr.mu.Lock()
		defer gr.mu.Unlock()
		for _, m := range gr.members {
			if m == g {
				continue
			}
			if why := m.busy(); why != "" {
				g.log.Info("interlock: not restored on, another member of its group "+why, "group", gr.name, "other", m.d.id+"/"+m.entity)
				return false
			}
		}
		g.mu.Lock()
		g.reserved = true
		g.mu.Unlock()
	}
	if left > 0 && left < g.opt.MaxOn {
		armed := s.clock.Now()
		s.clock.AfterFunc(left, func() {
			// Only while the restored ON lasts: not switched since.
			g.mu.Lock()
			same := g.known && g.on && (g.lastSwitch.IsZero() || g.lastSwitch.Before(armed))
			g.mu.Unlock()
			if same && s.ctx != nil && s.ctx.Err() == nil {
				g.switchOff("max_on", "max_on", g.opt.MaxOn, "left_after_restart", left)
			}
		})
	}
	return true
}

// connection is the session's OnConnection: it arms on_disconnect's
// timers when the connection is lost and stops them when it is back. It
// returns at once.
func (s *safety) connection(up bool) {
	if s == nil {
		return
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closed {
		return
	}
	for _, g := range s.order {
		if !g.opt.OffOnDisconnect {
			continue
		}
		g.mu.Lock()
		if g.disconnect != nil {
			g.disconnect.Stop()
			g.disconnect = nil
		}
		if g.brokerDown == up {
			g.brokerDown, g.downSince = !up, s.clock.Now()
		}
		if !up {
			g.disconnect = s.clock.AfterFunc(g.opt.OnDisconnectAfter, g.disconnected)
		}
		g.mu.Unlock()
	}
}

// submit is where every command for a guarded entity comes in, from
// device.enqueue: TOGGLE is resolved against the entity's last state,
// min_interval applies, then an interlock's coordinator or the device's
// queue takes it. It never blocks; it reports whether the command was
// taken (a refusal is logged here, so it counts as taken).
func (g *guard) submit(c command) bool {
	if c.cmd.Toggle {
		on, known := isOnValue(g.s.pipe.last(g.d.id, g.entity))
		if !known {
			g.log.Warn("TOGGLE before the state is known; ignored", "topic", c.source)
			return true
		}
		c.cmd = discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}}
		if on {
			c.cmd.Action = drivers.ActionOff
		}
	}
	g.decide(c)
	return true
}

// decide applies min_interval to c, then passes it on.
func (g *guard) decide(c command) {
	on := c.cmd.Action == drivers.ActionOn
	now := g.s.clock.Now()
	g.mu.Lock()
	switching := !g.wantKnown || g.want != on
	if g.pending != nil {
		// A later command replaces a pending one: it is what the user
		// wants now.
		g.log.Info("min_interval: a pending command replaced by a later one", "pending", g.pending.cmd, "command", c.cmd, "topic", c.source)
		if !switching {
			g.pendingTimer.Stop()
			g.pending, g.pendingTimer = nil, nil
		} else {
			g.pending = &c
			g.mu.Unlock()
			return
		}
	}
	if switching && g.opt.MinInterval > 0 && !g.lastSwitch.IsZero() {
		if wait := g.opt.MinInterval - now.Sub(g.lastSwitch); wait > 0 {
			if g.opt.Refuse {
				g.mu.Unlock()
				g.log.Warn("min_interval: command refused, the entity switched too recently", "command", c.cmd, "topic", c.source, "min_interval", g.opt.MinInterval, "wait", wait.Round(time.Millisecond))
				// Home Assistant shows what it asked for until it sees
				// the state again.
				g.s.pipe.republish(g.d.id, g.entity)
				return
			}
			g.pending = &c
			g.pendingTimer = g.s.clock.AfterFunc(wait, g.release)
			g.mu.Unlock()
			g.log.Info("min_interval: command delayed until the interval since the last switching ends", "command", c.cmd, "topic", c.source, "min_interval", g.opt.MinInterval, "in", wait.Round(time.Millisecond))
			return
		}
	}
	if switching {
		g.want, g.wantKnown = on, true
		g.lastSwitch = now
	}
	g.mu.Unlock()
	g.pass(c)
}

// release carries out the command a min_interval delayed.
func (g *guard) release() {
	g.mu.Lock()
	c := g.pending
	g.pending, g.pendingTimer = nil, nil
	g.mu.Unlock()
	if c == nil {
		return
	}
	if c.cmd.Action == drivers.ActionOn && g.pastOnDisconnect() {
		g.log.Warn("min_interval: delayed ON not carried out, the broker has been gone longer than on_disconnect_after", "command", c.cmd, "topic", c.source, "on_disconnect_after", g.opt.OnDisconnectAfter)
		g.s.pipe.republish(g.d.id, g.entity)
		return
	}
	g.log.Info("min_interval: interval over; carrying out the delayed command", "command", c.cmd, "topic", c.source)
	g.decide(*c)
}

// pastOnDisconnect says whether on_disconnect = "off" applies now: the
// broker has been gone on_disconnect_after or longer.
func (g *guard) pastOnDisconnect() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.opt.OffOnDisconnect && g.brokerDown && g.s.clock.Since(g.downSince) >= g.opt.OnDisconnectAfter
}

// cancelPendingLocked drops the command a min_interval delays, if any, because
// safety switched the entity or another member of its group (why): the
// user's earlier wish must not come back later. g.mu is held.
func (g *guard) cancelPendingLocked(why string) {
	if g.pending == nil {
		return
	}
	if g.pendingTimer != nil {
		g.pendingTimer.Stop()
	}
	g.log.Info("min_interval: pending command cancelled", "why", why, "pending", g.pending.cmd, "topic", g.pending.source)
	g.pending, g.pendingTimer = nil, nil
}

// cancelPending is cancelPendingLocked taking g.mu.
func (g *guard) cancelPending(why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cancelPendingLocked(why)
}

// busy says why the member keeps the others of its group from going on:
// "is on", "is being restored on", "is being switched on"; "" when
// nothing does.
func (g *guard) busy() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.known && g.on:
		return "is on"
	case g.reserved:
		return "is being restored on (its device is opening)"
	case g.inflight:
		return "is being switched on"
	}
	return ""
}

// openFailed drops the restore reservations of a device's entities: its
// Open failed, so they will not report until it opens again, and must not
// hold their groups meanwhile. A later Open asks again.
func (s *safety) openFailed(device string) {
	if s == nil {
		return
	}
	for _, g := range s.order {
		if g.d.id != device || g.group == nil {
			continue
		}
		g.group.mu.Lock()
		g.mu.Lock()
		if g.reserved {
			g.reserved = false
			g.log.Info("interlock: restore reservation dropped, the device did not open", "group", g.group.name)
		}
		g.mu.Unlock()
		g.group.mu.Unlock()
	}
}

// pass hands a command that min_interval let through to the interlock's
// coordinator, or else straight to the device.
func (g *guard) pass(c command) {
	if g.group != nil {
		select {
		case g.group.reqs <- groupReq{g: g, c: c}:
		default:
			g.log.Warn("interlock busy: too many commands waiting; command dropped", "group", g.group.name, "command", c.cmd, "topic", c.source, "queue", groupQueueLen)
			g.s.pipe.republish(g.d.id, g.entity)
		}
		return
	}
	c.ticket = passed
	if !g.d.enqueue(c) {
		g.log.Warn("device busy: command queue full; command dropped", "topic", c.source, "queue", commandQueueLen)
	}
}

// send queues a command that safety decided on for the guarded entity and
// returns its ticket; false when the device's queue is full.
func (g *guard) send(action drivers.Action, source string) (*ticket, bool) {
	t := newTicket()
	c := command{entity: g.entity, cmd: discovery.Command{Command: drivers.Command{Action: action}}, source: source, ticket: t}
	return t, g.d.enqueue(c)
}

// wait waits for a ticket, at most confirmWait.
func (s *safety) wait(ctx context.Context, t *ticket) error {
	timer := s.clock.NewTimer(confirmWait)
	defer timer.Stop()
	select {
	case err := <-t.result:
		return err
	case <-timer.Chan():
		if t.abandon() {
			return errNotCarriedOut
		}
	case <-ctx.Done():
		t.abandon()
		return ctx.Err()
	}
	// The worker is carrying it out already: its result is what happened.
	select {
	case err := <-t.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// switchOff switches the entity off for a safety reason (why), waits for
// the result, and tries again after safetyRetry while it stays on.
func (g *guard) switchOff(why string, attrs ...any) {
	g.mu.Lock()
	g.cancelPendingLocked(why)
	on, known := g.on, g.known
	g.mu.Unlock()
	if known && !on {
		return
	}
	g.log.Info("safety: switching off", append([]any{"why", why}, attrs...)...)
	t, ok := g.send(drivers.ActionOff, "safety: "+why)
	err := errors.New("device busy: command queue full")
	if ok {
		err = g.s.wait(g.s.ctx, t)
	}
	if g.s.ctx.Err() != nil {
		return
	}
	if err == nil {
		if on, known := g.state(); !known || !on {
			return
		}
		err = errors.New("the device did not report it off")
	}
	g.log.Warn("safety: could not switch off; trying again", "why", why, "err", err, "retry_in", safetyRetry)
	g.mu.Lock()
	onSince := g.onSince
	g.mu.Unlock()
	g.s.clock.AfterFunc(safetyRetry, func() {
		// Only while it is still the same time on: an entity switched off
		// and on again meanwhile has a max_on of its own again.
		g.mu.Lock()
		same := g.onSince.Equal(onSince)
		g.mu.Unlock()
		if same && g.s.ctx.Err() == nil {
			g.switchOff(why, attrs...)
		}
	})
}

// state returns the state the entity last reported.
func (g *guard) state() (on, known bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.on, g.known
}

// maxOnReached is max_on's timer.
func (g *guard) maxOnReached() {
	g.mu.Lock()
	g.maxOn = nil
	on := g.known && g.on
	g.mu.Unlock()
	if on && g.s.ctx.Err() == nil {
		g.switchOff("max_on", "max_on", g.opt.MaxOn)
	}
}

// disconnected is on_disconnect's timer: the broker has been gone for
// on_disconnect_after.
func (g *guard) disconnected() {
	g.mu.Lock()
	g.disconnect = nil
	on := g.known && g.on
	g.mu.Unlock()
	if !on {
		// Said so that going on later in this outage (a delayed command,
		// a late restore) is understood: it is switched off then.
		g.log.Info("on_disconnect: broker gone for on_disconnect_after; the entity is off", "broker_gone_for", g.opt.OnDisconnectAfter)
		return
	}
	if g.s.ctx.Err() == nil {
		g.switchOff("on_disconnect", "broker_gone_for", g.opt.OnDisconnectAfter)
	}
}

// observe is the entity's stage in the pipeline: it sees every state the
// entity reports, whatever caused it (a command, a restore at start, the
// hardware), and runs under the pipeline's lock, so it only records and
// sets timers.
func (g *guard) observe(v drivers.Value) (drivers.Value, bool) {
	on, ok := isOnValue(v, true)
	if !ok {
		return v, true
	}
	now := g.s.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := !g.known || g.on != on
	if changed && on {
		g.onSince = now
	}
	if g.known && g.on != on {
		g.lastSwitch = now
		if !on {
			g.lastOff = now
		}
	}
	g.on, g.known, g.reserved = on, true, false
	g.want, g.wantKnown = on, true
	if changed && on && g.opt.OffOnDisconnect && g.brokerDown && g.disconnect == nil && g.s.ctx != nil && g.s.ctx.Err() == nil {
		// It went on while the broker is gone and on_disconnect already
		// acted (or never armed): off once on_disconnect_after has passed.
		left := g.opt.OnDisconnectAfter - now.Sub(g.downSince)
		g.log.Info("on_disconnect: went on while the broker is gone; switching off when on_disconnect_after has passed", "in", max(left, 0).Round(time.Millisecond))
		if left > 0 {
			g.disconnect = g.s.clock.AfterFunc(left, g.disconnected)
		} else {
			go g.disconnected()
		}
	}
	if !changed || g.opt.MaxOn <= 0 {
		return v, true
	}
	if g.maxOn != nil {
		g.maxOn.Stop()
		g.maxOn = nil
	}
	if on {
		g.maxOn = g.s.clock.AfterFunc(g.opt.MaxOn, g.maxOnReached)
	}
	return v, true
}

// isOnValue reads an on/off entity's state (a switch's boolean, a light's
// state field).
func isOnValue(v drivers.Value, ok bool) (on, known bool) {
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

// coordinate is the group's coordinator: it carries out its members'
// commands one at a time, each ON only once every other member is
// confirmed off and the dead time has passed.
func (gr *group) coordinate(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-gr.reqs:
			if r.c.cmd.Action != drivers.ActionOn {
				r.c.ticket = passed
				if !r.g.d.enqueue(r.c) {
					r.g.log.Warn("device busy: command queue full; command dropped", "topic", r.c.source, "queue", commandQueueLen)
				}
				continue
			}
			if err := gr.switchOn(ctx, r.g, r.c); err != nil && ctx.Err() == nil {
				r.g.log.Warn("interlock: ON refused", "group", gr.name, "topic", r.c.source, "err", err)
				r.g.mu.Lock()
				r.g.want, r.g.wantKnown = r.g.on, r.g.known
				r.g.mu.Unlock()
				r.g.s.pipe.republish(r.g.d.id, r.g.entity)
			}
		}
	}
}

// switchOn switches the other members off (waiting for each to report
// off), waits the dead time, and switches g on.
func (gr *group) switchOn(ctx context.Context, g *guard, c command) error {
	s := g.s
	for _, m := range gr.members {
		if m == g {
			continue
		}
		if on, known := m.state(); known && !on {
			continue
		}
		if !s.pipe.deviceOnline(m.d.id) {
			return fmt.Errorf("%s/%s cannot be confirmed off: its device is unavailable", m.d.id, m.entity)
		}
		m.cancelPending(fmt.Sprintf("interlock %s: %s/%s goes on", gr.name, g.d.id, g.entity))
		m.log.Info("interlock: switching off before another member of its group goes on", "group", gr.name, "for", g.d.id+"/"+g.entity)
		t, ok := m.send(drivers.ActionOff, fmt.Sprintf("interlock %s: before %s/%s goes on", gr.name, g.d.id, g.entity))
		if !ok {
			return fmt.Errorf("%s/%s cannot be confirmed off: its device's command queue is full", m.d.id, m.entity)
		}
		if err := s.wait(ctx, t); err != nil {
			return fmt.Errorf("%s/%s cannot be confirmed off: %w", m.d.id, m.entity, err)
		}
		if on, known := m.state(); !known || on {
			return fmt.Errorf("%s/%s cannot be confirmed off: its device did not report it off", m.d.id, m.entity)
		}
	}
	if gr.deadTime > 0 {
		var lastOff time.Time
		for _, m := range gr.members {
			if m == g {
				continue
			}
			m.mu.Lock()
			if m.lastOff.After(lastOff) {
				lastOff = m.lastOff
			}
			m.mu.Unlock()
		}
		if wait := gr.deadTime - s.clock.Since(lastOff); !lastOff.IsZero() && wait > 0 {
			timer := s.clock.NewTimer(wait)
			g.log.Info("interlock: waiting the dead time before switching on", "group", gr.name, "dead_time", gr.deadTime, "wait", wait.Round(time.Millisecond))
			select {
			case <-timer.Chan():
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			}
		}
	}
	// The last check and the ON hold the group against a restore.
	gr.mu.Lock()
	for _, m := range gr.members {
		if m == g {
			continue
		}
		if why := m.busy(); why != "" {
			gr.mu.Unlock()
			return fmt.Errorf("%s/%s %s meanwhile", m.d.id, m.entity, why)
		}
	}
	c.ticket = newTicket()
	// In flight from the enqueue until the ticket settles: a restore of
	// another member must not go on meanwhile.
	g.mu.Lock()
	g.inflight = true
	g.mu.Unlock()
	ok := g.d.enqueue(c)
	if ok {
		for _, m := range gr.members {
			if m != g {
				m.cancelPending(fmt.Sprintf("interlock %s: %s/%s goes on", gr.name, g.d.id, g.entity))
			}
		}
	}
	gr.mu.Unlock()
	if !ok {
		g.settled()
		return errors.New("device busy: command queue full")
	}
	// The group takes the next command once this one is carried out, so
	// that a following ON of another member sees this one on; the worker
	// logs a failed one. A command not carried out in time is abandoned:
	// the worker never runs it later.
	err := s.wait(ctx, c.ticket)
	g.settled()
	if errors.Is(err, errNotCarriedOut) {
		g.log.Warn("interlock: ON abandoned, not carried out in time; it will not run later", "group", gr.name, "topic", c.source, "wait", confirmWait)
	}
	return nil
}

// settled ends the in-flight mark of an ON the coordinator sent.
func (g *guard) settled() {
	g.mu.Lock()
	g.inflight = false
	g.mu.Unlock()
}

// addStage adds a stage after an entity's own (rounding): relay safety
// observes its entities' states this way.
func (p *pipeline) addStage(device, entity string, st stage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if es := p.lookup(device, entity); es != nil {
		es.stages = append(es.stages, st)
	}
}

// deviceOnline reports whether a device's availability is published as
// online.
func (p *pipeline) deviceOnline(device string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ds := p.devices[device]
	return ds != nil && ds.known && ds.online
}

// safetyOnConnection returns s's connection method for the session's
// OnConnection, nil without safety.
func safetyOnConnection(s *safety) func(up bool) {
	if s == nil {
		return nil
	}
	return s.connection
}
