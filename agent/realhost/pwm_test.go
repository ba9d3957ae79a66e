package realhost

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// pwmKernel fakes the kernel's side of sysfs PWM in a tree: export makes
// the channel's directory, and period and duty_cycle are refused as the
// kernel refuses them (a duty longer than the period). It records every
// write, by path below the root.
type pwmKernel struct {
	root string

	mu     sync.Mutex
	writes []string
	fail   map[string]error // a write to this path fails
}

func (k *pwmKernel) write(name string, data []byte) error {
	rel := strings.TrimPrefix(filepath.ToSlash(name), filepath.ToSlash(k.root))
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.fail[rel]; err != nil {
		return err
	}
	v := string(data)
	dir := filepath.Dir(name)
	num := func(attr string) int64 {
		b, _ := os.ReadFile(filepath.Join(dir, attr))
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	switch filepath.Base(name) {
	case "export":
		ch := filepath.Join(dir, "pwm"+v)
		if _, err := os.Stat(ch); err == nil {
			return syscall.EBUSY
		}
		if err := os.Mkdir(ch, 0o755); err != nil {
			return err
		}
		for attr, content := range map[string]string{"period": "0\n", "duty_cycle": "0\n", "enable": "0\n", "polarity": "normal\n"} {
			if err := os.WriteFile(filepath.Join(ch, attr), []byte(content), 0o644); err != nil {
				return err
			}
		}
	case "period":
		if n < num("duty_cycle") {
			return syscall.EINVAL
		}
	case "duty_cycle":
		if n > num("period") {
			return syscall.EINVAL
		}
	}
	k.writes = append(k.writes, rel+"="+v)
	return writeSysfs(name, data)
}

// took returns the writes since the last call.
func (k *pwmKernel) took() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.writes
	k.writes = nil
	return w
}

// pwmChipTree lays out a PWM controller as the kernel shows it: the class
// entry, its device, and the device's node in the device tree.
func pwmChipTree(t *testing.T, root, chip, compatible, node string, npwm int) {
	t.Helper()
	dev := "sys/devices/platform/soc/" + node + "-" + chip
	tree(t, root, map[string]string{
		"sys/class/pwm/" + chip + "/npwm":                          strconv.Itoa(npwm) + "\n",
		"sys/class/pwm/" + chip + "/export":                        "",
		"sys/class/pwm/" + chip + "/unexport":                      "",
		"sys/firmware/devicetree/base/soc/" + node + "/compatible": compatible + "\x00",
		dev + "/uevent": "",
	})
	symlink(t, root, "sys/class/pwm/"+chip+"/device", "../../../devices/platform/soc/"+node+"-"+chip)
	symlink(t, root, dev+"/of_node", "../../../../firmware/devicetree/base/soc/"+node)
}

// pwmHost is a host on a tree with a Raspberry Pi 4's PWM.
func pwmHost(t *testing.T) (*Host, *pwmKernel) {
	t.Helper()
	h, root := treeHost(t)
	pwmChipTree(t, root, "pwmchip0", "brcm,bcm2835-pwm", "pwm@7e20c000", 2)
	k := &pwmKernel{root: root, fail: map[string]error{}}
	h.writeFile = k.write
	return h, k
}

