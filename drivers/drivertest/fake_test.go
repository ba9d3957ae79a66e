package drivertest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/pinion-home/pinion/drivers"
)

// fake is a device that keeps the contract unless a test sets one of its
// hooks: a relay, a door contact fed by a waiter (edges delivered to
// Handle), a polled temperature, a set point, an identify button and a
// press event, claiming one GPIO line.
type fake struct {
	mu       sync.Mutex
	open     bool
	opens    int // Open calls
	closes   int // Close calls
	relay    bool
	setpoint float64
	out      drivers.Output
	quiet    bool                   // Open reports no door state: it comes from Handle
	edges    chan edge              // what the waiter delivers, from the test
	threads  map[string]map[int]int // method → goroutine ids that ran it

	// Hooks; nil keeps the contract.
	entities  func(open bool) []drivers.Entity
	claims    func(open bool) []drivers.Resource
	info      func(open bool) drivers.Info
	openHook  func(f *fake, ctx context.Context, h drivers.Host, out drivers.Output) error // replaces Open's body
	closeHook func(n int, open bool) error                                                 // n counts Close calls from 1
	pollHook  func(f *fake, ctx context.Context, out drivers.Output, open bool) error
	cmdHook   func(f *fake, entity string, c drivers.Command, out drivers.Output, open bool) error
	handle    func(f *fake, ev any, out drivers.Output) error
	waiter    func(ctx context.Context, deliver func(any) bool) error // replaces the edge waiter
}

// edge is what the fake's waiter delivers: the door's new level.
type edge struct{ open bool }

func newFake() *fake { return &fake{edges: make(chan edge), setpoint: 20} }

func goodEntities() []drivers.Entity {
	return []drivers.Entity{
		{ID: "relay", Spec: drivers.Switch{Class: drivers.ClassOutlet}},
		{ID: "door", Name: "Door", Spec: drivers.BinarySensor{Class: drivers.ClassDoor}},
		{ID: "temperature", Name: "Temperature", Spec: drivers.Sensor{Class: drivers.ClassTemperature,
			Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1}},
		{ID: "setpoint", Name: "Set point", Spec: &drivers.Number{Class: drivers.ClassTemperature, Min: 5, Max: 30, Step: 0.5, Unit: drivers.Celsius}},
		{ID: "identify", Name: "Identify", Diagnostic: true, Spec: drivers.Button{Class: "identify"}},
		{ID: "press", Name: "Press", Spec: drivers.Event{Class: drivers.ClassButton, Types: []string{"press"}}},
	}
}

// goid returns the id of the calling goroutine.
func goid() int {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := strings.Fields(strings.TrimPrefix(string(buf), "goroutine "))
	id, _ := strconv.Atoi(f[0])
	return id
}

// ran records that method ran on this goroutine.
func (f *fake) ran(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.threads == nil {
		f.threads = map[string]map[int]int{}
	}
	if f.threads[method] == nil {
		f.threads[method] = map[int]int{}
	}
	f.threads[method][goid()]++
}

// goroutines returns the goroutines that ran the given methods.
func (f *fake) goroutines(methods ...string) map[int]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := map[int]bool{}
	for _, m := range methods {
		for id := range f.threads[m] {
			ids[id] = true
		}
	}
	return ids
}

func (f *fake) isOpen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}

func (f *fake) counts() (opens, closes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens, f.closes
}

func (f *fake) Info() drivers.Info {
	if f.info != nil {
		return f.info(f.isOpen())
	}
	return drivers.Info{Manufacturer: "Test", Model: "Fake"}
}

func (f *fake) Entities() []drivers.Entity {
	if f.entities != nil {
		return f.entities(f.isOpen())
	}
	return goodEntities()
}

func (f *fake) Claims() []drivers.Resource {
	if f.claims != nil {
		return f.claims(f.isOpen())
	}
	return []drivers.Resource{drivers.GPIOLine("GPIO17")}
}

func (f *fake) declared(id string) bool {
	for _, e := range f.Entities() {
		if e.ID == id {
			return true
		}
	}
	return false
}

// state reports a state of a declared entity.
func (f *fake) state(out drivers.Output, id string, v drivers.Value) {
	if f.declared(id) {
		out.State(id, v)
	}
}

func (f *fake) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	f.ran("Open")
	f.mu.Lock()
	f.opens++
	f.mu.Unlock()
	if f.openHook != nil {
		return f.openHook(f, ctx, h, out)
	}
	return f.defaultOpen(h, out)
}

// defaultOpen claims the line, reports the states it knows and starts the
// door's waiter.
func (f *fake) defaultOpen(h drivers.Host, out drivers.Output) error {
	if _, err := drivers.GPIO(h, "GPIO17"); err != nil {
		return fmt.Errorf("fake: open: %w", err)
	}
	f.opened(out)
	return nil
}

