package drivertest

import (
	"context"
	"errors"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/internal/devconf"
)

// Conformance checks that d keeps the contract of the driver API, the way
// the agent relies on it. d must be fresh from its factory, never opened; h
// must provide the hardware it uses (a Host with the chips attached, or any
// drivers.Host). Conformance opens d through h, reads, watches and commands
// it, and leaves it closed, so run it on a device of its own.
//
// It checks that:
//
//   - Entities is not empty, its ids are made of [a-zA-Z0-9_-] and unique,
//     its kinds are valid, and Home Assistant would accept the entities
//     (discovery.Validate);
//   - Entities returns the same list on every call, before Open, after
//     Open and after Close: it must not depend on the hardware;
//   - the capabilities fit the entities: a switch needs Setter, Setter
//     needs a switch, and every device needs Reader or Watcher, or its
//     entities never get a state;
//   - Claims (of a Claimer) are well-formed and the same after Open: the
//     agent compares them as strings, so each resource has one spelling,
//     "gpio:<line>", "i2c:<bus>:<address>" as fmt's "i2c:%d:%#x" writes
//     it, "serial:<clean absolute path>", or another "<kind>:<name>";
//   - Close before Open succeeds (the agent closes a device whose Open
//     failed), and Open through h succeeds;
//   - Read returns only declared entities, each with a value Home
//     Assistant takes for it (discovery.StatePayload);
//   - Watch reports the current state first, with such values, and returns
//     once its context is cancelled;
//   - Set on each switch returns the state commanded, and Set on an
//     entity the device does not have fails with drivers.ErrUnsupported;
//   - Close succeeds, and a second Close is harmless;
//   - after Close, Read, Watch and Set do not panic, and on a device that
//     claims hardware they fail rather than use what it released.
//
// A panic in any method is reported, not propagated. Each call is bounded
// by CallTimeout; one that hangs is reported and ends the check.
func Conformance(t testing.TB, d drivers.Device, h drivers.Host) {
	t.Helper()
	conformance(t, d, h, CallTimeout)
}

// conformance is Conformance with the bound on each call as a parameter,
// so that drivertest's own tests of devices that hang need not wait
// CallTimeout.
func conformance(t testing.TB, d drivers.Device, h drivers.Host, timeout time.Duration) {
	t.Helper()
	c := &checker{t: t, d: d, h: h, timeout: timeout}
	c.run()
}

// checker is one run of Conformance.
type checker struct {
	t       testing.TB
	d       drivers.Device
	h       drivers.Host
	timeout time.Duration // bounds each call

	entities []drivers.Entity
	byID     map[string]drivers.Entity
	claims   []string
	// state is the last on/off state read or watched per switch, so
	// that commands restore what the device already holds.
	state map[string]bool
}

func (c *checker) errorf(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf("conformance of %T: %s", c.d, fmt.Sprintf(format, args...))
}

// outcome is how a call into the device ended.
type outcome struct {
	panicked bool
	value    any
	stack    []byte
}

// start runs f on a goroutine of its own, so that a call that hangs can be
// reported and a panic recovered.
func (c *checker) start(f func()) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- outcome{panicked: true, value: r, stack: debug.Stack()}
			}
		}()
		f()
		ch <- outcome{}
	}()
	return ch
}

// wait waits for a call started with start and reports a panic or a hang.
// It returns whether the call returned normally.
func (c *checker) wait(what string, ch <-chan outcome) bool {
	c.t.Helper()
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	select {
	case o := <-ch:
		if o.panicked {
			c.errorf("%s panicked: %v\n%s", what, o.value, o.stack)
			return false
		}
		return true
	case <-timer.C:
		c.errorf("%s did not return within %v", what, c.timeout)
		return false
	}
}

// call runs f as start and wait do.
func (c *checker) call(what string, f func()) bool {
	c.t.Helper()
	return c.wait(what, c.start(f))
}

