package agent_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/hatest"
)

// testExpander is an I/O expander as the agent sees one: a device that
// provides eight GPIO lines, A0 to A7, to other devices. Its pins are the
// lines GPIO0 to GPIO7 of a simulated board of its own, so a test can
// watch them; it can be made to fail as an expander whose I2C bus stops
// acknowledging does.
type testExpander struct {
	id   string
	pins *sim.Host

	broken atomic.Bool
	mu     sync.Mutex
	out    drivers.Output
}

var (
	expandersMu sync.Mutex
	expanders   = map[string]*testExpander{}
)

func init() {
	drivers.Register(drivers.Driver{
		Name:        "test-expander",
		Description: "an I/O expander for the agent's tests",
		New: func(cfg drivers.Config) (drivers.Device, error) {
			var c struct{}
			if err := cfg.Decode(&c); err != nil {
				return nil, err
			}
			e := &testExpander{id: cfg.ID, pins: sim.NewHost(nil)}
			expandersMu.Lock()
			expanders[cfg.ID] = e
			expandersMu.Unlock()
			return e, nil
		},
	})
}

func expander(t *testing.T, id string) *testExpander {
	t.Helper()
	expandersMu.Lock()
	defer expandersMu.Unlock()
	e := expanders[id]
	if e == nil {
		t.Fatalf("no test expander %q was built", id)
	}
	return e
}

func (e *testExpander) Info() drivers.Info { return drivers.Info{Model: "test expander"} }
func (e *testExpander) Entities() []drivers.Entity {
	return []drivers.Entity{{ID: "fault", Name: "Fault", Diagnostic: true, Spec: drivers.BinarySensor{Class: drivers.ClassProblem}}}
}

func (e *testExpander) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	if e.broken.Load() {
		return errors.New("the expander does not acknowledge its address")
	}
	e.mu.Lock()
	e.out = out
	e.mu.Unlock()
	out.State("fault", drivers.Bool(false))
	return nil
}

func (e *testExpander) Close() error { return nil }

// fail makes the expander stop working, as the driver of one whose bus
// stopped acknowledging would report it.
func (e *testExpander) fail() {
	e.broken.Store(true)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out.Reopen(errors.New("the expander stopped acknowledging"))
}

func (e *testExpander) ProvidedLines() []string {
	return []string{"A0", "A1", "A2", "A3", "A4", "A5", "A6", "A7"}
}

func (e *testExpander) ProvidedLine(name string) (gpio.PinIO, error) {
	var n int
	if _, err := fmt.Sscanf(name, "A%d", &n); err != nil || n < 0 || n > 7 {
		return nil, fmt.Errorf("no line %q: the expander has A0 to A7", name)
	}
	return e.pins.Line(fmt.Sprintf("GPIO%d", n)), nil
}

const expanderConfig = `
[agent]
id = "garage"
hardware = "sim"

[mqtt]
broker = "%s"

[[device]]
id = "exp"
driver = "test-expander"

[[device]]
id = "fan"
driver = "gpio"
name = "Fan"
pin = "exp/A3"
mode = "output"

[[device]]
id = "button"
driver = "gpio"
name = "Button"
pin = "exp/A5"
mode = "input"
debounce = "0s"
`

// TestProvidedLines runs the gpio driver on an expander's lines, through
// MQTT: commands reach the expander's pin, edges on its input come back,
// and while the expander fails its users are unavailable, coming back with
// their state when it does.
func TestProvidedLines(t *testing.T) {
	url := brokertest.Embedded(t)
	r := start(t, expanderConfig, url)
	ha := hatest.New(t, url)
	exp := expander(t, "exp")
	fan, button := exp.pins.Line("GPIO3"), exp.pins.Line("GPIO5")

	if err := ha.WaitAvailable(uid("fan", "relay"), true, wait); err != nil {
		t.Fatal(err)
	}
	if err := ha.Command(uid("fan", "relay"), "ON"); err != nil {
		t.Fatal(err)
	}
	if err := ha.WaitState(uid("fan", "relay"), "ON", wait); err != nil {
		t.Fatal(err)
	}
	if !fan.IsOutput() || fan.Level() != gpio.High {
		t.Fatalf("the expander's A3 is %v (output %v) after ON, want a High output", fan.Level(), fan.IsOutput())
	}
	if err := ha.WaitState(uid("button", "input"), "ON", wait); err != nil {
		t.Fatal(err)
	}
	button.Drive(gpio.Low)
	if err := ha.WaitState(uid("button", "input"), "OFF", wait); err != nil {
		t.Fatalf("an edge on the expander's input: %v", err)
	}

	exp.fail()
	for _, id := range []string{uid("fan", "relay"), uid("button", "input"), uid("exp", "fault")} {
		if err := ha.WaitAvailable(id, false, wait); err != nil {
			t.Fatalf("while the expander fails: %v", err)
		}
	}
	r.waitLog(t, "a device it uses went down", "device=fan")
	// A command while the expander is down is dropped, not run later.
	if err := ha.Command(uid("fan", "relay"), "OFF"); err != nil {
		t.Fatal(err)
	}
	r.waitLog(t, "command dropped", "device=fan")

	exp.broken.Store(false) // the next retry opens it
	for _, id := range []string{uid("exp", "fault"), uid("fan", "relay"), uid("button", "input")} {
		if err := ha.WaitAvailable(id, true, wait); err != nil {
			t.Fatalf("after the expander recovered: %v", err)
		}
	}
	if err := ha.WaitState(uid("fan", "relay"), "ON", wait); err != nil {
		t.Fatalf("the fan's state after the expander recovered: %v", err)
	}
	if fan.Level() != gpio.High {
		t.Fatal("the fan's line lost its level over the expander's failure")
	}
	for _, c := range fan.History() {
		if c.Level == gpio.Low && c.Output && c.At.After(fan.History()[0].At) {
			t.Errorf("the fan's line went Low at %v: the dropped OFF was run, or the reopen glitched it", c.At)
		}
	}
	if err := ha.Command(uid("fan", "relay"), "OFF"); err != nil {
		t.Fatal(err)
	}
	if err := ha.WaitState(uid("fan", "relay"), "OFF", wait); err != nil {
		t.Fatal(err)
	}
	if fan.Level() != gpio.Low {
		t.Fatal("OFF after the recovery did not reach the expander's pin")
	}
}
