package drivertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// fake is a device that keeps the contract unless a test changes one of
// its hooks: a relay with a door contact and a temperature sensor,
// claiming one GPIO line.
type fake struct {
	mu     sync.Mutex
	open   bool
	closes int
	relay  bool

	// Hooks; nil keeps the contract.
	entities  func(open bool) []drivers.Entity
	claims    func(open bool) []string
	info      func() drivers.Info
	openErr   error
	closeHook func(n int, open bool) error // n counts Close calls from 1
	readHook  func(open bool) ([]drivers.Reading, error)
	watchHook func(ctx context.Context, open bool, emit func(drivers.Reading)) error
	setHook   func(entity string, v drivers.Value, open bool) (drivers.Value, error)
}

func goodEntities() []drivers.Entity {
	return []drivers.Entity{
		{ID: "relay", Kind: drivers.KindSwitch, Class: drivers.ClassOutlet, Precision: -1},
		{ID: "door", Name: "Door", Kind: drivers.KindBinarySensor, Class: drivers.ClassDoor, Precision: -1},
		{ID: "temperature", Name: "Temperature", Kind: drivers.KindSensor, Class: drivers.ClassTemperature,
			Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1},
	}
}

func (f *fake) Info() drivers.Info {
	if f.info != nil {
		return f.info()
	}
	return drivers.Info{Manufacturer: "Test", Model: "Fake"}
}

func (f *fake) isOpen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}

func (f *fake) Entities() []drivers.Entity {
	if f.entities != nil {
		return f.entities(f.isOpen())
	}
	return goodEntities()
}

func (f *fake) Claims() []string {
	if f.claims != nil {
		return f.claims(f.isOpen())
	}
	return []string{"gpio:GPIO17"}
}

