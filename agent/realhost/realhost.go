// Package realhost is the drivers.Host for real Linux hardware, with every
// capability drivers may ask for: GPIO lines and I2C buses through
// periph.io's host drivers (the kernel's GPIO character device and
// /dev/i2c-*); serial ports, alone or shared by several devices, through
// internal/serialport; PWM through the kernel's sysfs PWM
// (/sys/class/pwm); 1-Wire through the kernel's w1 subsystem
// (/sys/bus/w1/devices); and read-only access to /proc and /sys.
//
// GPIO outputs are the exception to "through periph": the host requests an
// output line from the character device itself, with its level in the same
// request, because periph's Out makes the line an output (driven low) before
// it sets the level, and an active-low relay would click on at every start.
//
// The host owns what it hands out. Several devices on one I2C bus share one
// open bus whose transactions the host serialises, so drivers never lock and
// never close a bus; devices on a shared serial line take turns. Close
// releases buses and ports; it deliberately leaves GPIO lines and PWM
// outputs alone (see Host.Close).
package realhost

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/host/v3"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/internal/serialport"
)

// ErrClosed is returned (wrapped) by a Host, and by the buses and ports it
// handed out, after Close.
var ErrClosed = errors.New("host is closed")

// registry is where the host finds lines and buses: periph's registries on
// real hardware, a fake in tests.
type registry interface {
	pin(name string) gpio.PinIO
	pins() []gpio.PinIO
	buses() []*i2creg.Ref
	// chipLine is the character device line behind periph's pin, if any.
	chipLine(p gpio.PinIO) (chipLine, bool)
}

// periphRegistry reads periph's global registries, filled by host.Init.
type periphRegistry struct{}

func (periphRegistry) pin(name string) gpio.PinIO { return gpioreg.ByName(name) }
func (periphRegistry) pins() []gpio.PinIO         { return gpioreg.All() }
func (periphRegistry) buses() []*i2creg.Ref       { return i2creg.All() }

// Host is the real hardware host. It implements drivers.Host and every
// capability of it (GPIOHost, I2CHost, SerialHost, SharedSerialHost,
// PWMHost, OneWireHost, FileHost), and is safe for concurrent use by the
// devices' goroutines.
type Host struct {
	log    *slog.Logger
	reg    registry
	kernel gpioKernel
	// root is the directory that stands for / when the host reads /proc
	// and /sys (files, 1-Wire, PWM): "/" but in tests.
	root string
	// writeFile writes a sysfs attribute; tests fake the kernel's
	// reaction to some writes (an export making a directory).
	writeFile func(name string, data []byte) error
	// exportWait bounds the wait for a PWM channel to appear and become
	// writable after its export.
	exportWait time.Duration
	shared     *serialport.Shared

	mu     sync.Mutex
	closed bool
	buses  map[int]*bus
	ports  map[*port]struct{}
	lines  map[lineKey]*lineState
	pwms   map[pwmKey]*pwmState
}

// New initialises periph's host drivers and returns the host. It succeeds on
// a machine without GPIO or I2C: such a host simply has no lines or buses,
// and asking for one gives an error that says so.
//
// periph's host.Init returns no error when a driver fails (the rpi driver
// does on a Pi 5 or CM5), so New logs each failed driver as a warning, and
// each loaded or skipped one at debug level.
func New(log *slog.Logger) (*Host, error) {
	if log == nil {
		log = slog.Default()
	}
	state, err := host.Init()
	if err != nil {
		return nil, fmt.Errorf("realhost: initialise periph host drivers: %w", err)
	}
	logState(log, state)
	return newHost(log, periphRegistry{}, newKernel()), nil
}

// logState reports how periph's drivers fared.
func logState(log *slog.Logger, state *driverreg.State) {
	for _, d := range state.Loaded {
		log.Debug("periph driver loaded", "driver", d.String())
	}
	for _, f := range state.Skipped {
		log.Debug("periph driver skipped", "driver", f.D.String(), "reason", f.Err)
	}
	for _, f := range state.Failed {
		log.Warn("periph driver failed; the hardware it serves is unavailable", "driver", f.D.String(), "err", f.Err)
	}
}

