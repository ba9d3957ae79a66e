package gpio

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

func TestRegistered(t *testing.T) {
	drivertest.Registered[*Output](t, "gpio", SampleConfig, `pin = "GPIO17"`+"\n"+`mode = "output"`)
	d, ok := drivers.Lookup(DriverName)
	if !ok || d.Description == "" || d.DefaultInterval != 0 {
		t.Errorf("drivers.Lookup(%q) = %+v, %t; want a description and the agent's default interval (the driver has nothing to poll)", DriverName, d, ok)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		key  string   // the key the error is on
		want []string // what the error on key says
	}{
		{"no pin", `mode = "output"`, "pin", []string{`is required`, `"GPIO17"`}},
		{"pin as number", "pin = 17\nmode = \"output\"", "pin", []string{`pin = 17`, `write "GPIO17"`}},
		{"pin as numeric string", "pin = \"4\"\nmode = \"input\"", "pin", []string{`write "GPIO4"`}},
		{"pin as bool", "pin = true\nmode = \"input\"", "pin", []string{`pin must be the line's name`, `"GPIO17"`}},
		{"pin with space", "pin = \"GPIO 17\"\nmode = \"input\"", "pin", []string{`has spaces`}},
		{"empty pin", "pin = \"\"\nmode = \"input\"", "pin", []string{`is required`}},
		{"no mode", `pin = "GPIO17"`, "mode", []string{`is required`, `"output"`, `"input"`}},
		{"bad mode", "pin = \"GPIO17\"\nmode = \"relay\"", "mode", []string{`"relay" is not a mode`, `"output"`, `"input"`}},
		{"mode case", "pin = \"GPIO17\"\nmode = \"Output\"", "mode", []string{`"Output" is not a mode`}},
		{"pull on output", "pin = \"GPIO17\"\nmode = \"output\"\npull = \"up\"", "pull", []string{`is only for mode = "input"`}},
		{"debounce on output", "pin = \"GPIO17\"\nmode = \"output\"\ndebounce = \"10ms\"", "debounce", []string{`is only for mode = "input"`}},
		{"poll on output", "pin = \"GPIO17\"\nmode = \"output\"\npoll = \"1s\"", "poll", []string{`is only for mode = "input"`}},
		{"power_on on input", "pin = \"GPIO17\"\nmode = \"input\"\npower_on = \"off\"", "power_on", []string{`is only for mode = "output" or "pwm"`}},
		{"on_exit on input", "pin = \"GPIO17\"\nmode = \"input\"\non_exit = \"keep\"", "on_exit", []string{`is only for mode = "output"`}},
		{"bad power_on", "pin = \"GPIO17\"\nmode = \"output\"\npower_on = \"ON\"", "power_on", []string{`"ON"`, `"off"`, `"on"`}},
		{"bad on_exit", "pin = \"GPIO17\"\nmode = \"output\"\non_exit = \"restore\"", "on_exit", []string{`"restore"`, `"keep"`}},
		{"binary class on output", "pin = \"GPIO17\"\nmode = \"output\"\nclass = \"door\"", "class", []string{`"door" is not a switch class`, `"outlet"`}},
		{"empty class on output", "pin = \"GPIO17\"\nmode = \"output\"\nclass = \"\"", "class", []string{`"" is not a switch class`}},
		{"switch class on input", "pin = \"GPIO17\"\nmode = \"input\"\nclass = \"outlet\"", "class", []string{`"outlet" is not a binary sensor class`, `"door"`, `"motion"`, `"window"`}},
		{"bad pull", "pin = \"GPIO17\"\nmode = \"input\"\npull = \"pullup\"", "pull", []string{`"pullup"`, `"up"`, `"down"`, `"none"`}},
		{"debounce without unit", "pin = \"GPIO17\"\nmode = \"input\"\ndebounce = 50", "debounce", []string{`50 has no unit`, `"50ms"`}},
		{"debounce string without unit", "pin = \"GPIO17\"\nmode = \"input\"\ndebounce = \"50\"", "debounce", []string{`"50" has no unit`, `"50ms"`}},
		{"debounce not a duration", "pin = \"GPIO17\"\nmode = \"input\"\ndebounce = \"fast\"", "debounce", []string{`"fast" is not a duration`}},
		{"negative debounce", "pin = \"GPIO17\"\nmode = \"input\"\ndebounce = \"-5ms\"", "debounce", []string{`"-5ms" is negative`}},
		{"poll too short", "pin = \"GPIO17\"\nmode = \"input\"\npoll = \"10us\"", "poll", []string{`"10µs" is too short`, `"1ms"`}},
		{"inverted not bool", "pin = \"GPIO17\"\nmode = \"output\"\ninverted = \"yes\"", "inverted", []string{`must be a boolean`}},
		{"unknown key", "pin = \"GPIO17\"\nmode = \"output\"\nchannel = 3", "channel", []string{`unknown key`}},
		{"key in the wrong case", "PIN = \"GPIO17\"\nmode = \"output\"", "PIN", []string{`unknown key (did you mean "pin"?`}},
		{"pin of no device", "pin = \"/GPA0\"\nmode = \"output\"", "pin", []string{`"<device id>/<line>"`, `"relays/GPA0"`}},
		{"pin of no line", "pin = \"relays/\"\nmode = \"output\"", "pin", []string{`"<device id>/<line>"`}},
		{"pin of a bad device id", "pin = \"relay.board/GPA0\"\nmode = \"output\"", "pin", []string{`"<device id>/<line>"`}},
		{"pwm mode case", "pin = \"GPIO18\"\nmode = \"PWM\"", "mode", []string{`"PWM" is not a mode`, `"pwm"`}},
		{"pulse on input", "pin = \"GPIO17\"\nmode = \"input\"\npulse = \"1s\"", "pulse", []string{`is only for mode = "output"`}},
		{"pulse on pwm", "pin = \"GPIO17\"\nmode = \"pwm\"\npulse = \"1s\"", "pulse", []string{`is only for mode = "output"`}},
		{"zero pulse", "pin = \"GPIO17\"\nmode = \"output\"\npulse = \"0s\"", "pulse", []string{`"0s" is too short`, `"1ms"`, `remove pulse`}},
		{"zero pulse as integer", "pin = \"GPIO17\"\nmode = \"output\"\npulse = 0", "pulse", []string{`"0s" is too short`}},
		{"pulse without unit", "pin = \"GPIO17\"\nmode = \"output\"\npulse = 500", "pulse", []string{`500 has no unit`, `"500ms"`}},
		{"pulse too short", "pin = \"GPIO17\"\nmode = \"output\"\npulse = \"500us\"", "pulse", []string{`"500µs" is too short`}},
		{"pulse with power_on", "pin = \"GPIO17\"\nmode = \"output\"\npulse = \"1s\"\npower_on = \"off\"", "power_on", []string{`a pulse output always starts off`, `remove power_on`}},
		{"pulse with on_exit", "pin = \"GPIO17\"\nmode = \"output\"\npulse = \"1s\"\non_exit = \"keep\"", "on_exit", []string{`always left off`, `remove on_exit`}},
		{"switch class on pulse", "pin = \"GPIO17\"\nmode = \"output\"\npulse = \"1s\"\nclass = \"switch\"", "class", []string{`"switch" is not a button class`, `"identify", "restart" or "update"`}},
		{"report on output", "pin = \"GPIO17\"\nmode = \"output\"\nreport = \"press\"", "report", []string{`is only for mode = "input"`}},
		{"bad report", "pin = \"GPIO17\"\nmode = \"input\"\nreport = \"event\"", "report", []string{`"event" is not a way to report`, `"state"`, `"press"`}},
		{"binary class on press", "pin = \"GPIO17\"\nmode = \"input\"\nreport = \"press\"\nclass = \"door\"", "class", []string{`"door" is not an event class`, `"button", "doorbell" or "motion"`}},
		{"event class on input", "pin = \"GPIO17\"\nmode = \"input\"\nclass = \"doorbell\"", "class", []string{`"doorbell" is not a binary sensor class`}},
		{"frequency on output", "pin = \"GPIO17\"\nmode = \"output\"\nfrequency = \"1kHz\"", "frequency", []string{`is only for mode = "pwm"`}},
		{"frequency on input", "pin = \"GPIO17\"\nmode = \"input\"\nfrequency = \"1kHz\"", "frequency", []string{`is only for mode = "pwm"`}},
		{"frequency without unit", "pin = \"GPIO18\"\nmode = \"pwm\"\nfrequency = 1000", "frequency", []string{`1000 has no unit`, `"1000Hz"`}},
		{"frequency string without unit", "pin = \"GPIO18\"\nmode = \"pwm\"\nfrequency = \"1000\"", "frequency", []string{`"1000" has no unit`, `"1000Hz"`}},
		{"frequency prefix case", "pin = \"GPIO18\"\nmode = \"pwm\"\nfrequency = \"1KHz\"", "frequency", []string{`"1KHz" is not a frequency`, `"1kHz"`}},
		{"frequency not one", "pin = \"GPIO18\"\nmode = \"pwm\"\nfrequency = \"fast\"", "frequency", []string{`"fast" is not a frequency`}},
		{"frequency in seconds", "pin = \"GPIO18\"\nmode = \"pwm\"\nfrequency = \"1s\"", "frequency", []string{`"1s" is not a frequency`}},
		{"frequency too high", "pin = \"GPIO18\"\nmode = \"pwm\"\nfrequency = \"2MHz\"", "frequency", []string{`"2MHz" is out of range`, `"1Hz" to "1MHz"`}},
		{"frequency too low", "pin = \"GPIO18\"\nmode = \"pwm\"\nfrequency = \"500mHz\"", "frequency", []string{`"500mHz" is out of range`}},
		{"class on pwm", "pin = \"GPIO18\"\nmode = \"pwm\"\nclass = \"outlet\"", "class", []string{`a PWM light has no class`}},
		{"pull on pwm", "pin = \"GPIO18\"\nmode = \"pwm\"\npull = \"up\"", "pull", []string{`is only for mode = "input"`}},
		{"bad power_on on pwm", "pin = \"GPIO18\"\nmode = \"pwm\"\npower_on = \"50%\"", "power_on", []string{`"50%" is not a start state`}},
		{"bad on_exit on pwm", "pin = \"GPIO18\"\nmode = \"pwm\"\non_exit = \"dim\"", "on_exit", []string{`"dim" is not an exit state`}},
		{"show_as on output", "pin = \"GPIO17\"\nmode = \"output\"\nshow_as = \"number\"", "show_as", []string{`is only for mode = "pwm"`, `set mode = "pwm"`}},
		{"show_as on input", "pin = \"GPIO17\"\nmode = \"input\"\nshow_as = \"light\"", "show_as", []string{`is only for mode = "pwm"`}},
		{"show_as on pulse", "pin = \"GPIO17\"\nmode = \"output\"\npulse = \"1s\"\nshow_as = \"number\"", "show_as", []string{`is only for mode = "pwm"`}},
		{"bad show_as", "pin = \"GPIO18\"\nmode = \"pwm\"\nshow_as = \"fan\"", "show_as", []string{`"fan" is not a way to show a PWM line`, `"light" (the default`, `"number" (a number from 0 to 100 %`}},
		{"show_as case", "pin = \"GPIO18\"\nmode = \"pwm\"\nshow_as = \"Number\"", "show_as", []string{`"Number" is not a way to show`}},
		{"empty show_as", "pin = \"GPIO18\"\nmode = \"pwm\"\nshow_as = \"\"", "show_as", []string{`"" is not a way to show`}},
		{"show_as not a string", "pin = \"GPIO18\"\nmode = \"pwm\"\nshow_as = 1", "show_as", []string{`string`}},
		{"class on number", "pin = \"GPIO18\"\nmode = \"pwm\"\nshow_as = \"number\"\nclass = \"power_factor\"", "class", []string{`a PWM number has no class`, `remove it`}},
		{"pulse on number", "pin = \"GPIO18\"\nmode = \"pwm\"\nshow_as = \"number\"\npulse = \"1s\"", "pulse", []string{`is only for mode = "output"`}},
		{"bad power_on on number", "pin = \"GPIO18\"\nmode = \"pwm\"\nshow_as = \"number\"\npower_on = \"50\"", "power_on", []string{`"50" is not a start state`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(drivertest.Config(t, "door", tc.src))
			drivertest.CheckError(t, err, `gpio "door": `)
			drivertest.CheckKeyError(t, err, tc.key, tc.want...)
		})
	}
}

