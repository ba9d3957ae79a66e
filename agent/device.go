package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// sink is where device workers send what they observe. The MQTT session
// implements it; nothing here knows MQTT.
type sink interface {
	State(device string, e drivers.Entity, v drivers.Value)
	DeviceStatus(device string, online bool)
}

// Queue and retry bounds. The queue is small because commands for one
// device are few; a full queue means the device is stuck, and dropping
// (with a warning) is better than stalling the MQTT client.
const (
	commandQueueLen = 16
	defaultInterval = 30 * time.Second
	openRetryMax    = time.Minute
)

// Retry delays; variables so tests need not wait for them.
var (
	openRetryMin = time.Second
	watchRetry   = 5 * time.Second
)

type command struct {
	entity string
	cmd    Command
	source string // topic, for logs
}

// device runs one configured device: one goroutine owns its hardware and
// handles, in turn, opening, polls, commands and watch events.
type device struct {
	id       string
	driver   string
	dev      drivers.Device
	host     drivers.Host
	log      *slog.Logger
	interval time.Duration
	entities map[string]drivers.Entity
	order    []string
	queue    chan command

	// mu guards the fields below and is held while they are published, so
	// a republish from the session cannot queue an older value behind a
	// change the worker is publishing.
	mu     sync.Mutex
	states map[string]drivers.Value
	online bool
	known  bool // whether online has been determined yet
}

func newDevice(dc DeviceConfig, host drivers.Host, log *slog.Logger) *device {
	d := &device{
		id:       dc.ID,
		driver:   dc.Driver,
		dev:      dc.Device,
		log:      log.With("device", dc.ID, "driver", dc.Driver),
		interval: dc.Interval,
		entities: map[string]drivers.Entity{},
		queue:    make(chan command, commandQueueLen),
		states:   map[string]drivers.Value{},
	}
	if d.interval <= 0 {
		d.interval = defaultInterval
	}
	d.host = loggedHost{Host: host, log: d.log}
	for _, e := range dc.Device.Entities() {
		d.entities[e.ID] = e
		d.order = append(d.order, e.ID)
	}
	return d
}

// loggedHost gives a driver a logger tagged with its device.
type loggedHost struct {
	drivers.Host
	log *slog.Logger
}

func (h loggedHost) Logger() *slog.Logger { return h.log }

// enqueue hands a command to the device's worker without blocking: it is
// called from MQTT handlers, which must never block.
func (d *device) enqueue(c command) bool {
	select {
	case d.queue <- c:
		return true
	default:
		return false
	}
}

// publishAll sends the device's availability, once known, and every state
// it has, in the order the driver declared its entities.
func (d *device) publishAll(out sink) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.known {
		out.DeviceStatus(d.id, d.online)
	}
	d.publishStatesLocked(out)
}

func (d *device) publishStatesLocked(out sink) {
	for _, id := range d.order {
		if v, ok := d.states[id]; ok {
			out.State(d.id, d.entities[id], v)
		}
	}
}

