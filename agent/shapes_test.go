package agent_test

import (
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/hatest"
)

// shapesConfig has an entity of each component the gpio driver makes
// besides switches and binary sensors: a button (a gate opener's pulse),
// an event (a doorbell), a dimmable light and a number (a fan's speed).
const shapesConfig = `
[agent]
id = "garage"
hardware = "sim"

[mqtt]
broker = "%s"

[[device]]
id = "gate"
driver = "gpio"
name = "Gate"
pin = "GPIO23"
mode = "output"
pulse = "300ms"

[[device]]
id = "bell"
driver = "gpio"
name = "Doorbell"
pin = "GPIO24"
mode = "input"
report = "press"
inverted = true
debounce = "5ms"

[[device]]
id = "lamp"
driver = "gpio"
name = "Lamp"
pin = "GPIO18"
mode = "pwm"

[[device]]
id = "fan"
driver = "gpio"
name = "Fan"
pin = "GPIO13"
mode = "pwm"
show_as = "number"
`

func TestShapesEmbeddedBroker(t *testing.T) { shapes(t, brokertest.Embedded(t)) }
func TestShapesMosquitto(t *testing.T)      { shapes(t, brokertest.Mosquitto(t)) }

// shapes drives each entity as Home Assistant does, through MQTT, and
// checks the hardware and what Home Assistant sees.
func shapes(t *testing.T, url string) {
	r := start(t, shapesConfig, url)
	ha := hatest.New(t, url)
	for _, id := range []string{uid("gate", "pulse"), uid("bell", "press"), uid("lamp", "light"), uid("fan", "duty")} {
		if err := ha.WaitAvailable(id, true, wait); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a button makes one pulse", func(t *testing.T) {
		gate := r.host.Line("GPIO23")
		before := len(gate.History())
		if err := ha.Press(uid("gate", "pulse")); err != nil {
			t.Fatal(err)
		}
		until(t, "the pulse to end", func() bool { return len(gate.History())-before >= 2 })
		h := gate.History()[before:]
		if len(h) != 2 || h[0].Level != gpio.High || h[1].Level != gpio.Low {
			t.Fatalf("GPIO23 went through %+v, want High then Low", h)
		}
		if d := h[1].At.Sub(h[0].At); d < 300*time.Millisecond {
			t.Errorf("the pulse lasted %v, want 300ms", d)
		}
		if e := mustEntity(t, ha, uid("gate", "pulse")); e.HasState {
			t.Errorf("the button has a state (%q): buttons are stateless", e.State)
		}
	})

	t.Run("presses are events, each one", func(t *testing.T) {
		bell := r.host.Line("GPIO24")
		for i := 0; i < 3; i++ {
			bell.Drive(gpio.Low) // pressed: the button pulls the line to ground
			if err := ha.WaitEvent(uid("bell", "press"), "press", wait); err != nil {
				t.Fatalf("press %d: %v", i+1, err)
			}
			reads := bell.Reads()
			bell.Drive(gpio.High)
			// The driver reads the line once the release settled; a press
			// before that would fall in the same debounce.
			until(t, "the release to be read", func() bool { return bell.Reads() > reads })
		}
		if n := len(ha.Events(uid("bell", "press"))); n != 3 {
			t.Errorf("Home Assistant saw %d events for 3 presses", n)
		}
	})

	t.Run("a light dims", func(t *testing.T) {
		lamp := r.host.Line("GPIO18")
		if err := ha.LightOn(uid("lamp", "light"), 128); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitLight(uid("lamp", "light"), true, 128, wait); err != nil {
			t.Fatal(err)
		}
		if d, want := lamp.Duty(), gpio.Duty(int64(gpio.DutyMax)*128/255); d < want-gpio.DutyMax/255 || d > want+gpio.DutyMax/255 {
			t.Errorf("brightness 128 drives a duty of %v, want about %v", d, want)
		}
		if err := ha.TurnOff(uid("lamp", "light")); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitLight(uid("lamp", "light"), false, 128, wait); err != nil {
			t.Fatal(err)
		}
		if d := lamp.Duty(); d != 0 {
			t.Errorf("the light is off but its duty is %v", d)
		}
		// ON without a brightness brings back the last one.
		if err := ha.TurnOn(uid("lamp", "light")); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitLight(uid("lamp", "light"), true, 128, wait); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a number sets a fan's duty", func(t *testing.T) {
		fan := r.host.Line("GPIO13")
		if err := ha.WaitValue(uid("fan", "duty"), "0", wait); err != nil {
			t.Fatal(err)
		}
		if err := ha.SetNumber(uid("fan", "duty"), 40); err != nil {
			t.Fatal(err)
		}
		if err := ha.WaitValue(uid("fan", "duty"), "40", wait); err != nil {
			t.Fatal(err)
		}
		if d, want := fan.Duty(), gpio.DutyMax*2/5; d < want-gpio.DutyMax/100 || d > want+gpio.DutyMax/100 {
			t.Errorf("40 %% drives a duty of %v, want about %v", d, want)
		}
		// A value out of range is refused before it reaches the fan.
		before := len(fan.History())
		if err := ha.Command(uid("fan", "duty"), "150"); err != nil {
			t.Fatal(err)
		}
		r.waitLog(t, "invalid command; ignored", "fan/duty/set")
		if h := fan.History()[before:]; len(h) != 0 {
			t.Errorf("150 %% moved the fan: %+v", h)
		}
	})

	if p := ha.Problems(); len(p) > 0 {
		t.Fatalf("Home Assistant would reject or misread:\n%v", p)
	}
}
