//go:build hwtest

// This file drives a real kernel's GPIO character device. It is built only
// with -tags hwtest, by .ci/hwtest/run, which boots the test binary as the
// init of an arm64 QEMU guest (-M virt) whose PL061 GPIO controller is
// /dev/gpiochip0: eight lines, no names, no modules to load. Levels are
// read back from the hardware through /sys/kernel/debug/gpio, which lists
// each requested line with its holder, direction and the level the chip's
// data register holds.
//
// The tests refuse to run on any other machine (they would drive its
// lines) and fail rather than skip when the guest is not as expected.

package realhost

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/pin"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/gpioioctl"
)

// pl061Label is the label the kernel gives QEMU virt's GPIO controller.
const pl061Label = "9030000.pl061"

// TestMain mounts what the tests need and powers the guest off when the
// binary runs as its init (pid 1); anywhere else it just runs the tests.
func TestMain(m *testing.M) {
	if os.Getpid() != 1 {
		os.Exit(m.Run())
	}
	code := 1
	if err := setupGuest(); err != nil {
		fmt.Println("hwtest: set up the guest:", err)
	} else {
		code = m.Run()
	}
	if code == 0 {
		fmt.Println("HWTEST RESULT: PASS")
	} else {
		fmt.Println("HWTEST RESULT: FAIL")
	}
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Println("hwtest: power off:", err)
	}
	select {} // init must not exit: the kernel would panic
}

func setupGuest() error {
	mounts := []struct{ src, dir, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"debugfs", "/sys/kernel/debug", "debugfs"},
	}
	for _, mt := range mounts {
		if err := os.MkdirAll(mt.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(mt.src, mt.dir, mt.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", mt.fstype, mt.dir, err)
		}
	}
	return nil
}

// pl061 returns periph's object for the guest's PL061, after periph's own
// initialisation, or fails the test when this is not the expected guest.
func pl061(t *testing.T) *gpioioctl.GPIOChip {
	t.Helper()
	if _, err := host.Init(); err != nil {
		t.Fatalf("periph host.Init: %v", err)
	}
	var labels []string
	for _, c := range gpioioctl.Chips {
		if c.Label() == pl061Label {
			if c.LineCount() != 8 {
				t.Fatalf("%s has %d lines, want 8", pl061Label, c.LineCount())
			}
			return c
		}
		labels = append(labels, c.Label())
	}
	t.Fatalf("no GPIO chip labelled %s (chips: %v): these tests drive real lines and run only in the guest of .ci/hwtest/run", pl061Label, labels)
	return nil
}

// hwRegistry names the PL061's lines GPIO0..GPIO7 (the controller has no
// line names, so periph registers none) and resolves them with the
// production resolution over periph's real chips.
type hwRegistry struct {
	chip *gpioioctl.GPIOChip
}

func (r hwRegistry) pin(name string) gpio.PinIO {
	n, err := strconv.Atoi(strings.TrimPrefix(name, "GPIO"))
	if !strings.HasPrefix(name, "GPIO") || err != nil || n < 0 || n >= r.chip.LineCount() {
		return nil
	}
	return namedLine{r.chip.ByNumber(n), name}
}

func (r hwRegistry) pins() []gpio.PinIO {
	var out []gpio.PinIO
	for i := range r.chip.LineCount() {
		out = append(out, r.pin(fmt.Sprintf("GPIO%d", i)))
	}
	return out
}

func (hwRegistry) buses() []*i2creg.Ref { return nil }

func (hwRegistry) chipLine(p gpio.PinIO) (chipLine, bool) { return periphRegistry{}.chipLine(p) }

// namedLine gives a nameless periph line a name, as periph's aliases do.
type namedLine struct {
	*gpioioctl.GPIOLine
	name string
}

func (l namedLine) Name() string     { return l.name }
func (l namedLine) String() string   { return l.name }
func (l namedLine) Real() gpio.PinIO { return l.GPIOLine }

func hwHost(t *testing.T) (*Host, *gpioioctl.GPIOChip) {
	t.Helper()
	chip := pl061(t)
	return newHost(slog.New(slog.DiscardHandler), hwRegistry{chip}, newKernel()), chip
}

