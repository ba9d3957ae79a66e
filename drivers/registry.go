package drivers

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// APIVersion is the version of this driver API. A Go plugin exports the
// value it was built against and the agent refuses one that differs.
// Version 2 is the Output-based API: devices report through an Output,
// entities carry a Spec per component, and the host is a set of
// capabilities.
const APIVersion = 2

// Driver is a driver's registration record: everything the agent and its
// command line need to know about a driver, in one value.
type Driver struct {
	// Name is the value of driver = in a [[device]] table: lower-case
	// letters, digits, '-' and '_', such as "bme280". Custom drivers take a prefix of
	// their own ("acme-relay") so that no built-in driver takes it later.
	Name string
	// New builds a Device from its configuration. It decodes and checks the
	// configuration but must not touch hardware, so that `pinion -check`
	// and `pinion -print-discovery` work on any machine.
	New func(cfg Config) (Device, error)
	// Sample is a commented sample [[device]] table with every key at its
	// default, shown by `pinion -sample <name>`. Drivers embed it from a
	// sample.toml file.
	Sample string
	// DefaultInterval is how often the driver's devices are polled and
	// their states republished when the [[device]] table sets no interval.
	// Zero means the agent's default (30 s).
	DefaultInterval time.Duration
	// Description is one line that says what the driver drives, for
	// `pinion -drivers`.
	Description string
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Driver{}
)

// Register makes a compiled-in driver available by name. It panics when
// d is invalid (no name, no New) or its name is taken, because each is a
// programming error that must surface at start, not at the first config
// that names the driver. Loaders of drivers found at run time (Go plugins,
// exec drivers) call TryRegister instead.
func Register(d Driver) {
	if err := TryRegister(d); err != nil {
		panic(err)
	}
}

// ErrNameTaken is returned (wrapped) by TryRegister for a name that a
// driver already registered.
var ErrNameTaken = errors.New("driver name already registered")

// TryRegister is Register for loaders: it returns an error instead of
// panicking, so a broken plugin is reported and the agent goes on.
func TryRegister(d Driver) error {
	if d.Name == "" {
		return errors.New("drivers: register: the driver has an empty name")
	}
	if !validDriverName(d.Name) {
		return fmt.Errorf("drivers: register %q: a driver name is lower-case letters, digits, '-' and '_'", d.Name)
	}
	if d.New == nil {
		return fmt.Errorf("drivers: register %q: New is nil", d.Name)
	}
	if d.DefaultInterval < 0 {
		return fmt.Errorf("drivers: register %q: DefaultInterval %v is negative", d.Name, d.DefaultInterval)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[d.Name]; dup {
		return fmt.Errorf("drivers: register %q: %w", d.Name, ErrNameTaken)
	}
	registry[d.Name] = d
	return nil
}

func validDriverName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Lookup returns the driver registered under name.
func Lookup(name string) (Driver, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	d, ok := registry[name]
	return d, ok
}

// Names returns the names of the registered drivers, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