func (f *fake) Open(ctx context.Context, h drivers.Host) error {
	if f.openErr != nil {
		return f.openErr
	}
	if _, err := h.GPIO("GPIO17"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.open = true
	return nil
}

func (f *fake) Close() error {
	f.mu.Lock()
	f.closes++
	n, open := f.closes, f.open
	f.open = false
	f.mu.Unlock()
	if f.closeHook != nil {
		return f.closeHook(n, open)
	}
	return nil
}

func (f *fake) Read(ctx context.Context) ([]drivers.Reading, error) {
	if f.readHook != nil {
		return f.readHook(f.isOpen())
	}
	declared := map[string]bool{}
	for _, e := range f.Entities() {
		declared[e.ID] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.open {
		return nil, errors.New("fake: read: not open")
	}
	var rs []drivers.Reading
	for _, r := range []drivers.Reading{
		{Entity: "relay", Value: drivers.Bool(f.relay)},
		{Entity: "door", Value: drivers.Bool(true)},
		{Entity: "temperature", Value: drivers.Num(21.5, drivers.Celsius)},
	} {
		if declared[r.Entity] {
			rs = append(rs, r)
		}
	}
	return rs, nil
}

func (f *fake) Watch(ctx context.Context, emit func(drivers.Reading)) error {
	if f.watchHook != nil {
		return f.watchHook(ctx, f.isOpen(), emit)
	}
	if !f.isOpen() {
		return errors.New("fake: watch: not open")
	}
	emit(drivers.Reading{Entity: "door", Value: drivers.Bool(false)})
	<-ctx.Done()
	return nil
}

func (f *fake) Set(ctx context.Context, entity string, v drivers.Value) (drivers.Value, error) {
	if f.setHook != nil {
		return f.setHook(entity, v, f.isOpen())
	}
	if entity != "relay" || v.Kind != drivers.ValueBool {
		return drivers.Value{}, fmt.Errorf("fake: set %q: %w", entity, drivers.ErrUnsupported)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.open {
		return drivers.Value{}, errors.New("fake: set: not open")
	}
	f.relay = v.Bool
	return drivers.Bool(f.relay), nil
}

// Capabilities a test device shows: the fake implements all of them, and
// these hide the ones a case leaves out.
type (
	readerSetterClaimer struct {
		drivers.Device
		drivers.Reader
		drivers.Setter
		drivers.Claimer
	}
	watcherSetterClaimer struct {
		drivers.Device
		drivers.Watcher
		drivers.Setter
		drivers.Claimer
	}
	readerClaimer struct {
		drivers.Device
		drivers.Reader
		drivers.Claimer
	}
	readerOnly struct {
		drivers.Device
		drivers.Reader
	}
	setterClaimer struct {
		drivers.Device
		drivers.Setter
		drivers.Claimer
	}
	deviceOnly struct{ drivers.Device }
)

// sensorsOnly are entities without a switch, for devices without Setter.
func sensorsOnly(bool) []drivers.Entity { return goodEntities()[1:] }

func TestConformancePasses(t *testing.T) {
	for _, tc := range []struct {
		name string
		dev  func(f *fake) drivers.Device
	}{
		{"reader, setter, claimer", func(f *fake) drivers.Device { return f }},
		{"reader and setter", func(f *fake) drivers.Device { return readerSetterClaimer{f, f, f, f} }},
		{"watcher and setter", func(f *fake) drivers.Device { return watcherSetterClaimer{f, f, f, f} }},
		{"sensors", func(f *fake) drivers.Device { f.entities = sensorsOnly; return readerClaimer{f, f, f} }},
		{"reads after Close without claims", func(f *fake) drivers.Device {
			// A device that claims nothing (it reads files) may work
			// without being open.
			f.entities = sensorsOnly
			f.readHook = func(bool) ([]drivers.Reading, error) {
				return []drivers.Reading{{Entity: "temperature", Value: drivers.Num(20, drivers.Celsius)}}, nil
			}
			return readerOnly{f, f}
		}},
		{"claims of every kind", func(f *fake) drivers.Device {
			f.claims = func(bool) []string {
				return []string{"gpio:GPIO17", "i2c:1:0x76", "i2c:0:0x8", "i2c:10:0x3ff", "serial:/dev/serial/by-id/usb-FTDI-if00", "spi:0.1"}
			}
			return f
		}},
		{"reading nothing known", func(f *fake) drivers.Device {
			f.readHook = func(open bool) ([]drivers.Reading, error) {
				if !open {
					return nil, errors.New("closed")
				}
				return []drivers.Reading{{Entity: "temperature", Value: drivers.Value{}}}, nil
			}
			return f
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{}
			ft := runFake(func(tb *fakeTB) { Conformance(tb, tc.dev(f), Host(tb)) })
			if got := ft.reported(); got != "" {
				t.Errorf("Conformance reported a device that keeps the contract:\n%s", got)
			}
			if f.isOpen() {
				t.Error("Conformance left the device open")
			}
		})
	}
}

// TestConformanceReports breaks the contract one rule at a time and checks
// that Conformance says so.
func TestConformanceReports(t *testing.T) {
	bug := func() { panic("driver bug") }
	for _, tc := range []struct {
		name string
		dev  func(f *fake) drivers.Device
		want string
	}{
		{"no entities", func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity { return nil }
			return f
		}, "Entities() is empty"},
		{"bad entity id", func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity {
				e := goodEntities()
				e[1].ID = "front door"
				return e
			}
			return f
		}, `id "front door" is not made of [a-zA-Z0-9_-]`},
		{"empty entity id", func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity { e := goodEntities(); e[2].ID = ""; return e }
			return f
		}, `entity 2: id "" is not made of`},
		{"duplicate entity ids", func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity { e := goodEntities(); e[2].ID = "door"; return e }
			return f
		}, `entity id "door" is used twice`},
		{"no kind", func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity { e := goodEntities(); e[1].Kind = 0; return e }
			return f
		}, `entity 1 ("door"): kind 0 is not KindSensor, KindBinarySensor or KindSwitch`},
		{"class Home Assistant rejects", func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity { e := goodEntities(); e[1].Class = drivers.ClassTemperature; return e }
			return f
		}, "Home Assistant would reject the entities"},
		{"reserved entity id", func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity { e := goodEntities(); e[1].ID = "status"; return e }
			return f
		}, "Home Assistant would reject the entities"},
		{"entities change between calls", func(f *fake) drivers.Device {
			n := 0
			f.entities = func(bool) []drivers.Entity {
				n++
				e := goodEntities()
				e[2].Precision = n
				return e
			}
			return f
		}, "Entities() changed between two calls"},
		{"entities depend on the hardware", func(f *fake) drivers.Device {
			f.entities = func(open bool) []drivers.Entity {
				if open {
					return goodEntities()[:2]
				}
				return goodEntities()
			}
			return f
		}, "Entities() after Open differ from before Open"},
		{"switch without Setter", func(f *fake) drivers.Device { return readerClaimer{f, f, f} },
			`entity "relay" is a switch, but the device does not implement drivers.Setter`},
		{"Setter without switch", func(f *fake) drivers.Device { f.entities = sensorsOnly; return f },
			"implements drivers.Setter but has no switch entity"},
		{"no state source", func(f *fake) drivers.Device { return setterClaimer{f, f, f} },
			"implements neither drivers.Reader nor drivers.Watcher"},
		{"no state source, no Setter", func(f *fake) drivers.Device { f.entities = sensorsOnly; return deviceOnly{f} },
			"implements neither drivers.Reader nor drivers.Watcher"},
		{"GPIO claimed by number", claims("gpio:17"), `claim "gpio:17": want "gpio:" and the line's name`},
		{"claim without a kind", claims("GPIO17"), `claim "GPIO17": want "<kind>:<name>"`},
		{"claim with a space", claims("gpio:GPIO 17"), `claim "gpio:GPIO 17": want "<kind>:<name>"`},
		{"I2C address in capitals", claims("i2c:1:0X76"), `claim "i2c:1:0X76": want "i2c:<bus number>:<address>"`},
		{"I2C address in decimal", claims("i2c:1:118"), `claim "i2c:1:118"`},
		{"I2C address padded", claims("i2c:1:0x08"), `claim "i2c:1:0x08"`},
		{"I2C bus by name", claims("i2c:I2C1:0x76"), `claim "i2c:I2C1:0x76"`},
		{"I2C bus padded", claims("i2c:01:0x76"), `claim "i2c:01:0x76"`},
		{"I2C address too big", claims("i2c:1:0x400"), "beyond I2C's 10 bits"},
		{"serial path relative", claims("serial:ttyUSB0"), `claim "serial:ttyUSB0": want "serial:" and the port's clean absolute path`},
		{"serial path unclean", claims("serial:/dev//ttyUSB0"), `claim "serial:/dev//ttyUSB0"`},
		{"claims change on Open", func(f *fake) drivers.Device {
			f.claims = func(open bool) []string {
				if open {
					return []string{"gpio:GPIO18"}
				}
				return []string{"gpio:GPIO17"}
			}
			return f
		}, `Claims() after Open = ["gpio:GPIO18"], before Open ["gpio:GPIO17"]`},
		{"Entities panics", func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity { bug(); return nil }
			return f
		}, "Entities panicked: driver bug"},
		{"Info panics", func(f *fake) drivers.Device {
			f.info = func() drivers.Info { bug(); return drivers.Info{} }
			return f
		}, "Info panicked"},
		{"Close before Open fails", func(f *fake) drivers.Device {
			f.closeHook = func(n int, open bool) error {
				if n == 1 {
					return errors.New("nothing to close")
				}
				return nil
			}
			return f
		}, "Close before Open: nothing to close"},
		{"Close before Open panics", func(f *fake) drivers.Device {
			f.closeHook = func(n int, open bool) error {
				if n == 1 {
					bug()
				}
				return nil
			}
			return f
		}, "Close before Open panicked"},
		{"Open fails", func(f *fake) drivers.Device { f.openErr = errors.New("no such bus"); return f },
			"Open: no such bus"},
		{"Read fails", func(f *fake) drivers.Device {
			f.readHook = func(bool) ([]drivers.Reading, error) { return nil, errors.New("bus error") }
			return f
		}, "Read after Open: bus error"},
		{"Read reports an undeclared entity", func(f *fake) drivers.Device {
			f.readHook = func(bool) ([]drivers.Reading, error) {
				return []drivers.Reading{{Entity: "humidity", Value: drivers.Num(50, drivers.Percent)}}, nil
			}
			return f
		}, `Read reported entity "humidity", which Entities() does not list`},
		{"Read reports an entity twice", func(f *fake) drivers.Device {
			f.readHook = func(bool) ([]drivers.Reading, error) {
				v := drivers.Reading{Entity: "temperature", Value: drivers.Num(20, drivers.Celsius)}
				return []drivers.Reading{v, v}, nil
			}
			return f
		}, `Read reported entity "temperature" twice`},
		{"Read reports the wrong kind of value", func(f *fake) drivers.Device {
			f.readHook = func(bool) ([]drivers.Reading, error) {
				return []drivers.Reading{{Entity: "door", Value: drivers.Num(1, "")}}, nil
			}
			return f
		}, `Read: discovery: entity "door"`},
		{"Read reports another unit", func(f *fake) drivers.Device {
			f.readHook = func(bool) ([]drivers.Reading, error) {
				return []drivers.Reading{{Entity: "temperature", Value: drivers.Num(70, "°F")}}, nil
			}
			return f
		}, `the value has unit "°F" but the entity is in "°C"`},
		{"Read panics", func(f *fake) drivers.Device {
			f.readHook = func(bool) ([]drivers.Reading, error) { bug(); return nil, nil }
			return f
		}, "Read panicked"},
		{"Watch reports nothing", func(f *fake) drivers.Device {
			f.watchHook = func(context.Context, bool, func(drivers.Reading)) error { return errors.New("no edges") }
			return watcherSetterClaimer{f, f, f, f}
		}, "Watch returned no edges before reporting anything"},
		{"Watch reports an undeclared entity", func(f *fake) drivers.Device {
			f.watchHook = func(ctx context.Context, open bool, emit func(drivers.Reading)) error {
				if !open {
					return errors.New("closed")
				}
				emit(drivers.Reading{Entity: "window", Value: drivers.Bool(true)})
				<-ctx.Done()
				return nil
			}
			return watcherSetterClaimer{f, f, f, f}
		}, `Watch reported entity "window"`},
		{"Watch reports text for a binary sensor", func(f *fake) drivers.Device {
			f.watchHook = func(ctx context.Context, open bool, emit func(drivers.Reading)) error {
				if !open {
					return errors.New("closed")
				}
				emit(drivers.Reading{Entity: "door", Value: drivers.Text("open")})
				<-ctx.Done()
				return nil
			}
			return watcherSetterClaimer{f, f, f, f}
		}, `Watch: discovery: entity "door"`},
		{"Set returns another state", func(f *fake) drivers.Device {
			f.setHook = func(entity string, v drivers.Value, open bool) (drivers.Value, error) {
				if entity != "relay" {
					return drivers.Value{}, drivers.ErrUnsupported
				}
				return drivers.Bool(!v.Bool), nil
			}
			return f
		}, `Set("relay", OFF) returned ON`},
		{"Set fails", func(f *fake) drivers.Device {
			f.setHook = func(entity string, v drivers.Value, open bool) (drivers.Value, error) {
				return drivers.Value{}, fmt.Errorf("line busy: %w", drivers.ErrUnsupported)
			}
			return f
		}, `Set("relay", OFF): line busy`},
		{"Set takes any entity", func(f *fake) drivers.Device {
			f.setHook = func(entity string, v drivers.Value, open bool) (drivers.Value, error) {
				if !open {
					return drivers.Value{}, errors.New("closed")
				}
				return v, nil
			}
			return f
		}, `Set("no_such_entity", ON) on an entity the device does not have returned <nil>, want an error wrapping drivers.ErrUnsupported`},
		{"Set on an unknown entity fails otherwise", func(f *fake) drivers.Device {
			f.setHook = func(entity string, v drivers.Value, open bool) (drivers.Value, error) {
				if entity != "relay" {
					return drivers.Value{}, errors.New("no such entity")
				}
				return v, nil
			}
			return f
		}, "returned no such entity, want an error wrapping drivers.ErrUnsupported"},
		{"Close fails", func(f *fake) drivers.Device {
			f.closeHook = func(n int, open bool) error {
				if open {
					return errors.New("line stuck")
				}
				return nil
			}
			return f
		}, "Close: line stuck"},
		{"second Close fails", func(f *fake) drivers.Device {
			f.closeHook = func(n int, open bool) error {
				if n == 3 {
					return errors.New("already closed")
				}
				return nil
			}
			return f
		}, "second Close: already closed"},
		{"second Close panics", func(f *fake) drivers.Device {
			done := make(chan struct{})
			f.closeHook = func(n int, open bool) error {
				if n > 1 {
					close(done)
				}
				return nil
			}
			return f
		}, "second Close panicked: close of closed channel"},
		{"Entities change on Close", func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity {
				f.mu.Lock()
				defer f.mu.Unlock()
				if f.closes > 1 {
					return goodEntities()[:1]
				}
				return goodEntities()
			}
			return f
		}, "Entities() after Close differ from before Open"},
		{"Read after Close succeeds", func(f *fake) drivers.Device {
			f.readHook = func(bool) ([]drivers.Reading, error) {
				return []drivers.Reading{{Entity: "relay", Value: drivers.Bool(false)}}, nil
			}
			return f
		}, `Read after Close succeeded: a closed device must not use the hardware it claims (["gpio:GPIO17"])`},
		{"Read after Close panics", func(f *fake) drivers.Device {
			f.readHook = func(open bool) ([]drivers.Reading, error) {
				if !open {
					bug()
				}
				return nil, nil
			}
			return f
		}, "Read after Close panicked"},
		{"Watch after Close reports", func(f *fake) drivers.Device {
			f.watchHook = func(ctx context.Context, open bool, emit func(drivers.Reading)) error {
				emit(drivers.Reading{Entity: "door", Value: drivers.Bool(true)})
				if !open {
					return errors.New("closed")
				}
				<-ctx.Done()
				return nil
			}
			return watcherSetterClaimer{f, f, f, f}
		}, "Watch after Close reported"},
		{"Watch after Close returns nil", func(f *fake) drivers.Device {
			f.watchHook = func(ctx context.Context, open bool, emit func(drivers.Reading)) error {
				if !open {
					return nil
				}
				emit(drivers.Reading{Entity: "door", Value: drivers.Bool(true)})
				<-ctx.Done()
				return nil
			}
			return watcherSetterClaimer{f, f, f, f}
		}, "Watch after Close returned nil"},
		{"Set after Close succeeds", func(f *fake) drivers.Device {
			f.setHook = func(entity string, v drivers.Value, open bool) (drivers.Value, error) {
				if entity != "relay" {
					return drivers.Value{}, drivers.ErrUnsupported
				}
				return v, nil
			}
			return f
		}, `Set("relay") after Close succeeded`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{}
			ft := runFake(func(tb *fakeTB) { Conformance(tb, tc.dev(f), Host(tb)) })
			got := ft.reported()
			if !strings.Contains(got, tc.want) {
				t.Errorf("Conformance reported:\n%s\nwant it to report %q", got, tc.want)
			}
			if ft.fatal {
				t.Error("Conformance stopped the test with Fatal; it must report with Error and let the test go on")
			}
			if f.isOpen() {
				t.Error("Conformance left the device open")
			}
		})
	}
}

