package drivertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
)

func TestConformancePasses(t *testing.T) {
	for _, tc := range []struct {
		name string
		dev  func(f *fake) drivers.Device
	}{
		{"every capability", func(f *fake) drivers.Device { return f }},
		{"no Handler", func(f *fake) drivers.Device {
			f.waiter = func(ctx context.Context, _ func(any) bool) error { <-ctx.Done(); return nil }
			return noHandler{f, f, f, f}
		}},
		{"sensors", func(f *fake) drivers.Device { f.entities = sensorsOnly; return noCommander{f, f, f, f} }},
		{"polled without claims", func(f *fake) drivers.Device {
			// A device that claims nothing and reads files, say.
			f.entities = func(bool) []drivers.Entity { return goodEntities()[2:3] }
			f.openHook = func(f *fake, _ context.Context, _ drivers.Host, out drivers.Output) error {
				f.mu.Lock()
				f.out = out
				f.mu.Unlock()
				return nil
			}
			f.pollHook = func(_ *fake, _ context.Context, out drivers.Output, _ bool) error {
				out.State("temperature", drivers.Num(20, drivers.Celsius))
				return nil
			}
			return pollerOnly{f, f}
		}},
		{"first states from a waiter", func(f *fake) drivers.Device {
			// The door's state arrives as a frame would, after Open.
			f.entities = func(bool) []drivers.Entity { return goodEntities()[1:2] }
			f.openHook = func(f *fake, ctx context.Context, h drivers.Host, out drivers.Output) error {
				f.mu.Lock()
				f.open, f.out = true, out
				f.mu.Unlock()
				out.Go(func(ctx context.Context, deliver func(any) bool) error {
					deliver(edge{open: true})
					<-ctx.Done()
					return nil
				})
				return nil
			}
			return struct {
				drivers.Device
				drivers.Handler
			}{f, f}
		}},
		{"an entity unavailable", func(f *fake) drivers.Device {
			f.pollHook = func(_ *fake, _ context.Context, out drivers.Output, _ bool) error {
				out.Unavailable("temperature", errors.New("sensor unplugged"))
				return nil
			}
			return f
		}},
		{"claims of every kind", func(f *fake) drivers.Device {
			f.claims = func(bool) []drivers.Resource {
				return []drivers.Resource{
					drivers.GPIOLine("GPIO17"), drivers.GPIOLine("relays/GPA0"), drivers.PWMLine("GPIO18"),
					drivers.I2CAddress("I2C1", 0x76), drivers.I2CAddress("/dev/i2c-0", 0x8), drivers.I2CAddress("mux/2", 0x3ff),
					drivers.SerialPort("/dev/serial/by-id/usb-FTDI-if00"), drivers.SharedSerialPort("/dev/ttyUSB0"),
					drivers.OneWireDevice("w1", "28-0316a2796aff"),
				}
			}
			return f
		}},
		{"a provider", func(f *fake) drivers.Device { return provider{fake: f} }},
		{"a light, a cover and a select", func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity {
				return []drivers.Entity{
					{ID: "lamp", Name: "Lamp", Spec: drivers.Light{Brightness: true}},
					{ID: "blind", Name: "Blind", Spec: drivers.Cover{Class: "blind", Position: true}},
					{ID: "gate", Name: "Gate", Spec: drivers.Cover{Class: "gate", NoStop: true}},
					{ID: "mode", Name: "Mode", Spec: drivers.Select{Options: []string{"eco", "comfort"}}},
				}
			}
			state := map[string]drivers.Value{
				"lamp":  drivers.LightState(true, 128),
				"blind": drivers.CoverState(drivers.CoverStopped, 40),
				"gate":  drivers.CoverState(drivers.CoverOpen, 100),
				"mode":  drivers.Text("comfort"),
			}
			f.openHook = func(f *fake, _ context.Context, _ drivers.Host, out drivers.Output) error {
				f.mu.Lock()
				f.open, f.out = true, out
				f.mu.Unlock()
				for id, v := range state {
					out.State(id, v)
				}
				return nil
			}
			f.cmdHook = func(_ *fake, entity string, c drivers.Command, out drivers.Output, open bool) error {
				want, ok := map[string]string{"lamp": "ON 128", "blind": "STOP", "gate": "OPEN", "mode": "SET comfort"}[entity]
				if !ok {
					return fmt.Errorf("%s: %w", entity, drivers.ErrUnsupported)
				}
				if !open || c.String() != want {
					return fmt.Errorf("%s: %v, want %s", entity, c, want)
				}
				out.State(entity, state[entity])
				return nil
			}
			return noHandler{f, f, f, f}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			ft := runFake(func(tb *fakeTB) { Conformance(tb, tc.dev(f), Host(tb)) })
			if got := ft.reported(); got != "" {
				t.Errorf("Conformance reported a device that keeps the contract:\n%s", got)
			}
			if f.isOpen() {
				t.Error("Conformance left the device open")
			}
			if opens, closes := f.counts(); opens != closes || opens < 2 {
				t.Errorf("Conformance opened the device %d times and closed it %d times; want at least two Opens, each closed", opens, closes)
			}
		})
	}
}