// protect runs f and turns a driver panic into an error, so one broken
// driver never takes the agent down.
func (d *device) protect(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("driver panicked", "during", what, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("%s %q: %s: panic: %v", d.driver, d.id, what, r)
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

// setOnline records and publishes the device's availability when it
// changes. The first call always publishes, so a retained "online" left by
// an earlier run does not outlive a device that now fails.
func (d *device) setOnline(out sink, online bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := d.online != online || !d.known
	d.online, d.known = online, true
	if changed {
		out.DeviceStatus(d.id, online)
	}
}

// record stores readings and publishes those that changed, or, with all
// set (the periodic republish), every state the device has.
func (d *device) record(out sink, rs []drivers.Reading, all bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range rs {
		e, ok := d.entities[r.Entity]
		if !ok {
			d.log.Warn("driver reported an entity it did not declare; ignored", "entity", r.Entity)
			continue
		}
		old, had := d.states[r.Entity]
		d.states[r.Entity] = r.Value
		if !all && (!had || !old.Equal(r.Value)) {
			out.State(d.id, e, r.Value)
		}
	}
	if all {
		d.publishStatesLocked(out)
	}
}

// run is the device's worker. It returns when ctx is done, after closing
// the device.
func (d *device) run(ctx context.Context, out sink) {
	defer func() {
		if err := d.protect("close", d.dev.Close); err != nil {
			d.log.Warn("close failed", "err", err)
		}
	}()
	if !d.open(ctx, out) {
		return
	}
	reader, _ := d.dev.(drivers.Reader)
	setter, _ := d.dev.(drivers.Setter)

	events := make(chan drivers.Reading, 64)
	watchErr := make(chan error, 1)
	watcher, _ := d.dev.(drivers.Watcher)
	stopWatch := func() {}
	watching := false
	// startWatch runs Watch on its own goroutine: it blocks for as long as
	// the device runs, and its events come back to this worker.
	startWatch := func() {
		if watcher == nil {
			return
		}
		wctx, cancel := context.WithCancel(ctx)
		stopWatch = cancel
		watching = true
		go func() {
			watchErr <- d.protect("watch", func() error {
				return watcher.Watch(wctx, func(r drivers.Reading) {
					select {
					case events <- r:
					case <-wctx.Done():
					}
				})
			})
		}()
	}
	startWatch()
	// Before Close (deferred earlier, so it runs later), stop Watch and give
	// it a moment to return, so a driver's Close rarely races its Watch.
	defer func() {
		stopWatch()
		if watching {
			select {
			case <-watchErr:
			case <-time.After(2 * time.Second):
				d.log.Warn("watch did not stop within 2s of being cancelled; closing anyway")
			}
		}
	}()

	// poll reads the device and publishes what changed, or, with all set,
	// every state: a reading at each interval is also its republish.
	poll := func(all bool) {
		if reader == nil {
			if all {
				d.record(out, nil, true)
			}
			return
		}
		var rs []drivers.Reading
		err := d.protect("read", func() error {
			var err error
			rs, err = reader.Read(ctx)
			return err
		})
		if err != nil && len(rs) == 0 {
			if ctx.Err() == nil {
				d.log.Warn("read failed; entities unavailable until it recovers", "err", err)
				d.setOnline(out, false)
			}
			return
		}
		if err != nil {
			// Some readings came back: publish them and keep the device
			// available; the missing ones keep their last value.
			d.log.Warn("read partly failed", "err", err, "readings", len(rs))
		}
		d.setOnline(out, true)
		d.record(out, rs, all)
	}
	poll(false)

	ticker := time.NewTicker(d.interval)
	defer ticker.Stop()
	var rewatch <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-d.queue:
			d.command(ctx, out, setter, c)
		case r := <-events:
			d.setOnline(out, true)
			d.record(out, []drivers.Reading{r}, false)
		case err := <-watchErr:
			watching = false
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				err = errors.New("watch ended without an error")
			}
			d.log.Warn("watch failed; entities unavailable, retrying", "err", err, "retry_in", watchRetry)
			d.setOnline(out, false)
			rewatch = time.After(watchRetry)
		case <-rewatch:
			rewatch = nil
			startWatch()
		case <-ticker.C:
			// Every state again, so a consumer that missed one (or a broker
			// that lost retained messages) catches up within an interval.
			poll(true)
		}
	}
}

// open opens the device, retrying with backoff until it works or ctx ends.
func (d *device) open(ctx context.Context, out sink) bool {
	wait := openRetryMin
	for {
		err := d.protect("open", func() error { return d.dev.Open(ctx, d.host) })
		if err == nil {
			d.log.Info("device ready")
			if _, polled := d.dev.(drivers.Reader); !polled {
				d.setOnline(out, true)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d.log.Error("open failed; entities unavailable, retrying", "err", err, "retry_in", wait)
		d.setOnline(out, false)
		retry := time.After(wait)
	waiting:
		for {
			select {
			case <-ctx.Done():
				return false
			case c := <-d.queue:
				// A command must not wait for the hardware to come back and
				// then switch a relay long after it was asked for.
				d.log.Warn("device unavailable; command dropped", "entity", c.entity, "topic", c.source, "err", err)
			case <-retry:
				break waiting
			}
		}
		wait = min(wait*2, openRetryMax)
	}
}

func (d *device) command(ctx context.Context, out sink, setter drivers.Setter, c command) {
	if ctx.Err() != nil {
		// The worker's select picks at random between a queued command and
		// the end: a command that arrives while the agent stops is not run.
		d.log.Info("shutting down; command not run", "entity", c.entity, "topic", c.source)
		return
	}
	e, ok := d.entities[c.entity]
	if !ok || e.Kind != drivers.KindSwitch || setter == nil {
		d.log.Warn("command for an entity that takes none; ignored", "entity", c.entity, "topic", c.source)
		return
	}
	v := c.cmd.Value
	if c.cmd.Toggle {
		d.mu.Lock()
		cur, had := d.states[c.entity]
		d.mu.Unlock()
		if !had || cur.Kind != drivers.ValueBool {
			d.log.Warn("TOGGLE before the state is known; ignored", "entity", c.entity, "topic", c.source)
			return
		}
		v = drivers.Bool(!cur.Bool)
	}
	var got drivers.Value
	err := d.protect("set "+c.entity, func() error {
		var err error
		got, err = setter.Set(ctx, c.entity, v)
		return err
	})
	if err != nil {
		d.log.Error("command failed", "entity", c.entity, "value", v, "topic", c.source, "err", err)
		// Publish the state the device holds, so Home Assistant's switch
		// flips back instead of showing what was asked for.
		d.republishEntity(out, c.entity)
		return
	}
	d.log.Info("command", "entity", c.entity, "value", got, "topic", c.source)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.states[c.entity] = got
	// Published even when unchanged: Home Assistant shows what it asked
	// for until a state arrives, and must see the real one.
	out.State(d.id, e, got)
}

func (d *device) republishEntity(out sink, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.states[id]; ok {
		out.State(d.id, d.entities[id], v)
	}
}
