package realhost

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/pin"
)

const (
	chip0 = "/dev/gpiochip0"
	chip1 = "/dev/gpiochip1"
)

// board is a host on a fake machine laid out like a Raspberry Pi with an
// expander: chip0 has GPIO0..GPIO27, but line 2 is named "SDA1" and reached
// as "GPIO2" through a CPU driver's pin (as bcm283x does); "P1_11" is an
// alias of GPIO17; chip1 has EXP0..EXP7.
type board struct {
	h     *Host
	k     *fakeKernel
	lines map[string]*fakePeriphLine // periph's line objects by line name
}

func newBoard() *board {
	k := newFakeKernel(map[string]int{chip0: 28, chip1: 8})
	b := &board{k: k, lines: map[string]*fakePeriphLine{}}
	var reg fakeRegistry
	addChip := func(path string, names []string) {
		c := ioctlChip{path: path}
		for i, n := range names {
			l := newFakePeriphLine(k, path, uint32(i), n)
			b.lines[n] = l
			c.lines = append(c.lines, l)
			if n != "SDA1" {
				reg.lines = append(reg.lines, l)
			}
		}
		reg.chips = append(reg.chips, c)
	}
	var names []string
	for i := range 28 {
		names = append(names, fmt.Sprintf("GPIO%d", i))
	}
	names[2] = "SDA1"
	addChip(chip0, names)
	addChip(chip1, []string{"EXP0", "EXP1", "EXP2", "EXP3", "EXP4", "EXP5", "EXP6", "EXP7"})
	reg.lines = append(reg.lines, &fakeCPUPin{fakePeriphLine: b.lines["SDA1"], name: "GPIO2"})
	reg.aliases = []gpio.PinIO{&fakeAlias{PinIO: b.lines["GPIO17"], name: "P1_11"}}
	b.h = newHost(discard(), reg, k)
	return b
}

func (b *board) pin(t *testing.T, name string) gpio.PinIO {
	t.Helper()
	p, err := b.h.GPIO(name)
	if err != nil {
		t.Fatalf("GPIO(%q): %v", name, err)
	}
	return p
}

// glitches returns the states in which the line drove the opposite of
// want: what would click a relay that should stay at want.
func glitches(events []lineEvent, want gpio.Level) []lineEvent {
	var bad []lineEvent
	for _, e := range events {
		if e.output && e.level != want {
			bad = append(bad, e)
		}
	}
	return bad
}

func TestOutFirstCallDrivesTheLevelFromTheStart(t *testing.T) {
	// The line's state before the first Out: what a relay board sees
	// after boot, or after a previous program let go.
	starts := []struct {
		name    string
		prepare func(l *kline)
	}{
		{"floating input", func(l *kline) {}},
		{"input pulled up", func(l *kline) { l.pull = gpio.PullUp }},
		{"input pulled down", func(l *kline) { l.pull = gpio.PullDown }},
		{"left driving high", func(l *kline) { l.output, l.level = true, gpio.High }},
		{"left driving low", func(l *kline) { l.output, l.level = true, gpio.Low }},
	}
	for _, st := range starts {
		for _, lv := range []gpio.Level{gpio.High, gpio.Low} {
			t.Run(fmt.Sprintf("%s/Out(%s)", st.name, lv), func(t *testing.T) {
				b := newBoard()
				st.prepare(b.k.line(chip0, 17))
				p := b.pin(t, "GPIO17")
				_, _, before := b.k.snapshot(chip0, 17)

				if err := p.Out(lv); err != nil {
					t.Fatal(err)
				}
				holder, now, history := b.k.snapshot(chip0, 17)
				if bad := glitches(history[len(before):], lv); len(bad) > 0 {
					t.Fatalf("Out(%s) drove the line through %v; history %v", lv, bad, history)
				}
				if want := (lineEvent{true, lv}); now != want {
					t.Fatalf("line is %v after Out(%s), want %v", now, lv, want)
				}
				if holder != consumerLabel {
					t.Fatalf("line held by %q, want %q (what gpioinfo shows)", holder, consumerLabel)
				}
				if n := b.k.granted(); n != 1 {
					t.Fatalf("%d requests, want 1", n)
				}
			})
		}
	}
}