// TestConfigErrorsAll checks that every bad value of a table is reported
// at once, each at its own key and line, as the agent shows them.
func TestConfigErrorsAll(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []drivertest.WantProblem
	}{
		{"output", "pin = \"GPIO5\"\nmode = \"output\"\npower_on = \"maybe\"\non_exit = \"sometimes\"\nclass = \"lamp\"\n",
			[]drivertest.WantProblem{
				{Line: 3, Key: "power_on", Msg: `"maybe" is not a start state: use "off" (the default), "on" or "restore"`},
				{Line: 4, Key: "on_exit", Msg: `"sometimes" is not an exit state`},
				{Line: 5, Key: "class", Msg: `"lamp" is not a switch class`},
			}},
		{"pulse", "pin = \"GPIO5\"\nmode = \"output\"\npulse = \"0s\"\npower_on = \"on\"\nclass = \"lamp\"\npull = \"up\"\n",
			[]drivertest.WantProblem{
				{Line: 3, Key: "pulse", Msg: `"0s" is too short`},
				{Line: 4, Key: "power_on", Msg: `a pulse output always starts off`},
				{Line: 5, Key: "class", Msg: `"lamp" is not a button class`},
				{Line: 6, Key: "pull", Msg: `is only for mode = "input"`},
			}},
		{"input", "mode = \"input\"\npin = \"GPIO6\"\npull = \"sideways\"\npoll = \"1us\"\nclass = \"lamp\"\npower_on = \"on\"\nreport = \"all\"\n",
			[]drivertest.WantProblem{
				{Line: 3, Key: "pull", Msg: `"sideways" is not a pull`},
				{Line: 4, Key: "poll", Msg: `"1µs" is too short`},
				{Line: 5, Key: "class", Msg: `"lamp" is not a binary sensor class`},
				{Line: 6, Key: "power_on", Msg: `is only for mode = "output" or "pwm"`},
				{Line: 7, Key: "report", Msg: `"all" is not a way to report`},
			}},
		{"press", "mode = \"input\"\npin = \"GPIO6\"\nreport = \"press\"\nclass = \"door\"\nfrequency = \"1kHz\"\n",
			[]drivertest.WantProblem{
				{Line: 4, Key: "class", Msg: `"door" is not an event class`},
				{Line: 5, Key: "frequency", Msg: `is only for mode = "pwm"`},
			}},
		{"pwm", "mode = \"pwm\"\npin = \"GPIO18\"\nfrequency = \"9MHz\"\npower_on = \"dim\"\nclass = \"light\"\ndebounce = \"1ms\"\n",
			[]drivertest.WantProblem{
				{Line: 3, Key: "frequency", Msg: `"9MHz" is out of range`},
				{Line: 4, Key: "power_on", Msg: `"dim" is not a start state`},
				{Line: 5, Key: "class", Msg: `a PWM light has no class`},
				{Line: 6, Key: "debounce", Msg: `is only for mode = "input"`},
			}},
		{"number", "mode = \"pwm\"\npin = \"GPIO13\"\nshow_as = \"number\"\non_exit = \"50%\"\nclass = \"speed\"\npull = \"up\"\n",
			[]drivertest.WantProblem{
				{Line: 4, Key: "on_exit", Msg: `"50%" is not an exit state`},
				{Line: 5, Key: "class", Msg: `a PWM number has no class`},
				{Line: 6, Key: "pull", Msg: `is only for mode = "input"`},
			}},
		{"show_as", "mode = \"pwm\"\npin = \"GPIO13\"\nshow_as = \"slider\"\nfrequency = \"0Hz\"\n",
			[]drivertest.WantProblem{
				{Line: 3, Key: "show_as", Msg: `"slider" is not a way to show a PWM line`},
				{Line: 4, Key: "frequency", Msg: `"0Hz" is out of range`},
			}},
		{"show_as on input", "mode = \"input\"\npin = \"GPIO6\"\nfrequency = \"1kHz\"\nshow_as = \"number\"\n",
			[]drivertest.WantProblem{
				{Line: 3, Key: "frequency", Msg: `is only for mode = "pwm"`},
				{Line: 4, Key: "show_as", Msg: `is only for mode = "pwm"`},
			}},
		{"no pin, unknown mode", "mode = \"outptu\"\npower_on = \"maybe\"\npull = \"x\"\nclass = \"lamp\"\npulse = \"0s\"\nfrequency = \"0Hz\"\nreport = \"y\"\nshow_as = \"z\"\n",
			[]drivertest.WantProblem{
				// A missing key has no line of its own; the agent puts it
				// at the [[device]] line.
				{Line: 0, Key: "pin", Msg: "is required"},
				{Line: 1, Key: "mode", Msg: `"outptu" is not a mode`},
				{Line: 2, Key: "power_on", Msg: `"maybe"`},
				{Line: 3, Key: "pull", Msg: `"x"`},
				{Line: 5, Key: "pulse", Msg: `"0s" is too short`},
				{Line: 6, Key: "frequency", Msg: `"0Hz" is out of range`},
				{Line: 7, Key: "report", Msg: `"y"`},
				{Line: 8, Key: "show_as", Msg: `"z" is not a way to show a PWM line`},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drivertest.CheckProblems(t, drivertest.Problems(t, New, "r2", tc.src), tc.want...)
		})
	}
}