// claims returns a case's device with the given claims.
func claims(c ...string) func(f *fake) drivers.Device {
	return func(f *fake) drivers.Device {
		f.claims = func(bool) []string { return c }
		return f
	}
}

// TestConformanceHangs checks that a call that never returns is reported
// and ends the check, rather than hanging the test. The bound is short
// here; what the devices do within it is instant.
func TestConformanceHangs(t *testing.T) {
	const bound = time.Second
	for _, tc := range []struct {
		name string
		dev  func(f *fake, stuck chan struct{}) drivers.Device
		want string
	}{
		{"Read", func(f *fake, stuck chan struct{}) drivers.Device {
			f.readHook = func(bool) ([]drivers.Reading, error) { <-stuck; return nil, nil }
			return f
		}, "Read did not return within 1s"},
		{"Watch ignores its context", func(f *fake, stuck chan struct{}) drivers.Device {
			f.watchHook = func(ctx context.Context, open bool, emit func(drivers.Reading)) error {
				emit(drivers.Reading{Entity: "door", Value: drivers.Bool(true)})
				<-stuck
				return nil
			}
			return watcherSetterClaimer{f, f, f, f}
		}, "Watch, after its context was cancelled, did not return within 1s"},
		{"Watch is silent", func(f *fake, stuck chan struct{}) drivers.Device {
			f.watchHook = func(ctx context.Context, open bool, emit func(drivers.Reading)) error {
				if !open {
					return errors.New("closed")
				}
				<-ctx.Done()
				return nil
			}
			return watcherSetterClaimer{f, f, f, f}
		}, "Watch did not report the current state within 1s"},
		{"Watch after Close blocks", func(f *fake, stuck chan struct{}) drivers.Device {
			f.watchHook = func(ctx context.Context, open bool, emit func(drivers.Reading)) error {
				if open {
					emit(drivers.Reading{Entity: "door", Value: drivers.Bool(true)})
				}
				<-ctx.Done()
				return nil
			}
			return watcherSetterClaimer{f, f, f, f}
		}, "Watch after Close did not return within 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits out the bound
			stuck := make(chan struct{})
			defer close(stuck) // lets the abandoned call end
			f := &fake{}
			d := tc.dev(f, stuck)
			ft := runFake(func(tb *fakeTB) { conformance(tb, d, Host(tb), bound) })
			if got := ft.reported(); !strings.Contains(got, tc.want) {
				t.Errorf("Conformance reported:\n%s\nwant it to report %q", got, tc.want)
			}
		})
	}
}

// TestHostLogs checks that the simulated host logs to the test, and stops
// at its end instead of panicking in t.Log.
func TestHostLogs(t *testing.T) {
	var log func(string)
	ft := runFake(func(tb *fakeTB) {
		h := Host(tb)
		if _, err := h.GPIO("GPIO17"); err != nil {
			tb.Errorf("GPIO17: %v", err)
		}
		h.Logger().Info("driver says", "pin", "GPIO17")
		log = func(msg string) { h.Logger().Warn(msg) }
	})
	log("after the test") // must not reach the ended test
	logs := ft.logged()
	if len(logs) != 1 || logs[0] != `level=INFO msg="driver says" pin=GPIO17` {
		t.Errorf("logged %q, want the one record of the test, without its time", logs)
	}
}