// TestPeriphOutGlitches shows that the check above catches the fault this
// host works around: periph's own Out on the same fake makes the line an
// output driven low before it sets High.
func TestPeriphOutGlitches(t *testing.T) {
	b := newBoard()
	b.k.line(chip0, 17).pull = gpio.PullUp
	_, _, before := b.k.snapshot(chip0, 17)
	if err := b.lines["GPIO17"].Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	_, _, history := b.k.snapshot(chip0, 17)
	bad := glitches(history[len(before):], gpio.High)
	if len(bad) != 1 || bad[0] != (lineEvent{true, gpio.Low}) {
		t.Fatalf("periph's Out(High) went through %v, want exactly one low output state; history %v", bad, history)
	}
}

func TestOutLaterCallsSetTheLevelOnTheRequest(t *testing.T) {
	b := newBoard()
	p := b.pin(t, "EXP5")
	seq := []gpio.Level{gpio.High, gpio.Low, gpio.Low, gpio.High}
	for _, lv := range seq {
		if err := p.Out(lv); err != nil {
			t.Fatal(err)
		}
		_, now, _ := b.k.snapshot(chip1, 5)
		if now != (lineEvent{true, lv}) {
			t.Fatalf("after Out(%s) the line is %v", lv, now)
		}
	}
	if n := b.k.granted(); n != 1 {
		t.Fatalf("%d line requests for %d Out calls, want 1 (later calls set values)", n, len(seq))
	}
	_, _, history := b.k.snapshot(chip1, 5)
	want := []lineEvent{{false, gpio.Low}, {true, gpio.High}, {true, gpio.Low}, {true, gpio.High}}
	if fmt.Sprint(history) != fmt.Sprint(want) {
		t.Fatalf("history %v, want %v", history, want)
	}
}

func TestReadAndFuncOnOutputLeaveTheLineAlone(t *testing.T) {
	b := newBoard()
	p := b.pin(t, "GPIO17")
	pf, ok := p.(pin.PinFunc)
	if !ok {
		t.Fatalf("%T does not implement pin.PinFunc", p)
	}
	for _, lv := range []gpio.Level{gpio.High, gpio.Low} {
		if err := p.Out(lv); err != nil {
			t.Fatal(err)
		}
		if got := p.Read(); got != lv {
			t.Errorf("Read after Out(%s) = %s", lv, got)
		}
		want := gpio.OUT_LOW
		if lv {
			want = gpio.OUT_HIGH
		}
		if got := pf.Func(); got != want {
			t.Errorf("Func after Out(%s) = %s, want %s", lv, got, want)
		}
		_, now, _ := b.k.snapshot(chip0, 17)
		if now != (lineEvent{true, lv}) {
			t.Fatalf("after Read and Func the line is %v, want it still driving %s", now, lv)
		}
	}
	if n := b.lines["GPIO17"].readCount(); n != 0 {
		t.Fatalf("periph's Read was called %d times on the output", n)
	}
	if p.WaitForEdge(time.Hour) {
		t.Fatal("WaitForEdge on an output reported an edge")
	}
}

func TestInReleasesTheOutputAndOutTakesTheLineBack(t *testing.T) {
	b := newBoard()
	p := b.pin(t, "GPIO17")
	pl := b.lines["GPIO17"]
	if err := p.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	if err := p.In(gpio.PullDown, gpio.BothEdges); err != nil {
		t.Fatalf("In after Out: %v", err)
	}
	holder, now, _ := b.k.snapshot(chip0, 17)
	if holder != periphConsumer() || now != (lineEvent{false, gpio.Low}) {
		t.Fatalf("after In: line held by %q and %v, want periph's input pulled down", holder, now)
	}
	// Now periph's: Read, Func, Pull and edges go there.
	if got := p.Read(); got != gpio.Low {
		t.Fatalf("Read of the pulled-down input = %s", got)
	}
	if pl.readCount() != 1 {
		t.Fatalf("Read of an input did not reach periph's line (%d reads)", pl.readCount())
	}
	if got := p.(pin.PinFunc).Func(); got != gpio.IN_LOW {
		t.Fatalf("Func of the input = %s, want In/Low", got)
	}
	if got := p.Pull(); got != gpio.PullDown {
		t.Fatalf("Pull = %s, want PullDown", got)
	}
	pl.edges <- struct{}{}
	if !p.WaitForEdge(time.Minute) {
		t.Fatal("WaitForEdge missed the queued edge")
	}
	done := make(chan bool)
	go func() { done <- p.WaitForEdge(0) }()
	deadline := time.After(10 * time.Second)
	for stopped := false; !stopped; {
		if err := p.Halt(); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-done:
			if got {
				t.Fatal("a halted WaitForEdge reported an edge")
			}
			stopped = true
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatal("Halt did not interrupt WaitForEdge")
		}
	}

	// Back to an output: periph lets go, and the new request drives the
	// level at once.
	_, _, before := b.k.snapshot(chip0, 17)
	if err := p.Out(gpio.High); err != nil {
		t.Fatalf("Out after In: %v", err)
	}
	holder, now, history := b.k.snapshot(chip0, 17)
	if holder != consumerLabel || now != (lineEvent{true, gpio.High}) {
		t.Fatalf("after Out: line held by %q and %v", holder, now)
	}
	if bad := glitches(history[len(before):], gpio.High); len(bad) > 0 {
		t.Fatalf("taking the line back went through %v", bad)
	}
	if pl.Consumer() != "" {
		t.Fatal("periph still holds its request")
	}
}