func TestConfigDecodeErrorNamesLine(t *testing.T) {
	_, err := New(drivertest.Config(t, "door", "mode = \"input\"\n\npin = 17\n"))
	if err == nil || !strings.Contains(err.Error(), "test.toml:3: pin: ") {
		t.Errorf("New: error %v, want it to name line 3, where pin is", err)
	}
}

func TestNoDecode(t *testing.T) {
	_, err := New(drivers.Config{ID: "door"})
	drivertest.CheckError(t, err, `gpio "door": `)
}

// checkDevice checks a device's entities and claims, which must follow
// from its configuration alone.
func checkDevice(t *testing.T, d drivers.Device, entities []drivers.Entity, claims []drivers.Resource) {
	t.Helper()
	if got := d.Entities(); !reflect.DeepEqual(got, entities) {
		t.Errorf("Entities() = %+v, want %+v", got, entities)
	}
	if got := d.(drivers.Claimer).Claims(); !slices.Equal(got, claims) {
		t.Errorf("Claims() = %v, want %v", got, claims)
	}
}

func TestConfigOutput(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want *Output
	}{
		{"defaults", ``, &Output{class: drivers.ClassSwitch, onExit: exitKeep}},
		{"all set", "inverted = true\npower_on = \"on\"\non_exit = \"off\"\nclass = \"outlet\"",
			&Output{inverted: true, powerOn: true, onExit: exitOff, class: drivers.ClassOutlet}},
		{"explicit defaults", "inverted = false\npower_on = \"off\"\non_exit = \"keep\"\nclass = \"switch\"",
			&Output{class: drivers.ClassSwitch, onExit: exitKeep}},
		{"on_exit on", `on_exit = "on"`, &Output{class: drivers.ClassSwitch, onExit: exitOn}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice(t, "door", "pin = \"GPIO17\"\nmode = \"output\"\n"+tc.src)
			o, ok := d.(*Output)
			if !ok {
				t.Fatalf("New made a %T, want *Output", d)
			}
			tc.want.id, tc.want.pin = "door", "GPIO17"
			if !reflect.DeepEqual(o, tc.want) {
				t.Errorf("decoded %+v, want %+v", o, tc.want)
			}
			checkDevice(t, d, []drivers.Entity{{ID: "relay", Spec: drivers.Switch{Class: tc.want.class}}}, []drivers.Resource{drivers.GPIOLine("GPIO17")})
		})
	}
}

