// Package sim is simulated hardware for pinion's demo and tests: GPIO lines
// with levels, pulls, edges and PWM; I2C buses that route transactions to
// simulated chips; serial peers that answer on a real pseudo-terminal,
// alone or on a shared line; 1-Wire devices as the kernel's w1 subsystem
// shows them; and the files of /proc and /sys. Drivers run their real
// code against hardware that behaves like the parts they model.
//
// Host implements drivers.Host and every capability of it (GPIOHost,
// I2CHost, SerialHost, SharedSerialHost, PWMHost, OneWireHost, FileHost).
// Tests and the demo configure it (attach chips, drive input lines, set
// files, or Attach the model a driver expects) and hand it to drivers in
// place of the real host.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/internal/serialport"
)

// errClosed is wrapped by what fails because the host was closed.
var errClosed = errors.New("sim: host is closed")

// Host is a simulated board: GPIO0 to GPIO27 like a Raspberry Pi header
// (each able to output PWM), I2C buses created as chips are attached,
// serial ports backed by simulated peers, the kernel's 1-Wire bus "w1"
// once a device is added to it, and files below /proc and /sys.
type Host struct {
	log   *slog.Logger
	clock atomic.Value // clockBox

	mu      sync.Mutex
	lines   map[string]*Line
	buses   map[string]*Bus
	serials map[string]*serialPeer
	files   map[string][]byte
	// machineFiles makes ReadFile fall back to the machine's own files.
	machineFiles bool
	w1           map[string]*oneWireBus
	shared       *serialport.Shared
	ctx          context.Context
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

// clockBox lets atomic.Value hold clocks of different types.
type clockBox struct{ c drivers.Clock }

// NewHost returns a simulated board with lines GPIO0 to GPIO27, floating,
// as inputs without pulls, on the wall clock. log may be nil.
func NewHost(log *slog.Logger) *Host {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{
		log:     log,
		lines:   map[string]*Line{},
		buses:   map[string]*Bus{},
		serials: map[string]*serialPeer{},
		files:   map[string][]byte{},
		w1:      map[string]*oneWireBus{},
		ctx:     ctx,
		cancel:  cancel,
	}
	h.clock.Store(clockBox{drivers.SystemClock{}})
	h.shared = serialport.NewShared(h.Serial, errClosed)
	for i := 0; i <= 27; i++ {
		name := "GPIO" + strconv.Itoa(i)
		h.lines[name] = newLine(name, i, h.Clock)
	}
	return h
}

// SetClock makes c the host's clock: the one drivers get from Clock, the
// one that times line changes in History and the toggles of Toggle, and
// the one the models put in place by Attach measure time with. Tests pass
// a fake clock to run timing without waiting; the default is the wall
// clock.
func (h *Host) SetClock(c drivers.Clock) {
	if c == nil {
		c = drivers.SystemClock{}
	}
	h.clock.Store(clockBox{c})
}

// Clock implements drivers.Host.
func (h *Host) Clock() drivers.Clock { return h.clock.Load().(clockBox).c }

// Logger implements drivers.Host.
func (h *Host) Logger() *slog.Logger { return h.log }

// hostClock is the host's clock as a value that follows SetClock, for
// models that keep a clock of their own.
type hostClock struct{ h *Host }

// Now implements drivers.Clock.
func (c hostClock) Now() time.Time { return c.h.Clock().Now() }

// Sleep implements drivers.Clock.
func (c hostClock) Sleep(ctx context.Context, d time.Duration) error {
	return c.h.Clock().Sleep(ctx, d)
}

// provided returns the error for a line or bus another device provides:
// the agent hands those out, never the host.
func provided(what, name string) error {
	dev, _, _ := drivers.SplitProvided(name)
	return fmt.Errorf("sim: %s %q is provided by device %q: the agent hands it out; the host has only the board's own", what, name, dev)
}

// GPIO implements drivers.GPIOHost.
func (h *Host) GPIO(name string) (gpio.PinIO, error) {
	if _, _, ok := drivers.SplitProvided(name); ok {
		return nil, provided("GPIO line", name)
	}
	l := h.Line(name)
	if l == nil {
		return nil, fmt.Errorf("sim: no GPIO line %q (the simulated board has GPIO0 to GPIO27)", name)
	}
	return l, nil
}

// PWM implements drivers.PWMHost. Every simulated line can output PWM,
// as every line of a Raspberry Pi can through periph's DMA-driven PWM; see
// Line.PWM.
func (h *Host) PWM(name string) (gpio.PinOut, error) {
	if _, _, ok := drivers.SplitProvided(name); ok {
		return nil, provided("PWM line", name)
	}
	l := h.Line(name)
	if l == nil {
		return nil, fmt.Errorf("sim: no PWM line %q (the simulated board has GPIO0 to GPIO27, each able to output PWM)", name)
	}
	return l, nil
}

// Line returns the simulated line name, or nil. Tests use it to drive
// inputs and watch outputs.
func (h *Host) Line(name string) *Line {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lines[name]
}

// busName parses an I2C bus name for the board's own buses.
func busName(bus string) (string, error) {
	if _, _, ok := drivers.SplitProvided(bus); ok {
		return "", provided("I2C bus", bus)
	}
	n, err := drivers.ParseI2CBus(bus)
	if err != nil {
		return "", fmt.Errorf("sim: %w", err)
	}
	return n, nil
}

// I2C implements drivers.I2CHost. It takes every name drivers.ParseI2CBus
// takes ("1", "I2C1", "/dev/i2c-1").
func (h *Host) I2C(bus string) (i2c.Bus, error) {
	n, err := busName(bus)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.buses[n]
	if !ok {
		return nil, fmt.Errorf("sim: no I2C bus %q (attach a chip to it first)", bus)
	}
	return b, nil
}

// AddI2CChip attaches chip at addr on bus, creating the bus if needed.
func (h *Host) AddI2CChip(bus string, addr uint16, chip Chip) error {
	n, err := busName(bus)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.buses[n]
	if !ok {
		b = newBus(n)
		h.buses[n] = b
	}
	return b.attach(addr, chip)
}

// I2CChip returns the chip attached at addr on bus, or nil, so tests can
// inject faults into it.
func (h *Host) I2CChip(bus string, addr uint16) Chip {
	n, err := busName(bus)
	if err != nil {
		return nil
	}
	h.mu.Lock()
	b := h.buses[n]
	h.mu.Unlock()
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.chips[addr]
}

// Peer is the far end of a simulated serial line: it reads what the driver
// writes and answers like the device it models. Serve returns when ctx is
// done or rw fails.
type Peer interface {
	Serve(ctx context.Context, rw io.ReadWriter) error
}

type serialPeer struct {
	ptyPath string
	ctl     *os.File
}

// AddSerialPeer puts peer at the far end of a new pseudo-terminal that
// drivers open as path (any name, such as "/dev/serial0"). It returns the
// pseudo-terminal's own path.
func (h *Host) AddSerialPeer(path string, peer Peer) (string, error) {
	ctl, pts, err := serialport.OpenPTY()
	if err != nil {
		return "", fmt.Errorf("sim: serial %s: %w", path, err)
	}
	h.mu.Lock()
	if _, dup := h.serials[path]; dup {
		h.mu.Unlock()
		ctl.Close()
		return "", fmt.Errorf("sim: serial %s: a peer is already attached", path)
	}
	h.serials[path] = &serialPeer{ptyPath: pts, ctl: ctl}
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := peer.Serve(h.ctx, ctl); err != nil && h.ctx.Err() == nil {
			h.log.Warn("sim: serial peer stopped", "port", path, "err", err)
		}
	}()
	return pts, nil
}