// opened is the rest of defaultOpen, once the line is claimed.
func (f *fake) opened(out drivers.Output) {
	f.mu.Lock()
	f.open = true
	f.out = out
	relay, sp := f.relay, f.setpoint
	f.mu.Unlock()
	f.state(out, "relay", drivers.Bool(relay))
	if !f.quiet {
		f.state(out, "door", drivers.Bool(false))
	}
	f.state(out, "setpoint", drivers.Num(sp, drivers.Celsius))
	wait := f.waiter
	if wait == nil {
		wait = func(ctx context.Context, deliver func(any) bool) error {
			for {
				select {
				case e := <-f.edges:
					if !deliver(e) {
						return nil
					}
				case <-ctx.Done():
					return nil
				}
			}
		}
	}
	out.Go(wait)
}

func (f *fake) Close() error {
	f.ran("Close")
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

func (f *fake) output() drivers.Output {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.out
}

func (f *fake) Poll(ctx context.Context) error {
	f.ran("Poll")
	out := f.output()
	if f.pollHook != nil {
		return f.pollHook(f, ctx, out, f.isOpen())
	}
	if !f.isOpen() {
		return errors.New("fake: poll: not open")
	}
	f.state(out, "temperature", drivers.Num(21.5, drivers.Celsius))
	return nil
}

func (f *fake) Command(ctx context.Context, entity string, c drivers.Command) error {
	f.ran("Command")
	out := f.output()
	if f.cmdHook != nil {
		return f.cmdHook(f, entity, c, out, f.isOpen())
	}
	if !f.isOpen() {
		return errors.New("fake: command: not open")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case entity == "relay" && (c.Action == drivers.ActionOn || c.Action == drivers.ActionOff):
		f.relay = c.Action == drivers.ActionOn
		out.State("relay", drivers.Bool(f.relay))
	case entity == "setpoint" && c.Action == drivers.ActionSet:
		f.setpoint = c.Value.Num
		out.State("setpoint", drivers.Num(f.setpoint, drivers.Celsius))
	case entity == "identify" && c.Action == drivers.ActionPress:
	default:
		return fmt.Errorf("fake: command %v for %q: %w", c, entity, drivers.ErrUnsupported)
	}
	return nil
}

func (f *fake) Handle(ctx context.Context, ev any) error {
	f.ran("Handle")
	out := f.output()
	if f.handle != nil {
		return f.handle(f, ev, out)
	}
	e, ok := ev.(edge)
	if !ok {
		return fmt.Errorf("fake: handle: %T is no edge", ev)
	}
	f.state(out, "door", drivers.Bool(e.open))
	if e.open && f.declared("press") {
		out.Event("press", "press")
	}
	return nil
}

// Capabilities a test device shows: the fake implements all of them, and
// these hide the ones a case leaves out.
type (
	noCommander struct {
		drivers.Device
		drivers.Poller
		drivers.Handler
		drivers.Claimer
	}
	noHandler struct {
		drivers.Device
		drivers.Poller
		drivers.Commander
		drivers.Claimer
	}
	noPoller struct {
		drivers.Device
		drivers.Commander
		drivers.Handler
		drivers.Claimer
	}
	pollerOnly struct {
		drivers.Device
		drivers.Poller
	}
	deviceOnly struct{ drivers.Device }
)

// sensorsOnly are the fake's entities that take no commands.
func sensorsOnly(bool) []drivers.Entity {
	var out []drivers.Entity
	for _, e := range goodEntities() {
		switch e.ID {
		case "door", "temperature", "press":
			out = append(out, e)
		}
	}
	return out
}

// provider is the fake offering GPIO lines, as an expander does.
type provider struct {
	*fake
	lines    func(open bool) []string
	lineHook func(name string, open bool) (gpio.PinIO, error)
}

func (p provider) ProvidedLines() []string {
	if p.lines != nil {
		return p.lines(p.isOpen())
	}
	return []string{"GPA0", "GPA1"}
}

func (p provider) ProvidedLine(name string) (gpio.PinIO, error) {
	if p.lineHook != nil {
		return p.lineHook(name, p.isOpen())
	}
	if !p.isOpen() {
		return nil, errors.New("provider: not open")
	}
	for _, l := range p.ProvidedLines() {
		if l == name {
			return &gpiotest.Pin{N: name}, nil
		}
	}
	return nil, fmt.Errorf("provider: no line %q", name)
}

// worker returns the Worker behind out, an Output a Worker made, for the
// fakes that must wait for what it recorded.
func worker(out drivers.Output) *Worker { return out.(output).w }