// debugLine is a requested line as /sys/kernel/debug/gpio shows it.
type debugLine struct {
	consumer string
	out      bool
	high     bool
}

func (d debugLine) String() string {
	dir, lv := "in", "lo"
	if d.out {
		dir = "out"
	}
	if d.high {
		lv = "hi"
	}
	return fmt.Sprintf("%s %s held by %q", dir, lv, d.consumer)
}

var (
	debugChip = regexp.MustCompile(`^gpiochip\d+: GPIOs (\d+)-\d+, .*` + regexp.QuoteMeta(pl061Label))
	debugGPIO = regexp.MustCompile(`^\s*gpio-(\d+)\s+\(([^|]*)\|([^)]*)\)\s+(out|in)\s+(hi|lo)`)
)

// readDebug returns the PL061's line offset as the kernel reports it, and
// whether it is requested at all (the kernel lists only requested lines).
func readDebug(t *testing.T, offset int) (debugLine, bool) {
	t.Helper()
	f, err := os.Open("/sys/kernel/debug/gpio")
	if err != nil {
		t.Fatalf("read the kernel's GPIO state: %v", err)
	}
	defer f.Close()
	base := -1
	sc := bufio.NewScanner(f)
	var dump []string
	for sc.Scan() {
		line := sc.Text()
		dump = append(dump, line)
		if strings.HasPrefix(line, "gpiochip") {
			base = -1
			if m := debugChip.FindStringSubmatch(line); m != nil {
				base, _ = strconv.Atoi(m[1])
			}
			continue
		}
		m := debugGPIO.FindStringSubmatch(line)
		if base < 0 || m == nil {
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n == base+offset {
			return debugLine{consumer: strings.TrimSpace(m[3]), out: m[4] == "out", high: m[5] == "hi"}, true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if base < 0 && !strings.Contains(strings.Join(dump, "\n"), pl061Label) {
		t.Fatalf("/sys/kernel/debug/gpio does not list %s:\n%s", pl061Label, strings.Join(dump, "\n"))
	}
	return debugLine{}, false
}

func wantDebug(t *testing.T, offset int, want debugLine) {
	t.Helper()
	got, ok := readDebug(t, offset)
	if !ok {
		t.Fatalf("line %d is not requested; want %v", offset, want)
	}
	if got != want {
		t.Fatalf("line %d is %v; want %v", offset, got, want)
	}
}

// rawRequest requests a line outside the host, as another program would;
// with value false it does what periph's Out does first: OUTPUT and no
// level. It returns the request's descriptor.
func rawRequest(t *testing.T, chip string, offset uint32, withValue bool, l gpio.Level, consumer string) int {
	t.Helper()
	fd, err := unix.Open(chip, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	r := outputRequest(offset, l, consumer)
	if !withValue {
		r.config.numAttrs = 0
		r.config.attrs[0] = gpioV2LineConfigAttribute{}
	}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), gpioV2GetLineIoctl, uintptr(unsafe.Pointer(&r))); e != 0 {
		t.Fatalf("raw request of line %d: %v", offset, e)
	}
	return int(r.fd)
}

// hostValue reads the line back through the host's own request with
// GPIO_V2_LINE_GET_VALUES_IOCTL, which asks the chip.
func hostValue(t *testing.T, p gpio.PinIO) gpio.Level {
	t.Helper()
	st := p.(*chardevPin).st
	st.mu.Lock()
	defer st.mu.Unlock()
	req, ok := st.out.(*chardevRequest)
	if !ok {
		t.Fatalf("%s holds no output request", p)
	}
	v := gpioV2LineValues{mask: 1}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(req.fd), gpioV2LineGetValuesIoctl, uintptr(unsafe.Pointer(&v))); e != 0 {
		t.Fatalf("get values of %s: %v", p, e)
	}
	return v.bits&1 == 1
}

// TestHWOutFirstLevel: the first Out leaves the line at its level as soon
// as the request returns, later Outs change it, and Read and Func leave
// the output alone.
func TestHWOutFirstLevel(t *testing.T) {
	h, _ := hwHost(t)
	for _, off := range []int{0, 2, 4} {
		name := fmt.Sprintf("GPIO%d", off)
		if _, requested := readDebug(t, off); requested {
			t.Fatalf("line %d is requested before the test", off)
		}
		p, err := h.GPIO(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Out(gpio.High); err != nil {
			t.Fatalf("%s: first Out(High): %v", name, err)
		}
		wantDebug(t, off, debugLine{consumer: consumerLabel, out: true, high: true})
		if got := hostValue(t, p); got != gpio.High {
			t.Fatalf("%s reads %s through its request after Out(High)", name, got)
		}
		for _, lv := range []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High} {
			if err := p.Out(lv); err != nil {
				t.Fatalf("%s: Out(%s): %v", name, lv, err)
			}
			wantDebug(t, off, debugLine{consumer: consumerLabel, out: true, high: bool(lv)})
			if got := hostValue(t, p); got != lv {
				t.Fatalf("%s reads %s through its request after Out(%s)", name, got, lv)
			}
		}
		if got := p.Read(); got != gpio.High {
			t.Fatalf("%s: Read = %s after Out(High)", name, got)
		}
		if got := p.(pin.PinFunc).Func(); got != gpio.OUT_HIGH {
			t.Fatalf("%s: Func = %s", name, got)
		}
		wantDebug(t, off, debugLine{consumer: consumerLabel, out: true, high: true})
	}
}

// TestHWPeriphWayDrivesLow is the control: on a line left driving high, a
// request with OUTPUT and no level (periph's first step) drives it low,
// which debugfs shows; the host's request on the same line keeps it high.
func TestHWPeriphWayDrivesLow(t *testing.T) {
	h, chip := hwHost(t)
	const off = 6
	line := chip.ByNumber(off)
	if err := line.Out(gpio.High); err != nil {
		t.Fatalf("periph Out(High): %v", err)
	}
	line.Close() // the PL061 keeps driving high after a release
	fd := rawRequest(t, chip.Path(), off, false, gpio.High, "periph-way")
	got, ok := readDebug(t, off)
	unix.Close(fd)
	if !ok || got != (debugLine{consumer: "periph-way", out: true, high: false}) {
		t.Fatalf("a request without a level left line %d %v (requested %t); want it driven low, the glitch", off, got, ok)
	}

	fd = rawRequest(t, chip.Path(), off, true, gpio.High, "set-high")
	unix.Close(fd)
	p, err := h.GPIO("GPIO6")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	wantDebug(t, off, debugLine{consumer: consumerLabel, out: true, high: true})
}

// TestHWInAndBack: In releases the host's request for periph's, and Out
// takes the line back at the level asked for.
func TestHWInAndBack(t *testing.T) {
	h, _ := hwHost(t)
	const off = 7
	p, err := h.GPIO("GPIO7")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	if err := p.In(gpio.PullNoChange, gpio.NoEdge); err != nil {
		t.Fatalf("In after Out: %v", err)
	}
	got, ok := readDebug(t, off)
	if !ok || got.out || got.consumer != periphConsumer() {
		t.Fatalf("after In line %d is %v (requested %t); want an input held by periph (%q)", off, got, ok, periphConsumer())
	}
	_ = p.Read()
	if err := p.Out(gpio.Low); err != nil {
		t.Fatalf("Out after In: %v", err)
	}
	wantDebug(t, off, debugLine{consumer: consumerLabel, out: true, high: false})
}

// TestHWBusy: a line another program holds gives the error that says so,
// and the other program keeps the line.
func TestHWBusy(t *testing.T) {
	h, chip := hwHost(t)
	const off = 1
	fd := rawRequest(t, chip.Path(), off, true, gpio.Low, "other-program")
	defer unix.Close(fd)
	p, err := h.GPIO("GPIO1")
	if err != nil {
		t.Fatal(err)
	}
	err = p.Out(gpio.High)
	want := fmt.Sprintf("gpio GPIO1: request output on %s line 1: device or resource busy (another program holds the line; see gpioinfo)", chip.Path())
	if err == nil || err.Error() != want || !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("Out on a held line: %v\nwant %s", err, want)
	}
	wantDebug(t, off, debugLine{consumer: "other-program", out: true, high: false})
}
