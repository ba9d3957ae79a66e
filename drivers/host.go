package drivers

import (
	"context"
	"io"
	"log/slog"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
)

// Host is the seam between drivers and hardware. The agent passes the real
// host (periph.io and the kernel's devices) or the simulated one; a driver
// never opens /dev/* itself, so the same code runs on both.
//
// The host owns what it hands out: it releases GPIO lines, buses and ports
// when the agent stops, and it serialises transactions on a shared I2C bus.
type Host interface {
	// GPIO returns the line named name ("GPIO17"). Names, not chip
	// numbers, because chip numbering differs between boards and kernels.
	GPIO(name string) (gpio.PinIO, error)
	// I2C returns bus "1", "I2C1" or "/dev/i2c-1". Transactions on it are
	// serialised by the host; a driver must not Close it.
	I2C(bus string) (i2c.Bus, error)
	// Serial opens the serial port at path with the given mode.
	Serial(path string, mode SerialMode) (Port, error)
	// Clock is the time source; simulated hosts may speed it up.
	Clock() Clock
	// Logger is the driver's logger, already tagged with the device.
	Logger() *slog.Logger
}

// Parity of a serial line.
type Parity int

const (
	// ParityNone sends no parity bit.
	ParityNone Parity = iota
	// ParityEven sends an even parity bit.
	ParityEven
	// ParityOdd sends an odd parity bit.
	ParityOdd
)

// SerialMode is a serial line's framing. The zero value of each field takes
// the common default: 9600 baud, 8 data bits, no parity, 1 stop bit.
type SerialMode struct {
	BaudRate int
	DataBits int
	Parity   Parity
	StopBits int
}

// Port is an open serial port.
//
// Read returns os.ErrDeadlineExceeded (wrapped) when the read timeout passes
// with no data, never (0, nil).
type Port interface {
	io.ReadWriteCloser
	// SetReadTimeout bounds each Read; zero or negative waits forever.
	SetReadTimeout(d time.Duration) error
	// ResetInputBuffer drops bytes received but not yet read, so a request
	// is not answered by a stale reply.
	ResetInputBuffer() error
}

// Clock is a time source.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever is first.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep implements Clock.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
