package realhost

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/pinion-home/pinion/drivers"
)

// kernelW1 is the name drivers give the kernel's 1-Wire subsystem.
const kernelW1 = "w1"

// w1Devices is where the kernel lists the devices on its 1-Wire buses,
// every bus master's together.
const w1Devices = "/sys/bus/w1/devices"

// OneWire implements drivers.OneWireHost. The host has one bus, "w1": the
// kernel's 1-Wire subsystem, whose devices are the directories of
// /sys/bus/w1/devices, with the attribute files the kernel's driver for
// their family makes ("w1_slave" and "temperature" for a DS18B20).
func (h *Host) OneWire(bus string) (drivers.OneWireBus, error) {
	if err := h.checkOpen(); err != nil {
		return nil, fmt.Errorf("1-Wire bus %q: %w", bus, err)
	}
	if _, _, ok := drivers.SplitProvided(bus); ok {
		return nil, provided("1-Wire bus", bus)
	}
	if bus != kernelW1 {
		return nil, fmt.Errorf("1-Wire bus %q: the host's bus is the kernel's, %q", bus, kernelW1)
	}
	if _, err := os.Stat(h.sys(w1Devices)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("1-Wire bus w1: no %s: the kernel's 1-Wire support is not loaded; on a Raspberry Pi add dtoverlay=w1-gpio (data on GPIO4) to config.txt and reboot", w1Devices)
		}
		return nil, fmt.Errorf("1-Wire bus w1: %w", renamePathError(err, "stat", w1Devices))
	}
	return &w1Bus{h: h}, nil
}

// w1Bus is the kernel's 1-Wire bus.
type w1Bus struct{ h *Host }

// Devices implements drivers.OneWireBus: the devices the kernel found,
// sorted, without its bus masters (w1_bus_master1).
func (b *w1Bus) Devices() ([]string, error) {
	if err := b.h.checkOpen(); err != nil {
		return nil, fmt.Errorf("1-Wire bus w1: %w", err)
	}
	entries, err := os.ReadDir(b.h.sys(w1Devices))
	if err != nil {
		return nil, fmt.Errorf("1-Wire bus w1: list devices: %w", renamePathError(err, "open", w1Devices))
	}
	var ids []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "w1_bus_master") {
			ids = append(ids, e.Name())
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Read implements drivers.OneWireBus by reading
// /sys/bus/w1/devices/<device>/<attr>. Reading w1_slave or temperature of
// a thermometer takes as long as its conversion, up to 750 ms.
func (b *w1Bus) Read(device, attr string) ([]byte, error) {
	if err := b.h.checkOpen(); err != nil {
		return nil, fmt.Errorf("1-Wire bus w1: %w", err)
	}
	for _, e := range []struct{ what, s, example string }{
		{"device", device, "28-0316a2796aff"},
		{"attribute", attr, "temperature"},
	} {
		if e.s == "" || e.s == "." || e.s == ".." || strings.ContainsAny(e.s, "/\x00") {
			return nil, fmt.Errorf("1-Wire bus w1: %s %q: want a name without slashes, such as %q", e.what, e.s, e.example)
		}
	}
	p := path.Join(w1Devices, device, attr)
	data, err := os.ReadFile(b.h.sys(p))
	if err != nil {
		return nil, fmt.Errorf("1-Wire bus w1: %w", renamePathError(err, "read", p))
	}
	return data, nil
}
