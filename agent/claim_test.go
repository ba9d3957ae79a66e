package agent

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	start := time.Date(2026, 12, 3, 9, 0, 0, 500, time.UTC)
	earlier := start.Add(-time.Nanosecond)
	self := claim{Instance: "self", Host: "pi", PID: 100, Machine: "m1", Boot: "b1", Started: start}
	other := func(f func(*claim)) *claim {
		c := claim{Instance: "other", Host: "pi", PID: 200, Machine: "m1", Boot: "b1", Started: earlier}
		f(&c)
		return &c
	}
	// A container: the agent is pid 1 on every run.
	pid1 := func(c *claim) { c.PID = 1 }
	// No /etc/machine-id (many container images): same machine is
	// decided by host name and boot id.
	noMachine := func(c *claim) { c.Machine = "" }
	alive := func(pid int) bool { return pid == 200 }
	tests := []struct {
		name    string
		self    func(*claim) // changes to self; nil: none
		status  string
		other   *claim
		yielded bool
		want    verdict
	}{
		{"nothing on the broker", nil, "", nil, false, nodeFree},
		{"offline, stale claim", nil, "offline", other(func(*claim) {}), false, nodeFree},
		{"online, no claim (older agent)", nil, "online", nil, false, nodeHeld},
		{"online, another host", nil, "online", other(func(c *claim) { c.Host, c.Machine = "pi2", "m2" }), false, nodeHeld},
		{"online, same host name, other machine (two raspberrypi)", nil, "online", other(func(c *claim) { c.Machine, c.PID = "m2", 300 }), false, nodeHeld},
		{"online, our previous run, pid gone", nil, "online", other(func(c *claim) { c.PID = 300 }), false, nodeFree},
		{"online, same machine, pid alive", nil, "online", other(func(*claim) {}), false, nodeHeld},
		{"online, same machine, other boot", nil, "online", other(func(c *claim) { c.PID, c.Boot = 300, "b0" }), false, nodeHeld},
		{"online, same process, other instance (two agents in one process)", nil, "online", other(func(c *claim) { c.PID, c.Started = 100, start }), false, nodeHeld},
		{"online, same pid, started after us", nil, "online", other(func(c *claim) { c.PID, c.Started = 100, start.Add(time.Second) }), false, nodeHeld},
		{"online, same pid, no start time (older pinion)", nil, "online", other(func(c *claim) { c.PID, c.Started = 100, time.Time{} }), false, nodeHeld},
		{"online, our own claim", nil, "online", &self, false, nodeFree},
		{"online, our own claim after yielding", nil, "online", &self, true, nodeUnsettled},
		{"online with spaces", nil, " online\n", other(func(c *claim) { c.Host, c.Machine = "pi2", "m2" }), false, nodeHeld},

		// Containers: the same pid on every run.
		{"container restart: same pid 1, same boot, earlier start", pid1, "online", other(pid1), false, nodeFree},
		{"same pid 1, other machine", pid1, "online", other(func(c *claim) { pid1(c); c.Machine = "m2" }), false, nodeHeld},
		{"same pid 1, other boot", pid1, "online", other(func(c *claim) { pid1(c); c.Boot = "b0" }), false, nodeHeld},
		{"same pid 1, other host", pid1, "online", other(func(c *claim) { pid1(c); c.Host = "pi2" }), false, nodeHeld},
		{"same pid 1, same start (another agent in this process)", pid1, "online", other(func(c *claim) { pid1(c); c.Started = start }), false, nodeHeld},
		{"same pid 1, no boot id anywhere", func(c *claim) { pid1(c); c.Boot = "" }, "online", other(func(c *claim) { pid1(c); c.Boot = "" }), false, nodeHeld},
		{"no machine id: container restart, same host and boot", func(c *claim) { pid1(c); noMachine(c) }, "online", other(func(c *claim) { pid1(c); noMachine(c) }), false, nodeFree},
		{"no machine id: previous run, pid gone", noMachine, "online", other(func(c *claim) { noMachine(c); c.PID = 300 }), false, nodeFree},
		{"no machine id: same pid, other host", func(c *claim) { pid1(c); noMachine(c) }, "online", other(func(c *claim) { pid1(c); noMachine(c); c.Host = "pi2" }), false, nodeHeld},
		{"no machine id: same pid, other boot", func(c *claim) { pid1(c); noMachine(c) }, "online", other(func(c *claim) { pid1(c); noMachine(c); c.Boot = "b0" }), false, nodeHeld},
		{"no machine id: pid alive", noMachine, "online", other(noMachine), false, nodeHeld},
		{"machine id on one side only", func(c *claim) { pid1(c); noMachine(c) }, "online", other(pid1), false, nodeHeld},
		{"machine id on the other side only", pid1, "online", other(func(c *claim) { pid1(c); noMachine(c) }), false, nodeHeld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			me := self
			if tt.self != nil {
				tt.self(&me)
			}
			if got := judge(me, tt.status, tt.other, tt.yielded, alive); got.verdict != tt.want {
				t.Errorf("judge = %v (%s), want %v", got.verdict, got.why, tt.want)
			}
		})
	}
}

