package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/devconf"
	"github.com/pinion-home/pinion/internal/hatest"
	"github.com/pinion-home/pinion/internal/logbuf"
)

// switchLog is the order in which every relay board of a test switched,
// across devices: "a/up=ON".
type switchLog struct {
	mu  sync.Mutex
	seq []string
}

func (l *switchLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq = append(l.seq, s)
}

func (l *switchLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seq)
}

// relayBoard is a device of switches that reports each state as it
// switches, as the gpio driver does.
type relayBoard struct {
	id      string
	ids     []string
	initial map[string]bool // states reported at Open; off when missing
	failOn  map[string]bool // entities whose commands fail
	openErr error
	// onOpen, if set, runs at the start of each Open, as a driver asking
	// for its last states does.
	onOpen func(ctx context.Context) error
	// block holds an entity's commands until the channel is closed: a
	// slow worker.
	block map[string]chan struct{}
	log   *switchLog

	mu  sync.Mutex
	out drivers.Output
	on  map[string]bool
}

func (b *relayBoard) Info() drivers.Info { return drivers.Info{Model: "relays"} }
func (b *relayBoard) Entities() []drivers.Entity {
	var es []drivers.Entity
	for _, id := range b.ids {
		es = append(es, drivers.Entity{ID: id, Spec: drivers.Switch{}})
	}
	return es
}
func (b *relayBoard) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	if b.onOpen != nil {
		if err := b.onOpen(ctx); err != nil {
			return err
		}
	}
	if b.openErr != nil {
		return b.openErr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.out, b.on = out, map[string]bool{}
	for _, id := range b.ids {
		b.on[id] = b.initial[id]
		out.State(id, drivers.Bool(b.on[id]))
	}
	return nil
}
func (b *relayBoard) Command(ctx context.Context, entity string, c drivers.Command) error {
	if b.failOn[entity] {
		return errors.New("relay stuck")
	}
	if ch := b.block[entity]; ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	on := c.Action == drivers.ActionOn
	if b.on[entity] != on {
		b.log.add(fmt.Sprintf("%s/%s=%s", b.id, entity, map[bool]string{true: "ON", false: "OFF"}[on]))
	}
	b.on[entity] = on
	b.out.State(entity, drivers.Bool(on))
	return nil
}
func (b *relayBoard) Close() error { return nil }

// safetyRig runs relay boards with relay safety on a fake clock.
type safetyRig struct {
	t     *testing.T
	clock *clockwork.FakeClock
	pipe  *pipeline
	devs  map[string]*device
	safe  *safety
	logs  *logbuf.Buffer
	seq   *switchLog
}

// newSafetyRig runs boards, each with the options opts gives its entities
// ("device/entity").
func newSafetyRig(t *testing.T, boards []*relayBoard, opts map[string]devconf.Safety) *safetyRig {
	t.Helper()
	r := &safetyRig{t: t, clock: clockwork.NewFakeClock(), logs: &logbuf.Buffer{}, devs: map[string]*device{}, seq: &switchLog{}}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.pipe = newPipeline(discovery.Node{ID: "n"}, newOutbox(), log)
	var cfgs []DeviceConfig
	for _, b := range boards {
		b.log = r.seq
		dc := DeviceConfig{ID: b.id, Driver: "relays", Device: b, Entities: b.Entities(), Interval: time.Hour}
		for _, id := range b.ids {
			if o, ok := opts[b.id+"/"+id]; ok {
				if dc.Safety == nil {
					dc.Safety = map[string]devconf.Safety{}
				}
				dc.Safety[id] = o
			}
		}
		cfgs = append(cfgs, dc)
		r.devs[b.id] = newDevice(dc, sim.NewHost(nil), r.pipe, r.clock, log)
	}
	r.safe = newSafety(cfgs, r.devs, r.pipe, r.clock, log)
	r.safe.start()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, d := range r.devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.run(ctx)
		}()
	}
	t.Cleanup(func() {
		r.safe.close()
		cancel()
		wg.Wait()
		if t.Failed() {
			t.Logf("log:\n%s", r.logs.String())
		}
	})
	for _, b := range boards {
		if b.openErr == nil {
			for _, id := range b.ids {
				r.waitState(b.id, id, b.initial[id])
			}
		}
	}
	return r
}

