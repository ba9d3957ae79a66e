package gpio

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/drivertest"
)

func TestRegistered(t *testing.T) {
	drivertest.Registered[*Output](t, "gpio", SampleConfig, `pin = "GPIO17"`+"\n"+`mode = "output"`)
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
		{"power_on on input", "pin = \"GPIO17\"\nmode = \"input\"\npower_on = \"off\"", "power_on", []string{`is only for mode = "output"`}},
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
				{Line: 3, Key: "power_on", Msg: `"maybe" is not a start state: use "off" (the default) or "on"`},
				{Line: 4, Key: "on_exit", Msg: `"sometimes" is not an exit state`},
				{Line: 5, Key: "class", Msg: `"lamp" is not a switch class`},
			}},
		{"input", "mode = \"input\"\npin = \"GPIO6\"\npull = \"sideways\"\npoll = \"1us\"\nclass = \"lamp\"\npower_on = \"on\"\n",
			[]drivertest.WantProblem{
				{Line: 3, Key: "pull", Msg: `"sideways" is not a pull`},
				{Line: 4, Key: "poll", Msg: `"1µs" is too short`},
				{Line: 5, Key: "class", Msg: `"lamp" is not a binary sensor class`},
				{Line: 6, Key: "power_on", Msg: `is only for mode = "output"`},
			}},
		{"no pin, unknown mode", "mode = \"outptu\"\npower_on = \"maybe\"\npull = \"x\"\nclass = \"lamp\"\n",
			[]drivertest.WantProblem{
				// A missing key has no line of its own; the agent puts it
				// at the [[device]] line.
				{Line: 0, Key: "pin", Msg: "is required"},
				{Line: 1, Key: "mode", Msg: `"outptu" is not a mode`},
				{Line: 2, Key: "power_on", Msg: `"maybe"`},
				{Line: 3, Key: "pull", Msg: `"x"`},
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
			wantEnt := []drivers.Entity{{ID: "relay", Kind: drivers.KindSwitch, Class: tc.want.class, Precision: -1}}
			if got := o.Entities(); !reflect.DeepEqual(got, wantEnt) {
				t.Errorf("Entities() = %+v, want %+v", got, wantEnt)
			}
			if got := o.Claims(); !slices.Equal(got, []string{"gpio:GPIO17"}) {
				t.Errorf("Claims() = %q, want [gpio:GPIO17]", got)
			}
		})
	}
}

func TestConfigInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want *Input
	}{
		{"defaults", ``, &Input{pull: gpio.PullUp, debounce: 50 * time.Millisecond}},
		{"all set", "inverted = true\npull = \"down\"\ndebounce = \"5ms\"\npoll = \"2s\"\nclass = \"motion\"",
			&Input{inverted: true, pull: gpio.PullDown, debounce: 5 * time.Millisecond, poll: 2 * time.Second, class: drivers.ClassMotion}},
		{"no pull, zero debounce", "pull = \"none\"\ndebounce = \"0s\"", &Input{pull: gpio.Float}},
		{"zero as integers", "debounce = 0\npoll = 0", &Input{pull: gpio.PullUp}},
		{"empty class", `class = ""`, &Input{pull: gpio.PullUp, debounce: DefaultDebounce}},
		{"door", `class = "door"`, &Input{pull: gpio.PullUp, debounce: DefaultDebounce, class: drivers.ClassDoor}},
		{"window", `class = "window"`, &Input{pull: gpio.PullUp, debounce: DefaultDebounce, class: drivers.ClassWindow}},
		{"opening", `class = "opening"`, &Input{pull: gpio.PullUp, debounce: DefaultDebounce, class: drivers.ClassOpening}},
		{"problem", `class = "problem"`, &Input{pull: gpio.PullUp, debounce: DefaultDebounce, class: drivers.ClassProblem}},
		{"connectivity", `class = "connectivity"`, &Input{pull: gpio.PullUp, debounce: DefaultDebounce, class: drivers.ClassConnectivity}},
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
			wantEnt := []drivers.Entity{{ID: "input", Kind: drivers.KindBinarySensor, Class: tc.want.class, Precision: -1}}
			if got := in.Entities(); !reflect.DeepEqual(got, wantEnt) {
				t.Errorf("Entities() = %+v, want %+v", got, wantEnt)
			}
			if got := in.Claims(); !slices.Equal(got, []string{"gpio:GPIO27"}) {
				t.Errorf("Claims() = %q, want [gpio:GPIO27]", got)
			}
			if _, ok := d.(drivers.Reader); ok {
				t.Errorf("an input implements drivers.Reader; the agent would poll it besides watching it")
			}
		})
	}
}

// TestSampleConfig checks that the sample decodes, and that every
// commented-out key shows its true default: uncommenting them all must
// change nothing.
func TestSampleConfig(t *testing.T) {
	plain := drivertest.SampleDevices[drivers.Device](t, SampleConfig, "gpio", New)
	if len(plain) != 2 {
		t.Fatalf("sample has %d devices, want an output and an input", len(plain))
	}
	if _, ok := plain[0].(*Output); !ok {
		t.Errorf("sample device 1 is a %T, want *Output", plain[0])
	}
	if _, ok := plain[1].(*Input); !ok {
		t.Errorf("sample device 2 is a %T, want *Input", plain[1])
	}
	uncommented, n := drivertest.SampleDefaults(SampleConfig)
	if n != 9 {
		t.Errorf("sample has %d commented-out keys, want 9 (4 output, 5 input keys)", n)
	}
	all := drivertest.SampleDevices[drivers.Device](t, uncommented, "gpio", New)
	if !reflect.DeepEqual(plain, all) {
		t.Errorf("the commented-out values are not the defaults:\ndefaults:    %+v\nuncommented: %+v", plain, all)
	}
	drivertest.CheckSample(t, SampleConfig)
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
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		d := drivertest.FuzzFactory(t, New, "fz", `gpio "fz": `, src)
		if d == nil {
			return
		}
		var pin string
		var kind drivers.Kind
		switch d := d.(type) {
		case *Output:
			pin, kind = d.pin, drivers.KindSwitch
		case *Input:
			pin, kind = d.pin, drivers.KindBinarySensor
			if d.poll != 0 && d.poll < minPoll || d.debounce < 0 {
				t.Fatalf("accepted poll %v, debounce %v", d.poll, d.debounce)
			}
		default:
			t.Fatalf("New made a %T", d)
		}
		if pin == "" || strings.Trim(pin, "0123456789") == "" || strings.ContainsAny(pin, " \t\r\n") {
			t.Fatalf("accepted pin %q", pin)
		}
		if e := d.Entities(); len(e) != 1 || e[0].Kind != kind {
			t.Fatalf("Entities() = %+v", e)
		}
		if c := d.(drivers.Claimer).Claims(); !slices.Equal(c, []string{"gpio:" + pin}) {
			t.Fatalf("Claims() = %q", c)
		}
	})
}
