package agent

import (
	"context"
	"fmt"
	"log/slog"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"

	"github.com/pinion-home/pinion/drivers"
)

// deviceHost is the host one device sees: the agent's host, with a logger
// tagged with the device, and the lines and buses other devices provide
// ("relays/GPA0") routed to them. It implements every capability, handing
// each to the base host, which may lack it.
type deviceHost struct {
	base      drivers.Host
	log       *slog.Logger
	providers map[string]*device // by id: the devices this one may use
	// device is the device's id, and restore what the agent remembers
	// of states across restarts (nil: nothing).
	device  string
	restore *restorer
}

var (
	_ drivers.GPIOHost         = (*deviceHost)(nil)
	_ drivers.I2CHost          = (*deviceHost)(nil)
	_ drivers.SerialHost       = (*deviceHost)(nil)
	_ drivers.SharedSerialHost = (*deviceHost)(nil)
	_ drivers.PWMHost          = (*deviceHost)(nil)
	_ drivers.OneWireHost      = (*deviceHost)(nil)
	_ drivers.FileHost         = (*deviceHost)(nil)
	_ drivers.StateHost        = (*deviceHost)(nil)
)

// Clock implements drivers.Host.
func (h *deviceHost) Clock() drivers.Clock { return h.base.Clock() }

// Logger implements drivers.Host.
func (h *deviceHost) Logger() *slog.Logger { return h.log }

// provider returns the device that provides name, or nil for the board's
// own.
func (h *deviceHost) provider(name string) (*device, string, error) {
	id, local, ok := drivers.SplitProvided(name)
	if !ok {
		return nil, "", nil
	}
	p := h.providers[id]
	if p == nil {
		return nil, "", fmt.Errorf("%q: no device %q that this device uses provides it", name, id)
	}
	return p, local, nil
}

// GPIO implements drivers.GPIOHost.
func (h *deviceHost) GPIO(name string) (gpio.PinIO, error) {
	p, local, err := h.provider(name)
	if err != nil || p == nil {
		if err != nil {
			return nil, err
		}
		return drivers.GPIO(h.base, name)
	}
	gp, ok := p.dev.(drivers.GPIOProvider)
	if !ok {
		return nil, fmt.Errorf("GPIO line %q: device %q provides no GPIO lines", name, p.id)
	}
	var line gpio.PinIO
	err = p.protect("provide line "+local, func() error {
		var err error
		line, err = gp.ProvidedLine(local)
		return err
	})
	return line, err
}

// I2C implements drivers.I2CHost.
func (h *deviceHost) I2C(bus string) (i2c.Bus, error) {
	p, local, err := h.provider(bus)
	if err != nil || p == nil {
		if err != nil {
			return nil, err
		}
		return drivers.I2C(h.base, bus)
	}
	ip, ok := p.dev.(drivers.I2CProvider)
	if !ok {
		return nil, fmt.Errorf("I2C bus %q: device %q provides no I2C buses", bus, p.id)
	}
	var b i2c.Bus
	err = p.protect("provide bus "+local, func() error {
		var err error
		b, err = ip.ProvidedBus(local)
		return err
	})
	return b, err
}

// Serial implements drivers.SerialHost.
func (h *deviceHost) Serial(path string, mode drivers.SerialMode) (drivers.Port, error) {
	return drivers.Serial(h.base, path, mode)
}

// SharedSerial implements drivers.SharedSerialHost.
func (h *deviceHost) SharedSerial(path string, mode drivers.SerialMode) (drivers.SharedPort, error) {
	return drivers.SharedSerial(h.base, path, mode)
}

// PWM implements drivers.PWMHost. A provided line is a GPIO line of its
// provider, which says itself whether it can do PWM.
func (h *deviceHost) PWM(name string) (gpio.PinOut, error) {
	if _, _, ok := drivers.SplitProvided(name); ok {
		return h.GPIO(name)
	}
	return drivers.PWM(h.base, name)
}

// OneWire implements drivers.OneWireHost.
func (h *deviceHost) OneWire(bus string) (drivers.OneWireBus, error) {
	return drivers.OneWire(h.base, bus)
}

// ReadFile implements drivers.FileHost.
func (h *deviceHost) ReadFile(path string) ([]byte, error) { return drivers.ReadFile(h.base, path) }

// LastState implements drivers.StateHost: the state the entity last
// reported before the agent stopped, from the agent's state file or the
// broker's retained state.
func (h *deviceHost) LastState(ctx context.Context, entity string) (drivers.Value, bool, error) {
	if h.restore == nil {
		return drivers.Value{}, false, fmt.Errorf("last state of %s/%s: %w: this agent remembers no states", h.device, entity, drivers.ErrUnsupported)
	}
	return h.restore.lastState(ctx, h.device, entity)
}