// send sends a command through the one entry point, as the session does.
func (r *safetyRig) send(device, entity string, c discovery.Command) {
	r.t.Helper()
	if !r.devs[device].enqueue(command{entity: entity, cmd: c, source: "test/" + device + "/" + entity}) {
		r.t.Fatalf("command for %s/%s not taken", device, entity)
	}
}

var (
	cmdOn     = discovery.Command{Command: drivers.Command{Action: drivers.ActionOn}}
	cmdOff    = discovery.Command{Command: drivers.Command{Action: drivers.ActionOff}}
	cmdToggle = discovery.Command{Toggle: true}
)

// isOn returns the state the pipeline last took for an entity.
func (r *safetyRig) isOn(device, entity string) (on, known bool) {
	return isOnValue(r.pipe.last(device, entity))
}

// waitState waits until the pipeline has the entity in state on.
func (r *safetyRig) waitState(device, entity string, on bool) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("%s/%s to be %v", device, entity, on), func() bool {
		got, known := r.isOn(device, entity)
		return known && got == on
	})
}

// waitFor waits, in real time, for cond.
func (r *safetyRig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; switched: %q", what, r.seq.list())
		}
		time.Sleep(time.Millisecond)
	}
}

// waitLog waits for a log line with every one of parts.
func (r *safetyRig) waitLog(parts ...string) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("a log line with %q", parts), func() bool { return countLines(r.logs, parts...) > 0 })
}

// settle lets every worker take what is queued: a command sent through
// the rig and then one switching observed means nothing else is left.
func (r *safetyRig) stays(device, entity string, on bool) {
	r.t.Helper()
	got, known := r.isOn(device, entity)
	if !known || got != on {
		r.t.Fatalf("%s/%s is %v (known %v), want it to stay %v; switched: %q", device, entity, got, known, on, r.seq.list())
	}
}

func TestSafetyInterlock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		deadTime time.Duration
		cmd      discovery.Command // sent to b/down while a/up is on
	}{
		{"on", 0, cmdOn},
		{"toggle resolves against the last state first", 0, cmdToggle},
		{"dead time", 500 * time.Millisecond, cmdOn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := &relayBoard{id: "a", ids: []string{"up"}}
			b := &relayBoard{id: "b", ids: []string{"down"}}
			r := newSafetyRig(t, []*relayBoard{a, b}, map[string]devconf.Safety{
				"a/up":   {Interlock: "motor"},
				"b/down": {Interlock: "motor", DeadTime: tc.deadTime},
			})
			r.send("a", "up", cmdOn)
			r.waitState("a", "up", true)
			r.send("b", "down", tc.cmd)
			r.waitState("a", "up", false)
			if tc.deadTime > 0 {
				r.waitLog("interlock: waiting the dead time", "dead_time=500ms")
				r.stays("b", "down", false)
				r.clock.Advance(tc.deadTime - time.Millisecond)
				r.stays("b", "down", false)
				r.clock.Advance(time.Millisecond)
			}
			r.waitState("b", "down", true)
			if got, want := r.seq.list(), []string{"a/up=ON", "a/up=OFF", "b/down=ON"}; !slices.Equal(got, want) {
				t.Errorf("switched %q, want %q", got, want)
			}
			r.waitLog("interlock: switching off before another member of its group goes on", "device=a", "entity=up", "for=b/down")

			// Back: the same the other way, and OFF needs nobody.
			r.send("a", "up", cmdOn)
			if tc.deadTime > 0 {
				r.waitState("b", "down", false)
				r.waitFor("the second dead time", func() bool { return countLines(r.logs, "interlock: waiting the dead time") == 2 })
				r.clock.Advance(tc.deadTime)
			}
			r.waitState("a", "up", true)
			r.stays("b", "down", false)
			r.send("a", "up", cmdOff)
			r.waitState("a", "up", false)
		})
	}
}