func TestAliasReachesTheLine(t *testing.T) {
	b := newBoard()
	p := b.pin(t, "P1_11")
	if p.Name() != "P1_11" {
		t.Fatalf("Name = %q, want the name asked for", p.Name())
	}
	if err := p.In(gpio.PullUp, gpio.NoEdge); err != nil {
		t.Fatal(err)
	}
	if got := p.(pin.PinFunc).Func(); got != gpio.IN_HIGH {
		t.Fatalf("Func through the alias = %s, want the line's In/High", got)
	}
	if err := p.Out(gpio.Low); err != nil {
		t.Fatal(err)
	}
	if holder, now, _ := b.k.snapshot(chip0, 17); holder != consumerLabel || now != (lineEvent{true, gpio.Low}) {
		t.Fatalf("GPIO17 is held by %q and %v after Out through its alias", holder, now)
	}
}

func TestGPIOTwiceSharesTheLine(t *testing.T) {
	// A device reopened after a failure asks for its line again while
	// the host still holds the request from the first time.
	b := newBoard()
	first := b.pin(t, "GPIO17")
	if err := first.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	again := b.h
	second, err := again.GPIO("GPIO17")
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Read(); got != gpio.High {
		t.Fatalf("the reopened pin reads %s, want the High the line drives", got)
	}
	if err := second.Out(gpio.Low); err != nil {
		t.Fatalf("Out on the reopened pin: %v", err)
	}
	if got := first.Read(); got != gpio.Low {
		t.Fatalf("the first handle reads %s after the second drove Low", got)
	}
	if n := b.k.granted(); n != 1 {
		t.Fatalf("%d line requests, want 1", n)
	}
}

