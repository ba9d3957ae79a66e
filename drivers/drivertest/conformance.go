package drivertest

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
)

// maxFaults bounds how many failed Opens Conformance tries, one per call
// the device makes into the host during Open.
const maxFaults = 16

// Conformance checks that d keeps the contract of the driver API, the way
// the agent relies on it, and reports each way it breaks it as a test
// error that says what the agent expects. d must be fresh from its New,
// never opened; h must provide the hardware it uses (a Host with the chips
// attached, or any drivers.Host). Conformance opens, polls, commands and
// closes d several times, on Workers as the agent does, and leaves it
// closed, so run it on a device of its own.
//
// Before any Open, it checks that:
//
//   - Entities is not empty, and returns the same list on every call,
//     before Open, after Open and after Close: it must not depend on the
//     hardware (nor must Info, Claims and the provided lines);
//   - entity ids are made of [a-zA-Z0-9_-] and unique, every entity has a
//     Spec, and Home Assistant would take every entity (discovery.Validate:
//     classes, units, ranges, options, event types);
//   - the capabilities fit the entities: an entity that takes commands
//     (a switch, a button, a number, a light, a cover, a select) needs a
//     drivers.Commander, a Commander needs such an entity, and a device
//     that is neither a Poller, a Commander nor a Handler never changes a
//     state after Open;
//   - Claims (of a Claimer) are canonical, as drivers.GPIOLine,
//     I2CAddress, SerialPort, SharedSerialPort, PWMLine and OneWireDevice
//     build them, since the agent compares them to find two devices on one
//     piece of hardware, and no two of them name the same hardware;
//   - the lines and buses a GPIOProvider or I2CProvider offers are named
//     without '/' or spaces, each once.
//
// Then it opens d through h, with a Worker, and checks that:
//
//   - Open succeeds, and afterwards (and after the first Poll, for a
//     Poller) every entity with a state has reported one, or reported
//     itself unavailable with the reason: Home Assistant shows it unknown
//     until then, and TOGGLE needs the state;
//   - Poll succeeds;
//   - every report, from Open, Poll, Command or Handle, is about an entity
//     that Entities declares, with a value its spec takes
//     (discovery.StatePayload, discovery.EventPayload), and no entity is
//     reported unavailable without a reason;
//   - a command to each entity that takes them, one that changes nothing
//     (the state the entity reported, a switch off when it reported none, a
//     cover's stop, a button's press) succeeds and reports the entity's
//     state, the one commanded; and a command to an entity the device does
//     not have fails with drivers.ErrUnsupported;
//   - each provided line or bus can be had once the device is open;
//   - the device asks for no reopen, and no waiter or Handle fails, while
//     its hardware works;
//   - Close succeeds; the waiters (Output.Go) return once their context is
//     cancelled, which happens before Close; nothing is reported after
//     Close returns.
//
// Then it checks what the agent does when the hardware fails and comes
// back. The agent calls Close after every Open, whether that Open
// succeeded or failed, and opens the device again after Close. So
// Conformance opens d once more for each call d made into the host during
// the first Open, with that call failing (as unplugged hardware does), and
// checks that:
//
//   - Open fails with an error that wraps the host's (fmt.Errorf's %w), or
//     succeeds (a device may find its hardware later);
//   - Close after it succeeds, releasing whatever Open left claimed;
//
// and finally that Open through h works again after all that, as does
// Poll, and Close.
//
// A panic in any method is reported with its stack, not propagated. Each
// call is bounded by CallTimeout; one that hangs is reported and ends the
// check. Conformance reports with Errorf, so the test goes on.
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
	info     drivers.Info
	claims   []drivers.Resource
	lines    []string // a GPIOProvider's
	buses    []string // an I2CProvider's
}

func (c *checker) errorf(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf("conformance of %T: %s", c.d, fmt.Sprintf(format, args...))
}

