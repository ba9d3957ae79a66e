package drivers

import (
	"fmt"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
)

// ResourceKind is the kind of hardware a Resource names.
type ResourceKind string

// Kinds of resources.
const (
	ResourceGPIO    ResourceKind = "gpio"
	ResourceI2C     ResourceKind = "i2c"
	ResourceSerial  ResourceKind = "serial"
	ResourcePWM     ResourceKind = "pwm"
	ResourceOneWire ResourceKind = "w1"
)

// Resource is a piece of hardware a device claims: a GPIO line, an I2C
// address on a bus, a serial port. Build one with GPIOLine, I2CAddress,
// SerialPort, SharedSerialPort, PWMLine or OneWireDevice, which give it
// its one canonical form, so that "I2C1" and "/dev/i2c-1" are the same bus.
type Resource struct {
	Kind ResourceKind
	// Bus is the bus of an I2C address or a 1-Wire device, canonical.
	Bus string
	// Name is the line's name, the port's path or the 1-Wire device's id.
	Name string
	// Addr is the I2C address.
	Addr uint16
	// Shared marks a claim that other shared claims of the same resource
	// do not conflict with: several Modbus units on one RS-485 line.
	Shared bool
}

// GPIOLine is the resource of a GPIO line: "GPIO17", or "<device>/<line>"
// for a line another device provides.
func GPIOLine(name string) Resource { return Resource{Kind: ResourceGPIO, Name: name} }

// PWMLine is the resource of a PWM output line.
func PWMLine(name string) Resource { return Resource{Kind: ResourcePWM, Name: name} }

// I2CAddress is the resource of the chip at addr on an I2C bus. bus is
// written any way ParseI2CBus takes; one it cannot parse is kept as given
// (the driver's New reports it).
func I2CAddress(bus string, addr uint16) Resource {
	if b, err := ParseI2CBus(bus); err == nil {
		bus = b
	}
	return Resource{Kind: ResourceI2C, Bus: bus, Addr: addr}
}

// SerialPort is the resource of a serial port used by one device alone.
func SerialPort(path string) Resource { return Resource{Kind: ResourceSerial, Name: path} }

// SharedSerialPort is the resource of a serial line shared with other
// devices that claim it shared too.
func SharedSerialPort(path string) Resource {
	return Resource{Kind: ResourceSerial, Name: path, Shared: true}
}

// OneWireDevice is the resource of one device on a 1-Wire bus.
func OneWireDevice(bus, id string) Resource {
	return Resource{Kind: ResourceOneWire, Bus: bus, Name: id}
}

// String is the canonical form: "gpio:GPIO17", "i2c:1:0x76",
// "serial:/dev/ttyUSB0", "w1:w1:28-0316a2796aff".
func (r Resource) String() string {
	switch r.Kind {
	case ResourceI2C:
		return fmt.Sprintf("i2c:%s:%#02x", r.Bus, r.Addr)
	case ResourceOneWire:
		return "w1:" + r.Bus + ":" + r.Name
	}
	return string(r.Kind) + ":" + r.Name
}

// Conflicts reports whether r and o cannot both be claimed: they name the
// same hardware, unless both are shared claims.
func (r Resource) Conflicts(o Resource) bool {
	same := r.Kind == o.Kind && r.Bus == o.Bus && r.Name == o.Name && r.Addr == o.Addr
	// A PWM line is a GPIO line too.
	if !same && r.Name == o.Name && r.Name != "" && pinKind(r.Kind) && pinKind(o.Kind) {
		same = true
	}
	return same && !(r.Shared && o.Shared)
}

func pinKind(k ResourceKind) bool { return k == ResourceGPIO || k == ResourcePWM }

// Provider returns the id of the device that provides the resource, for a
// line or a bus named "<device>/<name>", and "" for the board's own.
func (r Resource) Provider() string {
	var name string
	switch r.Kind {
	case ResourceGPIO, ResourcePWM:
		name = r.Name
	case ResourceI2C, ResourceOneWire:
		name = r.Bus
	default:
		return ""
	}
	dev, _, ok := SplitProvided(name)
	if !ok {
		return ""
	}
	return dev
}

// SplitProvided splits a provided line or bus name, "relays/GPA0", into
// the providing device's id and the name it gives the line. It reports
// false for a name of the board's own ("GPIO17", "/dev/i2c-1").
func SplitProvided(name string) (device, local string, ok bool) {
	if strings.HasPrefix(name, "/") {
		return "", "", false
	}
	device, local, ok = strings.Cut(name, "/")
	if !ok || device == "" || local == "" {
		return "", "", false
	}
	return device, local, true
}

// ParseI2CBus returns the canonical name of an I2C bus written "1",
// "I2C1", "i2c-1" or "/dev/i2c-1" (all "1"), or "<device>/<bus>" for a bus
// another device provides (kept as written). It is the one place bus names
// are parsed, for drivers, hosts and the agent alike.
func ParseI2CBus(s string) (string, error) {
	if _, _, ok := SplitProvided(s); ok {
		return s, nil
	}
	n := s
	for _, p := range []string{"/dev/i2c-", "I2C", "i2c-", "i2c"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			n = rest
			break
		}
	}
	v, err := strconv.ParseUint(n, 10, 16)
	if err != nil || n == "" || n[0] == '+' || len(n) > 1 && n[0] == '0' {
		return "", fmt.Errorf(`I2C bus %q: write its number, such as "1" (also "I2C1" or "/dev/i2c-1"), or "<device>/<bus>" for a bus another device provides`, s)
	}
	return strconv.FormatUint(v, 10), nil
}

// GPIOProvider is a device that offers GPIO lines to other devices, such
// as an I2C port expander's pins. Other devices name a line
// "<provider's id>/<line>" ("relays/GPA0") and use it with every option
// they have for the board's lines. The agent opens a provider before the
// devices that use its lines, and makes them unavailable while it fails.
type GPIOProvider interface {
	// ProvidedLines lists the lines offered, from the configuration alone.
	ProvidedLines() []string
	// ProvidedLine returns one of them. The agent calls it after the
	// provider's Open succeeded; the line is then used from the dependent
	// device's worker, so it must be safe to use beside the provider's own
	// (the host serialises the I2C bus under it). This is the one place a
	// driver guards state of its own, such as an expander's cached output
	// register, with a lock. The agent closes the dependents before the
	// provider when the provider fails or the agent stops.
	ProvidedLine(name string) (gpio.PinIO, error)
}

// I2CProvider is a device that offers I2C buses to other devices, such as
// an I2C multiplexer's channels, named "<provider's id>/<bus>".
type I2CProvider interface {
	// ProvidedBuses lists the buses offered, from the configuration alone.
	ProvidedBuses() []string
	// ProvidedBus returns one of them, after the provider's Open
	// succeeded; it must be safe to use from other devices' workers.
	ProvidedBus(name string) (i2c.Bus, error)
}
