// Package serialport opens serial ports with go.bug.st/serial and adapts
// them to drivers.Port, fixing the library's sharp edges in one place: a
// read timeout returns os.ErrDeadlineExceeded instead of (0, nil)
// (bugst/go-serial#148), a closed port refuses writes instead of writing
// to a descriptor the process may have reused, and modem-control bits are
// never touched so that ptys work as well as UARTs. Shared serial lines
// (Shared) let several devices take turns on one port, as Modbus units on
// an RS-485 line do.
package serialport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/pinion-home/pinion/drivers"
)

// Open opens the serial port at path with mode and returns it as a
// drivers.Port.
func Open(path string, mode drivers.SerialMode) (*Port, error) {
	m, err := toMode(mode)
	if err != nil {
		return nil, fmt.Errorf("serial %s: %w", path, err)
	}
	p, err := serial.Open(path, m)
	if err != nil {
		return nil, fmt.Errorf("serial %s: open: %w%s", path, err, hint(err))
	}
	return &Port{path: path, p: p}, nil
}

func hint(err error) string {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PortBusy:
			return " (another program has it open; stop it, or on a Pi disable the serial console with raspi-config)"
		case serial.PortNotFound:
			return " (check the path; on a Pi enable the UART with raspi-config and use /dev/serial0)"
		case serial.PermissionDenied:
			return " (add the user running pinion to the dialout group)"
		}
	}
	return ""
}

func toMode(m drivers.SerialMode) (*serial.Mode, error) {
	out := &serial.Mode{BaudRate: m.BaudRate, DataBits: m.DataBits}
	if out.BaudRate == 0 {
		out.BaudRate = 9600
	}
	if out.DataBits == 0 {
		out.DataBits = 8
	}
	if out.DataBits < 5 || out.DataBits > 8 {
		return nil, fmt.Errorf("data bits %d: want 5 to 8", m.DataBits)
	}
	switch m.Parity {
	case drivers.ParityNone:
		out.Parity = serial.NoParity
	case drivers.ParityEven:
		out.Parity = serial.EvenParity
	case drivers.ParityOdd:
		out.Parity = serial.OddParity
	default:
		return nil, fmt.Errorf("parity %d: unknown", m.Parity)
	}
	switch m.StopBits {
	case 0, 1:
		out.StopBits = serial.OneStopBit
	case 2:
		out.StopBits = serial.TwoStopBits
	default:
		return nil, fmt.Errorf("stop bits %d: want 1 or 2", m.StopBits)
	}
	return out, nil
}

// Port is an open serial port. It implements drivers.Port.
//
// After Close, Write, SetReadTimeout and ResetInputBuffer return an error
// wrapping fs.ErrClosed: go.bug.st/serial would use the closed descriptor,
// which the process may have reused for another file by then.
type Port struct {
	path string
	p    serial.Port

	mu     sync.RWMutex // held for reading while the descriptor is in use
	closed bool
}

// use runs f with the descriptor open, or returns the error for a closed
// port.
func (p *Port) use(op string, f func() error) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return fmt.Errorf("serial %s: %s: %w", p.path, op, fs.ErrClosed)
	}
	return f()
}

// Read implements io.Reader; a timeout is os.ErrDeadlineExceeded.
func (p *Port) Read(b []byte) (int, error) {
	n, err := p.p.Read(b)
	if n == 0 && err == nil && len(b) > 0 {
		return 0, fmt.Errorf("serial %s: read: %w", p.path, os.ErrDeadlineExceeded)
	}
	if err != nil {
		return n, fmt.Errorf("serial %s: read: %w", p.path, err)
	}
	return n, nil
}

// Write implements io.Writer.
func (p *Port) Write(b []byte) (int, error) {
	var n int
	err := p.use("write", func() error {
		var err error
		n, err = p.p.Write(b)
		if err != nil {
			return fmt.Errorf("serial %s: write: %w", p.path, err)
		}
		return nil
	})
	return n, err
}

// SetReadTimeout implements drivers.Port.
func (p *Port) SetReadTimeout(d time.Duration) error {
	if d <= 0 {
		d = serial.NoTimeout
	}
	return p.use("set read timeout", func() error {
		if err := p.p.SetReadTimeout(d); err != nil {
			return fmt.Errorf("serial %s: set read timeout: %w", p.path, err)
		}
		return nil
	})
}

// ResetInputBuffer implements drivers.Port.
func (p *Port) ResetInputBuffer() error {
	return p.use("reset input buffer", func() error {
		if err := p.p.ResetInputBuffer(); err != nil {
			return fmt.Errorf("serial %s: reset input buffer: %w", p.path, err)
		}
		return nil
	})
}

// Close implements io.Closer: a pending Read returns an error. Closing
// twice is harmless.
func (p *Port) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if err := p.p.Close(); err != nil {
		return fmt.Errorf("serial %s: close: %w", p.path, err)
	}
	return nil
}

var _ drivers.Port = (*Port)(nil)