// call runs f on a goroutine of its own, so that a call that hangs can be
// reported and a panic recovered, and reports either. It returns whether f
// returned normally. It is for the methods the agent calls outside the
// worker (Info, Entities, Claims, the provided lines); the others run on a
// Worker.
func (c *checker) call(what string, f func()) bool {
	c.t.Helper()
	ch := make(chan outcome, 1)
	go func() { ch <- protect(func() error { f(); return nil }) }()
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

func (c *checker) run() {
	c.t.Helper()
	if !c.static() {
		return
	}
	fh := &faultHost{base: c.h}
	w, ok := c.open("Open", fh)
	if !ok {
		return
	}
	calls := fh.count()
	if !c.serve(w) {
		c.close(w, "Close")
		return
	}
	if !c.close(w, "Close") || !c.stable("after Close") {
		return
	}
	for k := 1; k <= min(calls, maxFaults); k++ {
		if !c.failedOpen(k) {
			return
		}
	}
	c.reopen()
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
	ok := true
	for i, e := range es {
		if e.Spec == nil || reflect.ValueOf(e.Spec).Kind() == reflect.Pointer && reflect.ValueOf(e.Spec).IsNil() {
			c.errorf("entity %d (%q) has no Spec: set one of drivers.Sensor, BinarySensor, Switch, Button, Number, Light, Cover, Event or Select", i, e.ID)
			ok = false
		}
		if !discovery.ValidID(e.ID) {
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
		c.errorf("Entities() changed between two calls: it must describe the configuration alone\nfirst  %+v\nsecond %+v", es, again)
	}
	if !c.call("Info", func() { c.info = c.d.Info() }) {
		return false
	}
	if ok {
		// The specs, classes, units and ids Home Assistant takes are the
		// discovery package's to know.
		dev := discovery.Device{ID: "conformance", Info: c.info, Entities: es}
		if err := discovery.Validate(discovery.Node{ID: "drivertest"}, []discovery.Device{dev}); err != nil {
			c.errorf("Home Assistant would reject the entities:\n%v", err)
		}
	}
	c.capabilities()
	if cl, isClaimer := c.d.(drivers.Claimer); isClaimer {
		if !c.call("Claims", func() { c.claims = cl.Claims() }) {
			return false
		}
		for i, r := range c.claims {
			if why := claimProblem(r); why != "" {
				c.errorf("claim %d (%s, %+v): %s", i, r, r, why)
			}
			for _, o := range c.claims[:i] {
				if r.Conflicts(o) {
					c.errorf("claims %s and %s name the same hardware: claim each once", o, r)
				}
			}
		}
	}
	if p, isProvider := c.d.(drivers.GPIOProvider); isProvider {
		if !c.call("ProvidedLines", func() { c.lines = p.ProvidedLines() }) {
			return false
		}
		c.providedNames("ProvidedLines", "line", c.lines)
	}
	if p, isProvider := c.d.(drivers.I2CProvider); isProvider {
		if !c.call("ProvidedBuses", func() { c.buses = p.ProvidedBuses() }) {
			return false
		}
		c.providedNames("ProvidedBuses", "bus", c.buses)
	}
	return ok
}

// capabilities checks that the role interfaces fit the entities.
func (c *checker) capabilities() {
	c.t.Helper()
	_, isPoller := c.d.(drivers.Poller)
	_, isCommander := c.d.(drivers.Commander)
	_, isHandler := c.d.(drivers.Handler)
	commandable := 0
	for _, e := range c.entities {
		if e.Spec == nil || !discovery.Commandable(e) {
			continue
		}
		commandable++
		if !isCommander {
			c.errorf("entity %q is a %s, which takes commands, but the device does not implement drivers.Commander: its commands could not reach it", e.ID, discovery.Component(e))
		}
	}
	if isCommander && commandable == 0 {
		c.errorf("the device implements drivers.Commander but has no entity that takes commands (a switch, button, number, light, cover or select): the agent never sends it one")
	}
	if !isPoller && !isCommander && !isHandler {
		c.errorf("the device implements neither drivers.Poller, drivers.Commander nor drivers.Handler: its entities' states could never change after Open")
	}
}

// providedNames checks the names a provider offers.
func (c *checker) providedNames(method, what string, names []string) {
	c.t.Helper()
	if len(names) == 0 {
		c.errorf("%s() is empty: a provider offers at least one %s", method, what)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, "/ \t\n") {
			c.errorf("%s() offers %q: a %s's name is not empty and has no '/' or spaces, since other devices name it \"<provider id>/<name>\"", method, n, what)
		}
		if seen[n] {
			c.errorf("%s() offers %q twice", method, n)
		}
		seen[n] = true
	}
}

// claimProblem says what is wrong with a claimed resource, or "".
func claimProblem(r drivers.Resource) string {
	switch r.Kind {
	case drivers.ResourceGPIO, drivers.ResourcePWM:
		ctor := map[drivers.ResourceKind]string{drivers.ResourceGPIO: "GPIOLine", drivers.ResourcePWM: "PWMLine"}[r.Kind]
		switch {
		case r.Name == "" || strings.ContainsAny(r.Name, " \t\n"):
			return fmt.Sprintf(`want the line's name without spaces, such as drivers.%s("GPIO17"), or "<device>/<line>" for a provided line`, ctor)
		case r.Name[0] >= '0' && r.Name[0] <= '9':
			return fmt.Sprintf(`want the line's name, such as drivers.%s("GPIO17"), not its number: numbers differ between boards`, ctor)
		case r.Bus != "" || r.Addr != 0 || r.Shared:
			return fmt.Sprintf("a line has only a Name: build it with drivers.%s", ctor)
		}
	case drivers.ResourceI2C:
		canon, err := drivers.ParseI2CBus(r.Bus)
		switch {
		case err != nil:
			return fmt.Sprintf("the bus: %v", err)
		case canon != r.Bus:
			return fmt.Sprintf("the bus is written %q, not canonically %q: build the claim with drivers.I2CAddress, which writes it so, so that two devices on one chip claim the same resource", r.Bus, canon)
		case r.Addr > 0x3ff:
			return fmt.Sprintf("address %#x is beyond I2C's 10 bits", r.Addr)
		case r.Name != "" || r.Shared:
			return "an I2C address has only a Bus and an Addr: build it with drivers.I2CAddress"
		}
	case drivers.ResourceSerial:
		switch {
		case !path.IsAbs(r.Name) || path.Clean(r.Name) != r.Name:
			return fmt.Sprintf(`want the port's clean absolute path, such as drivers.SerialPort("/dev/serial0"), not %q, so that two devices on one port claim the same resource`, r.Name)
		case r.Bus != "" || r.Addr != 0:
			return "a serial port has only a Name: build it with drivers.SerialPort or SharedSerialPort"
		}
	case drivers.ResourceOneWire:
		switch {
		case r.Bus == "" || strings.ContainsAny(r.Bus, " \t\n"):
			return `want the bus, such as drivers.OneWireDevice("w1", "28-0316a2796aff")`
		case r.Name == "" || strings.ContainsAny(r.Name, "/ \t\n"):
			return `want the device's id, such as drivers.OneWireDevice("w1", "28-0316a2796aff")`
		case r.Addr != 0 || r.Shared:
			return "a 1-Wire device has only a Bus and a Name: build it with drivers.OneWireDevice"
		}
	default:
		return fmt.Sprintf("kind %q is none of gpio, pwm, i2c, serial and w1: build the claim with drivers.GPIOLine, PWMLine, I2CAddress, SerialPort, SharedSerialPort or OneWireDevice", r.Kind)
	}
	return ""
}

// stable checks that what the device describes from its configuration has
// not changed since the static checks. It returns false when a call hung
// or panicked.
func (c *checker) stable(when string) bool {
	c.t.Helper()
	var es []drivers.Entity
	if !c.call("Entities "+when, func() { es = c.d.Entities() }) {
		return false
	}
	if !reflect.DeepEqual(es, c.entities) {
		c.errorf("Entities() %s differ from before Open: they must describe the configuration alone, not the hardware\nbefore %+v\n%-6s %+v", when, c.entities, when, es)
	}
	var info drivers.Info
	if !c.call("Info "+when, func() { info = c.d.Info() }) {
		return false
	}
	if info != c.info {
		c.errorf("Info() %s = %+v, before Open %+v: it must describe the configuration alone (Home Assistant's device registry gets it before the device opens)", when, info, c.info)
	}
	if cl, ok := c.d.(drivers.Claimer); ok {
		var claims []drivers.Resource
		if !c.call("Claims "+when, func() { claims = cl.Claims() }) {
			return false
		}
		if !reflect.DeepEqual(claims, c.claims) {
			c.errorf("Claims() %s = %v, before Open %v: the agent checks them before any device opens", when, claims, c.claims)
		}
	}
	if p, ok := c.d.(drivers.GPIOProvider); ok {
		var lines []string
		if !c.call("ProvidedLines "+when, func() { lines = p.ProvidedLines() }) {
			return false
		}
		if !reflect.DeepEqual(lines, c.lines) {
			c.errorf("ProvidedLines() %s = %q, before Open %q: the agent checks the devices that use them before any device opens", when, lines, c.lines)
		}
	}
	if p, ok := c.d.(drivers.I2CProvider); ok {
		var buses []string
		if !c.call("ProvidedBuses "+when, func() { buses = p.ProvidedBuses() }) {
			return false
		}
		if !reflect.DeepEqual(buses, c.buses) {
			c.errorf("ProvidedBuses() %s = %q, before Open %q: the agent checks the devices that use them before any device opens", when, buses, c.buses)
		}
	}
	return true
}

// start opens the device through h on a Worker whose problems are
// Conformance's. It returns a nil Worker when Open hung or Entities
// panicked.
func (c *checker) start(h drivers.Host) (*Worker, error) {
	c.t.Helper()
	return start(c.t, c.d, h, options{
		timeout: c.timeout,
		grace:   c.timeout,
		strict:  true,
		problemf: func(format string, args ...any) {
			c.t.Helper()
			c.errorf(format, args...)
		},
	})
}

// open opens the device through h, which must work. It returns false when
// Open failed or hung (reported).
func (c *checker) open(what string, h drivers.Host) (*Worker, bool) {
	c.t.Helper()
	w, err := c.start(h)
	switch {
	case w == nil:
		return nil, false
	case errors.As(err, new(*panicError)):
		return nil, false // reported with its stack
	case err != nil:
		c.errorf("%s: %v (the host given to Conformance must provide the hardware the device uses)", what, err)
		return nil, false
	}
	return w, true
}

// serve checks the open device: its first states, Poll, commands, the
// provided lines and buses, and that it asks for no reopen. It returns
// false when a call hung.
func (c *checker) serve(w *Worker) bool {
	c.t.Helper()
	if !c.stable("after Open") {
		return false
	}
	first := "Open"
	if _, ok := c.d.(drivers.Poller); ok {
		first = "Open and the first Poll"
		if !c.poll(w, "Poll after Open") {
			return false
		}
	}
	c.firstStates(w, first)
	if !c.commands(w) || !c.provided() {
		return false
	}
	for _, err := range w.Reopens() {
		c.errorf("the device asked to be reopened while its hardware works: %v (Output.Reopen, a waiter's error or a Handle error, each of which makes the agent close and reopen it)", err)
	}
	return true
}

// poll polls through w and reports an error. It returns false when Poll
// hung.
func (c *checker) poll(w *Worker, what string) bool {
	c.t.Helper()
	p := c.d.(drivers.Poller)
	out, ok := w.call("Poll", func() error { return p.Poll(w.ctx) }, c.timeout)
	switch {
	case !ok:
		return false
	case out.panicked:
		c.errorf("%s panicked: %v\n%s", what, out.value, out.stack)
	case out.err != nil:
		c.errorf("%s: %v (the host given to Conformance must provide working hardware)", what, out.err)
	}
	return true
}

// known tells whether an entity has a state or is unavailable.
func known(w *Worker, id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.reports {
		if r.Entity == id && (r.Kind == "state" || r.Kind == "unavailable") {
			return true
		}
	}
	return false
}

// firstStates checks that every entity with a state reported one, or
// reported itself unavailable, by the end of first. A device that handles
// what waiters deliver (a sensor that sends frames) gets CallTimeout for
// its first states to arrive.
func (c *checker) firstStates(w *Worker, first string) {
	c.t.Helper()
	missing := func() []string {
		var ids []string
		for _, e := range c.entities {
			if e.Spec != nil && discovery.Stateful(e) && !known(w, e.ID) {
				ids = append(ids, e.ID)
			}
		}
		return ids
	}
	if _, ok := c.d.(drivers.Handler); ok && len(missing()) > 0 {
		timer := time.NewTimer(c.timeout)
		defer timer.Stop()
	wait:
		for {
			w.mu.Lock()
			ch := w.changed
			w.mu.Unlock()
			if len(missing()) == 0 {
				break
			}
			select {
			case <-ch:
			case <-timer.C:
				break wait
			}
		}
	}
	for _, id := range missing() {
		c.errorf("entity %q has no state after %s: report each entity's state (or Output.Unavailable, saying why) from Open or Poll, or Home Assistant shows it unknown and TOGGLE cannot work", id, first)
	}
}

// harmless returns a command for e that changes nothing, from the state it
// reported, and the state it must report then (the zero Value when it
// need not report one, or the check cannot tell which).
func harmless(w *Worker, e drivers.Entity) (drivers.Command, drivers.Value) {
	cur, ok := w.State(e.ID)
	switch s := specValue(e.Spec).(type) {
	case drivers.Switch:
		on := ok && cur.Kind == drivers.ValueBool && cur.Bool
		a := drivers.ActionOff
		if on {
			a = drivers.ActionOn
		}
		return drivers.Command{Action: a}, drivers.Bool(on)
	case drivers.Light:
		st, _ := cur.Field(drivers.FieldState)
		if !ok || st.Kind != drivers.ValueBool || !st.Bool {
			return drivers.Command{Action: drivers.ActionOff}, drivers.Bool(false)
		}
		b, _ := cur.Field(drivers.FieldBrightness)
		if s.Brightness && b.Kind == drivers.ValueNumber && b.Num >= 1 && b.Num <= 255 {
			return drivers.Command{Action: drivers.ActionOn, Value: drivers.Num(b.Num, "")}, drivers.Bool(true)
		}
		return drivers.Command{Action: drivers.ActionOn}, drivers.Bool(true)
	case drivers.Button:
		return drivers.Command{Action: drivers.ActionPress}, drivers.Value{}
	case drivers.Number:
		v := s.Min
		if ok && cur.Kind == drivers.ValueNumber && cur.Num >= s.Min && cur.Num <= s.Max {
			v = cur.Num
		}
		return drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(v, s.Unit)}, drivers.Num(v, s.Unit)
	case drivers.Cover:
		if !s.NoStop {
			return drivers.Command{Action: drivers.ActionStop}, drivers.Value{}
		}
		if p, _ := cur.Field(drivers.FieldPosition); s.Position && p.Kind == drivers.ValueNumber && p.Num >= 0 && p.Num <= 100 {
			return drivers.Command{Action: drivers.ActionSet, Value: drivers.Num(p.Num, "")}, drivers.Value{}
		}
		if st, _ := cur.Field(drivers.FieldState); st.Text == drivers.CoverOpen {
			return drivers.Command{Action: drivers.ActionOpen}, drivers.Value{}
		}
		return drivers.Command{Action: drivers.ActionClose}, drivers.Value{}
	case drivers.Select:
		v := ""
		if len(s.Options) > 0 {
			v = s.Options[0]
		}
		if ok && cur.Kind == drivers.ValueText {
			v = cur.Text
		}
		return drivers.Command{Action: drivers.ActionSet, Value: drivers.Text(v)}, drivers.Text(v)
	}
	return drivers.Command{}, drivers.Value{}
}