// Serial implements drivers.SerialHost: it opens the terminal side of
// the peer's pseudo-terminal with the same serial code the real host uses.
func (h *Host) Serial(path string, mode drivers.SerialMode) (drivers.Port, error) {
	h.mu.Lock()
	sp, ok := h.serials[path]
	h.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("sim: serial %s: no such port (nothing simulated is attached there)", path)
	}
	return serialport.Open(sp.ptyPath, mode)
}

// SharedSerial implements drivers.SharedSerialHost with the real host's
// shared lines (see serialport.Shared) over the peer's pseudo-terminal:
// devices on one line take turns, all ask for the same mode, and the line
// closes with the last of them. One peer answers for every unit on the
// line, as the units on an RS-485 line share its wires.
func (h *Host) SharedSerial(path string, mode drivers.SerialMode) (drivers.SharedPort, error) {
	return h.shared.Open(path, mode)
}

// Toggle flips input line pin every period of the host's clock until the
// host is closed, as if someone pressed a button or opened a door.
func (h *Host) Toggle(pin string, every time.Duration) error {
	l := h.Line(pin)
	if l == nil {
		return fmt.Errorf("sim: toggle: no GPIO line %q", pin)
	}
	if every <= 0 {
		return errors.New("sim: toggle: period must be positive")
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for h.Clock().Sleep(h.ctx, every) == nil {
			// From the level the line has, so the first toggle already
			// changes it (a pulled-up door reads High to begin with).
			l.Drive(!l.Level())
		}
	}()
	return nil
}

// Close stops the simulation: peers and togglers end, shared lines and
// pseudo-terminals close. Lines keep their levels.
func (h *Host) Close() error {
	h.cancel()
	err := h.shared.Close()
	h.mu.Lock()
	for _, sp := range h.serials {
		sp.ctl.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
	if err != nil {
		return fmt.Errorf("sim: close: %w", err)
	}
	return nil
}

// Lines returns the names of the simulated lines, sorted by number.
func (h *Host) Lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Line, 0, len(h.lines))
	for _, l := range h.lines {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].num < out[j].num })
	names := make([]string, len(out))
	for i, l := range out {
		names[i] = l.name
	}
	return names
}

var (
	_ drivers.Host             = (*Host)(nil)
	_ drivers.GPIOHost         = (*Host)(nil)
	_ drivers.I2CHost          = (*Host)(nil)
	_ drivers.SerialHost       = (*Host)(nil)
	_ drivers.SharedSerialHost = (*Host)(nil)
	_ drivers.PWMHost          = (*Host)(nil)
	_ drivers.OneWireHost      = (*Host)(nil)
	_ drivers.FileHost         = (*Host)(nil)
)