func TestSafetyInterlockRefusesUnconfirmed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		other *relayBoard
		want  string
	}{
		{"member's device unavailable", &relayBoard{id: "a", ids: []string{"up"}, openErr: errors.New("no such chip")}, "its device is unavailable"},
		{"member's command fails", &relayBoard{id: "a", ids: []string{"up"}, initial: map[string]bool{"up": true}, failOn: map[string]bool{"up": true}}, "relay stuck"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &relayBoard{id: "b", ids: []string{"down"}}
			r := newSafetyRig(t, []*relayBoard{tc.other, b}, map[string]devconf.Safety{
				"a/up":   {Interlock: "motor"},
				"b/down": {Interlock: "motor"},
			})
			r.send("b", "down", cmdOn)
			r.waitLog("interlock: ON refused", "device=b", "entity=down", "a/up cannot be confirmed off", tc.want)
			r.stays("b", "down", false)
			if got := r.seq.list(); len(got) != 0 {
				t.Errorf("switched %q, want nothing", got)
			}
		})
	}
}

func TestSafetyMaxOn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		initial bool // on at open, as a restore at start leaves it
	}{
		{"switched on by a command", false},
		{"on from the start", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := &relayBoard{id: "a", ids: []string{"pump"}, initial: map[string]bool{"pump": tc.initial}}
			r := newSafetyRig(t, []*relayBoard{a}, map[string]devconf.Safety{"a/pump": {MaxOn: 2 * time.Hour}})
			if !tc.initial {
				r.send("a", "pump", cmdOn)
				r.waitState("a", "pump", true)
			}
			r.clock.Advance(2*time.Hour - time.Second)
			r.stays("a", "pump", true)
			r.clock.Advance(time.Second)
			r.waitState("a", "pump", false)
			r.waitLog("safety: switching off", "why=max_on", "max_on=2h0m0s", "device=a", "entity=pump")

			// Off and on again: the limit counts from the new on.
			r.send("a", "pump", cmdOn)
			r.waitState("a", "pump", true)
			r.send("a", "pump", cmdOff)
			r.waitState("a", "pump", false)
			r.clock.Advance(3 * time.Hour)
			if n := countLines(r.logs, "why=max_on"); n != 1 {
				t.Errorf("max_on acted %d times, want 1 (the relay was off)", n)
			}
		})
	}
}

func TestSafetyMinInterval(t *testing.T) {
	t.Parallel()
	t.Run("delay", func(t *testing.T) {
		t.Parallel()
		a := &relayBoard{id: "a", ids: []string{"compressor"}}
		r := newSafetyRig(t, []*relayBoard{a}, map[string]devconf.Safety{"a/compressor": {MinInterval: 5 * time.Minute}})
		r.send("a", "compressor", cmdOn) // the first switching is never held
		r.waitState("a", "compressor", true)
		r.clock.Advance(time.Minute)
		r.send("a", "compressor", cmdOff)
		r.waitLog("min_interval: command delayed", "in=4m0s")
		r.stays("a", "compressor", true)
		// A later command replaces the pending one.
		r.send("a", "compressor", cmdToggle)
		r.waitLog("min_interval: a pending command replaced by a later one", "pending=OFF", "command=OFF")
		r.clock.Advance(4*time.Minute - time.Second)
		r.stays("a", "compressor", true)
		r.clock.Advance(time.Second)
		r.waitState("a", "compressor", false)
		r.waitLog("min_interval: interval over; carrying out the delayed command")
		// A command that changes nothing is never held, and cancels one
		// pending.
		r.clock.Advance(time.Minute)
		r.send("a", "compressor", cmdOn)
		r.waitLog("min_interval: command delayed", "in=4m0s")
		r.send("a", "compressor", cmdOff)
		r.clock.Advance(time.Hour)
		r.stays("a", "compressor", false)
		if got, want := r.seq.list(), []string{"a/compressor=ON", "a/compressor=OFF"}; !slices.Equal(got, want) {
			t.Errorf("switched %q, want %q", got, want)
		}
	})
	t.Run("refuse", func(t *testing.T) {
		t.Parallel()
		a := &relayBoard{id: "a", ids: []string{"compressor"}}
		r := newSafetyRig(t, []*relayBoard{a}, map[string]devconf.Safety{"a/compressor": {MinInterval: 5 * time.Minute, Refuse: true}})
		r.send("a", "compressor", cmdOn)
		r.waitState("a", "compressor", true)
		r.clock.Advance(5*time.Minute - time.Second)
		r.send("a", "compressor", cmdOff)
		r.waitLog("min_interval: command refused", "wait=1s")
		r.clock.Advance(time.Hour)
		r.stays("a", "compressor", true)
		r.send("a", "compressor", cmdOff)
		r.waitState("a", "compressor", false)
	})
}