func newHost(log *slog.Logger, reg registry, kernel gpioKernel) *Host {
	h := &Host{
		log:        log,
		reg:        reg,
		kernel:     kernel,
		root:       "/",
		writeFile:  writeSysfs,
		exportWait: 2 * time.Second,
		buses:      map[int]*bus{},
		ports:      map[*port]struct{}{},
		lines:      map[lineKey]*lineState{},
		pwms:       map[pwmKey]*pwmState{},
	}
	h.shared = serialport.NewShared(func(path string, mode drivers.SerialMode) (drivers.Port, error) {
		return serialport.Open(path, mode)
	}, ErrClosed)
	return h
}

// provided returns the error for a line or bus another device provides:
// the agent hands those out, never the host.
func provided(what, name string) error {
	dev, _, _ := drivers.SplitProvided(name)
	return fmt.Errorf("%s %q is provided by device %q: the agent hands it out, not the host, which has only the board's own", what, name, dev)
}

// GPIO implements drivers.GPIOHost. name is the line's name as the kernel
// labels it ("GPIO17"), never a number: chip and line numbers differ
// between boards and kernels, and a bare "17" is rejected with a hint.
// Names resolve as periph resolves them, aliases included.
//
// A line on a GPIO character device (/dev/gpiochipN) comes back as the
// host's own pin, which implements gpio.PinIO and pin.PinFunc:
//
//   - Out first requests the line as an output already driving the level,
//     in one GPIO_V2_GET_LINE_IOCTL, so it never shows the other level on
//     the way; later calls set the level on that request. The kernel lists
//     the holder as "pinion" (gpioinfo).
//   - Read and Func on a line the host drives report the level last driven
//     and leave the line alone; periph's would turn it into an input.
//   - In, Read, WaitForEdge, Pull, DefaultPull and Halt otherwise go to
//     periph's pin; In first releases the host's output request. On a line
//     the host drives, WaitForEdge returns false at once and PWM refuses.
//   - One line serves one device: using a line under a second name (an
//     alias) while the first uses it is a "line busy" error.
//
// Asking twice for a name gives a pin with the same state, so a device
// reopened after a failure keeps driving its line. A pin that no character
// device serves (a CPU driver's register-mapped pin) is returned as periph
// has it.
func (h *Host) GPIO(name string) (gpio.PinIO, error) {
	if err := h.checkOpen(); err != nil {
		return nil, fmt.Errorf("gpio %q: %w", name, err)
	}
	if name == "" {
		return nil, errors.New(`gpio: no line name; write the line's name such as "GPIO17"`)
	}
	if isDigits(name) {
		return nil, fmt.Errorf("gpio %q: a bare number is ambiguous (chip numbering differs between boards); write the line's name, \"GPIO%s\"", name, name)
	}
	if _, _, ok := drivers.SplitProvided(name); ok {
		return nil, provided("gpio", name)
	}
	p := h.reg.pin(name)
	if p == nil {
		return nil, unknownPin(name, h.reg.pins())
	}
	cl, ok := h.reg.chipLine(p)
	if !ok {
		return p, nil
	}
	return &chardevPin{name: p.Name(), p: p, st: h.line(cl)}, nil
}

// line returns the state of a character device line, made on first use.
func (h *Host) line(cl chipLine) *lineState {
	key := lineKey{chip: cl.chip, offset: cl.offset}
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.lines[key]
	if !ok {
		st = &lineState{key: key, periph: cl.periph, kernel: h.kernel}
		h.lines[key] = st
	}
	return st
}

// unknownPin builds the error for a line that is not there, with what the
// user most likely needs: the right spelling, or a sample of what exists.
func unknownPin(name string, all []gpio.PinIO) error {
	if len(all) == 0 {
		return fmt.Errorf("gpio %q: not found: this machine has no GPIO lines (no /dev/gpiochip*, or the user running pinion cannot open them: add it to the gpio group); check with gpioinfo", name)
	}
	names := make([]string, 0, len(all))
	for _, p := range all {
		if strings.EqualFold(p.Name(), name) {
			return fmt.Errorf("gpio %q: not found; did you mean %q? (line names are case-sensitive)", name, p.Name())
		}
		names = append(names, p.Name())
	}
	// GPIOn names first: they are what people write; then the others.
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(gpioRank(a), gpioRank(b)), naturalCompare(a, b))
	})
	const few = 8
	sample := strings.Join(names[:min(few, len(names))], ", ")
	if len(names) > few {
		sample += fmt.Sprintf(", … (%d in all)", len(names))
	}
	return fmt.Errorf("gpio %q: not found; lines on this machine include %s; list them all with gpioinfo", name, sample)
}

