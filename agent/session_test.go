package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/hatest"
	"github.com/pinion-home/pinion/internal/logbuf"

	_ "github.com/pinion-home/pinion/drivers/gpio"
)

func TestConnectHint(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("dial tcp 127.0.0.1:1883: connect: connection refused"), "is the broker running"},
		{errors.New("not Authorized"), "username and password"},
		{errors.New("bad user name or password"), "username and password"},
		{errors.New("dial tcp: lookup brokr.local: no such host"), "host name"},
		{errors.New("identifier rejected"), "client_id"},
		// Mosquitto 2 refusing a login, or a TLS port dialled with tcp://.
		{errors.New("network Error : EOF"), "username and password"},
		{errors.New("network Error : read tcp 127.0.0.1:5->127.0.0.1:8883: read: connection reset by peer"), "ssl://"},
		{errors.New("something else"), ""},
		{nil, ""},
	}
	for _, tt := range tests {
		got := connectHint(tt.err)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("connectHint(%v) = %q, want it to contain %q", tt.err, got, tt.want)
		}
	}
}

// sessionAgent runs the agent with config text (a format string taking the
// broker URL) on a fake clock, and returns the clock and its log.
func sessionAgent(t *testing.T, config, url string) (*clockwork.FakeClock, *logbuf.Buffer) {
	t.Helper()
	clock, logs, _ := fakeClockAgent(t, fmt.Sprintf(config, url))
	return clock, logs
}

// fakeClockAgent runs the agent with config on a fake clock and simulated
// hardware until the test ends, and returns the clock, the log (printed
// if the test failed) and the host.
func fakeClockAgent(t *testing.T, config string) (*clockwork.FakeClock, *logbuf.Buffer, *sim.Host) {
	t.Helper()
	cfg, err := ParseConfig("test.toml", []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClock()
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := sim.NewHost(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, h, log, clock) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(testWait):
			t.Error("the agent did not stop")
		}
		h.Close()
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	return clock, logs, h
}

const pumpConfig = `
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

// TestSessionTimersRunOnTheClock checks the session's timers on a fake
// clock: the sweep of stale retained states lasts its window and no
// longer, and a birth message republishes after its delay, not before.
func TestSessionTimersRunOnTheClock(t *testing.T) {
	url := brokertest.Embedded(t)
	ha := hatest.New(t, url)
	const stale = "pinion/garage/gone/relay"
	if err := ha.Publish(stale, "ON", true); err != nil {
		t.Fatal(err)
	}
	clock, logs := sessionAgent(t, pumpConfig, url)
	if err := ha.WaitState("pinion:garage:pump:relay", "OFF", testWait); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, "clearing a retained state no longer in the config", "topic="+stale)

	// The window ends when the clock says so, however long the test took.
	if strings.Contains(logs.String(), "sweep ended") {
		t.Fatal("the sweep ended before the clock moved")
	}
	clock.Advance(sweepWindow)
	waitLog(t, logs, "sweep ended")

	// A birth republishes after a delay of up to birthMaxDelay.
	states := ha.StateCount("pinion:garage:pump:relay")
	ha.SendBirth()
	waitLog(t, logs, "Home Assistant came online")
	if n := ha.StateCount("pinion:garage:pump:relay"); n != states {
		t.Fatalf("the birth's republish came before its delay: %d states, had %d", n, states)
	}
	clock.Advance(birthMaxDelay)
	deadline := time.Now().Add(testWait)
	for ha.StateCount("pinion:garage:pump:relay") <= states {
		if time.Now().After(deadline) {
			t.Fatal("no republish after the birth's delay")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits until logs has a line with every one of parts.
func waitLog(t *testing.T, logs *logbuf.Buffer, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for {
		for _, line := range strings.Split(logs.String(), "\n") {
			if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing logged with %q", parts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