func TestLineBusy(t *testing.T) {
	tests := []struct {
		name string
		// setup prepares the board; act is the call that must fail.
		setup func(t *testing.T, b *board)
		act   func(b *board) error
		want  []string
		errno error
		// the line must be left as setup left it
		line lineEvent
	}{
		{
			name:  "another program holds the line",
			setup: func(t *testing.T, b *board) { b.k.line(chip0, 17).holder = "gpioset" },
			act:   func(b *board) error { return mustPin(b, "GPIO17").Out(gpio.High) },
			want: []string{"gpio GPIO17: request output on /dev/gpiochip0 line 17: device or resource busy " +
				"(another program holds the line; see gpioinfo)"},
			errno: syscall.EBUSY,
			line:  lineEvent{false, gpio.Low},
		},
		{
			name: "another device uses it as an input under an alias",
			setup: func(t *testing.T, b *board) {
				if err := mustPin(b, "GPIO17").In(gpio.PullUp, gpio.BothEdges); err != nil {
					t.Fatal(err)
				}
			},
			act:  func(b *board) error { return mustPin(b, "P1_11").Out(gpio.Low) },
			want: []string{"gpio P1_11: request output on /dev/gpiochip0 line 17: line busy", "as an input under the name GPIO17"},
			line: lineEvent{false, gpio.High},
		},
		{
			name: "another device drives it under an alias",
			setup: func(t *testing.T, b *board) {
				if err := mustPin(b, "P1_11").Out(gpio.Low); err != nil {
					t.Fatal(err)
				}
			},
			act:  func(b *board) error { return mustPin(b, "GPIO17").In(gpio.PullUp, gpio.NoEdge) },
			want: []string{"gpio GPIO17: configure as input on /dev/gpiochip0 line 17: line busy", "as an output under the name P1_11"},
			line: lineEvent{true, gpio.Low},
		},
		{
			name: "a second output under an alias",
			setup: func(t *testing.T, b *board) {
				if err := mustPin(b, "P1_11").Out(gpio.Low); err != nil {
					t.Fatal(err)
				}
			},
			act:  func(b *board) error { return mustPin(b, "GPIO17").Out(gpio.High) },
			want: []string{"gpio GPIO17: set High on /dev/gpiochip0 line 17: line busy", "as an output under the name P1_11"},
			line: lineEvent{true, gpio.Low},
		},
		{
			name: "a second input under an alias",
			setup: func(t *testing.T, b *board) {
				if err := mustPin(b, "P1_11").In(gpio.PullUp, gpio.NoEdge); err != nil {
					t.Fatal(err)
				}
			},
			act:  func(b *board) error { return mustPin(b, "GPIO17").In(gpio.PullDown, gpio.NoEdge) },
			want: []string{"gpio GPIO17: configure as input on /dev/gpiochip0 line 17: line busy", "as an input under the name P1_11"},
			line: lineEvent{false, gpio.High},
		},
		{
			name: "periph holds it for code outside the host",
			setup: func(t *testing.T, b *board) {
				if err := b.lines["GPIO17"].In(gpio.PullUp, gpio.NoEdge); err != nil {
					t.Fatal(err)
				}
			},
			act:   func(b *board) error { return mustPin(b, "GPIO17").Out(gpio.Low) },
			want:  []string{"gpio GPIO17: request output on /dev/gpiochip0 line 17: device or resource busy (line busy: pinion itself holds the line through periph.io, outside the host)"},
			errno: syscall.EBUSY,
			line:  lineEvent{false, gpio.High},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBoard()
			tt.setup(t, b)
			err := tt.act(b)
			if err == nil {
				t.Fatal("succeeded on a busy line")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if tt.errno != nil && !errors.Is(err, tt.errno) {
				t.Errorf("error %v does not wrap %v", err, tt.errno)
			}
			if _, now, _ := b.k.snapshot(chip0, 17); now != tt.line {
				t.Errorf("the line is %v after the failed call, want it left %v", now, tt.line)
			}
		})
	}
}

// mustPin is board.pin for test tables, where the name is known to exist.
func mustPin(b *board, name string) gpio.PinIO {
	p, err := b.h.GPIO(name)
	if err != nil {
		panic(err)
	}
	return p
}