func TestClaimRoundTrip(t *testing.T) {
	c := newClaim("v1.2.3", time.Unix(1700000000, 0))
	if c.Instance == "" || c.PID == 0 || c.Host == "" {
		t.Fatalf("incomplete claim %+v", c)
	}
	if c2 := newClaim("v", time.Now()); c2.Instance == c.Instance {
		t.Fatal("two claims share an instance id")
	}
	got, err := parseClaim(c.json())
	if err != nil || *got != c {
		t.Fatalf("parseClaim(json) = %+v, %v; want %+v", got, err, c)
	}
	for _, bad := range []string{"", "online", "{}", `{"instance":""}`, "[1]"} {
		if _, err := parseClaim([]byte(bad)); err == nil {
			t.Errorf("parseClaim(%q) accepted", bad)
		}
	}
	// Every agent of this process has one start time, so none takes
	// another of this process for its previous run.
	if c2 := newClaim("v", time.Now()); c.Started.IsZero() || !c2.Started.Equal(c.Started) {
		t.Errorf("start times %v and %v: want one, not zero, for the whole process", c.Started, c2.Started)
	}
	if !pidAlive(c.PID) {
		t.Error("our own pid is not alive")
	}
}

// The reconnect schedule never waits more than reconnectMax between
// attempts, however many failed before, and is jittered: a broker that
// comes back is seen within reconnectMax plus one handshake.
func TestReconnectBackoffCapped(t *testing.T) {
	if reconnectMax > 1500*time.Millisecond {
		t.Fatalf("reconnectMax = %v: the broker's return would not be seen within 2 s", reconnectMax)
	}
	b := newBackoff(reconnectMin, reconnectMax)
	seen := map[time.Duration]bool{}
	for i := 0; i < 1000; i++ {
		d := b.Next()
		if d > reconnectMax || d <= 0 {
			t.Fatalf("attempt %d: delay %v, want (0, %v]", i, d, reconnectMax)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays in 1000: not jittered", len(seen))
	}
}

// On a fake clock, with the broker refusing every connection: each next
// attempt comes once reconnectMax has passed, whatever the count of
// attempts before it.
func TestReconnectCapOnTheClock(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepts atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			c.Close() // a broker that is not there yet
		}
	}()
	const noDevices = `
[agent]
id = "garage"
hardware = "sim"

[mqtt]
broker = "%s"
`
	clock, _ := sessionAgent(t, noDevices, "tcp://"+l.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	for i := int64(1); i <= 30; i++ {
		deadline := time.Now().Add(testWait)
		for accepts.Load() < i {
			if time.Now().After(deadline) {
				t.Fatalf("attempt %d did not come within reconnectMax (%v) of the one before", i, reconnectMax)
			}
			time.Sleep(time.Millisecond)
		}
		// The session now sleeps on the clock until its next attempt.
		if err := clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatalf("attempt %d: the session did not wait on the clock: %v", i, err)
		}
		clock.Advance(reconnectMax)
	}
}