// TestConformanceOpensAsTheAgent checks the sequence Conformance puts a
// device through: Open, then Open with each host call failing, each
// closed, then Open again; every call on one worker goroutine per opening.
func TestConformanceOpensAsTheAgent(t *testing.T) {
	f := newFake()
	var hostCalls []string
	f.openHook = func(f *fake, _ context.Context, h drivers.Host, out drivers.Output) error {
		for _, l := range []string{"GPIO17", "GPIO18"} {
			if _, err := drivers.GPIO(h, l); err != nil {
				hostCalls = append(hostCalls, "fail "+l)
				return fmt.Errorf("fake: open: %w", err)
			}
			hostCalls = append(hostCalls, l)
		}
		f.opened(out)
		return nil
	}
	ft := runFake(func(tb *fakeTB) { Conformance(tb, f, Host(tb)) })
	if got := ft.reported(); got != "" {
		t.Fatalf("Conformance reported:\n%s", got)
	}
	// The first Open, the one whose first call fails, the one whose second
	// fails, and the last Open.
	want := "GPIO17 GPIO18 fail GPIO17 GPIO17 fail GPIO18 GPIO17 GPIO18"
	if got := strings.Join(hostCalls, " "); got != want {
		t.Errorf("host calls in the Opens:\n got %s\nwant %s", got, want)
	}
	if opens, closes := f.counts(); opens != 4 || closes != 4 {
		t.Errorf("%d Opens and %d Closes, want 4 of each", opens, closes)
	}
	// One worker per opening: Open, Poll, Command, Handle and Close of one
	// opening share a goroutine, which is not the test's.
	if ids := f.goroutines("Open", "Poll", "Command", "Handle", "Close"); len(ids) != 4 || ids[goid()] {
		t.Errorf("the device's methods ran on goroutines %v; want one per opening, 4, none of them the test's", ids)
	}
}

