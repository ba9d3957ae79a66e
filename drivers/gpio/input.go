package gpio

import (
	"context"
	"log/slog"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
)

// Edge waiting. WaitForEdge is always called with a bounded, positive
// timeout: periph documents -1 as "forever" but the character-device lines
// return false at once for it and take 0 as forever (periph/host#78). A
// bounded wait works under both readings and lets the waiter notice a
// cancelled context even if a Halt is lost.
const (
	edgeWait = 500 * time.Millisecond
	// earlyFalses is how many WaitForEdge calls in a row must return
	// false well before edgeWait before the line is taken as unable to
	// report edges. One early return is normal (a Halt, a reconfigured
	// line); several in a row are not.
	earlyFalses = 3
	// drainWait and maxDrain bound the loop that swallows the edges a
	// bouncing contact queued during the debounce delay.
	drainWait = time.Millisecond
	maxDrain  = 64
)

// Input is a GPIO line read as an input, exposed as one binary sensor
// ("input") or, with report = "press", one event entity ("press") that
// fires "press" each time the input becomes active.
//
// Open reads the line and starts one waiter. On a line with edge
// detection, the waiter waits for an edge, then for the debounce delay on
// the host's clock, and delivers; Handle, on the worker, reads the settled
// level and reports it if it changed. On a line without, the waiter
// delivers a tick every poll interval; Handle reads the line, and a change
// is confirmed by a second read after the debounce delay.
//
// Its methods run on the device's worker, one at a time, as the driver
// API promises; it takes no locks, and its waiter touches nothing of it.
type Input struct {
	id       string
	pin      string
	inverted bool
	pull     gpio.Pull
	debounce time.Duration
	poll     time.Duration
	class    string
	press    bool // report = "press"

	line gpio.PinIn
	out  drivers.Output
	log  *slog.Logger
	// last is the state last seen: reported, or for press, the one a
	// press is a change from.
	last bool
	// gen counts openings, so that what a waiter of an earlier opening
	// delivers is ignored.
	gen uint64
	// noEdges records that the line proved unable to report edges. It
	// outlives a reopen, so the fallback is logged once per device.
	noEdges bool
}

// Events that an input's waiter delivers to Handle.
type (
	// settled: the line had an edge (or a polled change) and the
	// debounce delay is over; read the level and report it.
	settled struct{ gen uint64 }
	// pollTick: time to read a polled line. Handle answers on changed
	// whether the level differs from the last one (the waiter then waits
	// the debounce delay and delivers settled); changed has room for the
	// answer, so Handle never blocks on it.
	pollTick struct {
		gen     uint64
		changed chan bool
	}
	// edgesFailed: the line's WaitForEdge keeps returning at once; the
	// waiter polls from now on.
	edgesFailed struct{ gen uint64 }
)

// Info implements drivers.Device.
func (d *Input) Info() drivers.Info {
	return drivers.Info{Model: "GPIO input (" + d.pin + ")"}
}

// Entities implements drivers.Device: one binary sensor, or one event
// entity, the device's main feature.
func (d *Input) Entities() []drivers.Entity {
	if d.press {
		return []drivers.Entity{{ID: EntityPress, Spec: drivers.Event{Class: d.class, Types: []string{EventPress}}}}
	}
	return []drivers.Entity{{ID: EntityInput, Spec: drivers.BinarySensor{Class: d.class}}}
}

// Claims implements drivers.Claimer.
func (d *Input) Claims() []drivers.Resource {
	return []drivers.Resource{drivers.GPIOLine(d.pin)}
}

// Open implements drivers.Device. It makes the line an input with the
// configured pull and, unless poll is set, edge detection on both edges;
// a line that refuses edge detection is opened without it and polled. It
// reports the line's state (an input with report = "press" has none: a
// button held down at start is no press) and starts the waiter.
func (d *Input) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	p, err := drivers.GPIO(h, d.pin)
	if err != nil {
		return prefixed(d.id, "open %s: %w", d.pin, err)
	}
	d.log = h.Logger()
	edges := d.poll == 0 && !d.noEdges
	if edges {
		if err := p.In(d.pull, gpio.BothEdges); err != nil {
			if err2 := p.In(d.pull, gpio.NoEdge); err2 != nil {
				return prefixed(d.id, "%s: set as input with pull %s: %w", d.pin, d.pull, err2)
			}
			d.fallback(err.Error())
			edges = false
		}
	} else if err := p.In(d.pull, gpio.NoEdge); err != nil {
		return prefixed(d.id, "%s: set as input with pull %s: %w", d.pin, d.pull, err)
	}
	d.gen++
	d.line, d.out = p, out
	d.last = stateOf(p.Read(), d.inverted)
	if !d.press {
		out.State(EntityInput, drivers.Bool(d.last))
	}
	w := waiter{line: p, clock: h.Clock(), debounce: d.debounce, every: d.pollEvery(), gen: d.gen}
	if edges {
		out.Go(w.edges)
	} else {
		out.Go(w.polls)
	}
	return nil
}

