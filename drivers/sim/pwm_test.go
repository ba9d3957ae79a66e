package sim_test

import (
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
)

func TestPWMHost(t *testing.T) {
	h := sim.NewHost(nil)
	defer h.Close()
	p, err := drivers.PWM(h, "GPIO18")
	if err != nil {
		t.Fatalf("PWM(GPIO18): %v", err)
	}
	if p != gpio.PinOut(h.Line("GPIO18")) {
		t.Fatal("PWM and Line return different lines for the same name")
	}
	tests := []struct {
		name string
		want []string
	}{
		{"GPIO28", []string{`"GPIO28"`, "GPIO0 to GPIO27"}},
		{"", []string{`""`, "GPIO0 to GPIO27"}},
		{"leds/PWM0", []string{`"leds/PWM0"`, `device "leds"`, "agent"}},
	}
	for _, tt := range tests {
		_, err := h.PWM(tt.name)
		if err == nil {
			t.Errorf("PWM(%q) succeeded", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("PWM(%q): error %q does not contain %q", tt.name, err, w)
			}
		}
	}
}

// TestLinePWM checks what a line shows after a sequence of calls.
func TestLinePWM(t *testing.T) {
	pwm := func(d gpio.Duty, f physic.Frequency) func(*sim.Line) error {
		return func(l *sim.Line) error { return l.PWM(d, f) }
	}
	out := func(v gpio.Level) func(*sim.Line) error {
		return func(l *sim.Line) error { return l.Out(v) }
	}
	halt := func(l *sim.Line) error { return l.Halt() }
	type steps = []func(*sim.Line) error
	tests := []struct {
		name   string
		steps  steps
		duty   gpio.Duty
		freq   physic.Frequency
		level  gpio.Level
		output bool
		fn     pin.Func
	}{
		{name: "half", steps: steps{pwm(gpio.DutyHalf, 500*physic.Hertz)},
			duty: gpio.DutyHalf, freq: 500 * physic.Hertz, level: gpio.High, output: true, fn: gpio.PWM},
		{name: "default frequency", steps: steps{pwm(gpio.DutyMax/4, 0)},
			duty: gpio.DutyMax / 4, freq: sim.PWMDefaultFrequency, level: gpio.High, output: true, fn: gpio.PWM},
		{name: "zero frequency keeps the last", steps: steps{pwm(gpio.DutyHalf, 200*physic.Hertz), pwm(gpio.DutyMax/10, 0)},
			duty: gpio.DutyMax / 10, freq: 200 * physic.Hertz, level: gpio.High, output: true, fn: gpio.PWM},
		{name: "zero duty stays PWM", steps: steps{pwm(0, 100*physic.Hertz)},
			duty: 0, freq: 100 * physic.Hertz, level: gpio.Low, output: true, fn: gpio.PWM},
		{name: "full duty", steps: steps{pwm(gpio.DutyMax, 100*physic.Hertz)},
			duty: gpio.DutyMax, freq: 100 * physic.Hertz, level: gpio.High, output: true, fn: gpio.PWM},
		{name: "highest frequency", steps: steps{pwm(1, sim.PWMMaxFrequency)},
			duty: 1, freq: sim.PWMMaxFrequency, level: gpio.High, output: true, fn: gpio.PWM},
		{name: "halt stops it", steps: steps{pwm(gpio.DutyHalf, 0), halt},
			duty: 0, freq: 0, level: gpio.Low, output: true, fn: gpio.OUT_LOW},
		{name: "out ends it", steps: steps{pwm(gpio.DutyHalf, 0), out(gpio.High)},
			duty: gpio.DutyMax, freq: 0, level: gpio.High, output: true, fn: gpio.OUT_HIGH},
		{name: "out low", steps: steps{out(gpio.Low)},
			duty: 0, freq: 0, level: gpio.Low, output: true, fn: gpio.OUT_LOW},
		{name: "input after PWM", steps: steps{pwm(gpio.DutyHalf, 0), func(l *sim.Line) error { return l.In(gpio.PullDown, gpio.NoEdge) }},
			duty: 0, freq: 0, level: gpio.Low, output: false, fn: gpio.IN_LOW},
		{name: "a fresh line", duty: 0, freq: 0, level: gpio.Low, output: false, fn: gpio.IN_LOW},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLine(t)
			for i, step := range tt.steps {
				if err := step(l); err != nil {
					t.Fatalf("step %d: %v", i+1, err)
				}
			}
			if l.Duty() != tt.duty || l.Frequency() != tt.freq || l.Level() != tt.level || l.IsOutput() != tt.output || l.Func() != tt.fn {
				t.Errorf("duty %d, frequency %s, level %v, output %t, func %v; want %d, %s, %v, %t, %v",
					l.Duty(), l.Frequency(), l.Level(), l.IsOutput(), l.Func(), tt.duty, tt.freq, tt.level, tt.output, tt.fn)
			}
		})
	}
}