// TestConformanceReports breaks the contract one rule at a time and checks
// that Conformance says so.
func TestConformanceReports(t *testing.T) {
	bug := func() { panic("driver bug") }
	entities := func(edit func(e []drivers.Entity) []drivers.Entity) func(f *fake) drivers.Device {
		return func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity { return edit(goodEntities()) }
			return f
		}
	}
	poll := func(hook func(out drivers.Output) error) func(f *fake) drivers.Device {
		return func(f *fake) drivers.Device {
			f.pollHook = func(_ *fake, _ context.Context, out drivers.Output, open bool) error {
				if !open {
					return errors.New("closed")
				}
				return hook(out)
			}
			// Without Handle, Conformance need not wait for the
			// temperature's first state, which these Polls do not report.
			return noHandler{f, f, f, f}
		}
	}
	command := func(hook func(entity string, c drivers.Command, out drivers.Output) error) func(f *fake) drivers.Device {
		return func(f *fake) drivers.Device {
			f.cmdHook = func(_ *fake, entity string, c drivers.Command, out drivers.Output, open bool) error {
				if !open {
					return errors.New("closed")
				}
				return hook(entity, c, out)
			}
			return f
		}
	}
	// handle makes a device whose door gets its first state from Handle,
	// which Conformance waits for, so that Handle surely runs; hook must
	// report it.
	handle := func(hook func(ev any, out drivers.Output) error) func(f *fake) drivers.Device {
		return func(f *fake) drivers.Device {
			f.quiet = true
			f.waiter = func(ctx context.Context, deliver func(any) bool) error {
				deliver(edge{open: true})
				<-ctx.Done()
				return nil
			}
			f.handle = func(_ *fake, ev any, out drivers.Output) error { return hook(ev, out) }
			return f
		}
	}
	waiter := func(wait func(ctx context.Context, deliver func(any) bool) error) func(f *fake) drivers.Device {
		return func(f *fake) drivers.Device { f.waiter = wait; return f }
	}
	closeHook := func(hook func(n int, open bool) error) func(f *fake) drivers.Device {
		return func(f *fake) drivers.Device { f.closeHook = hook; return f }
	}
	claims := func(c ...drivers.Resource) func(f *fake) drivers.Device {
		return func(f *fake) drivers.Device {
			f.claims = func(bool) []drivers.Resource { return c }
			return f
		}
	}
	prov := func(p provider) func(f *fake) drivers.Device {
		return func(f *fake) drivers.Device { p.fake = f; return p }
	}
	for _, tc := range []struct {
		name string
		dev  func(f *fake) drivers.Device
		want string
	}{
		// What the device describes.
		{"no entities", entities(func([]drivers.Entity) []drivers.Entity { return nil }), "Entities() is empty"},
		{"bad entity id", entities(func(e []drivers.Entity) []drivers.Entity { e[1].ID = "front door"; return e }),
			`entity 1: id "front door" is not made of [a-zA-Z0-9_-]`},
		{"empty entity id", entities(func(e []drivers.Entity) []drivers.Entity { e[2].ID = ""; return e }),
			`entity 2: id "" is not made of`},
		{"duplicate entity ids", entities(func(e []drivers.Entity) []drivers.Entity { e[2].ID = "door"; return e }),
			`entity id "door" is used twice`},
		{"no spec", entities(func(e []drivers.Entity) []drivers.Entity { e[1].Spec = nil; return e }),
			`entity 1 ("door") has no Spec: set one of drivers.Sensor, BinarySensor, Switch, Button, Number, Light, Cover, Event or Select`},
		{"a nil spec", entities(func(e []drivers.Entity) []drivers.Entity { e[1].Spec = (*drivers.BinarySensor)(nil); return e }),
			`entity 1 ("door") has no Spec`},
		{"class Home Assistant rejects", entities(func(e []drivers.Entity) []drivers.Entity {
			e[1].Spec = drivers.BinarySensor{Class: drivers.ClassTemperature}
			return e
		}), "Home Assistant would reject the entities"},
		{"a number without a range", entities(func(e []drivers.Entity) []drivers.Entity {
			e[3].Spec = drivers.Number{Min: 5, Max: 5}
			return e
		}), "Home Assistant would reject the entities"},
		{"an event without types", entities(func(e []drivers.Entity) []drivers.Entity { e[5].Spec = drivers.Event{}; return e }),
			"Home Assistant would reject the entities"},
		{"entities change between calls", func(f *fake) drivers.Device {
			n := 0
			f.entities = func(bool) []drivers.Entity {
				n++
				e := goodEntities()
				e[2].Name = fmt.Sprint("Temperature ", n)
				return e
			}
			return f
		}, "Entities() changed between two calls"},
		{"entities depend on the hardware", func(f *fake) drivers.Device {
			f.entities = func(open bool) []drivers.Entity {
				if open {
					return goodEntities()[:5]
				}
				return goodEntities()
			}
			return f
		}, "Entities() after Open differ from before Open"},
		{"entities change on Close", func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity {
				f.mu.Lock()
				defer f.mu.Unlock()
				if f.closes > 0 {
					return goodEntities()[:5]
				}
				return goodEntities()
			}
			return f
		}, "Entities() after Close differ from before Open"},
		{"info depends on the hardware", func(f *fake) drivers.Device {
			f.info = func(open bool) drivers.Info {
				if open {
					return drivers.Info{Model: "BME280 rev 2"}
				}
				return drivers.Info{Model: "BME280"}
			}
			return f
		}, `Info() after Open = {Manufacturer: Model:BME280 rev 2}, before Open {Manufacturer: Model:BME280}`},
		{"Entities panics", func(f *fake) drivers.Device {
			f.entities = func(bool) []drivers.Entity { bug(); return nil }
			return f
		}, "Entities panicked: driver bug"},
		{"Info panics", func(f *fake) drivers.Device {
			f.info = func(bool) drivers.Info { bug(); return drivers.Info{} }
			return f
		}, "Info panicked: driver bug"},

		// Capabilities.
		{"switch without Commander", func(f *fake) drivers.Device { return noCommander{f, f, f, f} },
			`entity "relay" is a switch, which takes commands, but the device does not implement drivers.Commander`},
		{"Commander without commands", func(f *fake) drivers.Device { f.entities = sensorsOnly; return f },
			"implements drivers.Commander but has no entity that takes commands"},
		{"nothing changes after Open", func(f *fake) drivers.Device { f.entities = sensorsOnly; return deviceOnly{f} },
			"implements neither drivers.Poller, drivers.Commander nor drivers.Handler"},

		// Claims.
		{"GPIO claimed by number", claims(drivers.GPIOLine("17")), `want the line's name, such as drivers.GPIOLine("GPIO17"), not its number`},
		{"a line with a space", claims(drivers.PWMLine("GPIO 18")), `want the line's name without spaces, such as drivers.PWMLine("GPIO17")`},
		{"a line with an address", claims(drivers.Resource{Kind: drivers.ResourceGPIO, Name: "GPIO4", Addr: 4}),
			"a line has only a Name: build it with drivers.GPIOLine"},
		{"I2C bus not canonical", claims(drivers.Resource{Kind: drivers.ResourceI2C, Bus: "I2C1", Addr: 0x76}),
			`the bus is written "I2C1", not canonically "1": build the claim with drivers.I2CAddress`},
		{"I2C bus unknown", claims(drivers.I2CAddress("bus one", 0x76)), `the bus: I2C bus "bus one": write its number`},
		{"I2C address too big", claims(drivers.I2CAddress("1", 0x400)), "address 0x400 is beyond I2C's 10 bits"},
		{"serial path relative", claims(drivers.SerialPort("ttyUSB0")), `want the port's clean absolute path, such as drivers.SerialPort("/dev/serial0"), not "ttyUSB0"`},
		{"serial path unclean", claims(drivers.SerialPort("/dev//ttyUSB0")), `not "/dev//ttyUSB0"`},
		{"1-Wire without an id", claims(drivers.OneWireDevice("w1", "")), `want the device's id, such as drivers.OneWireDevice("w1", "28-0316a2796aff")`},
		{"1-Wire without a bus", claims(drivers.OneWireDevice("", "28-1")), `want the bus, such as drivers.OneWireDevice`},
		{"an unknown kind", claims(drivers.Resource{Kind: "spi", Name: "0.1"}), `kind "spi" is none of gpio, pwm, i2c, serial and w1`},
		{"a line claimed twice", claims(drivers.GPIOLine("GPIO17"), drivers.PWMLine("GPIO17")),
			"claims gpio:GPIO17 and pwm:GPIO17 name the same hardware: claim each once"},
		{"claims change on Open", func(f *fake) drivers.Device {
			f.claims = func(open bool) []drivers.Resource {
				if open {
					return []drivers.Resource{drivers.GPIOLine("GPIO18")}
				}
				return []drivers.Resource{drivers.GPIOLine("GPIO17")}
			}
			return f
		}, `Claims() after Open = [gpio:GPIO18], before Open [gpio:GPIO17]: the agent checks them before any device opens`},
		{"Claims panics", func(f *fake) drivers.Device {
			f.claims = func(bool) []drivers.Resource { bug(); return nil }
			return f
		}, "Claims panicked: driver bug"},

		// Providers.
		{"a provider of nothing", prov(provider{lines: func(bool) []string { return nil }}),
			"ProvidedLines() is empty: a provider offers at least one line"},
		{"a provided line with a slash", prov(provider{lines: func(bool) []string { return []string{"A/0"} }}),
			`ProvidedLines() offers "A/0": a line's name is not empty and has no '/' or spaces`},
		{"a line provided twice", prov(provider{lines: func(bool) []string { return []string{"GPA0", "GPA0"} }}),
			`ProvidedLines() offers "GPA0" twice`},
		{"provided lines depend on the hardware", prov(provider{lines: func(open bool) []string {
			if open {
				return []string{"GPA0"}
			}
			return []string{"GPA0", "GPA1"}
		}}), `ProvidedLines() after Open = ["GPA0"], before Open ["GPA0" "GPA1"]`},
		{"a provided line fails", prov(provider{lineHook: func(name string, open bool) (gpio.PinIO, error) {
			return nil, errors.New("expander busy")
		}}), `ProvidedLine("GPA0") on the open device: expander busy; the agent asks for each offered one after Open succeeds`},
		{"any line is provided", prov(provider{lineHook: func(name string, open bool) (gpio.PinIO, error) {
			return gpio.INVALID, nil
		}}), `ProvidedLine("no_such_line") of one it does not offer returned no error`},

		// Open.
		{"Open fails", func(f *fake) drivers.Device {
			f.openHook = func(*fake, context.Context, drivers.Host, drivers.Output) error { return errors.New("no such bus") }
			return f
		}, "Open: no such bus (the host given to Conformance must provide the hardware the device uses)"},
		{"Open panics", func(f *fake) drivers.Device {
			f.openHook = func(*fake, context.Context, drivers.Host, drivers.Output) error { bug(); return nil }
			return f
		}, "Open panicked: driver bug"},
		{"no first state", func(f *fake) drivers.Device {
			f.openHook = func(f *fake, ctx context.Context, h drivers.Host, out drivers.Output) error {
				f.mu.Lock()
				f.open, f.out = true, out
				f.mu.Unlock()
				out.State("relay", drivers.Bool(false))
				out.State("setpoint", drivers.Num(20, drivers.Celsius))
				return nil
			}
			return noHandler{f, f, f, f}
		}, `entity "door" has no state after Open and the first Poll: report each entity's state (or Output.Unavailable, saying why) from Open or Poll`},

		// Reports.
		{"Poll fails", poll(func(drivers.Output) error { return errors.New("bus error") }),
			"Poll after Open: bus error (the host given to Conformance must provide working hardware)"},
		{"Poll panics", poll(func(drivers.Output) error { bug(); return nil }), "Poll after Open panicked: driver bug"},
		{"an undeclared entity", poll(func(out drivers.Output) error {
			out.State("humidity", drivers.Num(50, drivers.Percent))
			return nil
		}), `reported state 50 % for entity "humidity" during Poll, which Entities() does not declare`},
		{"a number for a binary sensor", poll(func(out drivers.Output) error {
			out.State("door", drivers.Num(1, ""))
			return nil
		}), `reported state 1 for entity "door" during Poll, which its spec drivers.BinarySensor does not take`},
		{"another unit", poll(func(out drivers.Output) error {
			out.State("temperature", drivers.Num(70, "°F"))
			return nil
		}), `reported state 70 °F for entity "temperature" during Poll, which its spec drivers.Sensor does not take`},
		{"a state for an event", poll(func(out drivers.Output) error {
			out.State("press", drivers.Text("press"))
			return nil
		}), `reported state press for entity "press" during Poll, which its spec drivers.Event does not take`},
		{"an event for a sensor", poll(func(out drivers.Output) error {
			out.Event("temperature", "press")
			return nil
		}), `reported event "press" for entity "temperature" during Poll, which its spec drivers.Sensor does not take`},
		{"an event of another type", poll(func(out drivers.Output) error {
			out.Event("press", "double_press")
			return nil
		}), `reported event "double_press" for entity "press" during Poll, which its spec drivers.Event does not take`},
		{"an event for an undeclared entity", poll(func(out drivers.Output) error {
			out.Event("bell", "press")
			return nil
		}), `reported event "press" for entity "bell" during Poll, which Entities() does not declare`},
		{"unavailable without a reason", poll(func(out drivers.Output) error {
			out.Unavailable("temperature", nil)
			return nil
		}), `reported entity "temperature" unavailable during Poll with a nil error: say why`},
		{"a reopen", poll(func(out drivers.Output) error {
			out.Reopen(errors.New("adapter gone"))
			return nil
		}), "the device asked to be reopened while its hardware works: adapter gone"},

		// Commands.
		{"Command fails", command(func(string, drivers.Command, drivers.Output) error { return errors.New("line busy") }),
			`Command("relay", OFF): line busy (a command that changes nothing, on working hardware)`},
		{"Command panics", command(func(string, drivers.Command, drivers.Output) error { bug(); return nil }),
			`Command("relay", OFF) panicked: driver bug`},
		{"Command reports no state", command(func(entity string, c drivers.Command, out drivers.Output) error {
			if entity == "no_such_entity" {
				return drivers.ErrUnsupported
			}
			return nil
		}), `Command("relay", OFF) reported no state for "relay": Command reports the entity's new state through the Output`},
		{"Command reports another state", command(func(entity string, c drivers.Command, out drivers.Output) error {
			switch entity {
			case "relay":
				out.State("relay", drivers.Bool(true))
			case "setpoint":
				out.State("setpoint", drivers.Num(21, drivers.Celsius))
			}
			return nil
		}), `Command("relay", OFF) reported state ON for "relay", want OFF`},
		{"a number commanded reports another", command(func(entity string, c drivers.Command, out drivers.Output) error {
			switch entity {
			case "relay":
				out.State("relay", drivers.Bool(false))
			case "setpoint":
				out.State("setpoint", drivers.Num(21, drivers.Celsius))
			case "no_such_entity":
				return drivers.ErrUnsupported
			}
			return nil
		}), `Command("setpoint", SET 20 °C) reported state 21 °C for "setpoint", want 20 °C`},
		{"Command takes any entity", command(func(entity string, c drivers.Command, out drivers.Output) error {
			if entity == "relay" || entity == "setpoint" {
				out.State(entity, map[string]drivers.Value{"relay": drivers.Bool(false), "setpoint": drivers.Num(20, drivers.Celsius)}[entity])
			}
			return nil
		}), `Command("no_such_entity", ON) on an entity the device does not have returned <nil>, want an error wrapping drivers.ErrUnsupported`},
		{"Command on an unknown entity fails otherwise", command(func(entity string, c drivers.Command, out drivers.Output) error {
			if entity == "no_such_entity" {
				return errors.New("no such entity")
			}
			return nil
		}), "returned no such entity, want an error wrapping drivers.ErrUnsupported"},

		// Waiters and Handle.
		{"Handle fails", handle(func(_ any, out drivers.Output) error {
			out.State("door", drivers.Bool(true))
			return errors.New("bad frame")
		}), "the device asked to be reopened while its hardware works: handle: bad frame"},
		{"Handle panics", handle(func(_ any, out drivers.Output) error {
			out.State("door", drivers.Bool(true))
			bug()
			return nil
		}), "Handle(drivertest.edge) panicked: driver bug"},
		{"Handle reports an undeclared entity", handle(func(_ any, out drivers.Output) error {
			out.State("door", drivers.Bool(true))
			out.State("window", drivers.Bool(true))
			return nil
		}), `reported state ON for entity "window" during Handle(drivertest.edge), which Entities() does not declare`},
		{"a waiter fails", func(f *fake) drivers.Device {
			f.waiter = func(ctx context.Context, _ func(any) bool) error { return errors.New("edge detection lost") }
			// The relay's command waits for the waiter's error to be
			// recorded, so that it surely comes before the check.
			f.cmdHook = func(f *fake, entity string, c drivers.Command, out drivers.Output, open bool) error {
				w := worker(out)
				for len(w.Reopens()) == 0 {
					w.mu.Lock()
					ch := w.changed
					w.mu.Unlock()
					if len(w.Reopens()) == 0 {
						<-ch
					}
				}
				if entity == "no_such_entity" {
					return drivers.ErrUnsupported
				}
				out.State(entity, map[string]drivers.Value{"relay": drivers.Bool(false), "setpoint": drivers.Num(20, drivers.Celsius)}[entity])
				return nil
			}
			return f
		}, "the device asked to be reopened while its hardware works: waiter: edge detection lost"},
		{"a waiter panics", waiter(func(ctx context.Context, _ func(any) bool) error { bug(); return nil }),
			"a waiter (started with Output.Go) panicked: driver bug"},
		{"a delivery without Handle", func(f *fake) drivers.Device {
			f.waiter = func(ctx context.Context, deliver func(any) bool) error {
				deliver(edge{open: true})
				<-ctx.Done()
				return nil
			}
			return noHandler{f, f, f, f}
		}, "a waiter delivered a drivertest.edge, but drivertest.noHandler has no Handle method (drivers.Handler): the agent drops it"},

		// Close, failed Opens and the Open after them.
		{"Close fails", closeHook(func(n int, open bool) error {
			if n == 1 {
				return errors.New("line stuck")
			}
			return nil
		}), "Close: line stuck"},
		{"Close panics", closeHook(func(n int, open bool) error {
			if n == 1 {
				bug()
			}
			return nil
		}), "Close panicked: driver bug"},
		{"Close after a failed Open fails", closeHook(func(n int, open bool) error {
			if !open {
				return errors.New("nothing to close")
			}
			return nil
		}), `Close after a failed Open (the host's GPIO("GPIO17") failed: fake: open: GPIO("GPIO17"): drivertest: conformance: failing on purpose, as unplugged hardware does): nothing to close; the agent calls Close after every Open, failed or not, so Close must succeed and release whatever Open claimed`},
		{"Close after a failed Open panics", closeHook(func(n int, open bool) error {
			if !open {
				bug()
			}
			return nil
		}), "Close after a failed Open panicked: driver bug"},
		{"Open hides the host's error", func(f *fake) drivers.Device {
			f.openHook = func(f *fake, _ context.Context, h drivers.Host, out drivers.Output) error {
				if _, err := drivers.GPIO(h, "GPIO17"); err != nil {
					return fmt.Errorf("fake: open: %v", err)
				}
				return f.defaultOpen(h, out)
			}
			return f
		}, `Open with the host's GPIO("GPIO17") failing returned "fake: open: GPIO(\"GPIO17\"): drivertest: conformance: failing on purpose, as unplugged hardware does", which does not wrap the host's error`},
		{"Open after Close fails", func(f *fake) drivers.Device {
			f.openHook = func(f *fake, _ context.Context, h drivers.Host, out drivers.Output) error {
				if f.opens > 1 {
					return errors.New("fake: open: already used")
				}
				return f.defaultOpen(h, out)
			}
			return f
		}, "Open after Close: fake: open: already used; the agent opens a device again after Close (after a failure, or when its hardware is back), so Open must work again after Close, and after a failed Open and its Close"},
		{"an Output kept across Opens", func(f *fake) drivers.Device {
			// The device keeps the first Output and reports through it
			// once reopened.
			f.openHook = func(f *fake, _ context.Context, h drivers.Host, out drivers.Output) error {
				f.mu.Lock()
				first := f.out
				f.mu.Unlock()
				if err := f.defaultOpen(h, out); err != nil {
					return err
				}
				if first != nil {
					f.mu.Lock()
					f.out = first
					f.mu.Unlock()
				}
				return nil
			}
			return f
		}, "reported state 21.5 °C after Close returned: the Output is valid only until Close returns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			ft := runFake(func(tb *fakeTB) { Conformance(tb, tc.dev(f), Host(tb)) })
			got := ft.reported()
			if !strings.Contains(got, tc.want) {
				t.Errorf("Conformance reported:\n%s\nwant it to report %q", got, tc.want)
			}
			if !strings.HasPrefix(got, "conformance of ") {
				t.Errorf("Conformance reported %q, want each error to start with the device's type", got)
			}
			if ft.fatal {
				t.Error("Conformance stopped the test with Fatal; it must report with Errorf and let the test go on")
			}
			if f.isOpen() {
				t.Error("Conformance left the device open")
			}
		})
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
		{"Entities", func(f *fake, stuck chan struct{}) drivers.Device {
			f.entities = func(bool) []drivers.Entity { <-stuck; return nil }
			return f
		}, "Entities did not return within 1s"},
		{"Open", func(f *fake, stuck chan struct{}) drivers.Device {
			f.openHook = func(*fake, context.Context, drivers.Host, drivers.Output) error { <-stuck; return nil }
			return f
		}, "Open did not return within 1s"},
		{"Poll", func(f *fake, stuck chan struct{}) drivers.Device {
			f.pollHook = func(*fake, context.Context, drivers.Output, bool) error { <-stuck; return nil }
			return f
		}, "Poll did not return within 1s"},
		{"Command", func(f *fake, stuck chan struct{}) drivers.Device {
			f.cmdHook = func(*fake, string, drivers.Command, drivers.Output, bool) error { <-stuck; return nil }
			return f
		}, `Command("relay", OFF) did not return within 1s`},
		{"Close", func(f *fake, stuck chan struct{}) drivers.Device {
			f.closeHook = func(int, bool) error { <-stuck; return nil }
			return f
		}, "Close did not return within 2s"},
		{"a waiter ignores its context", func(f *fake, stuck chan struct{}) drivers.Device {
			f.waiter = func(context.Context, func(any) bool) error { <-stuck; return nil }
			return f
		}, "a waiter (started with Output.Go) did not return within 1s after its context was cancelled; the agent closes the device anyway, so a waiter must return once its context is done"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits out the bound
			stuck := make(chan struct{})
			f := newFake()
			d := tc.dev(f, stuck)
			ft := runFake(func(tb *fakeTB) {
				defer close(stuck) // lets the abandoned call end before the cleanups
				conformance(tb, d, Host(tb), bound)
			})
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