// sameState tells whether got is the state want asks for: the on/off of a
// switch or a light, the number of a number (units aside), the option of a
// select.
func sameState(got, want drivers.Value) bool {
	if got.Kind == drivers.ValueFields {
		got, _ = got.Field(drivers.FieldState)
	}
	switch want.Kind {
	case drivers.ValueBool:
		return got.Kind == drivers.ValueBool && got.Bool == want.Bool
	case drivers.ValueNumber:
		return got.Kind == drivers.ValueNumber && math.Abs(got.Num-want.Num) <= 1e-9*math.Max(1, math.Abs(want.Num))
	case drivers.ValueText:
		return got.Kind == drivers.ValueText && got.Text == want.Text
	}
	return true
}

// commands sends each entity that takes commands one that changes
// nothing, and an entity the device does not have one. It returns false
// when a call hung.
func (c *checker) commands(w *Worker) bool {
	c.t.Helper()
	cm, ok := c.d.(drivers.Commander)
	if !ok {
		return true
	}
	for _, e := range c.entities {
		if e.Spec == nil || !discovery.Commandable(e) {
			continue
		}
		cmd, want := harmless(w, e)
		if why := commandProblem(e, cmd); why != "" {
			continue // the spec is broken, which static reported
		}
		what := fmt.Sprintf("Command(%q, %v)", e.ID, cmd)
		w.mu.Lock()
		from := len(w.reports)
		w.mu.Unlock()
		out, ok := w.call(what, func() error { return cm.Command(w.ctx, e.ID, cmd) }, c.timeout)
		switch {
		case !ok:
			return false
		case out.panicked:
			c.errorf("%s panicked: %v\n%s", what, out.value, out.stack)
			continue
		case out.err != nil:
			c.errorf("%s: %v (a command that changes nothing, on working hardware)", what, out.err)
			continue
		}
		if !discovery.Stateful(e) {
			continue
		}
		var got *Report
		for _, r := range w.Reports()[from:] {
			if r.Entity == e.ID && (r.Kind == "state" || r.Kind == "unavailable") {
				got = &r
			}
		}
		switch {
		case got == nil:
			c.errorf("%s reported no state for %q: Command reports the entity's new state through the Output, or Home Assistant keeps showing what it asked for", what, e.ID)
		case got.Kind == "state" && !sameState(got.Value, want):
			c.errorf("%s reported state %v for %q, want %v: the check commands what the entity already holds, so its state must not change", what, got.Value, e.ID, want)
		}
	}
	missing := "no_such_entity"
	for c.byID[missing].ID != "" {
		missing += "_"
	}
	cmd := drivers.Command{Action: drivers.ActionOn}
	what := fmt.Sprintf("Command(%q, %v)", missing, cmd)
	out, ok := w.call(what, func() error { return cm.Command(w.ctx, missing, cmd) }, c.timeout)
	switch {
	case !ok:
		return false
	case out.panicked:
		c.errorf("%s on an entity the device does not have panicked: %v\n%s", what, out.value, out.stack)
	case !errors.Is(out.err, drivers.ErrUnsupported):
		c.errorf("%s on an entity the device does not have returned %v, want an error wrapping drivers.ErrUnsupported", what, out.err)
	}
	return true
}

