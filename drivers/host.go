package drivers

import (
	"context"
	"fmt"
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
// Host itself has only what every host has, a clock and a logger. Hardware
// comes through capabilities, each a small interface of its own (GPIOHost,
// I2CHost, SerialHost, …) that a host implements when it has that kind of
// hardware, so a capability can be added without breaking hosts and fakes
// that lack it. Drivers reach them through the functions of the same name
// (GPIO, I2C, Serial, …), which say clearly when the host has none.
//
// The host owns what it hands out: it releases GPIO lines, buses and ports
// when the agent stops, and it serialises transactions on a shared bus.
type Host interface {
	// Clock is the time source; simulated hosts may control it.
	Clock() Clock
	// Logger is the driver's logger, already tagged with the device.
	Logger() *slog.Logger
}

// GPIOHost is a host with GPIO lines.
type GPIOHost interface {
	// GPIO returns the line named name: "GPIO17" on the board, or
	// "<device>/<line>" for a line another device provides (an I2C
	// expander's "relays/GPA0"). Names, not numbers, because numbering
	// differs between boards and kernels.
	GPIO(name string) (gpio.PinIO, error)
}

// I2CHost is a host with I2C buses.
type I2CHost interface {
	// I2C returns a bus by its canonical name (see ParseI2CBus):
	// transactions on it are serialised by the host; a driver must not
	// Close it.
	I2C(bus string) (i2c.Bus, error)
}

// SerialHost is a host with serial ports.
type SerialHost interface {
	// Serial opens the serial port at path for this device alone.
	Serial(path string, mode SerialMode) (Port, error)
}

// SharedSerialHost is a host whose serial lines several devices can share,
// such as an RS-485 line with several Modbus units on it.
type SharedSerialHost interface {
	// SharedSerial opens the line at path for one of the devices on it.
	// Every device on a line must ask for the same mode.
	SharedSerial(path string, mode SerialMode) (SharedPort, error)
}

// PWMHost is a host with PWM outputs.
type PWMHost interface {
	// PWM returns the line named name, able to output PWM with
	// gpio.PinOut's PWM method.
	PWM(name string) (gpio.PinOut, error)
}

// OneWireHost is a host with 1-Wire buses, such as the kernel's w1
// subsystem (/sys/bus/w1/devices).
type OneWireHost interface {
	// OneWire returns the 1-Wire bus named bus: "w1" for the kernel's, or
	// "<device>/<bus>" for a bus another device provides.
	OneWire(bus string) (OneWireBus, error)
}

// FileHost is a host whose read-only system files (/proc, /sys) drivers
// may read, such as the system driver's CPU temperature and load.
type FileHost interface {
	// ReadFile reads a file below /proc or /sys.
	ReadFile(path string) ([]byte, error)
}

// StateHost is a host that remembers what entities last reported across
// restarts of the agent. The agent's host keeps them in its state file
// ([agent] state_dir), falling back to the entity's retained state on the
// broker.
type StateHost interface {
	// LastState returns the state the entity last reported before the
	// agent stopped, and marks the entity's states as worth remembering
	// from now on. ok is false when nothing is known.
	LastState(ctx context.Context, entity string) (v Value, ok bool, err error)
}

// LastState asks h for the state entity last reported before the agent
// stopped (see StateHost), for a driver that restores it at start, such as
// an output with power_on = "restore". ok is false when nothing is known;
// the error wraps ErrUnsupported when h remembers nothing at all. Ask in
// Open, before touching the hardware, and start in the safe state unless
// ok is true and err nil.
func LastState(ctx context.Context, h Host, entity string) (Value, bool, error) {
	c, ok := h.(StateHost)
	if !ok {
		return Value{}, false, unsupported("last state of "+entity, h)
	}
	return c.LastState(ctx, entity)
}

// GPIO returns line name from h, or an error that says h has no GPIO.
func GPIO(h Host, name string) (gpio.PinIO, error) {
	c, ok := h.(GPIOHost)
	if !ok {
		return nil, unsupported("GPIO line "+name, h)
	}
	return c.GPIO(name)
}

// I2C returns an I2C bus from h, or an error that says h has none.
func I2C(h Host, bus string) (i2c.Bus, error) {
	c, ok := h.(I2CHost)
	if !ok {
		return nil, unsupported("I2C bus "+bus, h)
	}
	return c.I2C(bus)
}

// Serial opens a serial port on h, or returns an error that says h has
// none.
func Serial(h Host, path string, mode SerialMode) (Port, error) {
	c, ok := h.(SerialHost)
	if !ok {
		return nil, unsupported("serial port "+path, h)
	}
	return c.Serial(path, mode)
}

// SharedSerial opens a shared serial line on h, or returns an error that
// says h has none.
func SharedSerial(h Host, path string, mode SerialMode) (SharedPort, error) {
	c, ok := h.(SharedSerialHost)
	if !ok {
		return nil, unsupported("shared serial line "+path, h)
	}
	return c.SharedSerial(path, mode)
}

// PWM returns a PWM line from h, or an error that says h has none.
func PWM(h Host, name string) (gpio.PinOut, error) {
	c, ok := h.(PWMHost)
	if !ok {
		return nil, unsupported("PWM line "+name, h)
	}
	return c.PWM(name)
}

// OneWire returns a 1-Wire bus from h, or an error that says h has none.
func OneWire(h Host, bus string) (OneWireBus, error) {
	c, ok := h.(OneWireHost)
	if !ok {
		return nil, unsupported("1-Wire bus "+bus, h)
	}
	return c.OneWire(bus)
}

// ReadFile reads a system file through h, or returns an error that says h
// gives no access to them.
func ReadFile(h Host, path string) ([]byte, error) {
	c, ok := h.(FileHost)
	if !ok {
		return nil, unsupported("file "+path, h)
	}
	return c.ReadFile(path)
}

func unsupported(what string, h Host) error {
	return fmt.Errorf("%s: %w: the host (%T) has no such hardware", what, ErrUnsupported, h)
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

// SharedPort is one device's handle on a serial line it shares with other
// devices. A request and its reply must not interleave with another
// device's, so the line is used only inside Transact.
type SharedPort interface {
	// Transact runs f with the line held for this device alone, until f
	// returns or ctx is done.
	Transact(ctx context.Context, f func(p Port) error) error
	// Close gives up this device's handle; the line closes with the last.
	Close() error
}

// OneWireBus is a 1-Wire bus as the kernel's w1 subsystem shows it.
type OneWireBus interface {
	// Devices lists the ids of the devices on the bus ("28-0316a2796aff").
	Devices() ([]string, error)
	// Read reads one attribute of a device: "temperature", "w1_slave".
	Read(device, attr string) ([]byte, error)
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
