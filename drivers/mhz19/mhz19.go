// Package mhz19 is the "mhz19" driver: a Winsen MH-Z19 (B, C) NDIR CO₂
// sensor on a serial port, 9600 8N1.
//
// Configuration keys:
//
//	port  = "/dev/serial0"  # required: the serial port the sensor is wired to
//	abc   = false           # optional: turn automatic baseline correction on or off at Open
//	range = 5000            # optional: detection range, 2000, 5000 or 10000 ppm, set at Open
//
// abc and range are written to the sensor, which keeps them across power
// cycles; left unset, the driver leaves the sensor's own setting alone, so
// a sensor calibrated elsewhere is not reset behind the user's back.
//
// Entities:
//
//   - co2: the CO₂ concentration in ppm, the reason to fit the sensor.
//   - temperature: the sensor's internal temperature, in whole °C, as a
//     diagnostic entity. The sensor measures it for its own compensation;
//     it reads warm (the lamp heats the housing) and only in whole degrees,
//     so it is not a room temperature and must not be offered as one, but
//     it is the only hint of a sensor in a hot enclosure or in the sun,
//     where CO₂ readings drift.
//
// Each Poll empties the port's input buffer, sends the read request and
// waits up to a second for the reply, hunting for the 0xFF start byte after
// noise and skipping replies to other commands. A poll that fails at the
// port itself — a read or write error rather than a timeout: EIO or ENXIO
// when a USB adapter is unplugged, a port the system closed — closes the
// port and asks the agent to reopen the device (drivers.Output.Reopen),
// which opens the port afresh with backoff and sends the setup commands
// again, since a replugged sensor may have been power-cycled elsewhere.
//
// The sensor takes no commands from Home Assistant: abc and range are
// configuration, written at every Open.
//
// Real units answer a fixed value (often 500 ppm) for the first minutes
// after power-on while the lamp warms up. The driver cannot tell that from
// real air and reports it as is.
package mhz19

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// SampleConfig is a commented sample [[device]] table for this driver, shown
// by the agent's CLI and in the documentation.
//
//go:embed sample.toml
var SampleConfig string

// DefaultInterval is how often the sensor is read when the device sets no
// interval. It measures every 5 seconds by itself; CO₂ in a room changes
// over minutes.
const DefaultInterval = 30 * time.Second

func init() {
	drivers.Register(drivers.Driver{
		Name:            "mhz19",
		New:             New,
		Sample:          SampleConfig,
		DefaultInterval: DefaultInterval,
		Description:     "Winsen MH-Z19B/C CO₂ sensor on a serial port",
	})
}

// Entity ids, which appear in topics and unique ids and so must never change.
const (
	EntityCO2         = "co2"
	EntityTemperature = "temperature"
)

const (
	// replyTimeout bounds the wait for a reply. The sensor answers within
	// tens of milliseconds; a second leaves room for slow USB adapters.
	replyTimeout = time.Second
	// quietGap is how long the line must stay silent after a damaged frame
	// before the read gives up on a clean one: nine bytes take 9.4 ms at
	// 9600 baud, and USB adapters add up to ~16 ms of latency.
	quietGap = 100 * time.Millisecond
	// pollSlice bounds each wait on the port so a cancelled context is
	// noticed promptly.
	pollSlice = 250 * time.Millisecond
)

// Ranges the sensor accepts for its detection range, in ppm.
var validRanges = []int{2000, 5000, 10000}

// config is the driver's own keys.
type config struct {
	Port  string `toml:"port"`
	ABC   *bool  `toml:"abc"`
	Range *int   `toml:"range"`
}

// Device is one MH-Z19 sensor. It implements drivers.Poller and
// drivers.Claimer.
type Device struct {
	id   string
	conf config
	// setup is what Open sends after opening the port: the ABC and range
	// commands the configuration asks for.
	setup [][]byte
	// timeout bounds the wait for a reply; tests shorten it.
	timeout time.Duration

	log  *slog.Logger
	out  drivers.Output // from Open to Close
	port drivers.Port   // open from Open until Close or a port failure
}