func TestSafetyOnDisconnect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		after   time.Duration
		back    bool // the broker returns just in time
		wantOff bool
	}{
		{"gone long enough", time.Minute, false, true},
		{"back in time", time.Minute, true, false},
		{"at once", 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := &relayBoard{id: "a", ids: []string{"heater", "fan"}}
			r := newSafetyRig(t, []*relayBoard{a}, map[string]devconf.Safety{"a/heater": {OffOnDisconnect: true, OnDisconnectAfter: tc.after}})
			r.safe.connection(true)
			r.send("a", "heater", cmdOn)
			r.send("a", "fan", cmdOn)
			r.waitState("a", "heater", true)
			r.waitState("a", "fan", true)
			r.safe.connection(false)
			if tc.after > 0 {
				r.clock.Advance(tc.after - time.Second)
				r.stays("a", "heater", true)
				if tc.back {
					r.safe.connection(true)
				}
				r.clock.Advance(time.Second)
			} else {
				r.clock.Advance(0)
			}
			if tc.wantOff {
				r.waitState("a", "heater", false)
				r.waitLog("safety: switching off", "why=on_disconnect", "entity=heater")
			} else {
				r.clock.Advance(time.Hour)
				r.stays("a", "heater", true)
			}
			r.stays("a", "fan", true) // keep is the default
		})
	}
}

// TestSafetyAllowRestoreOn checks what the restore at start asks: one
// member of a group restored on, never two.
func TestSafetyAllowRestoreOn(t *testing.T) {
	t.Parallel()
	a := &relayBoard{id: "a", ids: []string{"up", "free"}}
	b := &relayBoard{id: "b", ids: []string{"down"}}
	r := newSafetyRig(t, []*relayBoard{a, b}, map[string]devconf.Safety{
		"a/up":   {Interlock: "motor"},
		"b/down": {Interlock: "motor"},
	})
	if !r.safe.allowRestoreOn("a", "free") || !r.safe.allowRestoreOn("x", "y") {
		t.Error("an entity without an interlock was not allowed")
	}
	if !r.safe.allowRestoreOn("b", "down") {
		t.Fatal("the first member was not allowed")
	}
	if r.safe.allowRestoreOn("a", "up") {
		t.Fatal("a second member was allowed while the first is reserved")
	}
	r.send("b", "down", cmdOn)
	r.waitState("b", "down", true)
	if r.safe.allowRestoreOn("a", "up") {
		t.Fatal("a member was allowed while another is on")
	}
	r.send("b", "down", cmdOff)
	r.waitState("b", "down", false)
	if !r.safe.allowRestoreOn("a", "up") {
		t.Fatal("a member was refused while the others are off")
	}
	var nilSafety *safety
	if !nilSafety.allowRestoreOn("a", "up") {
		t.Error("no safety refused")
	}
}

// TestSafetyUnguardedUntouched checks that entities without options go
// straight to their device.
func TestSafetyUnguardedUntouched(t *testing.T) {
	t.Parallel()
	a := &relayBoard{id: "a", ids: []string{"pump", "light"}}
	r := newSafetyRig(t, []*relayBoard{a}, map[string]devconf.Safety{"a/pump": {MaxOn: time.Hour}})
	r.send("a", "light", cmdOn)
	r.send("a", "light", cmdOff)
	r.send("a", "light", cmdOn)
	r.waitFor("three switchings", func() bool { return len(r.seq.list()) == 3 })
	if strings.Contains(r.logs.String(), "safety") {
		t.Errorf("safety logged about an entity without options:\n%s", r.logs.String())
	}
}

