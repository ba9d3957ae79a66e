package relay_test

import (
	"context"
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

// states reads the board and returns every channel's state in order,
// checking that each reading is an on/off of the next channel.
func states(t *testing.T, b *relay.Board) []bool {
	t.Helper()
	rs, err := b.Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	out := make([]bool, len(rs))
	for i, r := range rs {
		if r.Entity != relay.EntityID(i+1) || r.Value.Kind != drivers.ValueBool {
			t.Fatalf("Read[%d] = %q %v, want an on/off of %q", i, r.Entity, r.Value, relay.EntityID(i+1))
		}
		out[i] = r.Value.Bool
	}
	return out
}

// set commands a channel and fails the test on an error.
func set(t *testing.T, b *relay.Board, entity string, on bool) {
	t.Helper()
	got, err := b.Set(context.Background(), entity, drivers.Bool(on))
	if err != nil {
		t.Fatalf("Set(%s, %t): %v", entity, on, err)
	}
	if !got.Equal(drivers.Bool(on)) {
		t.Fatalf("Set(%s, %t) = %v", entity, on, got)
	}
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
// all lines, and can be told to make a line's Out fail.
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

func newRecordingHost(t *testing.T) *recordingHost {
	return &recordingHost{Host: drivertest.Host(t), fail: map[string]error{}}
}

func (h *recordingHost) GPIO(name string) (gpio.PinIO, error) {
	p, err := h.Host.GPIO(name)
	if err != nil {
		return nil, err
	}
	return recordingPin{PinIO: p, h: h}, nil
}

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

// reading is a short way to write an expected reading.
func reading(entity string, on bool) drivers.Reading {
	return drivers.Reading{Entity: entity, Value: drivers.Bool(on)}
}
