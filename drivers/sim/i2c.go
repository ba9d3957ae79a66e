package sim

import (
	"fmt"
	"sync"
	"syscall"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Chip is a simulated I2C device. Tx receives one transaction addressed to
// it: w is written, then r is read with a repeated start, as i2c.Bus.Tx
// does. A chip returns an error where the real one would NACK.
type Chip interface {
	Tx(w, r []byte) error
}

// Bus is a simulated I2C bus. Transactions are serialised, as on a real
// bus, and one to an address where no chip answers fails like a NACK on the
// Pi: with EREMOTEIO.
type Bus struct {
	name  string
	mu    sync.Mutex
	chips map[uint16]Chip
	txs   int
}

func newBus(n string) *Bus { return &Bus{name: "I2C" + n, chips: map[uint16]Chip{}} }

func (b *Bus) attach(addr uint16, c Chip) error {
	if addr < 0x03 || addr > 0x77 {
		return fmt.Errorf("sim: %s: address %#x outside the 7-bit range 0x03-0x77", b.name, addr)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.chips[addr]; dup {
		return fmt.Errorf("sim: %s: a chip already answers at %#x", b.name, addr)
	}
	b.chips[addr] = c
	return nil
}

// String implements i2c.Bus.
func (b *Bus) String() string { return b.name }

// Tx implements i2c.Bus.
func (b *Bus) Tx(addr uint16, w, r []byte) error {
	if len(w) == 0 && len(r) == 0 {
		return nil // like periph's Linux bus: nothing to send, nothing sent
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.txs++
	c, ok := b.chips[addr]
	if !ok {
		return fmt.Errorf("%s: address %#x: %w", b.name, addr, syscall.EREMOTEIO)
	}
	if err := c.Tx(w, r); err != nil {
		return fmt.Errorf("%s: address %#x: %w", b.name, addr, err)
	}
	return nil
}

// SetSpeed implements i2c.Bus; the simulation runs at any speed.
func (b *Bus) SetSpeed(physic.Frequency) error { return nil }

// Transactions returns how many transactions the bus has carried.
func (b *Bus) Transactions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.txs
}

var _ i2c.Bus = (*Bus)(nil)
