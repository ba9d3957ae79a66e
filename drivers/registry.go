package drivers

import (
	"fmt"
	"slices"
	"sync"
)

// APIVersion is the version of this driver API. A Go plugin exports the
// value it was built against and the agent refuses one that differs.
const APIVersion = 1

// Factory builds a Device from its configuration. It decodes and validates
// the configuration but must not touch hardware.
type Factory func(cfg Config) (Device, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a driver available by name. It panics if name is empty,
// if factory is nil or if the name is already registered, because each is a
// programming error that must surface at start, not at the first config that
// names the driver.
func Register(name string, factory Factory) {
	if name == "" {
		panic("drivers: Register called with an empty name")
	}
	if factory == nil {
		panic(fmt.Sprintf("drivers: Register %q called with a nil factory", name))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("drivers: Register called twice for driver %q", name))
	}
	registry[name] = factory
}

// Lookup returns the factory registered under name.
func Lookup(name string) (Factory, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	f, ok := registry[name]
	return f, ok
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

// Registrar is what a Go plugin's exported Register function receives: the
// same registry, behind an interface so the plugin does not depend on
// package state it could duplicate.
type Registrar interface {
	Register(name string, factory Factory)
}

// DefaultRegistrar registers into this package's registry.
type DefaultRegistrar struct{}

// Register implements Registrar by calling Register.
func (DefaultRegistrar) Register(name string, factory Factory) { Register(name, factory) }

var samples = map[string]string{}

// RegisterSample records a driver's sample configuration (a commented
// [[device]] table), which `pinion -sample <driver>` prints. Drivers call it
// from init() next to Register.
func RegisterSample(name, sample string) {
	registryMu.Lock()
	defer registryMu.Unlock()
	samples[name] = sample
}

// Sample returns the sample configuration registered for a driver.
func Sample(name string) (string, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s, ok := samples[name]
	return s, ok
}