// provided checks that each line and bus the device offers can be had
// while it is open, and one it does not offer cannot.
func (c *checker) provided() bool {
	c.t.Helper()
	if p, ok := c.d.(drivers.GPIOProvider); ok {
		for _, n := range append(c.lines, "no_such_line") {
			var pin gpio.PinIO
			var err error
			if !c.call(fmt.Sprintf("ProvidedLine(%q)", n), func() { pin, err = p.ProvidedLine(n) }) {
				return false
			}
			c.providedResult("ProvidedLine", n, n != "no_such_line", pin == nil, err)
		}
	}
	if p, ok := c.d.(drivers.I2CProvider); ok {
		for _, n := range append(c.buses, "no_such_bus") {
			var bus i2c.Bus
			var err error
			if !c.call(fmt.Sprintf("ProvidedBus(%q)", n), func() { bus, err = p.ProvidedBus(n) }) {
				return false
			}
			c.providedResult("ProvidedBus", n, n != "no_such_bus", bus == nil, err)
		}
	}
	return true
}

func (c *checker) providedResult(method, name string, offered, isNil bool, err error) {
	c.t.Helper()
	switch {
	case offered && err != nil:
		c.errorf("%s(%q) on the open device: %v; the agent asks for each offered one after Open succeeds", method, name, err)
	case offered && isNil:
		c.errorf("%s(%q) returned nil and no error", method, name)
	case !offered && err == nil:
		c.errorf("%s(%q) of one it does not offer returned no error", method, name)
	}
}