func TestLinePWMErrors(t *testing.T) {
	tests := []struct {
		name string
		duty gpio.Duty
		freq physic.Frequency
		want string
	}{
		{"negative duty", -1, physic.KiloHertz, "duty -1"},
		{"duty above the maximum", gpio.DutyMax + 1, physic.KiloHertz, "outside 0 to gpio.DutyMax"},
		{"negative frequency", gpio.DutyHalf, -physic.Hertz, "frequency"},
		{"frequency above the maximum", gpio.DutyHalf, sim.PWMMaxFrequency + physic.Hertz, "outside 0 to 25MHz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLine(t)
			if err := l.PWM(gpio.DutyMax/3, 300*physic.Hertz); err != nil {
				t.Fatal(err)
			}
			before := len(l.History())
			err := l.PWM(tt.duty, tt.freq)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "GPIO17") {
				t.Fatalf("PWM(%d, %s): err = %v, want one naming the line and containing %q", tt.duty, tt.freq, err, tt.want)
			}
			if l.Duty() != gpio.DutyMax/3 || l.Frequency() != 300*physic.Hertz || len(l.History()) != before {
				t.Errorf("a refused PWM changed the line: duty %d, frequency %s, history %+v", l.Duty(), l.Frequency(), l.History()[before:])
			}
		})
	}
}

// TestLinePWMHistory checks that History records PWM as a PWM pin goes
// through it: every change of duty or frequency, not repeats, and the
// stop.
func TestLinePWMHistory(t *testing.T) {
	l := newLine(t)
	steps := []struct {
		duty gpio.Duty
		freq physic.Frequency
	}{
		{gpio.DutyMax / 4, 500 * physic.Hertz},
		{gpio.DutyMax / 4, 500 * physic.Hertz}, // the same: no change
		{gpio.DutyMax / 2, 0},                  // same frequency, new duty
		{gpio.DutyMax / 2, 800 * physic.Hertz}, // new frequency, same duty and level
		{0, 0},
	}
	for _, s := range steps {
		if err := l.PWM(s.duty, s.freq); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := l.Halt(); err != nil { // stopped already: no change
		t.Fatal(err)
	}
	want := []sim.Change{
		{Level: gpio.High, Output: true, PWM: true, Duty: gpio.DutyMax / 4, Frequency: 500 * physic.Hertz},
		{Level: gpio.High, Output: true, PWM: true, Duty: gpio.DutyMax / 2, Frequency: 500 * physic.Hertz},
		{Level: gpio.High, Output: true, PWM: true, Duty: gpio.DutyMax / 2, Frequency: 800 * physic.Hertz},
		{Level: gpio.Low, Output: true, PWM: true, Duty: 0, Frequency: 800 * physic.Hertz},
		{Level: gpio.Low, Output: true, PWM: false, Duty: 0, Frequency: 0},
	}
	got := l.History()
	if len(got) != len(want) {
		t.Fatalf("history has %d changes, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		g := got[i]
		g.At = want[i].At
		if g != want[i] {
			t.Errorf("change %d = %+v, want %+v", i+1, g, want[i])
		}
		if got[i].At.IsZero() {
			t.Errorf("change %d has no time", i+1)
		}
	}
	// A plain output keeps its old history: level changes only, with the
	// duty they amount to.
	if err := l.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	last := l.History()[len(l.History())-1]
	if last.PWM || last.Level != gpio.High || last.Duty != gpio.DutyMax || last.Frequency != 0 {
		t.Errorf("Out(High) recorded %+v, want a non-PWM change to High at full duty", last)
	}
}
