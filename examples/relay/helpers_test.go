package relay_test

import (
	"fmt"
	"sync"
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/examples/relay"
)

// newBoard builds a board from src or fails the test.
func newBoard(t *testing.T, src string) *relay.Board {
	t.Helper()
	return drivertest.Device[*relay.Board](t, relay.New, "board", src)
}

// on and off are the commands the agent sends a switch for ON and OFF.
var (
	on  = drivers.Command{Action: drivers.ActionOn}
	off = drivers.Command{Action: drivers.ActionOff}
)

// command returns the command that switches a channel on or off.
func command(v bool) drivers.Command {
	if v {
		return on
	}
	return off
}

// states returns the state the board last reported for each of its n
// channels, in order, failing the test if a channel has none or one that
// is not an on/off.
func states(t *testing.T, w *drivertest.Worker, n int) []bool {
	t.Helper()
	out := make([]bool, n)
	for i := range out {
		v, ok := w.State(relay.EntityID(i + 1))
		if !ok || v.Kind != drivers.ValueBool {
			t.Fatalf("%s: state %v (reported: %t), want an on/off\nreported: %v", relay.EntityID(i+1), v, ok, w.Reports())
		}
		out[i] = v.Bool
	}
	return out
}

// set commands a channel through the worker and fails the test on an
// error or when the channel's reported state is not the commanded one.
func set(t *testing.T, w *drivertest.Worker, entity string, v bool) {
	t.Helper()
	if err := w.Command(t, entity, command(v)); err != nil {
		t.Fatalf("Command(%s, %v): %v", entity, command(v), err)
	}
	if got, ok := w.State(entity); !ok || !got.Equal(drivers.Bool(v)) {
		t.Fatalf("after Command(%s, %v) the board reports %v (reported: %t)", entity, command(v), got, ok)
	}
}

// reportsSince returns the reports made after the first n.
func reportsSince(w *drivertest.Worker, n int) []drivertest.Report {
	return w.Reports()[n:]
}

// state is a short way to write an expected state report.
func state(entity string, v bool) string {
	return drivertest.Report{Kind: "state", Entity: entity, Value: drivers.Bool(v)}.String()
}

// strs formats reports for comparison with what a test expects.
func strs(rs []drivertest.Report) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

// wantLevel is the level a channel's line must show: High for ON, Low for
// ON on an active-low (inverted) board. It is spelled out rather than taken
// from the driver so that the tests check the driver's mapping.
func wantLevel(on, inverted bool) gpio.Level {
	if on != inverted {
		return gpio.High
	}
	return gpio.Low
}

// recordingHost hands out lines that log every Out call, in order, across
// all lines, and can be told to make a line's Out fail. Its GPIO method
// takes the place of the simulated board's, which it embeds for
// everything else.
type recordingHost struct {
	*sim.Host

	mu   sync.Mutex
	outs []out
	fail map[string]error
}

type out struct {
	pin   string
	level gpio.Level
}

func (o out) String() string { return fmt.Sprintf("%s %v", o.pin, o.level) }

func newRecordingHost(t *testing.T) *recordingHost {
	return &recordingHost{Host: drivertest.Host(t), fail: map[string]error{}}
}

// GPIO implements drivers.GPIOHost.
func (h *recordingHost) GPIO(name string) (gpio.PinIO, error) {
	p, err := h.Host.GPIO(name)
	if err != nil {
		return nil, err
	}
	return recordingPin{PinIO: p, h: h}, nil
}

// failOut makes every Out on pin fail with err from now on; a nil err
// makes them work again.
func (h *recordingHost) failOut(pin string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		delete(h.fail, pin)
		return
	}
	h.fail[pin] = err
}

// log returns the Out calls that succeeded since the n-th.
func (h *recordingHost) log(n int) []out {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]out(nil), h.outs[n:]...)
}

func (h *recordingHost) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.outs)
}

type recordingPin struct {
	gpio.PinIO
	h *recordingHost
}

func (p recordingPin) Out(l gpio.Level) error {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	if err := p.h.fail[p.Name()]; err != nil {
		return err
	}
	if err := p.PinIO.Out(l); err != nil {
		return err
	}
	p.h.outs = append(p.h.outs, out{p.Name(), l})
	return nil
}
