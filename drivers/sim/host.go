// Package sim is simulated hardware for pinion's demo and tests: GPIO lines
// with levels, pulls and edges; I2C buses that route transactions to
// simulated chips; and serial peers that answer on a real pseudo-terminal,
// so drivers run their real code against hardware that behaves like the
// parts they model.
//
// Host implements drivers.Host. Tests and the demo configure it (attach
// chips, drive input lines) and hand it to drivers in place of the real
// host.
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
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/internal/serialport"
)

// Host is a simulated board: GPIO0 to GPIO27 like a Raspberry Pi header,
// I2C buses created as chips are attached, and serial ports backed by
// simulated peers.
type Host struct {
	log   *slog.Logger
	clock drivers.Clock

	mu      sync.Mutex
	lines   map[string]*Line
	buses   map[string]*Bus
	serials map[string]*serialPeer
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewHost returns a simulated board with lines GPIO0 to GPIO27, floating,
// as inputs without pulls. log may be nil.
func NewHost(log *slog.Logger) *Host {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{
		log:     log,
		clock:   drivers.SystemClock{},
		lines:   map[string]*Line{},
		buses:   map[string]*Bus{},
		serials: map[string]*serialPeer{},
		ctx:     ctx,
		cancel:  cancel,
	}
	for i := 0; i <= 27; i++ {
		name := "GPIO" + strconv.Itoa(i)
		h.lines[name] = newLine(name, i)
	}
	return h
}

// GPIO implements drivers.Host.
func (h *Host) GPIO(name string) (gpio.PinIO, error) {
	l := h.Line(name)
	if l == nil {
		return nil, fmt.Errorf("sim: no GPIO line %q (the simulated board has GPIO0 to GPIO27)", name)
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

// I2C implements drivers.Host. It accepts "1", "I2C1" and "/dev/i2c-1".
func (h *Host) I2C(bus string) (i2c.Bus, error) {
	n, err := busNumber(bus)
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
	n, err := busNumber(bus)
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
	n, err := busNumber(bus)
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

// busNumber normalises an I2C bus name to its number.
func busNumber(bus string) (string, error) {
	s := strings.TrimPrefix(strings.TrimPrefix(bus, "/dev/i2c-"), "I2C")
	if _, err := strconv.ParseUint(s, 10, 8); err != nil || s == "" {
		return "", fmt.Errorf("sim: I2C bus %q: want a number, I2C<n> or /dev/i2c-<n>", bus)
	}
	return s, nil
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

// Serial implements drivers.Host: it opens the terminal side of the
// peer's pseudo-terminal with the same serial code the real host uses.
func (h *Host) Serial(path string, mode drivers.SerialMode) (drivers.Port, error) {
	h.mu.Lock()
	sp, ok := h.serials[path]
	h.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("sim: serial %s: no such port (nothing simulated is attached there)", path)
	}
	return serialport.Open(sp.ptyPath, mode)
}

// Clock implements drivers.Host.
func (h *Host) Clock() drivers.Clock { return h.clock }

// Logger implements drivers.Host.
func (h *Host) Logger() *slog.Logger { return h.log }

// Toggle flips input line pin every period until the host is closed, as if
// someone pressed a button or opened a door.
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
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.ctx.Done():
				return
			case <-t.C:
				// From the level the line has, so the first tick already
				// changes it (a pulled-up door reads High to begin with).
				l.Drive(!l.Level())
			}
		}
	}()
	return nil
}

// Close stops the simulation: peers and togglers end and pseudo-terminals
// close. Lines keep their levels.
func (h *Host) Close() error {
	h.cancel()
	h.mu.Lock()
	for _, sp := range h.serials {
		sp.ctl.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
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

var _ drivers.Host = (*Host)(nil)
