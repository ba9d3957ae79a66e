package gpio

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
)

// Edge waiting. WaitForEdge is always called with a bounded, positive
// timeout: periph documents -1 as "forever" but the character-device lines
// return false at once for it and take 0 as forever (periph/host#78). A
// bounded wait works under both readings and lets the loop notice a
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
// entity ("input"). It implements drivers.Watcher: edges, debounced, or
// polling where the line has no edge detection.
type Input struct {
	id       string
	pin      string
	inverted bool
	pull     gpio.Pull
	debounce time.Duration
	poll     time.Duration
	class    string

	// mu guards the fields below: Open and Close run on the agent's
	// device goroutine while Watch runs on its own.
	mu    sync.Mutex
	line  gpio.PinIn
	clock drivers.Clock
	log   *slog.Logger
	// noEdges records that the line proved unable to report edges. It
	// outlives a reopen, so the fallback is logged once per device.
	noEdges bool
	// life ends on Close, which stops a running Watch.
	life context.Context
	kill context.CancelFunc
}

// Info implements drivers.Device.
func (d *Input) Info() drivers.Info {
	return drivers.Info{Model: "GPIO input (" + d.pin + ")"}
}

// Entities implements drivers.Device: one binary sensor, the device's main
// feature.
func (d *Input) Entities() []drivers.Entity {
	return []drivers.Entity{{
		ID:        EntityInput,
		Kind:      drivers.KindBinarySensor,
		Class:     d.class,
		Precision: -1,
	}}
}

// Claims implements drivers.Claimer.
func (d *Input) Claims() []string { return []string{"gpio:" + d.pin} }

// Open implements drivers.Device. It makes the line an input with the
// configured pull and, unless poll is set, edge detection on both edges.
// A line that refuses edge detection is opened without it and polled.
func (d *Input) Open(ctx context.Context, h drivers.Host) error {
	p, err := h.GPIO(d.pin)
	if err != nil {
		return d.errorf("open %s: %w", d.pin, err)
	}
	d.mu.Lock()
	edges := d.poll == 0 && !d.noEdges
	d.mu.Unlock()
	if edges {
		if err := p.In(d.pull, gpio.BothEdges); err != nil {
			if err2 := p.In(d.pull, gpio.NoEdge); err2 != nil {
				return d.errorf("%s: set as input with pull %s: %w", d.pin, d.pull, err2)
			}
			d.fallback(h.Logger(), err.Error())
		}
	} else if err := p.In(d.pull, gpio.NoEdge); err != nil {
		return d.errorf("%s: set as input with pull %s: %w", d.pin, d.pull, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.kill != nil {
		d.kill() // a Watch from an earlier Open must not outlive it
	}
	d.line, d.clock, d.log = p, h.Clock(), h.Logger()
	d.life, d.kill = context.WithCancel(context.Background())
	return nil
}

// Close implements drivers.Device. It stops a running Watch; the line is
// left as an input, which is harmless, and the host releases it.
func (d *Input) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.kill != nil {
		d.kill()
	}
	d.line = nil
	return nil
}

// Watch implements drivers.Watcher. It reports the line's state at once,
// then every debounced change, until ctx is done or the device is closed;
// then it returns nil.
func (d *Input) Watch(ctx context.Context, emit func(drivers.Reading)) error {
	d.mu.Lock()
	line, clock, log, life := d.line, d.clock, d.log, d.life
	edges := d.poll == 0 && !d.noEdges
	d.mu.Unlock()
	if line == nil {
		return d.errorf("watch: %s is not open", d.pin)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnClose := context.AfterFunc(life, cancel)
	defer stopOnClose()
	// Halt interrupts a pending WaitForEdge, so cancelling does not wait
	// out edgeWait.
	halt := context.AfterFunc(ctx, func() { _ = line.Halt() })
	defer halt()

	w := &watch{d: d, line: line, clock: clock, log: log, emit: emit}
	w.last = stateOf(line.Read(), d.inverted)
	emit(drivers.Reading{Entity: EntityInput, Value: drivers.Bool(w.last)})
	if edges && !w.edges(ctx) {
		return nil
	}
	every := d.poll
	if every == 0 {
		every = DefaultFallbackPoll
	}
	w.polls(ctx, every)
	return nil
}

// fallback records that the line cannot report edges and says so, once
// per device.
func (d *Input) fallback(log *slog.Logger, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.noEdges {
		return
	}
	d.noEdges = true
	every := d.poll
	if every == 0 {
		every = DefaultFallbackPoll
	}
	log.Warn("gpio: line cannot report edges; polling it instead", "pin", d.pin, "every", every, "reason", why)
}

func (d *Input) errorf(format string, args ...any) error {
	return prefixed(d.id, format, args...)
}

// watch is one run of Watch: the line and the last state reported.
type watch struct {
	d     *Input
	line  gpio.PinIn
	clock drivers.Clock
	log   *slog.Logger
	emit  func(drivers.Reading)
	last  bool
}

// report emits the state level stands for if it differs from the last one
// reported.
func (w *watch) report(l gpio.Level) {
	s := stateOf(l, w.d.inverted)
	if s == w.last {
		return
	}
	w.last = s
	w.emit(drivers.Reading{Entity: EntityInput, Value: drivers.Bool(s)})
}

// edges waits for edges until ctx is done (it returns false) or the line
// turns out unable to report them (it returns true: poll instead).
func (w *watch) edges(ctx context.Context) bool {
	early := 0
	for ctx.Err() == nil {
		// The pin's timeout runs on real time, so it is measured on
		// real time, not on the host's clock.
		start := time.Now()
		if !w.line.WaitForEdge(edgeWait) {
			if ctx.Err() != nil {
				return false
			}
			if time.Since(start) >= edgeWait/2 {
				early = 0
				continue
			}
			if early++; early >= earlyFalses {
				w.d.fallback(w.log, "WaitForEdge returns at once without an edge")
				return true
			}
			continue
		}
		early = 0
		if w.d.debounce > 0 {
			if w.clock.Sleep(ctx, w.d.debounce) != nil {
				return false
			}
		}
		w.drain()
		w.report(w.line.Read())
	}
	return false
}

// drain swallows the edges a bouncing contact queued during the debounce
// delay: the level read next already accounts for them, and handling each
// would cost one debounce delay apiece. It is bounded in case the line
// never stops toggling.
func (w *watch) drain() {
	for range maxDrain {
		if !w.line.WaitForEdge(drainWait) {
			return
		}
	}
}

// polls reads the line every interval until ctx is done. A change is
// confirmed by a second read after the debounce delay.
func (w *watch) polls(ctx context.Context, every time.Duration) {
	for {
		if w.clock.Sleep(ctx, every) != nil {
			return
		}
		if stateOf(w.line.Read(), w.d.inverted) == w.last {
			continue
		}
		if w.d.debounce > 0 {
			if w.clock.Sleep(ctx, w.d.debounce) != nil {
				return
			}
		}
		w.report(w.line.Read())
	}
}

var (
	_ drivers.Device  = (*Input)(nil)
	_ drivers.Watcher = (*Input)(nil)
	_ drivers.Claimer = (*Input)(nil)
)
