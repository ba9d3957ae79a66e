package agent

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	self := claim{Instance: "self", Host: "pi", PID: 100, Machine: "m1", Boot: "b1"}
	other := func(f func(*claim)) *claim {
		c := claim{Instance: "other", Host: "pi", PID: 200, Machine: "m1", Boot: "b1"}
		f(&c)
		return &c
	}
	alive := func(pid int) bool { return pid == 200 }
	tests := []struct {
		name    string
		status  string
		other   *claim
		yielded bool
		want    verdict
	}{
		{"nothing on the broker", "", nil, false, nodeFree},
		{"offline, stale claim", "offline", other(func(*claim) {}), false, nodeFree},
		{"online, no claim (older agent)", "online", nil, false, nodeHeld},
		{"online, another host", "online", other(func(c *claim) { c.Host, c.Machine = "pi2", "m2" }), false, nodeHeld},
		{"online, same host name, other machine (two raspberrypi)", "online", other(func(c *claim) { c.Machine, c.PID = "m2", 300 }), false, nodeHeld},
		{"online, our previous run, pid gone", "online", other(func(c *claim) { c.PID = 300 }), false, nodeFree},
		{"online, same machine, pid alive", "online", other(func(*claim) {}), false, nodeHeld},
		{"online, same machine, other boot", "online", other(func(c *claim) { c.PID, c.Boot = 300, "b0" }), false, nodeHeld},
		{"online, same process, other instance (two agents in one process)", "online", other(func(c *claim) { c.PID = 100 }), false, nodeHeld},
		{"online, our own claim", "online", &self, false, nodeFree},
		{"online, our own claim after yielding", "online", &self, true, nodeUnsettled},
		{"online with spaces", " online\n", other(func(c *claim) { c.Host, c.Machine = "pi2", "m2" }), false, nodeHeld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := judge(self, tt.status, tt.other, tt.yielded, alive); got.verdict != tt.want {
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
