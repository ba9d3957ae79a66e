package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/logbuf"
)

// TestHundredFailingDevicesLogBoundedLines runs 100 devices that fail for
// a whole day of a fake clock — half cannot be opened (unplugged), half
// open but every poll fails (a sensor that NACKs) — then recover. Each
// retries about once a minute, 1,440 times; the log holds a few lines per
// device (failures with backoff, one recovery), not one per retry.
func TestHundredFailingDevicesLogBoundedLines(t *testing.T) {
	const (
		devices = 100
		day     = 24 * 60 // steps of a minute
	)
	clock := clockwork.NewFakeClock()
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	pipe := newPipeline(discovery.Node{ID: "n"}, newOutbox(), log)
	host := sim.NewHost(nil)
	fakes := make([]*fakeDev, devices)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			t.Logf("log (first 20,000 bytes):\n%.20000s", logs.String())
		}
	}()
	timers := 0 // what the workers wait on while they fail
	for i := range fakes {
		f := newFake()
		f.unrecorded = true // nobody reads the calls
		if i%2 == 0 {
			f.openErr = errors.New("no such device")
			timers++ // the retry
		} else {
			f.pollErr = syscall.EREMOTEIO
			timers += 2 // the interval's ticker and the retry
		}
		fakes[i] = f
		d := newDevice(DeviceConfig{ID: fmt.Sprintf("dev%03d", i), Driver: "fake", Device: f, Entities: fakeEntities, Interval: time.Minute}, host, pipe, clock, log)
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.run(ctx)
		}()
	}
	// step waits for every worker to wait for its retry, calls between,
	// then moves the clock on a minute: every retry is due.
	step := func(between func()) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer wcancel()
		if err := clock.BlockUntilContext(wctx, timers); err != nil {
			t.Fatalf("the workers did not all wait for their retry: %v", err)
		}
		between()
		clock.Advance(time.Minute)
	}
	for range day {
		step(func() {})
	}
	var failing int
	step(func() {
		failing = strings.Count(logs.String(), "\n")
		for _, f := range fakes {
			f.set(func(f *fakeDev) { f.openErr, f.pollErr = nil, nil })
		}
	})
	waitCount(t, logs, devices, "device works again")
	// The closed devices, open again, wait on their ticker alone.
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := clock.BlockUntilContext(wctx, devices); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(logs.String(), "\n")
	t.Logf("%d devices failing for a day logged %d lines, and %d more as they recovered", devices, failing, lines-failing)

	// Per device: its 1st, 2nd, 3rd, 4th, 8th, …, 1024th failure of about
	// 1,441, "device ready" for those that opened, and one recovery.
	perDevice := 3 + 9 + 1 + 1
	if lines > devices*perDevice {
		t.Errorf("%d lines for %d devices failing a day, want at most %d each", lines, devices, perDevice)
	}
	for i := range fakes {
		id := fmt.Sprintf("device=dev%03d ", i)
		if n := countLines(logs, id, "entities unavailable, retrying"); n != 12 {
			t.Errorf("dev%03d: %d failures logged, want 12 (the 1st to 4th, 8th, …, 1024th)", i, n)
		}
		if n := countLines(logs, id, "device works again", "after_failures=1441", "unavailable_for=24h1m0s"); n != 1 {
			t.Errorf("dev%03d: its recovery after 1,441 failures and a day logged %d times, want once", i, n)
		}
	}
}