// safetyConfig is a motor's two directions, interlocked, and a pump with
// max_on, on simulated GPIO.
const safetyConfig = `
[agent]
id = "garage"
hardware = "sim"

[mqtt]
broker = "%s"

[[device]]
id = "up"
driver = "gpio"
pin = "GPIO17"
mode = "output"
[device.entity.relay]
interlock = "door"
dead_time = "500ms"

[[device]]
id = "down"
driver = "gpio"
pin = "GPIO27"
mode = "output"
[device.entity.relay]
interlock = "door"

[[device]]
id = "pump"
driver = "gpio"
pin = "GPIO22"
mode = "output"
[device.entity.relay]
max_on = "2h"
`

// TestSafetyThroughMQTT drives relay safety as Home Assistant does,
// through the broker: the embedded one and Mosquitto.
func TestSafetyThroughMQTT(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"embedded", brokertest.Embedded},
		{"mosquitto", brokertest.Mosquitto},
	} {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			ha := hatest.New(t, url)
			clock, logs, host := fakeClockAgent(t, fmt.Sprintf(safetyConfig, url))
			uid := func(dev string) string { return "pinion:garage:" + dev + ":relay" }
			// The session's retries run on the fake clock too: move it
			// until the agent is connected (no relay is on yet, so no
			// safety timer is running).
			connected := make(chan error, 1)
			go func() { connected <- ha.WaitEntities(3, testWait) }()
			advanceUntil(t, clock, time.Second, 30*time.Second, connected)
			for _, dev := range []string{"up", "down", "pump"} {
				if err := ha.WaitState(uid(dev), "OFF", testWait); err != nil {
					t.Fatal(err)
				}
			}

			// Interlock: down ON switches up off first; Home Assistant sees both.
			if err := ha.Command(uid("up"), "ON"); err != nil {
				t.Fatal(err)
			}
			if err := ha.WaitState(uid("up"), "ON", testWait); err != nil {
				t.Fatal(err)
			}
			ups := ha.StateCount(uid("up"))
			if err := ha.Command(uid("down"), "ON"); err != nil {
				t.Fatal(err)
			}
			if err := ha.WaitState(uid("up"), "OFF", testWait); err != nil {
				t.Fatal(err)
			}
			// The dead time runs on the fake clock: down waits for it.
			waitLog(t, logs, "interlock: waiting the dead time", "dead_time=500ms")
			if host.Line("GPIO27").Level() {
				t.Fatal("down switched on before the dead time")
			}
			clock.Advance(500 * time.Millisecond)
			if err := ha.WaitState(uid("down"), "ON", testWait); err != nil {
				t.Fatal(err)
			}
			if ha.StateCount(uid("up")) <= ups {
				t.Error("Home Assistant did not get up's OFF")
			}
			if host.Line("GPIO17").Level() || !host.Line("GPIO27").Level() {
				t.Errorf("lines: up %v, down %v; want low, high", host.Line("GPIO17").Level(), host.Line("GPIO27").Level())
			}

			// max_on: the pump goes off two hours after it went on.
			if err := ha.Command(uid("pump"), "ON"); err != nil {
				t.Fatal(err)
			}
			if err := ha.WaitState(uid("pump"), "ON", testWait); err != nil {
				t.Fatal(err)
			}
			clock.Advance(2 * time.Hour)
			if err := ha.WaitState(uid("pump"), "OFF", testWait); err != nil {
				t.Fatal(err)
			}
			waitLog(t, logs, "safety: switching off", "why=max_on", "device=pump")
			if host.Line("GPIO22").Level() {
				t.Error("the pump's line is still high")
			}
			if p := ha.Problems(); len(p) > 0 {
				t.Errorf("Home Assistant's problems: %q", p)
			}
		})
	}
}