// close closes w and reports a failure. It returns false when Close hung.
func (c *checker) close(w *Worker, what string) bool {
	c.t.Helper()
	out, ok := w.close()
	switch {
	case !ok:
		return false
	case out.panicked:
		c.errorf("%s panicked: %v\n%s", what, out.value, out.stack)
	case out.err != nil:
		c.errorf("%s: %v", what, out.err)
	}
	return true
}

// failedOpen opens the device with the k-th call into the host failing,
// and closes it. It returns false when a call hung.
func (c *checker) failedOpen(k int) bool {
	c.t.Helper()
	fh := &faultHost{base: c.h, failAt: k}
	w, err := c.start(fh)
	if w == nil {
		return false
	}
	injected := fh.injected()
	if err != nil && injected != nil && !errors.Is(err, injected) && !errors.As(err, new(*panicError)) {
		c.errorf("Open with the host's %s failing returned %q, which does not wrap the host's error (%q): wrap it with %%w, so that the agent's log says what failed", fh.what(), err, injected)
	}
	// The Worker closed the device right after the failed Open, as the
	// agent does; a device whose Open succeeded is closed here.
	out, ok := w.close()
	switch {
	case !ok:
		return false
	case out.panicked:
		// Reported by the Worker when Open had failed.
		if err == nil {
			c.errorf("Close after an Open that succeeded with the host's %s failing panicked: %v\n%s", fh.what(), out.value, out.stack)
		}
	case out.err != nil && err != nil:
		c.errorf("Close after a failed Open (the host's %s failed: %v): %v; the agent calls Close after every Open, failed or not, so Close must succeed and release whatever Open claimed", fh.what(), err, out.err)
	case out.err != nil:
		c.errorf("Close after an Open that succeeded with the host's %s failing: %v", fh.what(), out.err)
	}
	return true
}