func (c *checker) run() {
	c.t.Helper()
	if !c.static() {
		return
	}
	var err error
	if !c.call("Close before Open", func() { err = c.d.Close() }) {
		return
	}
	if err != nil {
		c.errorf("Close before Open: %v; the agent closes a device whose Open failed (every attempt, until it stopped), and logs this as a failure", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if !c.call("Open", func() { err = c.d.Open(ctx, c.h) }) {
		return
	}
	if err != nil {
		c.errorf("Open: %v (the host given to Conformance must provide the hardware the device uses)", err)
		return
	}
	closed := false
	defer func() {
		if !closed {
			c.call("Close", func() { _ = c.d.Close() })
		}
	}()
	if !c.stable("after Open") || !c.read() || !c.watch() || !c.set() {
		return
	}
	closed = true
	if !c.call("Close", func() { err = c.d.Close() }) {
		return
	}
	if err != nil {
		c.errorf("Close: %v", err)
	}
	if !c.call("second Close", func() { err = c.d.Close() }) {
		return
	}
	if err != nil {
		c.errorf("second Close: %v; closing twice must be harmless", err)
	}
	if c.stable("after Close") {
		c.afterClose()
	}
}

// static checks what can be checked without the hardware. It returns false
// when the device is too broken to go on.
func (c *checker) static() bool {
	c.t.Helper()
	var es []drivers.Entity
	if !c.call("Entities", func() { es = c.d.Entities() }) {
		return false
	}
	if len(es) == 0 {
		c.errorf("Entities() is empty: a device must expose at least one entity, or nothing of it shows in Home Assistant")
		return false
	}
	c.entities = es
	c.byID = map[string]drivers.Entity{}
	c.state = map[string]bool{}
	ok := true
	for i, e := range es {
		switch e.Kind {
		case drivers.KindSensor, drivers.KindBinarySensor, drivers.KindSwitch:
		default:
			c.errorf("entity %d (%q): kind %d is not KindSensor, KindBinarySensor or KindSwitch", i, e.ID, int(e.Kind))
			ok = false
		}
		if !devconf.ValidID(e.ID) {
			c.errorf("entity %d: id %q is not made of [a-zA-Z0-9_-]: it is part of MQTT topics and unique ids", i, e.ID)
			ok = false
			continue
		}
		if _, dup := c.byID[e.ID]; dup {
			c.errorf("entity id %q is used twice: ids must be unique within a device", e.ID)
			ok = false
			continue
		}
		c.byID[e.ID] = e
	}
	var again []drivers.Entity
	if !c.call("Entities", func() { again = c.d.Entities() }) {
		return false
	}
	if !reflect.DeepEqual(es, again) {
		c.errorf("Entities() changed between two calls:\nfirst  %+v\nsecond %+v", es, again)
	}
	var info drivers.Info
	if !c.call("Info", func() { info = c.d.Info() }) {
		return false
	}
	if ok {
		// The kinds, classes, units and ids Home Assistant accepts are
		// the discovery package's to know.
		dev := discovery.Device{ID: "conformance", Info: info, Entities: es}
		if err := discovery.Validate(discovery.Node{ID: "drivertest"}, []discovery.Device{dev}); err != nil {
			c.errorf("Home Assistant would reject the entities:\n%v", err)
		}
	}
	c.capabilities()
	if cl, isClaimer := c.d.(drivers.Claimer); isClaimer {
		if !c.call("Claims", func() { c.claims = cl.Claims() }) {
			return false
		}
		for _, r := range c.claims {
			if why := claimProblem(r); why != "" {
				c.errorf("claim %q: %s", r, why)
			}
		}
	}
	return ok
}

// capabilities checks that the role interfaces fit the entities.
func (c *checker) capabilities() {
	c.t.Helper()
	_, isReader := c.d.(drivers.Reader)
	_, isSetter := c.d.(drivers.Setter)
	_, isWatcher := c.d.(drivers.Watcher)
	switches := 0
	for _, e := range c.entities {
		if e.Kind != drivers.KindSwitch {
			continue
		}
		switches++
		if !isSetter {
			c.errorf("entity %q is a switch, but the device does not implement drivers.Setter: its commands could not reach it", e.ID)
		}
	}
	if isSetter && switches == 0 {
		c.errorf("the device implements drivers.Setter but has no switch entity: the agent never sends it a command")
	}
	if !isReader && !isWatcher {
		c.errorf("the device implements neither drivers.Reader nor drivers.Watcher: its entities would never get a state")
	}
}

// Well-formed claims of the kinds the agent's drivers use.
var (
	claimKind = regexp.MustCompile(`^([a-z][a-z0-9]*):(\S+)$`)
	claimI2C  = regexp.MustCompile(`^(0|[1-9][0-9]*):0x(0|[1-9a-f][0-9a-f]*)$`)
)

// claimProblem says what is wrong with a claimed resource, or "".
func claimProblem(r string) string {
	m := claimKind.FindStringSubmatch(r)
	if m == nil {
		return `want "<kind>:<name>" without spaces, such as "gpio:GPIO17", "i2c:1:0x76" or "serial:/dev/serial0"`
	}
	kind, name := m[1], m[2]
	switch kind {
	case "gpio":
		if name == "" || name[0] >= '0' && name[0] <= '9' {
			return `want "gpio:" and the line's name, such as "gpio:GPIO17"`
		}
	case "i2c":
		im := claimI2C.FindStringSubmatch(name)
		if im == nil {
			return `want "i2c:<bus number>:<address>" written as fmt's "i2c:%d:%#x" writes it, such as "i2c:1:0x76", so that two devices on one chip claim the same string`
		}
		if a, _ := strconv.ParseUint(im[2], 16, 16); a > 0x3ff {
			return "the address is beyond I2C's 10 bits"
		}
	case "serial":
		if !path.IsAbs(name) || path.Clean(name) != name {
			return `want "serial:" and the port's clean absolute path, such as "serial:/dev/serial0", so that two devices on one port claim the same string`
		}
	}
	return ""
}

// stable checks that Entities and Claims have not changed since the
// static checks.
func (c *checker) stable(when string) bool {
	c.t.Helper()
	var es []drivers.Entity
	if !c.call("Entities "+when, func() { es = c.d.Entities() }) {
		return false
	}
	if !reflect.DeepEqual(es, c.entities) {
		c.errorf("Entities() %s differ from before Open: they must not depend on the hardware\nbefore %+v\n%-6s %+v", when, c.entities, when, es)
	}
	if cl, ok := c.d.(drivers.Claimer); ok {
		var claims []string
		if !c.call("Claims "+when, func() { claims = cl.Claims() }) {
			return false
		}
		if !slices.Equal(claims, c.claims) {
			c.errorf("Claims() %s = %q, before Open %q: the agent checks them before any device opens", when, claims, c.claims)
		}
	}
	return true
}

// reading checks one reading from Read or Watch.
func (c *checker) reading(what string, r drivers.Reading) {
	c.t.Helper()
	e, ok := c.byID[r.Entity]
	if !ok {
		c.errorf("%s reported entity %q, which Entities() does not list; the agent ignores it", what, r.Entity)
		return
	}
	if _, err := discovery.StatePayload(e, r.Value); err != nil {
		c.errorf("%s: %v", what, err)
		return
	}
	if e.Kind == drivers.KindSwitch && r.Value.Kind == drivers.ValueBool {
		c.state[e.ID] = r.Value.Bool
	}
}

// read checks a Read of the open device.
func (c *checker) read() bool {
	c.t.Helper()
	rd, ok := c.d.(drivers.Reader)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var rs []drivers.Reading
	var err error
	if !c.call("Read", func() { rs, err = rd.Read(ctx) }) {
		return false
	}
	if err != nil {
		c.errorf("Read after Open: %v (the host given to Conformance must provide working hardware)", err)
	}
	seen := map[string]bool{}
	for _, r := range rs {
		if seen[r.Entity] {
			c.errorf("Read reported entity %q twice in one call", r.Entity)
		}
		seen[r.Entity] = true
		c.reading("Read", r)
	}
	return true
}

// recorder collects what Watch emits.
type recorder struct {
	mu    sync.Mutex
	got   []drivers.Reading
	first chan struct{}
}

func newRecorder() *recorder { return &recorder{first: make(chan struct{})} }

func (r *recorder) emit(rd drivers.Reading) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, rd)
	if len(r.got) == 1 {
		close(r.first)
	}
}