// New builds an MH-Z19 device from its configuration. It does not touch
// the port: that waits for Open. The port is cleaned ("/dev/./serial0/" is
// "/dev/serial0"), so that two spellings of one port claim the same
// resource. Every bad value is a drivers.KeyError, and all of them are
// returned at once, with Decode's problems if it found any.
func New(cfg drivers.Config) (drivers.Device, error) {
	var c config
	var errs []error
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			errs = append(errs, err) // the other keys are decoded: check them too
		}
	}
	switch {
	case c.Port == "":
		errs = append(errs, drivers.BadKey("port", `is required: set it to the serial port the sensor is wired to, such as port = "/dev/serial0"`))
	case !filepath.IsAbs(c.Port):
		errs = append(errs, drivers.BadKey("port", `%q is not a device path: use one such as "/dev/serial0" or "/dev/ttyUSB0"`, c.Port))
	default:
		c.Port = filepath.Clean(c.Port)
	}
	d := &Device{id: cfg.ID, conf: c, timeout: replyTimeout, log: slog.Default()}
	if c.ABC != nil {
		d.setup = append(d.setup, abcRequest(*c.ABC))
	}
	if c.Range != nil {
		if slices.Contains(validRanges, *c.Range) {
			d.setup = append(d.setup, rangeRequest(*c.Range))
		} else {
			errs = append(errs, drivers.BadKey("range", "%d is not a range of the sensor: use 2000, 5000 or 10000 (ppm), or leave it unset to keep the sensor's setting", *c.Range))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mhz19 %q: %w", cfg.ID, errors.Join(errs...))
	}
	return d, nil
}

// Info implements drivers.Device.
func (d *Device) Info() drivers.Info {
	return drivers.Info{Manufacturer: "Winsen", Model: "MH-Z19"}
}

// Entities implements drivers.Device. See the package documentation for
// why the temperature is diagnostic.
func (d *Device) Entities() []drivers.Entity {
	return []drivers.Entity{
		{ID: EntityCO2, Name: "CO2",
			Spec: drivers.Sensor{Class: drivers.ClassCO2, Unit: drivers.PPM, State: drivers.StateMeasurement, Precision: 0}},
		{ID: EntityTemperature, Name: "Internal temperature", Diagnostic: true,
			Spec: drivers.Sensor{Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 0}},
	}
}

// Claims implements drivers.Claimer: the serial port is the sensor's alone.
func (d *Device) Claims() []drivers.Resource {
	return []drivers.Resource{drivers.SerialPort(d.conf.Port)}
}

// Open implements drivers.Device: it opens the port at 9600 8N1 and sends
// the ABC and range commands the configuration asks for. States come with
// the first Poll.
func (d *Device) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mhz19 %q: open: %w", d.id, err)
	}
	d.closePort()
	if l := h.Logger(); l != nil {
		d.log = l
	}
	if err := d.connect(h); err != nil {
		return fmt.Errorf("mhz19 %q: open: %w", d.id, err)
	}
	d.out = out
	d.log.Debug("mhz19: port open", "port", d.conf.Port, "setup_commands", len(d.setup))
	return nil
}

// connect opens the port and sends the setup commands.
func (d *Device) connect(h drivers.Host) error {
	p, err := drivers.Serial(h, d.conf.Port, drivers.SerialMode{BaudRate: 9600, DataBits: 8, Parity: drivers.ParityNone, StopBits: 1})
	if err != nil {
		return err
	}
	if err := p.SetReadTimeout(pollSlice); err != nil {
		p.Close()
		return fmt.Errorf("serial %s: set read timeout: %w", d.conf.Port, err)
	}
	for _, req := range d.setup {
		if err := writeFull(p, req); err != nil {
			p.Close()
			return fmt.Errorf("send command 0x%02x: %w", req[2], err)
		}
	}
	d.port = p
	return nil
}

// Poll implements drivers.Poller: it asks the sensor for its CO₂ level and
// temperature. When the port itself fails, it closes the port and asks the
// agent to reopen the device.
func (d *Device) Poll(ctx context.Context) error {
	if d.out == nil {
		return fmt.Errorf("mhz19 %q: poll: the device is not open", d.id)
	}
	if d.port == nil {
		return fmt.Errorf("mhz19 %q: poll: serial %s: the port failed and is closed until the device is reopened", d.id, d.conf.Port)
	}
	r, err := d.exchange(ctx)
	if err != nil {
		if pe := (*portError)(nil); errors.As(err, &pe) {
			d.closePort()
			err = fmt.Errorf("mhz19 %q: poll: %w (the port is reopened)", d.id, err)
			d.out.Reopen(err)
			return err
		}
		return fmt.Errorf("mhz19 %q: poll: %w", d.id, err)
	}
	d.out.State(EntityCO2, drivers.Num(float64(r.PPM), drivers.PPM))
	d.out.State(EntityTemperature, drivers.Num(float64(r.TempC), drivers.Celsius))
	return nil
}