// I2C implements drivers.I2CHost. bus is written any way
// drivers.ParseI2CBus takes ("1", "I2C1", "/dev/i2c-1"); all name the same
// bus and share one open handle whose transactions are serialised. The
// returned bus's Close does nothing: the host closes the bus.
func (h *Host) I2C(name string) (i2c.Bus, error) {
	if _, _, ok := drivers.SplitProvided(name); ok {
		return nil, provided("i2c", name)
	}
	canon, err := drivers.ParseI2CBus(name)
	if err != nil {
		return nil, fmt.Errorf("i2c: %w", err)
	}
	n, err := strconv.Atoi(canon)
	if err != nil {
		return nil, fmt.Errorf("i2c %q: bus number %s: %w", name, canon, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("i2c %q: %w", name, ErrClosed)
	}
	if b, ok := h.buses[n]; ok {
		return b, nil
	}
	refs := h.reg.buses()
	i := slices.IndexFunc(refs, func(r *i2creg.Ref) bool { return r.Number == n })
	if i < 0 {
		return nil, unknownBus(name, n, refs)
	}
	bc, err := refs[i].Open()
	if err != nil {
		return nil, fmt.Errorf("i2c %q: open %s: %w (the user running pinion needs to be in the i2c group)", name, refs[i].Name, err)
	}
	b := &bus{name: fmt.Sprintf("I2C%d", n), bc: bc}
	h.buses[n] = b
	return b, nil
}

func unknownBus(name string, n int, refs []*i2creg.Ref) error {
	const hint = "enable I2C with raspi-config (or dtparam=i2c_arm=on in config.txt) and reboot"
	if len(refs) == 0 {
		return fmt.Errorf("i2c %q: bus %d not found: this machine has no I2C buses (no /dev/i2c-*); %s", name, n, hint)
	}
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.Name
	}
	return fmt.Errorf("i2c %q: bus %d not found; this machine has %s; or %s", name, n, strings.Join(names, ", "), hint)
}

// Serial implements drivers.SerialHost. The host closes the port at Close
// if the driver has not.
func (h *Host) Serial(path string, mode drivers.SerialMode) (drivers.Port, error) {
	if path == "" {
		return nil, errors.New(`serial: no path; write the port's path such as "/dev/serial0" or "/dev/ttyUSB0"`)
	}
	if err := h.checkOpen(); err != nil {
		return nil, fmt.Errorf("serial %s: %w", path, err)
	}
	sp, err := serialport.Open(path, mode)
	if err != nil {
		return nil, err // serialport's error names the path and the fix.
	}
	p := &port{Port: sp, s: h, path: path}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		_ = sp.Close()
		return nil, fmt.Errorf("serial %s: %w", path, ErrClosed)
	}
	h.ports[p] = struct{}{}
	return p, nil
}

// SharedSerial implements drivers.SharedSerialHost: the devices on the
// line at path take turns (Transact), must all ask for the same mode, and
// the port closes with the last of them or at Close. A port that fails (a
// USB adapter unplugged) is closed and opened again at the next
// transaction. See serialport.Shared.
func (h *Host) SharedSerial(path string, mode drivers.SerialMode) (drivers.SharedPort, error) {
	if err := h.checkOpen(); err != nil {
		return nil, fmt.Errorf("serial %s: %w", path, err)
	}
	return h.shared.Open(path, mode)
}

// Clock implements drivers.Host with the wall clock.
func (h *Host) Clock() drivers.Clock { return drivers.SystemClock{} }

// Logger implements drivers.Host.
func (h *Host) Logger() *slog.Logger { return h.log }