func attr(t *testing.T, h *Host, p string) string {
	t.Helper()
	s, err := h.readAttr(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPWMDrivesTheChannel(t *testing.T) {
	h, k := pwmHost(t)
	p, err := h.PWM("GPIO18")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "GPIO18" || p.String() != "GPIO18" || p.Number() != 18 {
		t.Errorf("pin %q (%s) number %d; want GPIO18, 18", p.Name(), p.String(), p.Number())
	}
	const ch = "/sys/class/pwm/pwmchip0/pwm0/"
	steps := []struct {
		name string
		do   func() error
		want []string // the writes, in order
	}{
		{"export", func() error { return nil }, nil}, // done by PWM(name) above
		{"half at 1 kHz", func() error { return p.PWM(gpio.DutyHalf, physic.KiloHertz) },
			[]string{ch + "period=1000000", ch + "duty_cycle=500000", ch + "enable=1"}},
		{"a shorter period than the duty: duty first", func() error { return p.PWM(gpio.DutyMax/4, 10*physic.KiloHertz) },
			[]string{ch + "duty_cycle=25000", ch + "period=100000"}},
		{"frequency 0 keeps the period", func() error { return p.PWM(gpio.DutyMax/10, 0) },
			[]string{ch + "duty_cycle=10000"}},
		{"the same again writes nothing", func() error { return p.PWM(gpio.DutyMax/10, 10*physic.KiloHertz) }, nil},
		{"a longer period: period first", func() error { return p.PWM(gpio.DutyMax, 100*physic.Hertz) },
			[]string{ch + "period=10000000", ch + "duty_cycle=10000000"}},
		{"Out(Low)", func() error { return p.Out(gpio.Low) }, []string{ch + "duty_cycle=0"}},
		{"Out(High)", func() error { return p.Out(gpio.High) }, []string{ch + "duty_cycle=10000000"}},
		{"Halt", p.Halt, []string{ch + "enable=0"}},
		{"Halt again", p.Halt, nil},
		{"PWM after Halt enables again", func() error { return p.PWM(0, 0) }, []string{ch + "duty_cycle=0", ch + "enable=1"}},
	}
	k.took() // the export, checked below
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := k.took(); !slices.Equal(got, s.want) {
			t.Fatalf("%s: wrote %q, want %q", s.name, got, s.want)
		}
	}
	if got := attr(t, h, ch+"enable"); got != "1" {
		t.Errorf("enable = %s, want 1", got)
	}
}

func TestPWMExport(t *testing.T) {
	h, k := pwmHost(t)
	if _, err := h.PWM("GPIO19"); err != nil {
		t.Fatal(err)
	}
	if got, want := k.took(), []string{"/sys/class/pwm/pwmchip0/export=1"}; !slices.Equal(got, want) {
		t.Fatalf("wrote %q, want %q", got, want)
	}
	// Asking again (a device reopened) shares the channel: no second
	// export, and the output keeps what it was doing.
	p, err := h.PWM("GPIO19")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PWM(gpio.DutyHalf, physic.KiloHertz); err != nil {
		t.Fatal(err)
	}
	k.took()
	q, err := h.PWM("GPIO19")
	if err != nil {
		t.Fatal(err)
	}
	if err := q.PWM(gpio.DutyHalf, physic.KiloHertz); err != nil {
		t.Fatal(err)
	}
	if got := k.took(); len(got) != 0 {
		t.Fatalf("the reopened pin wrote %q; the channel already ran at that setting", got)
	}
}

// TestPWMAlreadyExported checks a channel exported before the agent
// started (by an earlier run): the host takes it as it is.
func TestPWMAlreadyExported(t *testing.T) {
	h, k := pwmHost(t)
	tree(t, h.root, map[string]string{
		"sys/class/pwm/pwmchip0/pwm0/period":     "2000000\n",
		"sys/class/pwm/pwmchip0/pwm0/duty_cycle": "1500000\n",
		"sys/class/pwm/pwmchip0/pwm0/enable":     "1\n",
	})
	p, err := h.PWM("GPIO12")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PWM(gpio.DutyMax/4, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := k.took(), []string{"/sys/class/pwm/pwmchip0/pwm0/duty_cycle=500000"}; !slices.Equal(got, want) {
		t.Fatalf("wrote %q, want %q: no export, the period kept, already enabled", got, want)
	}
}

func TestPWMChannels(t *testing.T) {
	tests := []struct {
		name       string
		chips      func(t *testing.T, root string)
		line       string
		wantExport string
	}{
		{"Pi 4, GPIO12", pi4, "GPIO12", "/sys/class/pwm/pwmchip0/export=0"},
		{"Pi 4, GPIO13", pi4, "GPIO13", "/sys/class/pwm/pwmchip0/export=1"},
		{"Pi 5, GPIO18", pi5, "GPIO18", "/sys/class/pwm/pwmchip2/export=2"},
		{"Pi 5, GPIO19", pi5, "GPIO19", "/sys/class/pwm/pwmchip2/export=3"},
		{"Pi 5, GPIO12", pi5, "GPIO12", "/sys/class/pwm/pwmchip2/export=0"},
		{"Pi 4 with both PWM blocks", func(t *testing.T, root string) {
			pwmChipTree(t, root, "pwmchip0", "brcm,bcm2835-pwm", "pwm@7e20c800", 2)
			pwmChipTree(t, root, "pwmchip1", "brcm,bcm2835-pwm", "pwm@7e20c000", 2)
		}, "GPIO18", "/sys/class/pwm/pwmchip1/export=0"},
		{"another node, alone of its kind", func(t *testing.T, root string) {
			pwmChipTree(t, root, "pwmchip0", "brcm,bcm2835-pwm", "pwm@20c000", 2)
		}, "GPIO19", "/sys/class/pwm/pwmchip0/export=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, root := treeHost(t)
			tt.chips(t, root)
			k := &pwmKernel{root: root}
			h.writeFile = k.write
			if _, err := h.PWM(tt.line); err != nil {
				t.Fatal(err)
			}
			if got := k.took(); !slices.Equal(got, []string{tt.wantExport}) {
				t.Fatalf("wrote %q, want %q", got, tt.wantExport)
			}
		})
	}
}

func pi4(t *testing.T, root string) {
	pwmChipTree(t, root, "pwmchip0", "brcm,bcm2835-pwm", "pwm@7e20c000", 2)
}

// pi5 is a Raspberry Pi 5: the RP1's two PWM blocks (the second drives
// the fan) after the SoC's.
func pi5(t *testing.T, root string) {
	pwmChipTree(t, root, "pwmchip0", "brcm,bcm2712-pwm", "pwm@7d50c000", 2)
	pwmChipTree(t, root, "pwmchip2", "raspberrypi,rp1-pwm", "pwm@98000", 4)
	pwmChipTree(t, root, "pwmchip6", "raspberrypi,rp1-pwm", "pwm@9c000", 4)
}

func TestPWMErrors(t *testing.T) {
	tests := []struct {
		name  string
		chips func(t *testing.T, root string)
		fail  map[string]error
		first string // a line another device drives already
		line  string
		want  []string
	}{
		{name: "no PWM", chips: func(*testing.T, string) {}, line: "GPIO18",
			want: []string{`"GPIO18"`, "no PWM controller", "dtoverlay=pwm"}},
		{name: "an unknown controller", chips: func(t *testing.T, root string) {
			pwmChipTree(t, root, "pwmchip0", "vendor,other-pwm", "pwm@1000", 8)
		}, line: "GPIO18", want: []string{"pwmchip0 (vendor,other-pwm, pwm@1000)", "brcm,bcm2835-pwm"}},
		{name: "a line without PWM", chips: pi4, line: "GPIO17",
			want: []string{`"GPIO17"`, "reaches GPIO12, GPIO13, GPIO18, GPIO19 only"}},
		{name: "one channel enabled", chips: func(t *testing.T, root string) {
			pwmChipTree(t, root, "pwmchip0", "brcm,bcm2835-pwm", "pwm@7e20c000", 1)
		}, line: "GPIO19", want: []string{"has 1 channels", "channel 1", "dtoverlay=pwm-2chan"}},
		{name: "a bare number", chips: pi4, line: "18", want: []string{`"GPIO18"`}},
		{name: "no name", chips: pi4, line: "", want: []string{`"GPIO18"`}},
		{name: "provided", chips: pi4, line: "leds/PWM0", want: []string{`device "leds"`}},
		{name: "channel busy", chips: pi4, first: "GPIO12", line: "GPIO18",
			want: []string{`"GPIO18"`, "channel 0 busy", "as GPIO12"}},
		{name: "export refused", chips: pi4, fail: map[string]error{"/sys/class/pwm/pwmchip0/export": syscall.EACCES}, line: "GPIO18",
			want: []string{"write /sys/class/pwm/pwmchip0/export", "permission denied", "gpio group"}},
		{name: "held by a kernel driver", chips: pi4, fail: map[string]error{"/sys/class/pwm/pwmchip0/export": syscall.EBUSY}, line: "GPIO18",
			want: []string{"busy", "pwm-fan"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, root := treeHost(t)
			tt.chips(t, root)
			k := &pwmKernel{root: root, fail: tt.fail}
			h.writeFile = k.write
			if tt.first != "" {
				if _, err := h.PWM(tt.first); err != nil {
					t.Fatal(err)
				}
			}
			_, err := h.PWM(tt.line)
			if err == nil {
				t.Fatalf("PWM(%q) succeeded", tt.line)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestPWMExportNeverAppears checks the wait for the channel's files, with
// no wait at all: an export that the kernel does not follow with the
// channel's directory fails, naming the file.
func TestPWMExportNeverAppears(t *testing.T) {
	h, _ := pwmHost(t)
	h.writeFile = func(name string, data []byte) error { return writeSysfs(name, data) } // a kernel that makes nothing
	h.exportWait = 0
	_, err := h.PWM("GPIO18")
	if err == nil || !strings.Contains(err.Error(), "after the export") || !strings.Contains(err.Error(), "/sys/class/pwm/pwmchip0/pwm0/period") {
		t.Fatalf("err = %v, want one naming the channel's period file", err)
	}
}

func TestPWMSettingErrors(t *testing.T) {
	h, k := pwmHost(t)
	p, err := h.PWM("GPIO18")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		duty gpio.Duty
		freq physic.Frequency
		want string
	}{
		{"duty too high", gpio.DutyMax + 1, physic.KiloHertz, "outside 0 to gpio.DutyMax"},
		{"negative duty", -1, physic.KiloHertz, "duty -1"},
		{"negative frequency", gpio.DutyHalf, -physic.Hertz, "negative frequency"},
		{"above a nanosecond period", gpio.DutyHalf, 3 * physic.GigaHertz, "nanoseconds"},
	}
	for _, tt := range tests {
		if err := p.PWM(tt.duty, tt.freq); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "GPIO18") {
			t.Errorf("%s: err = %v, want one naming the line and containing %q", tt.name, err, tt.want)
		}
	}
	k.took()
	k.fail["/sys/class/pwm/pwmchip0/pwm0/period"] = syscall.EINVAL
	err = p.PWM(gpio.DutyHalf, 37*physic.MegaHertz)
	if err == nil || !strings.Contains(err.Error(), "write 27 to /sys/class/pwm/pwmchip0/pwm0/period") || !strings.Contains(err.Error(), "refused the setting") {
		t.Fatalf("a refused period: err = %v", err)
	}
	if got := k.took(); len(got) != 0 {
		t.Fatalf("after a refused period the host wrote %q", got)
	}
	delete(k.fail, "/sys/class/pwm/pwmchip0/pwm0/period")
	if err := p.PWM(gpio.DutyHalf, physic.KiloHertz); err != nil {
		t.Fatalf("after the refusal: %v", err)
	}
}

func TestPWMAfterClose(t *testing.T) {
	h, _ := pwmHost(t)
	p, err := h.PWM("GPIO18")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PWM(gpio.DutyHalf, physic.KiloHertz); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	// Close leaves the output running, as it leaves GPIO outputs driven.
	if got := attr(t, h, "/sys/class/pwm/pwmchip0/pwm0/enable"); got != "1" {
		t.Errorf("after Close enable = %s, want the output left running", got)
	}
	if err := p.PWM(gpio.DutyMax, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("PWM after Close: err = %v, want ErrClosed", err)
	}
	if _, err := h.PWM("GPIO18"); !errors.Is(err, ErrClosed) {
		t.Errorf("PWM(name) after Close: err = %v, want ErrClosed", err)
	}
}

// TestPWMConcurrentUse drives one channel from several goroutines, as a
// device and its reopened self might for a moment: every write lands in
// an order the kernel accepts.
func TestPWMConcurrentUse(t *testing.T) {
	h, k := pwmHost(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Go(func() {
			p, err := h.PWM("GPIO18")
			if err != nil {
				errs <- err
				return
			}
			for j := range 50 {
				f := physic.Frequency(100+(i*50+j)%7*300) * physic.Hertz
				if err := p.PWM(gpio.Duty(j)*gpio.DutyMax/50, f); err != nil {
					errs <- fmt.Errorf("goroutine %d step %d: %w", i, j, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(k.took()); n == 0 {
		t.Fatal("nothing written")
	}
}
