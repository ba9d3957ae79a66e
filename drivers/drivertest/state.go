package drivertest

import (
	"context"
	"sync"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
)

// StateHost is a host that remembers entities' states across restarts
// (drivers.StateHost), for testing a driver that restores its state at
// start, such as a gpio output with power_on = "restore". It wraps another
// host and passes its GPIO and PWM lines through, so a driver opened on it
// drives the wrapped host's simulated lines.
//
// Set the states the "previous run" left with Set; Asked tells which
// entities the driver asked for, and so marked to be remembered.
type StateHost struct {
	drivers.Host

	mu     sync.Mutex
	states map[string]drivers.Value
	asked  []string
	err    error
}

// NewStateHost returns a StateHost around h that knows no states yet.
func NewStateHost(h drivers.Host) *StateHost {
	return &StateHost{Host: h, states: map[string]drivers.Value{}}
}

// Set makes v the state entity last reported before the restart.
func (h *StateHost) Set(entity string, v drivers.Value) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.states[entity] = v
}

// Fail makes every later LastState return err, as a host whose state
// store broke would.
func (h *StateHost) Fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err = err
}

// Asked returns the entities LastState was asked for, in order.
func (h *StateHost) Asked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.asked...)
}

// LastState implements drivers.StateHost.
func (h *StateHost) LastState(ctx context.Context, entity string) (drivers.Value, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, entity)
	if h.err != nil {
		return drivers.Value{}, false, h.err
	}
	v, ok := h.states[entity]
	return v, ok, nil
}

// GPIO implements drivers.GPIOHost with the wrapped host's lines.
func (h *StateHost) GPIO(name string) (gpio.PinIO, error) { return drivers.GPIO(h.Host, name) }

// PWM implements drivers.PWMHost with the wrapped host's lines.
func (h *StateHost) PWM(name string) (gpio.PinOut, error) { return drivers.PWM(h.Host, name) }

var (
	_ drivers.StateHost = (*StateHost)(nil)
	_ drivers.GPIOHost  = (*StateHost)(nil)
	_ drivers.PWMHost   = (*StateHost)(nil)
)