// TestSafetyConfigErrors checks the relay-safety keys as a user meets
// them: every problem at once, with file, line and key.
func TestSafetyConfigErrors(t *testing.T) {
	t.Parallel()
	const src = `[agent]
id = "garage"
hardware = "sim"

[[device]]
id = "door"
driver = "gpio"
pin = "GPIO22"
mode = "input"
[device.entity.input]
max_on = "1h"

[[device]]
id = "pump"
driver = "gpio"
pin = "GPIO17"
mode = "output"
[device.entity.relay]
max_on = 7200
min_interval = "5 minutes"
dead_time = "1s"
on_disconnect = "of"
`
	_, err := ParseConfig("pinion.toml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`pinion.toml:11: device[0].entity.input.max_on: relay-safety options (interlock, dead_time, max_on, min_interval, min_interval_mode, on_disconnect, on_disconnect_after) are for switch and light entities; "input" of device "door" is a binary sensor`,
		`pinion.toml:19: device[1].entity.relay.max_on: must be a duration string such as "30s" or "500ms", not an integer (7200)`,
		`pinion.toml:20: device[1].entity.relay.min_interval: invalid duration "5 minutes"`,
		`pinion.toml:21: device[1].entity.relay.dead_time: has no effect without interlock`,
		`pinion.toml:22: device[1].entity.relay.on_disconnect: "of" is not one of "keep", "off" (did you mean "off"?)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks\n  %s\ngot:\n%v", want, err)
		}
	}
}

// TestSafetyReadsLights checks that a light's state (fields) reads as
// on/off like a switch's, so max_on and interlocks guard lights too.
func TestSafetyReadsLights(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v         drivers.Value
		on, known bool
	}{
		{drivers.Bool(true), true, true},
		{drivers.Bool(false), false, true},
		{drivers.LightState(true, 128), true, true},
		{drivers.LightState(false, 0), false, true},
		{drivers.Num(1, ""), false, false},
		{drivers.Text("ON"), false, false},
	} {
		if on, known := isOnValue(tc.v, true); on != tc.on || known != tc.known {
			t.Errorf("%v: on %v known %v, want %v %v", tc.v, on, known, tc.on, tc.known)
		}
	}
	if _, known := isOnValue(drivers.Bool(true), false); known {
		t.Error("a missing value read as known")
	}
}

// TestSafetyOnDisconnectThroughMQTT loses the broker for real (a proxy
// that goes away) and checks on_disconnect on the fake clock: the heater
// goes off once the broker has been gone 60 s, and Home Assistant sees
// OFF when the broker is back.
func TestSafetyOnDisconnectThroughMQTT(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"embedded", brokertest.Embedded},
		{"mosquitto", brokertest.Mosquitto},
	} {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			proxy := brokertest.NewProxy(t, url)
			ha := hatest.New(t, url)
			clock, logs, host := fakeClockAgent(t, fmt.Sprintf(`
[agent]
id = "garage"
hardware = "sim"

[mqtt]
broker = "%s"

[[device]]
id = "heater"
driver = "gpio"
pin = "GPIO17"
mode = "output"
[device.entity.relay]
on_disconnect = "off"
`, proxy.URL()))
			const heater = "pinion:garage:heater:relay"
			// pump moves the fake clock (the session's retries run on it)
			// until Home Assistant sees the heater in state want.
			pump := func(want string) {
				t.Helper()
				seen := make(chan error, 1)
				go func() { seen <- ha.WaitState(heater, want, testWait) }()
				// Well below on_disconnect_after (60 s), however slow the
				// machine.
				advanceUntil(t, clock, 100*time.Millisecond, 10*time.Second, seen)
			}
			pump("OFF")
			if err := ha.Command(heater, "ON"); err != nil {
				t.Fatal(err)
			}
			if err := ha.WaitState(heater, "ON", testWait); err != nil {
				t.Fatal(err)
			}

			proxy.Pause()
			waitLog(t, logs, "connection lost")
			clock.Advance(59 * time.Second)
			if !host.Line("GPIO17").Level() {
				t.Fatal("the heater went off before on_disconnect_after")
			}
			clock.Advance(time.Second)
			deadline := time.Now().Add(testWait)
			for host.Line("GPIO17").Level() {
				if time.Now().After(deadline) {
					t.Fatal("the heater is still on 60 s after the broker went away")
				}
				time.Sleep(5 * time.Millisecond)
			}
			waitLog(t, logs, "safety: switching off", "why=on_disconnect")

			proxy.Resume()
			pump("OFF")
		})
	}
}

// TestSafetyPendingCancelled: a command min_interval delays is dropped once
// safety switches the entity or another member of its group goes on, so
// the user's earlier wish never comes back on its own.
func TestSafetyPendingCancelled(t *testing.T) {
	t.Parallel()
	a := &relayBoard{id: "a", ids: []string{"up"}}
	b := &relayBoard{id: "b", ids: []string{"down"}}
	r := newSafetyRig(t, []*relayBoard{a, b}, map[string]devconf.Safety{
		"a/up":   {Interlock: "motor", MinInterval: 5 * time.Minute},
		"b/down": {Interlock: "motor"},
	})
	r.send("a", "up", cmdOn)
	r.waitState("a", "up", true)
	r.clock.Advance(5 * time.Minute)
	r.send("a", "up", cmdOff)
	r.waitState("a", "up", false)
	r.clock.Advance(time.Second)
	r.send("a", "up", cmdOn) // delayed: up switched a second ago
	r.waitLog("min_interval: command delayed", "entity=up")
	r.send("b", "down", cmdOn) // the user changed their mind
	r.waitState("b", "down", true)
	r.waitLog("min_interval: pending command cancelled", "entity=up", "interlock motor: b/down goes on")
	r.clock.Advance(time.Hour)
	r.stays("a", "up", false)
	r.stays("b", "down", true)
	if got, want := r.seq.list(), []string{"a/up=ON", "a/up=OFF", "b/down=ON"}; !slices.Equal(got, want) {
		t.Errorf("switched %q, want %q", got, want)
	}
}

// TestSafetyInterlockAbandonsLateOn: an ON the coordinator stopped waiting
// for (its device's worker busy past confirmWait) never runs later, and
// while it waits the member counts as going on for a restore.
func TestSafetyInterlockAbandonsLateOn(t *testing.T) {
	t.Parallel()
	slow := make(chan struct{})
	a := &relayBoard{id: "a", ids: []string{"up", "slow"}, block: map[string]chan struct{}{"slow": slow}}
	b := &relayBoard{id: "b", ids: []string{"down"}}
	r := newSafetyRig(t, []*relayBoard{a, b}, map[string]devconf.Safety{
		"a/up":   {Interlock: "motor"},
		"b/down": {Interlock: "motor"},
	})
	r.send("a", "slow", cmdOn) // a's worker is stuck in this one
	r.send("a", "up", cmdOn)
	up := r.safe.guard("a", "up")
	r.waitFor("up's ON in flight", func() bool { return up.busy() != "" })
	if r.safe.allowRestoreOn("b", "down") {
		t.Error("a member was allowed to be restored on while another's ON is in flight")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	// The two devices' poll tickers and the coordinator's confirmWait.
	if err := r.clock.BlockUntilContext(ctx, 3); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(confirmWait)
	r.waitLog("interlock: ON abandoned", "entity=up")
	r.send("b", "down", cmdOn)
	r.waitState("b", "down", true)
	close(slow)
	r.waitLog("command abandoned by relay safety", "entity=up")
	r.waitState("a", "slow", true)
	r.stays("a", "up", false)
	r.stays("b", "down", true)
}

// TestSafetyRestoreReservationDropped: a member reserved for a restore
// whose device then fails to open does not hold its group: the others may
// still go on.
func TestSafetyRestoreReservationDropped(t *testing.T) {
	t.Parallel()
	gate := make(chan *safety, 1)
	var opens atomic.Int32
	b := &relayBoard{id: "b", ids: []string{"down", "bad"}, failOn: map[string]bool{"bad": true}, onOpen: func(ctx context.Context) error {
		if opens.Add(1) == 1 {
			return nil
		}
		// Opening again: asks to restore down on, then fails.
		select {
		case s := <-gate:
			gate <- s
			if !s.allowRestoreOn("b", "down") {
				return errors.New("restore refused")
			}
			return errors.New("no such chip")
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	a := &relayBoard{id: "a", ids: []string{"up"}}
	r := newSafetyRig(t, []*relayBoard{a, b}, map[string]devconf.Safety{
		"a/up":   {Interlock: "motor"},
		"b/down": {Interlock: "motor"},
	})
	gate <- r.safe
	r.send("b", "bad", cmdOn) // fails: b closes and opens again after a backoff
	r.waitLog("command failed", "device=b")
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	// a's poll ticker and b's backoff.
	if err := r.clock.BlockUntilContext(ctx, 2); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(openRetryMax)
	r.waitLog("device failed", "device=b", "no such chip")
	r.send("a", "up", cmdOn)
	r.waitState("a", "up", true)
	r.waitLog("interlock: restore reservation dropped", "entity=down")
}

// TestSafetyRefusalNamesReservation: an ON refused for a member reserved
// by a restore says so, not that it went on.
func TestSafetyRefusalNamesReservation(t *testing.T) {
	t.Parallel()
	a := &relayBoard{id: "a", ids: []string{"up"}}
	b := &relayBoard{id: "b", ids: []string{"down"}}
	r := newSafetyRig(t, []*relayBoard{a, b}, map[string]devconf.Safety{
		"a/up":   {Interlock: "motor"},
		"b/down": {Interlock: "motor"},
	})
	if !r.safe.allowRestoreOn("b", "down") {
		t.Fatal("the first member was not allowed")
	}
	r.send("a", "up", cmdOn)
	r.waitLog("interlock: ON refused", "entity=up", "b/down is being restored on")
	r.stays("a", "up", false)
}

// TestSafetyOnDisconnectLateOn: an entity with on_disconnect = "off" that
// goes on later in the same outage is switched off too, and a delayed ON
// released past on_disconnect_after is not carried out.
func TestSafetyOnDisconnectLateOn(t *testing.T) {
	t.Parallel()
	t.Run("goes on after on_disconnect acted", func(t *testing.T) {
		t.Parallel()
		a := &relayBoard{id: "a", ids: []string{"heater"}}
		r := newSafetyRig(t, []*relayBoard{a}, map[string]devconf.Safety{"a/heater": {OffOnDisconnect: true, OnDisconnectAfter: time.Minute}})
		r.safe.connection(true)
		r.safe.connection(false)
		r.clock.Advance(time.Minute)
		r.waitLog("on_disconnect: broker gone for on_disconnect_after; the entity is off", "entity=heater")
		// A restore, or the hardware, puts it on while the broker is
		// still gone.
		r.send("a", "heater", cmdOn)
		r.waitLog("on_disconnect: went on while the broker is gone", "in=0s")
		r.waitState("a", "heater", false)
		r.waitLog("safety: switching off", "why=on_disconnect", "entity=heater")
	})
	t.Run("delayed ON released past the limit", func(t *testing.T) {
		t.Parallel()
		a := &relayBoard{id: "a", ids: []string{"heater"}}
		r := newSafetyRig(t, []*relayBoard{a}, map[string]devconf.Safety{"a/heater": {OffOnDisconnect: true, OnDisconnectAfter: time.Minute, MinInterval: 5 * time.Minute}})
		r.safe.connection(true)
		r.send("a", "heater", cmdOn)
		r.waitState("a", "heater", true)
		r.clock.Advance(5 * time.Minute)
		r.send("a", "heater", cmdOff)
		r.waitState("a", "heater", false)
		r.send("a", "heater", cmdOn) // delayed 5 minutes
		r.waitLog("min_interval: command delayed", "in=5m0s")
		r.safe.connection(false)
		r.clock.Advance(time.Minute)
		r.clock.Advance(4 * time.Minute)
		r.waitLog("min_interval: delayed ON not carried out", "entity=heater")
		r.clock.Advance(time.Hour)
		r.stays("a", "heater", false)
	})
}

// advanceUntil moves clock by step while waiting for done (the session's
// retries run on it), but never by more than limit in all: a loaded
// machine makes the real-time loop slow, never the fake time long, so a
// window the test depends on (on_disconnect_after, a dead time) is never
// overshot. Past limit it only waits.
func advanceUntil(t *testing.T, clock *clockwork.FakeClock, step, limit time.Duration, done <-chan error) {
	t.Helper()
	var moved time.Duration
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		case <-tick.C:
			if moved+step <= limit {
				clock.Advance(step)
				moved += step
			}
		}
	}
}