func TestRequestErrors(t *testing.T) {
	const prefix = "gpio EXP3: request output on /dev/gpiochip1 line 3: "
	tests := []struct {
		name              string
		openErr, ioctlErr error
		want              string
	}{
		{name: "no permission", openErr: syscall.EACCES,
			want: "open /dev/gpiochip1: permission denied (the user running pinion needs to be in the gpio group)"},
		{name: "chip gone", openErr: syscall.ENOENT,
			want: "open /dev/gpiochip1: no such file or directory"},
		{name: "kernel without v2", ioctlErr: syscall.ENOTTY,
			want: "inappropriate ioctl for device (the kernel refused the request; outputs need the GPIO character device v2 of Linux 5.10 or later)"},
		{name: "request refused", ioctlErr: syscall.EINVAL,
			want: "invalid argument (the kernel refused the request; outputs need the GPIO character device v2 of Linux 5.10 or later)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBoard()
			b.k.openErr, b.k.ioctlErr = tt.openErr, tt.ioctlErr
			p := b.pin(t, "EXP3")
			err := p.Out(gpio.High)
			if err == nil || err.Error() != prefix+tt.want {
				t.Fatalf("error\n%v\nwant\n%s", err, prefix+tt.want)
			}
			if !errors.Is(err, cmpOr(tt.openErr, tt.ioctlErr)) {
				t.Fatalf("error does not wrap the errno")
			}
			// Nothing is held, so a later attempt can succeed.
			b.k.mu.Lock()
			b.k.openErr, b.k.ioctlErr = nil, nil
			b.k.mu.Unlock()
			if err := p.Out(gpio.High); err != nil {
				t.Fatalf("Out once the chip works: %v", err)
			}
			if _, now, _ := b.k.snapshot(chip1, 3); now != (lineEvent{true, gpio.High}) {
				t.Fatalf("line is %v", now)
			}
		})
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func TestSetValueError(t *testing.T) {
	b := newBoard()
	p := b.pin(t, "GPIO17")
	if err := p.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	b.k.mu.Lock()
	b.k.setErr = syscall.EIO
	b.k.mu.Unlock()
	err := p.Out(gpio.Low)
	const want = "gpio GPIO17: set Low on /dev/gpiochip0 line 17: input/output error"
	if err == nil || err.Error() != want || !errors.Is(err, syscall.EIO) {
		t.Fatalf("error %v, want %q wrapping EIO", err, want)
	}
	if got := p.Read(); got != gpio.High {
		t.Fatalf("Read after a failed Out(Low) = %s, want the High still driven", got)
	}
}

func TestCPUPinUsesTheLinePeriphMapsItTo(t *testing.T) {
	// GPIO2 is a CPU driver's pin for chip0 line 2, which the kernel
	// names SDA1.
	b := newBoard()
	p := b.pin(t, "GPIO2")
	if p.Name() != "GPIO2" || p.Number() != 2 {
		t.Fatalf("pin is %s number %d, want GPIO2 number 2", p.Name(), p.Number())
	}
	if err := p.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	if holder, now, _ := b.k.snapshot(chip0, 2); holder != consumerLabel || now != (lineEvent{true, gpio.High}) {
		t.Fatalf("chip0 line 2 is held by %q and %v", holder, now)
	}
	if err := p.In(gpio.PullUp, gpio.NoEdge); err != nil {
		t.Fatal(err)
	}
	if holder, _, _ := b.k.snapshot(chip0, 2); holder != periphConsumer() {
		t.Fatalf("In did not go through the CPU pin's line: held by %q", holder)
	}
}

func TestResolveLine(t *testing.T) {
	b := newBoard()
	reg := b.h.reg.(fakeRegistry)
	other := newFakePeriphLine(b.k, chip0, 5, "GPIO5") // same name and number, but not one of periph's lines
	type uncomparable struct {
		*fakePeriphLine
		_ []int
	}
	tests := []struct {
		name   string
		p      gpio.PinIO
		chips  []ioctlChip
		chip   string
		offset uint32
		ok     bool
	}{
		{"line on the first chip", b.lines["GPIO17"], reg.chips, chip0, 17, true},
		{"line on the second chip", b.lines["EXP5"], reg.chips, chip1, 5, true},
		{"alias", reg.aliases[0], reg.chips, chip0, 17, true},
		{"alias of an alias", &fakeAlias{PinIO: reg.aliases[0], name: "LED"}, reg.chips, chip0, 17, true},
		{"CPU pin", &fakeCPUPin{fakePeriphLine: b.lines["SDA1"], name: "GPIO2"}, reg.chips, chip0, 2, true},
		{"CPU pin beyond the chip", &fakeCPUPin{fakePeriphLine: newFakePeriphLine(b.k, chip0, 40, "GPIO40"), name: "GPIO40"}, reg.chips, "", 0, false},
		{"CPU pin without chips", &fakeCPUPin{fakePeriphLine: b.lines["SDA1"], name: "GPIO2"}, nil, "", 0, false},
		{"a line object periph does not list", other, reg.chips, "", 0, false},
		{"uncomparable line type", uncomparable{fakePeriphLine: b.lines["GPIO17"]}, reg.chips, "", 0, false},
		{"pin of another driver", namedPin{gpio.INVALID, "PA1"}, reg.chips, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, ok := resolveLine(tt.p, tt.chips, isFakeCPUPin)
			if ok != tt.ok || cl.chip != tt.chip || cl.offset != tt.offset {
				t.Fatalf("resolveLine = %s line %d, %t; want %s line %d, %t", cl.chip, cl.offset, ok, tt.chip, tt.offset, tt.ok)
			}
			if ok && cl.periph.Number() != int(tt.offset) {
				t.Fatalf("periph line for %s line %d is number %d", cl.chip, cl.offset, cl.periph.Number())
			}
		})
	}
}

