package sim

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/pinion-home/pinion/drivers"
)

// kernelW1 is the name of the kernel's 1-Wire bus, the one a board has.
const kernelW1 = "w1"

// w1Devices is where the kernel lists 1-Wire devices.
const w1Devices = "/sys/bus/w1/devices"

// w1ID is the form of a 1-Wire device's id in the kernel: the family
// code, a dash and the 48-bit serial number, in lower-case hex
// ("28-0316a2796aff").
var w1ID = regexp.MustCompile(`^[0-9a-f]{2}-[0-9a-f]{12}$`)

// oneWireBus is a simulated 1-Wire bus: its devices and their attribute
// files, as the kernel's w1 subsystem shows them.
type oneWireBus struct {
	h       *Host
	name    string
	devices map[string]map[string][]byte // guarded by h.mu
}

// checkW1Bus checks that bus names the board's 1-Wire bus.
func checkW1Bus(bus string) error {
	if _, _, ok := drivers.SplitProvided(bus); ok {
		return provided("1-Wire bus", bus)
	}
	if bus != kernelW1 {
		return fmt.Errorf("sim: no 1-Wire bus %q: the board's is the kernel's, %q", bus, kernelW1)
	}
	return nil
}

// checkElem checks a device id or an attribute name: one path element.
func checkElem(what, s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("1-Wire %s %q: want a name without slashes", what, s)
	}
	return nil
}

// AddOneWireDevice puts a device with id on the 1-Wire bus (the kernel's,
// "w1"), with attribute files as the kernel's driver for its family would
// show them in /sys/bus/w1/devices/<id>/: "w1_slave" and "temperature" for
// a DS18B20, for example. id is written as the kernel writes it:
// "28-0316a2796aff". The bus exists once it has a device.
func (h *Host) AddOneWireDevice(bus, id string, attrs map[string][]byte) error {
	if err := checkW1Bus(bus); err != nil {
		return err
	}
	if !w1ID.MatchString(id) {
		return fmt.Errorf(`sim: 1-Wire device %q: want the kernel's form, family and serial number in lower-case hex such as "28-0316a2796aff"`, id)
	}
	files := make(map[string][]byte, len(attrs))
	for a, b := range attrs {
		if err := checkElem("attribute", a); err != nil {
			return fmt.Errorf("sim: device %s: %w", id, err)
		}
		files[a] = clone(b)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.w1[bus]
	if !ok {
		b = &oneWireBus{h: h, name: bus, devices: map[string]map[string][]byte{}}
		h.w1[bus] = b
	}
	if _, dup := b.devices[id]; dup {
		return fmt.Errorf("sim: 1-Wire bus %s: device %s is already on it", bus, id)
	}
	b.devices[id] = files
	return nil
}

// SetOneWireAttr sets one attribute file of a device on the bus, as the
// device's state changes (a new temperature); nil content removes it.
func (h *Host) SetOneWireAttr(bus, id, attr string, content []byte) error {
	if err := checkW1Bus(bus); err != nil {
		return err
	}
	if err := checkElem("attribute", attr); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	files, ok := h.w1[bus].lookup(id)
	if !ok {
		return fmt.Errorf("sim: 1-Wire bus %s: no device %s (add it with AddOneWireDevice)", bus, id)
	}
	if content == nil {
		delete(files, attr)
	} else {
		files[attr] = clone(content)
	}
	return nil
}

// RemoveOneWireDevice takes a device off the bus, as if it was unplugged:
// the kernel drops its directory.
func (h *Host) RemoveOneWireDevice(bus, id string) error {
	if err := checkW1Bus(bus); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.w1[bus].lookup(id); !ok {
		return fmt.Errorf("sim: 1-Wire bus %s: no device %s", bus, id)
	}
	delete(h.w1[bus].devices, id)
	return nil
}

// OneWire implements drivers.OneWireHost: "w1" is the kernel's bus, there
// once a device was added to it.
func (h *Host) OneWire(bus string) (drivers.OneWireBus, error) {
	if err := checkW1Bus(bus); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.w1[bus]
	if !ok {
		return nil, fmt.Errorf("sim: no 1-Wire bus %q (add a device to it with AddOneWireDevice first)", bus)
	}
	return b, nil
}

// lookup returns a device's files; b may be nil. Callers hold h.mu.
func (b *oneWireBus) lookup(id string) (map[string][]byte, bool) {
	if b == nil {
		return nil, false
	}
	files, ok := b.devices[id]
	return files, ok
}

// Devices implements drivers.OneWireBus, sorted.
func (b *oneWireBus) Devices() ([]string, error) {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	ids := make([]string, 0, len(b.devices))
	for id := range b.devices {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// Read implements drivers.OneWireBus. A device or attribute that is not
// there fails as reading its file fails on Linux.
func (b *oneWireBus) Read(device, attr string) ([]byte, error) {
	if err := checkElem("device", device); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if err := checkElem("attribute", attr); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	if data, ok := b.devices[device][attr]; ok {
		return clone(data), nil
	}
	return nil, &fs.PathError{Op: "open", Path: path.Join(w1Devices, device, attr), Err: syscall.ENOENT}
}

// w1File returns the file at p if it is an attribute of a device on the
// kernel's bus. Callers hold mu.
func (h *Host) w1File(p string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(p, w1Devices+"/")
	if !ok {
		return nil, false
	}
	id, attr, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(attr, "/") {
		return nil, false
	}
	files, ok := h.w1[kernelW1].lookup(id)
	if !ok {
		return nil, false
	}
	b, ok := files[attr]
	if !ok {
		return nil, false
	}
	return clone(b), true
}

// w1Dir reports whether p is a directory of the kernel's 1-Wire tree.
// Callers hold mu.
func (h *Host) w1Dir(p string) bool {
	b := h.w1[kernelW1]
	if b == nil {
		return false
	}
	if p == w1Devices || strings.HasPrefix(w1Devices, p+"/") {
		return true
	}
	id, ok := strings.CutPrefix(p, w1Devices+"/")
	if !ok {
		return false
	}
	_, ok = b.devices[id]
	return ok
}
