package agent_test

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/hatest"
)

// faultConfig is one relay on node garage; a format string taking the
// broker URL.
const faultConfig = `
[agent]
id = "garage"
hardware = "sim"

[mqtt]
broker = "%s"

[[device]]
id = "pump"
driver = "gpio"
pin = "GPIO17"
mode = "output"
`

// FaultRestartsEnv sets how many times TestFaultBrokerRestarts kills and
// restarts the broker (20 by default; the figure is 100).
const faultRestartsEnv = "PINION_FAULT_RESTARTS"

// commandUntilObeyed sends payload to the pump until Home Assistant sees
// the state and the line follows: right after a restart the double may
// still be reconnecting, and a command sent before its subscription is
// lost like any QoS 0 message.
func commandUntilObeyed(t *testing.T, ha *hatest.HA, r *running, payload string) {
	t.Helper()
	want := gpio.Low
	if payload == "ON" {
		want = gpio.High
	}
	deadline := time.Now().Add(2 * wait)
	for {
		if err := ha.Command(uid("pump", "relay"), payload); err == nil {
			if ha.WaitState(uid("pump", "relay"), payload, time.Second) == nil && r.host.Line("GPIO17").Level() == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("command %s not obeyed within %v", payload, 2*wait)
		}
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(es)
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// The broker killed (SIGKILL, its retained messages lost) and restarted on
// the same port many times in a row: after each restart the agent is back
// (status, discovery, states, commands obeyed), and over the whole run its
// goroutines, file descriptors and heap stay flat. The time from the
// broker accepting connections to the agent's "connected" is measured and
// logged, not asserted (docs/reliability.md quotes it).
func TestFaultBrokerRestarts(t *testing.T) {
	n := 20
	if v := os.Getenv(faultRestartsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", faultRestartsEnv, v)
		}
	}
	b := brokertest.StartMosquitto(t)
	r := start(t, faultConfig, b.URL())
	ha := hatest.New(t, b.URL())
	if err := ha.WaitAvailable(uid("pump", "relay"), true, wait); err != nil {
		t.Fatal(err)
	}
	connected := func() int { return strings.Count(r.logs.String(), `msg=connected`) }
	lost := func() int { return strings.Count(r.logs.String(), `msg="connection lost; reconnecting"`) }

	var baseG, baseFD int
	var baseHeap uint64
	var times []time.Duration
	state := "OFF"
	for i := 0; i < n; i++ {
		if i == 2 { // after the first connections have warmed everything up
			baseG, baseFD, baseHeap = runtime.NumGoroutine(), openFDs(t), heapAlloc()
		}
		c, l := connected(), lost()
		b.Kill()
		deadline := time.Now().Add(wait)
		for lost() == l {
			if time.Now().After(deadline) {
				t.Fatalf("restart %d: the agent did not notice the broker was gone", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.Restart()
		up := time.Now()
		deadline = time.Now().Add(wait)
		for connected() == c {
			if time.Now().After(deadline) {
				t.Fatalf("restart %d: the agent did not reconnect within %v", i, wait)
			}
			time.Sleep(2 * time.Millisecond)
		}
		times = append(times, time.Since(up))
		// Everything back: the broker lost every retained message, so
		// Home Assistant sees the entity only if the agent published its
		// discovery, status and state again.
		if err := ha.WaitAvailable(uid("pump", "relay"), true, wait); err != nil {
			t.Fatalf("restart %d: %v", i, err)
		}
		if state == "OFF" {
			state = "ON"
		} else {
			state = "OFF"
		}
		commandUntilObeyed(t, ha, r, state)
	}
	slices.Sort(times)
	t.Logf("broker restarts: %d; reconnect after the broker accepted connections: median %v, max %v",
		n, times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))

	// Flat: goroutines and descriptors settle back near where they were
	// (connections being torn down may lag a moment); the heap grows by
	// far less than a leak per restart would make it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		g, fd := runtime.NumGoroutine(), openFDs(t)
		if g <= baseG+10 && fd <= baseFD+5 {
			t.Logf("goroutines %d → %d, fds %d → %d", baseG, g, baseFD, fd)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d restarts: goroutines %d (were %d), fds %d (were %d)", n, g, baseG, fd, baseFD)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if h := heapAlloc(); h > baseHeap+16<<20 {
		t.Fatalf("after %d restarts the heap is %d bytes, was %d", n, h, baseHeap)
	} else {
		t.Logf("heap %d → %d bytes", baseHeap, h)
	}
}

// The broker is down when the agent starts: it keeps trying, and comes up
// in Home Assistant once the broker does.
func TestFaultBrokerDownAtStart(t *testing.T) {
	b := brokertest.StartMosquitto(t)
	b.Kill()
	r := start(t, faultConfig, b.URL())
	r.waitLog(t, "cannot connect to the broker; retrying")
	b.Restart()
	ha := hatest.New(t, b.URL())
	if err := ha.WaitAvailable(uid("pump", "relay"), true, wait); err != nil {
		t.Fatal(err)
	}
	commandUntilObeyed(t, ha, r, "ON")
}

// Two agents given one node id (two Pis both called raspberrypi, with the
// default client id too): the second refuses the node at ERROR, deletes
// nothing of the first's, obeys nothing, publishes nothing; its exit
// leaves the first online; once the first goes offline the second takes
// the node.
func TestSameNodeIDRefused(t *testing.T) {
	for _, bk := range []struct {
		name  string
		start func(testing.TB) string
	}{{"embedded", brokertest.Embedded}, {"mosquitto", brokertest.Mosquitto}} {
		t.Run(bk.name, func(t *testing.T) {
			url := bk.start(t)
			a := start(t, faultConfig, url)
			ha := hatest.New(t, url)
			if err := ha.WaitAvailable(uid("pump", "relay"), true, wait); err != nil {
				t.Fatal(err)
			}
			second := strings.Replace(faultConfig, `id = "pump"`, `id = "well"`, 1)
			b := start(t, second, url)
			b.waitLog(t, "another agent holds this node id", "other_host=", "this_host=", "[agent] id")

			// The first is untouched and obeys; the second obeys nothing.
			commandUntilObeyed(t, ha, a, "ON")
			if _, ok := ha.Entity(uid("well", "relay")); ok {
				t.Fatal("the refused agent published its entity")
			}
			if rm := ha.Removed(); len(rm) > 0 {
				t.Fatalf("entities removed: %q", rm)
			}
			if strings.Contains(b.logs.String(), "removing entity") || strings.Contains(b.logs.String(), "msg=connected") {
				t.Fatalf("the refused agent acted under the node:\n%s", b.logs.String())
			}

			// Its exit says nothing under the node.
			b.stop(t)
			commandUntilObeyed(t, ha, a, "OFF")
			if err := ha.WaitAvailable(uid("pump", "relay"), true, time.Second); err != nil {
				t.Fatalf("after the refused agent stopped: %v", err)
			}

			// A third waits, and takes the node once the first is gone.
			c := start(t, second, url)
			c.waitLog(t, "another agent holds this node id")
			a.stop(t)
			c.waitLog(t, "the node is free now; taking it")
			if err := ha.WaitAvailable(uid("well", "relay"), true, wait); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A foreign config written over one of the agent's own discovery topics
// is replaced at once, not at the next reconnect.
func TestForeignConfigOverOwnReplaced(t *testing.T) {
	url := brokertest.Embedded(t)
	r := start(t, faultConfig, url)
	ha := hatest.New(t, url)
	if err := ha.WaitAvailable(uid("pump", "relay"), true, wait); err != nil {
		t.Fatal(err)
	}
	const topic = "homeassistant/switch/garage/pump_relay/config"
	e, _ := ha.Entity(uid("pump", "relay"))
	n := ha.ConfigCount(topic)
	foreign := `{"name":"Hijacked","unique_id":"pinion:garage:pump:relay","command_topic":"x/set","state_topic":"x"}`
	if err := ha.Publish(topic, foreign, true); err != nil {
		t.Fatal(err)
	}
	r.waitLog(t, "a foreign discovery config was written over one of this agent's", topic)
	if err := ha.WaitConfigCount(topic, n+2, wait); err != nil {
		t.Fatal(err)
	}
	// What the broker keeps is the agent's config again. (A subscriber may
	// see the two in either order: the broker can deliver the agent's
	// replacement before it has finished delivering the foreign one.)
	fresh := hatest.New(t, url)
	if err := fresh.WaitEntity(uid("pump", "relay"), "the agent's own name", func(got hatest.Entity) bool { return got.Name == e.Name }, wait); err != nil {
		t.Fatal(err)
	}
}