func TestConfigPulse(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want *Pulse
	}{
		{"defaults", `pulse = "500ms"`, &Pulse{pulse: 500 * time.Millisecond}},
		{"all set", "pulse = \"2s\"\ninverted = true\nclass = \"restart\"", &Pulse{pulse: 2 * time.Second, inverted: true, class: "restart"}},
		{"shortest", `pulse = "1ms"`, &Pulse{pulse: time.Millisecond}},
		{"generic class", "pulse = \"1m\"\nclass = \"\"", &Pulse{pulse: time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice(t, "gate", "pin = \"relays/GPA1\"\nmode = \"output\"\n"+tc.src)
			p, ok := d.(*Pulse)
			if !ok {
				t.Fatalf("New made a %T, want *Pulse", d)
			}
			tc.want.id, tc.want.pin = "gate", "relays/GPA1"
			if !reflect.DeepEqual(p, tc.want) {
				t.Errorf("decoded %+v, want %+v", p, tc.want)
			}
			checkDevice(t, d, []drivers.Entity{{ID: "pulse", Spec: drivers.Button{Class: tc.want.class}}}, []drivers.Resource{drivers.GPIOLine("relays/GPA1")})
		})
	}
}

func TestConfigInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		src    string
		want   *Input
		entity drivers.Entity
	}{
		{"defaults", ``, &Input{pull: gpio.PullUp, debounce: 50 * time.Millisecond},
			drivers.Entity{ID: "input", Spec: drivers.BinarySensor{}}},
		{"all set", "inverted = true\npull = \"down\"\ndebounce = \"5ms\"\npoll = \"2s\"\nclass = \"motion\"\nreport = \"state\"",
			&Input{inverted: true, pull: gpio.PullDown, debounce: 5 * time.Millisecond, poll: 2 * time.Second, class: drivers.ClassMotion},
			drivers.Entity{ID: "input", Spec: drivers.BinarySensor{Class: "motion"}}},
		{"no pull, zero debounce", "pull = \"none\"\ndebounce = \"0s\"", &Input{pull: gpio.Float},
			drivers.Entity{ID: "input", Spec: drivers.BinarySensor{}}},
		{"zero as integers", "debounce = 0\npoll = 0", &Input{pull: gpio.PullUp},
			drivers.Entity{ID: "input", Spec: drivers.BinarySensor{}}},
		{"empty class", `class = ""`, &Input{pull: gpio.PullUp, debounce: DefaultDebounce},
			drivers.Entity{ID: "input", Spec: drivers.BinarySensor{}}},
		{"door", `class = "door"`, &Input{pull: gpio.PullUp, debounce: DefaultDebounce, class: drivers.ClassDoor},
			drivers.Entity{ID: "input", Spec: drivers.BinarySensor{Class: "door"}}},
		{"window", `class = "window"`, &Input{pull: gpio.PullUp, debounce: DefaultDebounce, class: drivers.ClassWindow},
			drivers.Entity{ID: "input", Spec: drivers.BinarySensor{Class: "window"}}},
		{"problem", `class = "problem"`, &Input{pull: gpio.PullUp, debounce: DefaultDebounce, class: drivers.ClassProblem},
			drivers.Entity{ID: "input", Spec: drivers.BinarySensor{Class: "problem"}}},
		{"press", `report = "press"`, &Input{pull: gpio.PullUp, debounce: DefaultDebounce, press: true, class: drivers.ClassButton},
			drivers.Entity{ID: "press", Spec: drivers.Event{Class: "button", Types: []string{"press"}}}},
		{"doorbell press", "report = \"press\"\nclass = \"doorbell\"\ninverted = true\npoll = \"10ms\"",
			&Input{pull: gpio.PullUp, debounce: DefaultDebounce, press: true, class: drivers.ClassDoorbell, inverted: true, poll: 10 * time.Millisecond},
			drivers.Entity{ID: "press", Spec: drivers.Event{Class: "doorbell", Types: []string{"press"}}}},
		{"generic press", "report = \"press\"\nclass = \"\"", &Input{pull: gpio.PullUp, debounce: DefaultDebounce, press: true},
			drivers.Entity{ID: "press", Spec: drivers.Event{Types: []string{"press"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice(t, "bell", "pin = \"GPIO27\"\nmode = \"input\"\n"+tc.src)
			in, ok := d.(*Input)
			if !ok {
				t.Fatalf("New made a %T, want *Input", d)
			}
			tc.want.id, tc.want.pin = "bell", "GPIO27"
			if !reflect.DeepEqual(in, tc.want) {
				t.Errorf("decoded %+v, want %+v", in, tc.want)
			}
			checkDevice(t, d, []drivers.Entity{tc.entity}, []drivers.Resource{drivers.GPIOLine("GPIO27")})
			if _, ok := d.(drivers.Poller); ok {
				t.Errorf("an input implements drivers.Poller; its waiter reads it, the agent need not poll it")
			}
		})
	}
}

// TestConfigPWM checks the decoding of a PWM line, shown as a light or,
// with show_as = "number", as a number.
func TestConfigPWM(t *testing.T) {
	light := drivers.Entity{ID: "light", Spec: drivers.Light{Brightness: true}}
	number := drivers.Entity{ID: "duty", Spec: drivers.Number{Min: 0, Max: 100, Step: 1, Unit: "%", Mode: drivers.NumberSlider}}
	for _, tc := range []struct {
		name   string
		src    string
		number bool    // a *Number, else a *Light
		want   pwmLine // id, pin and full aside
	}{
		{"defaults", ``, false, pwmLine{freq: physic.KiloHertz}},
		{"all set", "inverted = true\nfrequency = \"200Hz\"\npower_on = \"on\"\non_exit = \"off\"",
			false, pwmLine{inverted: true, freq: 200 * physic.Hertz, powerOn: true, onExit: exitOff}},
		{"fractional", `frequency = "1.5kHz"`, false, pwmLine{freq: 1500 * physic.Hertz}},
		{"lowest", `frequency = "1Hz"`, false, pwmLine{freq: physic.Hertz}},
		{"highest", `frequency = "1MHz"`, false, pwmLine{freq: physic.MegaHertz}},
		{"lower-case hz", `frequency = "100hz"`, false, pwmLine{freq: 100 * physic.Hertz}},
		{"shown as a light", `show_as = "light"`, false, pwmLine{freq: physic.KiloHertz}},
		{"number defaults", `show_as = "number"`, true, pwmLine{freq: physic.KiloHertz}},
		{"number all set", "show_as = \"number\"\ninverted = true\nfrequency = \"25kHz\"\npower_on = \"on\"\non_exit = \"on\"",
			true, pwmLine{inverted: true, freq: 25 * physic.KiloHertz, powerOn: true, onExit: exitOn}},
		{"number on_exit off", "show_as = \"number\"\non_exit = \"off\"\npower_on = \"off\"",
			true, pwmLine{freq: physic.KiloHertz, onExit: exitOff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice(t, "fan", "pin = \"GPIO18\"\nmode = \"pwm\"\n"+tc.src)
			want, entity := tc.want, light
			want.id, want.pin, want.full = "fan", "GPIO18", 255
			var got pwmLine
			switch d := d.(type) {
			case *Light:
				got = d.pwmLine
				if tc.number || d.brightness != 0 {
					t.Errorf("New made %+v, want a *Number", d)
				}
			case *Number:
				got, entity, want.full = d.pwmLine, number, 100
				if !tc.number {
					t.Errorf("New made %+v, want a *Light", d)
				}
			default:
				t.Fatalf("New made a %T, want a *Light or a *Number", d)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded %+v, want %+v", got, want)
			}
			checkDevice(t, d, []drivers.Entity{entity}, []drivers.Resource{drivers.PWMLine("GPIO18")})
		})
	}
}

// TestSampleConfig checks that the sample decodes, and that every
// commented-out key shows its true default: uncommenting them all must
// change nothing.
func TestSampleConfig(t *testing.T) {
	plain := drivertest.SampleDevices[drivers.Device](t, SampleConfig, "gpio", New)
	want := []string{"*gpio.Output", "*gpio.Pulse", "*gpio.Input", "*gpio.Input", "*gpio.Light", "*gpio.Number"}
	var got []string
	for _, d := range plain {
		got = append(got, fmt.Sprintf("%T", d))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sample devices are %v, want %v: a switch, a button, a binary sensor, an event, a light and a number", got, want)
	}
	if in := plain[3].(*Input); !in.press {
		t.Errorf("sample device 4 does not report presses")
	}
	uncommented, n := drivertest.SampleDefaults(SampleConfig)
	if n != 25 {
		t.Errorf("sample has %d commented-out keys, want 25 (4 output, 2 pulse, 6 input, 4 press, 5 light and 4 number keys)", n)
	}
	all := drivertest.SampleDevices[drivers.Device](t, uncommented, "gpio", New)
	if !reflect.DeepEqual(plain, all) {
		t.Errorf("the commented-out values are not the defaults:\ndefaults:    %+v\nuncommented: %+v", plain, all)
	}
	drivertest.CheckSample(t, SampleConfig)
	// Every key the driver takes is documented in the sample.
	for _, k := range []string{"pin", "mode", "inverted", "power_on", "on_exit", "class", "pulse", "pull", "debounce", "poll", "report", "frequency", "show_as"} {
		if !regexp.MustCompile(`(?m)^\s*#? ?` + k + ` = `).MatchString(SampleConfig) {
			t.Errorf("the sample does not show key %q", k)
		}
	}
}

// FuzzNew feeds arbitrary driver tables to the factory: it must never
// panic, every error must name the driver and device, and a device it
// accepts must be well-formed.
func FuzzNew(f *testing.F) {
	for _, s := range []string{
		"pin = \"GPIO17\"\nmode = \"output\"",
		"pin = \"GPIO27\"\nmode = \"input\"\ndebounce = \"10ms\"\npoll = \"1s\"\nclass = \"door\"",
		"pin = 17\nmode = \"output\"",
		"pin = \"GPIO17\"\nmode = \"output\"\npower_on = \"on\"\non_exit = \"off\"\ninverted = true",
		"pin = \"GPIO17\"\nmode = \"input\"\npull = \"none\"\ndebounce = 0",
		"pin = \"relays/GPA0\"\nmode = \"output\"\npulse = \"500ms\"\nclass = \"restart\"",
		"pin = \"GPIO22\"\nmode = \"input\"\nreport = \"press\"\nclass = \"doorbell\"",
		"pin = \"GPIO18\"\nmode = \"pwm\"\nfrequency = \"2kHz\"\npower_on = \"on\"",
		"pin = \"GPIO13\"\nmode = \"pwm\"\nshow_as = \"number\"\non_exit = \"off\"",
		"pin = \"GPIO13\"\nmode = \"pwm\"\nshow_as = \"light\"\ninverted = true",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		d := drivertest.FuzzFactory(t, New, "fz", `gpio "fz": `, src)
		if d == nil {
			return
		}
		var pin string
		var claim func(string) drivers.Resource = drivers.GPIOLine
		var spec drivers.Spec
		switch d := d.(type) {
		case *Output:
			pin, spec = d.pin, drivers.Switch{Class: d.class}
			if d.class != drivers.ClassSwitch && d.class != drivers.ClassOutlet {
				t.Fatalf("accepted switch class %q", d.class)
			}
		case *Pulse:
			pin, spec = d.pin, drivers.Button{Class: d.class}
			if d.pulse < minPulse {
				t.Fatalf("accepted pulse %v", d.pulse)
			}
		case *Input:
			pin = d.pin
			if d.poll != 0 && d.poll < minPoll || d.debounce < 0 {
				t.Fatalf("accepted poll %v, debounce %v", d.poll, d.debounce)
			}
			spec = drivers.BinarySensor{Class: d.class}
			if d.press {
				spec = drivers.Event{Class: d.class, Types: []string{EventPress}}
			}
		case *Light:
			pin, spec, claim = d.pin, drivers.Light{Brightness: true}, drivers.PWMLine
			checkPWM(t, d.pwmLine, maxBrightness)
		case *Number:
			pin, spec, claim = d.pin, drivers.Number{Min: 0, Max: 100, Step: 1, Unit: drivers.Percent, Mode: drivers.NumberSlider}, drivers.PWMLine
			checkPWM(t, d.pwmLine, 100)
		default:
			t.Fatalf("New made a %T", d)
		}
		if got, want := fmt.Sprintf("%T", d), fuzzWantType(t, src); got != want {
			t.Fatalf("New made a %s, want a %s", got, want)
		}
		if pin == "" || isDigits(pin) || strings.ContainsAny(pin, " \t\r\n") {
			t.Fatalf("accepted pin %q", pin)
		}
		if dev, _, ok := drivers.SplitProvided(pin); strings.Contains(pin, "/") && (!ok || !validID(dev)) {
			t.Fatalf("accepted pin %q, neither a board's line nor <device>/<line>", pin)
		}
		if e := d.Entities(); len(e) != 1 || !reflect.DeepEqual(e[0].Spec, spec) {
			t.Fatalf("Entities() = %+v, want one %+v", e, spec)
		}
		if c := d.(drivers.Claimer).Claims(); !slices.Equal(c, []drivers.Resource{claim(pin)}) {
			t.Fatalf("Claims() = %v", c)
		}
	})
}