// pollEvery is how often the line is read when it is polled.
func (d *Input) pollEvery() time.Duration {
	if d.poll != 0 {
		return d.poll
	}
	return DefaultFallbackPoll
}

// Handle implements drivers.Handler: it reads the line when the waiter
// says so, and reports what changed.
func (d *Input) Handle(ctx context.Context, ev any) error {
	switch e := ev.(type) {
	case settled:
		if e.gen == d.gen && d.line != nil {
			d.report(d.line.Read())
		}
	case pollTick:
		changed := false
		if e.gen == d.gen && d.line != nil {
			l := d.line.Read()
			switch {
			case stateOf(l, d.inverted) == d.last:
			case d.debounce == 0:
				d.report(l)
			default:
				changed = true
			}
		}
		e.changed <- changed
	case edgesFailed:
		if e.gen == d.gen && d.line != nil {
			d.fallback("WaitForEdge returns at once without an edge")
		}
	}
	return nil
}

// report reports the state level stands for if it differs from the last
// one: a state, or a press when it became active.
func (d *Input) report(l gpio.Level) {
	s := stateOf(l, d.inverted)
	if s == d.last {
		return
	}
	d.last = s
	switch {
	case !d.press:
		d.out.State(EntityInput, drivers.Bool(s))
	case s:
		d.out.Event(EntityPress, EventPress)
	}
}

// fallback records that the line cannot report edges and says so, once
// per device.
func (d *Input) fallback(why string) {
	if d.noEdges {
		return
	}
	d.noEdges = true
	d.log.Warn("gpio: line cannot report edges; polling it instead", "pin", d.pin, "every", d.pollEvery(), "reason", why)
}

// Close implements drivers.Device. The line is left as an input, which is
// harmless, and the host releases it. The waiter ends with its context,
// which the agent cancels before Close.
func (d *Input) Close() error {
	d.line, d.out = nil, nil
	d.gen++
	return nil
}

// waiter is an input's waiter: what it needs, copied at Open, so that it
// shares nothing with the device but the line, on which it only waits.
type waiter struct {
	line     gpio.PinIn
	clock    drivers.Clock
	debounce time.Duration
	every    time.Duration
	gen      uint64
}

// edges waits for edges until ctx is done, and delivers settled after each
// edge and the debounce delay. If the line turns out unable to report
// edges, it says so to the worker and polls instead.
func (w waiter) edges(ctx context.Context, deliver func(any) bool) error {
	// Halt interrupts a pending WaitForEdge, so that a cancelled waiter
	// does not wait out edgeWait. It runs once, when ctx is done, and
	// only interrupts the wait.
	stop := context.AfterFunc(ctx, func() { _ = w.line.Halt() })
	defer stop()
	early := 0
	for ctx.Err() == nil {
		// The pin's timeout runs on real time, so it is measured on real
		// time, not on the host's clock.
		start := time.Now()
		if !w.line.WaitForEdge(edgeWait) {
			if ctx.Err() != nil {
				return nil
			}
			if time.Since(start) >= edgeWait/2 {
				early = 0
				continue
			}
			if early++; early >= earlyFalses {
				if !deliver(edgesFailed{w.gen}) {
					return nil
				}
				return w.polls(ctx, deliver)
			}
			continue
		}
		early = 0
		if w.debounce > 0 && w.clock.Sleep(ctx, w.debounce) != nil {
			return nil
		}
		w.drain()
		if !deliver(settled{w.gen}) {
			return nil
		}
	}
	return nil
}

// drain swallows the edges a bouncing contact queued during the debounce
// delay: the level read next already accounts for them, and handling each
// would cost one debounce delay apiece. It is bounded in case the line
// never stops toggling.
func (w waiter) drain() {
	for range maxDrain {
		if !w.line.WaitForEdge(drainWait) {
			return
		}
	}
}

// polls has the line read every interval until ctx is done. When Handle
// finds a change, it waits the debounce delay and has the line read again.
func (w waiter) polls(ctx context.Context, deliver func(any) bool) error {
	for {
		if w.clock.Sleep(ctx, w.every) != nil {
			return nil
		}
		tick := pollTick{gen: w.gen, changed: make(chan bool, 1)}
		if !deliver(tick) {
			return nil
		}
		select {
		case changed := <-tick.changed:
			if !changed {
				continue
			}
		case <-ctx.Done():
			return nil
		}
		if w.clock.Sleep(ctx, w.debounce) != nil {
			return nil
		}
		if !deliver(settled{w.gen}) {
			return nil
		}
	}
}

var (
	_ drivers.Device  = (*Input)(nil)
	_ drivers.Handler = (*Input)(nil)
	_ drivers.Claimer = (*Input)(nil)
)