// reopen opens the device once more through h, polls it and closes it.
func (c *checker) reopen() {
	c.t.Helper()
	w, err := c.start(c.h)
	switch {
	case w == nil || errors.As(err, new(*panicError)):
		return
	case err != nil:
		c.errorf("Open after Close: %v; the agent opens a device again after Close (after a failure, or when its hardware is back), so Open must work again after Close, and after a failed Open and its Close", err)
		return
	}
	if _, ok := c.d.(drivers.Poller); ok && !c.poll(w, "Poll after a second Open") {
		return
	}
	if c.close(w, "Close after a second Open") {
		c.stable("after a second Close")
	}
}

// faultHost is a Host in front of another that counts the calls a device
// makes into it and fails one of them, as unplugged hardware would.
type faultHost struct {
	base   drivers.Host
	failAt int // the call that fails, from 1; 0 for none

	mu     sync.Mutex
	n      int
	failed string // the call that failed
	err    error  // what it returned
}

var (
	_ drivers.GPIOHost         = (*faultHost)(nil)
	_ drivers.I2CHost          = (*faultHost)(nil)
	_ drivers.SerialHost       = (*faultHost)(nil)
	_ drivers.SharedSerialHost = (*faultHost)(nil)
	_ drivers.PWMHost          = (*faultHost)(nil)
	_ drivers.OneWireHost      = (*faultHost)(nil)
	_ drivers.FileHost         = (*faultHost)(nil)
)