func TestGPIOOfAPinWithoutACharacterDevice(t *testing.T) {
	// A pin periph serves from CPU registers only stays periph's.
	pa1 := namedPin{gpio.INVALID, "PA1"}
	h := newHost(discard(), fakeRegistry{lines: []gpio.PinIO{pa1}}, newFakeKernel(nil))
	p, err := h.GPIO("PA1")
	if err != nil {
		t.Fatal(err)
	}
	if p != gpio.PinIO(pa1) {
		t.Fatalf("GPIO returned %T, want periph's own pin", p)
	}
}

func TestSetFunc(t *testing.T) {
	tests := []struct {
		f    pin.Func
		want lineEvent
		err  string
	}{
		{gpio.OUT_HIGH, lineEvent{true, gpio.High}, ""},
		{gpio.OUT_LOW, lineEvent{true, gpio.Low}, ""},
		{gpio.OUT, lineEvent{true, gpio.Low}, ""},
		{gpio.IN_HIGH, lineEvent{false, gpio.High}, ""},
		{gpio.IN_LOW, lineEvent{false, gpio.Low}, ""},
		{gpio.FLOAT, lineEvent{false, gpio.Low}, ""},
		{"I2C1_SDA", lineEvent{false, gpio.Low}, `gpio EXP1: set function "I2C1_SDA": not supported; this line can be IN or OUT`},
	}
	for _, tt := range tests {
		t.Run(string(tt.f), func(t *testing.T) {
			b := newBoard()
			pf := b.pin(t, "EXP1").(pin.PinFunc)
			err := pf.SetFunc(tt.f)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("SetFunc(%s) error %v, want %q", tt.f, err, tt.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if _, now, _ := b.k.snapshot(chip1, 1); now != tt.want {
				t.Fatalf("after SetFunc(%s) the line is %v, want %v", tt.f, now, tt.want)
			}
			if got := fmt.Sprint(pf.SupportedFuncs()); got != "[IN OUT]" {
				t.Fatalf("SupportedFuncs = %s", got)
			}
		})
	}
}

func TestPWMRefusedOnAHeldOutput(t *testing.T) {
	b := newBoard()
	p := b.pin(t, "GPIO17")
	if err := p.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	err := p.PWM(gpio.DutyHalf, 0)
	if err == nil || !strings.Contains(err.Error(), "gpio GPIO17: PWM") {
		t.Fatalf("PWM on a held output: %v", err)
	}
	if _, now, _ := b.k.snapshot(chip0, 17); now != (lineEvent{true, gpio.High}) {
		t.Fatalf("PWM let go of the output: %v", now)
	}
}

func TestConcurrentUse(t *testing.T) {
	// A device's worker drives the line while the agent reads its state;
	// the race detector checks the bookkeeping.
	b := newBoard()
	p := b.pin(t, "GPIO17")
	if err := p.Out(gpio.Low); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	wg.Go(func() {
		for i := range 200 {
			if err := p.Out(i%2 == 0); err != nil {
				errs <- err
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for range 200 {
				_ = p.Read()
				_ = p.(pin.PinFunc).Func()
				_ = p.WaitForEdge(time.Nanosecond)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	// The last Out was i = 199: Low.
	if got := p.Read(); got != gpio.Low {
		t.Fatalf("Read = %s after the last Out(Low)", got)
	}
	if _, now, _ := b.k.snapshot(chip0, 17); now != (lineEvent{true, gpio.Low}) {
		t.Fatalf("line is %v, want driving Low", now)
	}
	if n := b.lines["GPIO17"].readCount(); n != 0 {
		t.Fatalf("periph's Read was called %d times on the output", n)
	}
}

func TestHostCloseLeavesOutputsDriven(t *testing.T) {
	b := newBoard()
	p := b.pin(t, "GPIO17")
	if err := p.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	if err := b.h.Close(); err != nil {
		t.Fatal(err)
	}
	if holder, now, _ := b.k.snapshot(chip0, 17); holder != consumerLabel || now != (lineEvent{true, gpio.High}) {
		t.Fatalf("after Close the line is held by %q and %v; Close must leave it driven", holder, now)
	}
	// Pins handed out keep working, as periph's did.
	if err := p.Out(gpio.Low); err != nil {
		t.Fatalf("Out after host Close: %v", err)
	}
}