func (r *recorder) readings() []drivers.Reading {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// watch checks a Watch of the open device: the current state first, then a
// prompt return once its context is cancelled.
func (c *checker) watch() bool {
	c.t.Helper()
	w, ok := c.d.(drivers.Watcher)
	if !ok {
		return true
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := newRecorder()
	var err error
	done := c.start(func() { err = w.Watch(ctx, rec.emit) })
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	select {
	case <-rec.first:
	case o := <-done:
		if o.panicked {
			c.errorf("Watch panicked: %v\n%s", o.value, o.stack)
			return false
		}
		c.errorf("Watch returned %v before reporting anything: it must report the current state first and run until its context is done", err)
		return true
	case <-timer.C:
		c.errorf("Watch did not report the current state within %v: it must report it first", c.timeout)
	}
	cancel()
	if !c.wait("Watch, after its context was cancelled,", done) {
		return false
	}
	for _, r := range rec.readings() {
		c.reading("Watch", r)
	}
	return true
}

// set commands each switch to the state it holds, and an entity the device
// does not have.
func (c *checker) set() bool {
	c.t.Helper()
	s, ok := c.d.(drivers.Setter)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for _, e := range c.entities {
		if e.Kind != drivers.KindSwitch {
			continue
		}
		// Command the state the switch reported, so the check changes
		// nothing on the hardware; off when it reported none.
		want := drivers.Bool(c.state[e.ID])
		var got drivers.Value
		var err error
		if !c.call("Set", func() { got, err = s.Set(ctx, e.ID, want) }) {
			return false
		}
		switch {
		case err != nil:
			c.errorf("Set(%q, %v): %v", e.ID, want, err)
		case !got.Equal(want):
			c.errorf("Set(%q, %v) returned %v: Set returns the state the device holds after the command", e.ID, want, got)
		}
	}
	missing := "no_such_entity"
	for c.byID[missing].ID != "" {
		missing += "_"
	}
	var err error
	if !c.call("Set", func() { _, err = s.Set(ctx, missing, drivers.Bool(true)) }) {
		return false
	}
	if !errors.Is(err, drivers.ErrUnsupported) {
		c.errorf("Set(%q, ON) on an entity the device does not have returned %v, want an error wrapping drivers.ErrUnsupported", missing, err)
	}
	return true
}

// afterClose checks that a closed device fails cleanly.
func (c *checker) afterClose() {
	c.t.Helper()
	// A device that claims nothing (it reads files, say) may well work
	// without being open; one that claims hardware must not use it once
	// the host may have handed it to someone else.
	mustFail := len(c.claims) > 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if rd, ok := c.d.(drivers.Reader); ok {
		var err error
		if !c.call("Read after Close", func() { _, err = rd.Read(ctx) }) {
			return
		}
		if err == nil && mustFail {
			c.errorf("Read after Close succeeded: a closed device must not use the hardware it claims (%q)", c.claims)
		}
	}
	if w, ok := c.d.(drivers.Watcher); ok {
		rec := newRecorder()
		var err error
		// Nothing cancels this context before the check ends: a closed
		// device has nothing to watch and must return on its own.
		if !c.call("Watch after Close", func() { err = w.Watch(ctx, rec.emit) }) {
			return
		}
		if got := rec.readings(); len(got) > 0 {
			c.errorf("Watch after Close reported %+v: a closed device has nothing to report", got)
		}
		if err == nil && mustFail {
			c.errorf("Watch after Close returned nil: it must fail, as the device is closed")
		}
	}
	if s, ok := c.d.(drivers.Setter); ok {
		for _, e := range c.entities {
			if e.Kind != drivers.KindSwitch {
				continue
			}
			var err error
			if !c.call("Set after Close", func() { _, err = s.Set(ctx, e.ID, drivers.Bool(c.state[e.ID])) }) {
				return
			}
			if err == nil && mustFail {
				c.errorf("Set(%q) after Close succeeded: a closed device must not drive the hardware it claims (%q)", e.ID, c.claims)
			}
			break
		}
	}
}