// fault counts a call and returns the error it fails with, or nil.
func (f *faultHost) fault(what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.n != f.failAt {
		return nil
	}
	f.failed = what
	f.err = fmt.Errorf("%s: drivertest: conformance: failing on purpose, as unplugged hardware does", what)
	return f.err
}

func (f *faultHost) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *faultHost) injected() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *faultHost) what() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// Clock implements drivers.Host.
func (f *faultHost) Clock() drivers.Clock { return f.base.Clock() }

// Logger implements drivers.Host.
func (f *faultHost) Logger() *slog.Logger { return f.base.Logger() }

// GPIO implements drivers.GPIOHost.
func (f *faultHost) GPIO(name string) (gpio.PinIO, error) {
	if err := f.fault(fmt.Sprintf("GPIO(%q)", name)); err != nil {
		return nil, err
	}
	return drivers.GPIO(f.base, name)
}

// I2C implements drivers.I2CHost.
func (f *faultHost) I2C(bus string) (i2c.Bus, error) {
	if err := f.fault(fmt.Sprintf("I2C(%q)", bus)); err != nil {
		return nil, err
	}
	return drivers.I2C(f.base, bus)
}

// Serial implements drivers.SerialHost.
func (f *faultHost) Serial(path string, mode drivers.SerialMode) (drivers.Port, error) {
	if err := f.fault(fmt.Sprintf("Serial(%q)", path)); err != nil {
		return nil, err
	}
	return drivers.Serial(f.base, path, mode)
}

// SharedSerial implements drivers.SharedSerialHost.
func (f *faultHost) SharedSerial(path string, mode drivers.SerialMode) (drivers.SharedPort, error) {
	if err := f.fault(fmt.Sprintf("SharedSerial(%q)", path)); err != nil {
		return nil, err
	}
	return drivers.SharedSerial(f.base, path, mode)
}

// PWM implements drivers.PWMHost.
func (f *faultHost) PWM(name string) (gpio.PinOut, error) {
	if err := f.fault(fmt.Sprintf("PWM(%q)", name)); err != nil {
		return nil, err
	}
	return drivers.PWM(f.base, name)
}

// OneWire implements drivers.OneWireHost.
func (f *faultHost) OneWire(bus string) (drivers.OneWireBus, error) {
	if err := f.fault(fmt.Sprintf("OneWire(%q)", bus)); err != nil {
		return nil, err
	}
	return drivers.OneWire(f.base, bus)
}

// ReadFile implements drivers.FileHost.
func (f *faultHost) ReadFile(path string) ([]byte, error) {
	if err := f.fault(fmt.Sprintf("ReadFile(%q)", path)); err != nil {
		return nil, err
	}
	return drivers.ReadFile(f.base, path)
}