// checkPWM checks a PWM line that New accepted: its frequency is in range
// and full duty is full.
func checkPWM(t *testing.T, p pwmLine, full int) {
	t.Helper()
	if p.freq < minFrequency || p.freq > maxFrequency {
		t.Fatalf("accepted frequency %v", p.freq)
	}
	if p.full != full {
		t.Fatalf("full duty is level %d, want %d", p.full, full)
	}
}

// fuzzWantType is the type of device that FuzzNew's table src, which New
// accepted, must make: it follows from mode, pulse, report and show_as.
func fuzzWantType(t *testing.T, src string) string {
	t.Helper()
	cfg, err := drivertest.ParseConfig("fz", src)
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	var c config
	if err := cfg.Decode(&c); err != nil {
		t.Fatalf("New accepted a table that does not decode: %v", err)
	}
	is := func(p *string, v string) bool { return p != nil && *p == v }
	switch {
	case c.Mode == "output" && c.Pulse == nil:
		return "*gpio.Output"
	case c.Mode == "output":
		return "*gpio.Pulse"
	case c.Mode == "input":
		return "*gpio.Input"
	case c.Mode == "pwm" && is(c.ShowAs, "number"):
		return "*gpio.Number"
	case c.Mode == "pwm" && (c.ShowAs == nil || is(c.ShowAs, "light")):
		return "*gpio.Light"
	}
	t.Fatalf("New accepted mode %q, show_as %v", c.Mode, c.ShowAs)
	return ""
}