// Close implements drivers.Device. The sensor needs nothing on exit.
func (d *Device) Close() error {
	err := d.closePort()
	d.out = nil
	if err != nil {
		return fmt.Errorf("mhz19 %q: close: %w", d.id, err)
	}
	return nil
}

// closePort closes the port, if open.
func (d *Device) closePort() error {
	if d.port == nil {
		return nil
	}
	err := d.port.Close()
	d.port = nil
	return err
}

// portError marks a failure of the serial port itself rather than of the
// sensor's reply: a read or write that fails instead of timing out, which
// means the adapter is gone or broken (EIO or ENXIO when a USB adapter is
// unplugged, a port closed under the driver). Only opening the port again
// can help, so Poll asks the agent to reopen the device.
type portError struct{ err error }

func (e *portError) Error() string { return e.err.Error() }
func (e *portError) Unwrap() error { return e.err }

// exchange sends the read request and waits for the reply. The input buffer
// is emptied first, so that a late reply to an earlier request, or half a
// frame left by a timeout, cannot be taken for this one's. Its deadlines
// are on the wall clock, not the host's Clock: they bound real I/O on the
// port, which a simulated clock does not speed up.
func (d *Device) exchange(ctx context.Context) (reading, error) {
	if err := d.port.ResetInputBuffer(); err != nil {
		return reading{}, &portError{fmt.Errorf("serial %s: reset input buffer: %w", d.conf.Port, err)}
	}
	if err := writeFull(d.port, readRequest()); err != nil {
		return reading{}, &portError{err}
	}
	var s scanner
	deadline := time.Now().Add(d.timeout)
	var lastByte time.Time
	chunk := make([]byte, 32)
	for {
		if r, ok := s.next(); ok {
			return r, nil
		}
		limit := deadline
		if errors.Is(s.suspect, errChecksum) {
			// A damaged frame: a clean one may still follow a stray 0xFF,
			// but once the line is quiet the damage is the answer.
			if q := lastByte.Add(quietGap); q.Before(limit) {
				limit = q
			}
		}
		wait := time.Until(limit)
		if wait <= 0 {
			return reading{}, d.noReply(&s)
		}
		if err := ctx.Err(); err != nil {
			return reading{}, err
		}
		// At least a millisecond: a zero timeout would wait forever.
		if err := d.port.SetReadTimeout(max(min(wait, pollSlice), time.Millisecond)); err != nil {
			return reading{}, &portError{fmt.Errorf("serial %s: set read timeout: %w", d.conf.Port, err)}
		}
		n, err := d.port.Read(chunk)
		if n > 0 {
			s.add(chunk[:n])
			lastByte = time.Now()
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return reading{}, &portError{err}
		}
	}
}

// noReply explains a read that found no valid reply in time, from the most
// specific clue to the least.
func (d *Device) noReply(s *scanner) error {
	switch {
	case errors.Is(s.suspect, errChecksum):
		return fmt.Errorf("%w; noise on the line: check the wiring, a common ground and the cable length", s.suspect)
	case s.suspect != nil:
		return fmt.Errorf("no answer within %v, only a %w", d.timeout, s.suspect)
	case s.pending() > 0:
		return fmt.Errorf("incomplete answer within %v: %d of %d bytes (check the wiring and the 5V supply)", d.timeout, s.pending(), frameLen)
	case s.noise > 0:
		return fmt.Errorf("no answer within %v: %d bytes of noise without a 0xff start byte (check the baud rate is 9600 and that no serial console or other program uses the port)", d.timeout, s.noise)
	}
	return fmt.Errorf("no answer within %v (check wiring TX↔RX and 5V supply)", d.timeout)
}

// writeFull writes b whole.
func writeFull(w io.Writer, b []byte) error {
	n, err := w.Write(b)
	if err == nil && n < len(b) {
		err = fmt.Errorf("wrote %d of %d bytes: %w", n, len(b), io.ErrShortWrite)
	}
	return err
}

var (
	_ drivers.Device  = (*Device)(nil)
	_ drivers.Poller  = (*Device)(nil)
	_ drivers.Claimer = (*Device)(nil)
)