// Close closes every I2C bus and every serial port and shared line still
// open, after which the host and the buses and ports they handed out
// return ErrClosed. Closing twice is harmless.
//
// GPIO lines are left exactly as they are: not halted, not reconfigured and
// not released, and pins handed out keep working. Releasing a line lets some
// kernels (upstream pinctrl-bcm2835) turn it back into an input, which would
// drop a relay that an output holds; the kernel releases the lines when the
// process exits, the moment the device's own Close has already put them in
// the state the configuration asks for. PWM outputs are left running and
// exported for the same reason: the device's Close decides what a light
// shows after the agent stops.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	buses := h.buses
	ports := h.ports
	h.buses, h.ports = nil, nil
	h.mu.Unlock()

	var errs []error
	if err := h.shared.Close(); err != nil {
		errs = append(errs, err)
	}
	for _, b := range buses {
		if err := b.release(); err != nil {
			errs = append(errs, err)
		}
	}
	for p := range ports {
		if err := p.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("realhost: close: %w", err)
	}
	return nil
}

func (h *Host) checkOpen() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	return nil
}

// bus is an I2C bus shared by every device on it. Its mutex makes each Tx
// one uninterrupted exchange, so a sensor's write-register-then-read is not
// split by another device's transaction.
type bus struct {
	name string

	mu sync.Mutex
	bc i2c.BusCloser // nil once released
}

// String implements i2c.Bus.
func (b *bus) String() string { return b.name }

// Tx implements i2c.Bus, one transaction at a time.
func (b *bus) Tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bc == nil {
		return fmt.Errorf("i2c %s: %w", b.name, ErrClosed)
	}
	if err := b.bc.Tx(addr, w, r); err != nil {
		return fmt.Errorf("i2c %s: address %#02x: %w", b.name, addr, err)
	}
	return nil
}

// SetSpeed implements i2c.Bus. The speed is the bus's, so it applies to
// every device on it.
func (b *bus) SetSpeed(f physic.Frequency) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bc == nil {
		return fmt.Errorf("i2c %s: %w", b.name, ErrClosed)
	}
	if err := b.bc.SetSpeed(f); err != nil {
		return fmt.Errorf("i2c %s: set speed %s: %w", b.name, f, err)
	}
	return nil
}

// Close does nothing and returns nil: the bus is shared, and a driver that
// closes what it was given (as io.Closer) must not cut off its neighbours.
// The host closes the bus.
func (b *bus) Close() error { return nil }

// release closes the underlying bus, waiting for a transaction in flight.
func (b *bus) release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bc == nil {
		return nil
	}
	err := b.bc.Close()
	b.bc = nil
	if err != nil {
		return fmt.Errorf("i2c %s: close: %w", b.name, err)
	}
	return nil
}

// port is a serial port the host handed out. It refuses to write after
// Close because go.bug.st/serial would write to the closed (and possibly
// reused) file descriptor.
type port struct {
	*serialport.Port
	s    *Host
	path string

	mu     sync.RWMutex
	closed bool
}

// Write implements io.Writer.
func (p *port) Write(b []byte) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return 0, fmt.Errorf("serial %s: write: %w", p.path, ErrClosed)
	}
	return p.Port.Write(b)
}

// Close implements io.Closer; a pending Read returns an error. Closing twice
// is harmless.
func (p *port) Close() error {
	p.s.mu.Lock()
	delete(p.s.ports, p)
	p.s.mu.Unlock()
	return p.close()
}

func (p *port) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if err := p.Port.Close(); err != nil {
		return fmt.Errorf("serial %s: close: %w", p.path, err)
	}
	return nil
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// gpioRank sorts names of the form GPIOn before the rest.
func gpioRank(name string) int {
	if strings.HasPrefix(name, "GPIO") && isDigits(name[4:]) {
		return 0
	}
	return 1
}

// naturalCompare orders names by their text, then by the number they end in,
// so GPIO2 comes before GPIO10.
func naturalCompare(a, b string) int {
	split := func(s string) (string, int) {
		i := len(s)
		for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
			i--
		}
		n, err := strconv.Atoi(s[i:])
		if err != nil {
			return s, -1
		}
		return s[:i], n
	}
	pa, na := split(a)
	pb, nb := split(b)
	return cmp.Or(cmp.Compare(pa, pb), cmp.Compare(na, nb), cmp.Compare(a, b))
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
	_ i2c.Bus                  = (*bus)(nil)
	_ drivers.Port             = (*port)(nil)
)
