package realhost

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/pinion-home/pinion/drivers"
)

// pwmClass is where the kernel lists its PWM controllers.
const pwmClass = "/sys/class/pwm"

// defaultPWMPeriod is the period of a PWM started with frequency 0 on a
// channel that has none yet: 1 kHz, flicker-free for LEDs.
const defaultPWMPeriod = time.Millisecond

// pwmController is a PWM controller the host knows how to reach GPIO
// lines through: its device tree node, and the channel that drives each
// line (when the line's pin function selects the PWM, which the device
// tree overlay does).
type pwmController struct {
	compatible string // the first string of the node's compatible
	node       string // the node's name: the controller's bus address
	board      string // for messages
	overlay    string // what enables it
	channels   map[string]int
}

// pwmControllers are the Raspberry Pi's PWM controllers that reach the
// header, with the channels of the alternate-function tables of their
// manuals. BCM2835 to BCM2711 (Raspberry Pi 1 to 4): PWM0, channel 0 on
// GPIO12 and GPIO18, channel 1 on GPIO13 and GPIO19. RP1 (Raspberry Pi 5):
// PWM0, channels 0 to 3 on GPIO12 to GPIO15, and channels 2 and 3 again on
// GPIO18 and GPIO19.
var pwmControllers = []pwmController{
	{
		compatible: "brcm,bcm2835-pwm", node: "pwm@7e20c000", board: "Raspberry Pi 1 to 4",
		overlay:  "dtoverlay=pwm,pin=18,func=2 (one channel) or dtoverlay=pwm-2chan (GPIO18 and GPIO19)",
		channels: map[string]int{"GPIO12": 0, "GPIO18": 0, "GPIO13": 1, "GPIO19": 1},
	},
	{
		compatible: "raspberrypi,rp1-pwm", node: "pwm@98000", board: "Raspberry Pi 5",
		overlay:  "dtoverlay=pwm,pin=18,func=2 (one channel) or dtoverlay=pwm-2chan (GPIO18 and GPIO19)",
		channels: map[string]int{"GPIO12": 0, "GPIO13": 1, "GPIO14": 2, "GPIO15": 3, "GPIO18": 2, "GPIO19": 3},
	},
}

// pwmChip is a controller the kernel lists in /sys/class/pwm.
type pwmChip struct {
	dir        string // "/sys/class/pwm/pwmchip0"
	compatible string
	node       string
	channels   int
}

func (c pwmChip) String() string {
	if c.compatible == "" {
		return path.Base(c.dir)
	}
	return fmt.Sprintf("%s (%s, %s)", path.Base(c.dir), c.compatible, c.node)
}

// pwmChips lists the kernel's PWM controllers.
func (h *Host) pwmChips() ([]pwmChip, error) {
	matches, err := filepath.Glob(filepath.Join(h.sys(pwmClass), "pwmchip*"))
	if err != nil {
		return nil, err
	}
	var chips []pwmChip
	for _, m := range matches {
		dir := path.Join(pwmClass, filepath.Base(m))
		c := pwmChip{dir: dir}
		if s, err := h.readAttr(dir + "/npwm"); err == nil {
			c.channels, _ = strconv.Atoi(s)
		}
		if s, err := h.readAttr(dir + "/device/of_node/compatible"); err == nil {
			c.compatible, _, _ = strings.Cut(s, "\x00")
		}
		if node, err := filepath.EvalSymlinks(h.sys(dir + "/device/of_node")); err == nil {
			c.node = filepath.Base(node)
		}
		chips = append(chips, c)
	}
	slices.SortFunc(chips, func(a, b pwmChip) int { return naturalCompare(a.dir, b.dir) })
	return chips, nil
}

// findPWM returns the controller and channel that drive line name: the
// known controller whose node is the one in pwmControllers, or else the
// only one of its kind.
func (h *Host) findPWM(name string) (pwmChip, int, error) {
	chips, err := h.pwmChips()
	if err != nil {
		return pwmChip{}, 0, fmt.Errorf("pwm %q: list %s: %w", name, pwmClass, err)
	}
	const hint = "; enable the PWM with %s in config.txt and reboot"
	var known []string
	for _, pc := range pwmControllers {
		var same []pwmChip
		for _, c := range chips {
			if c.compatible == pc.compatible {
				same = append(same, c)
			}
		}
		i := slices.IndexFunc(same, func(c pwmChip) bool { return c.node == pc.node })
		switch {
		case i >= 0:
			same = same[i : i+1]
		case len(same) != 1:
			continue
		}
		c := same[0]
		ch, ok := pc.channels[name]
		if !ok {
			return pwmChip{}, 0, fmt.Errorf("pwm %q: the %s's PWM reaches %s only", name, pc.board, lineList(pc.channels))
		}
		if ch >= c.channels {
			return pwmChip{}, 0, fmt.Errorf("pwm %q: %s has %d channels, and %s needs channel %d"+hint, name, c, c.channels, name, ch, pc.overlay)
		}
		return c, ch, nil
	}
	for _, pc := range pwmControllers {
		known = append(known, pc.compatible)
	}
	if len(chips) == 0 {
		return pwmChip{}, 0, fmt.Errorf("pwm %q: this machine has no PWM controller (%s is empty or missing); on a Raspberry Pi, enable the PWM with dtoverlay=pwm,pin=18,func=2 or dtoverlay=pwm-2chan in config.txt and reboot", name, pwmClass)
	}
	found := make([]string, len(chips))
	for i, c := range chips {
		found[i] = c.String()
	}
	return pwmChip{}, 0, fmt.Errorf("pwm %q: no PWM controller the host knows (%s) among %s; the host drives the Raspberry Pi's", name, strings.Join(known, ", "), strings.Join(found, ", "))
}

// lineList lists the lines of a channel map, sorted.
func lineList(channels map[string]int) string {
	names := make([]string, 0, len(channels))
	for n := range channels {
		names = append(names, n)
	}
	slices.SortFunc(names, naturalCompare)
	return strings.Join(names, ", ")
}

// pwmKey identifies a PWM channel.
type pwmKey struct {
	chip    string
	channel int
}

// pwmState is one PWM channel as the host drives it, shared by the pins
// handed out for it (a device reopened after a failure asks again).
type pwmState struct {
	key pwmKey
	dir string // "/sys/class/pwm/pwmchip0/pwm0"

	mu       sync.Mutex
	by       string // the line name it serves
	exported bool
	period   time.Duration
	duty     time.Duration
	enabled  bool
}

// PWM implements drivers.PWMHost through the kernel's sysfs PWM: name is
// the GPIO line ("GPIO18"), which reaches the channel of the Raspberry Pi's
// PWM controller wired to it (GPIO12, 13, 18 and 19; the device tree
// overlay that enables the PWM picks which of them outputs it). The host
// exports the channel (/sys/class/pwm/pwmchipN/export) and returns a
// gpio.PinOut whose PWM sets the period and duty cycle and enables the
// output. Two names on one channel (GPIO12 and GPIO18) are one output:
// the second device to ask gets a "channel busy" error.
//
// The user running pinion needs write access to the channel's files, which
// Raspberry Pi OS gives the gpio group.
func (h *Host) PWM(name string) (gpio.PinOut, error) {
	if err := h.checkOpen(); err != nil {
		return nil, fmt.Errorf("pwm %q: %w", name, err)
	}
	switch {
	case name == "":
		return nil, errors.New(`pwm: no line name; write the line's name such as "GPIO18"`)
	case isDigits(name):
		return nil, fmt.Errorf("pwm %q: a bare number is ambiguous; write the line's name, \"GPIO%s\"", name, name)
	}
	if _, _, ok := drivers.SplitProvided(name); ok {
		return nil, provided("pwm", name)
	}
	chip, ch, err := h.findPWM(name)
	if err != nil {
		return nil, err
	}
	key := pwmKey{chip: chip.dir, channel: ch}
	h.mu.Lock()
	st, ok := h.pwms[key]
	if !ok {
		st = &pwmState{key: key, dir: fmt.Sprintf("%s/pwm%d", chip.dir, ch)}
		h.pwms[key] = st
	}
	h.mu.Unlock()

	st.mu.Lock()
	defer st.mu.Unlock()
	if st.by != "" && st.by != name {
		return nil, fmt.Errorf("pwm %q: %s channel %d busy: this agent already drives it as %s, and one channel is one output", name, chip, ch, st.by)
	}
	if !st.exported {
		if err := h.export(st); err != nil {
			return nil, fmt.Errorf("pwm %q: %s channel %d: %w", name, chip, ch, err)
		}
	}
	st.by = name
	return &pwmPin{name: name, h: h, st: st}, nil
}

// export exports the channel unless it is exported already, waits until
// its files can be written (udev sets their group after the kernel makes
// them), and reads its settings. Callers hold st.mu.
func (h *Host) export(st *pwmState) error {
	if _, err := os.Stat(h.sys(st.dir)); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return renamePathError(err, "stat", st.dir)
		}
		exp := st.key.chip + "/export"
		if err := h.writeFile(h.sys(exp), []byte(strconv.Itoa(st.key.channel))); err != nil {
			return fmt.Errorf("write %s: %w%s", exp, err, pwmHint(err))
		}
		if err := h.waitWritable(st.dir + "/period"); err != nil {
			return err
		}
	}
	var err error
	if st.period, err = h.readNanos(st.dir + "/period"); err != nil {
		return err
	}
	if st.duty, err = h.readNanos(st.dir + "/duty_cycle"); err != nil {
		return err
	}
	en, err := h.readAttr(st.dir + "/enable")
	if err != nil {
		return err
	}
	st.enabled = en == "1"
	st.exported = true
	return nil
}

// waitWritable waits up to h.exportWait for the sysfs file p to exist and
// be writable.
func (h *Host) waitWritable(p string) error {
	deadline := time.Now().Add(h.exportWait)
	for {
		f, err := os.OpenFile(h.sys(p), os.O_WRONLY, 0)
		if err == nil {
			return f.Close()
		}
		retry := errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)
		if !retry || time.Now().After(deadline) {
			return fmt.Errorf("after the export, %w%s", renamePathError(err, "open", p), pwmHint(err))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readNanos reads a sysfs attribute that holds nanoseconds.
func (h *Host) readNanos(p string) (time.Duration, error) {
	s, err := h.readAttr(p)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not a number of nanoseconds", p, s)
	}
	return time.Duration(n), nil
}

// pwmHint says what to do about a failed sysfs PWM write.
func pwmHint(err error) string {
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return " (the user running pinion needs write access to /sys/class/pwm, which Raspberry Pi OS gives the gpio group)"
	case errors.Is(err, syscall.EBUSY):
		return " (a kernel driver, such as pwm-fan or leds-pwm, holds the channel)"
	case errors.Is(err, syscall.EINVAL):
		return " (the controller refused the setting)"
	}
	return ""
}

// pwmPin is the host's handle on a PWM channel under the line name a
// device asked for. It implements gpio.PinOut.
type pwmPin struct {
	name string
	h    *Host
	st   *pwmState
}

// String implements conn.Resource.
func (p *pwmPin) String() string { return p.name }

// Name implements pin.Pin.
func (p *pwmPin) Name() string { return p.name }

// Number implements pin.Pin: the GPIO number in the line's name, or -1.
func (p *pwmPin) Number() int {
	if n, ok := strings.CutPrefix(p.name, "GPIO"); ok && isDigits(n) {
		if v, err := strconv.Atoi(n); err == nil {
			return v
		}
	}
	return -1
}

// Function implements pin.Pin.
func (p *pwmPin) Function() string { return string(gpio.PWM) }

// Halt implements conn.Resource: it disables the output, which then rests
// at its inactive level (Low).
func (p *pwmPin) Halt() error {
	st := p.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.enabled {
		return nil
	}
	if err := p.write("enable", "0"); err != nil {
		return err
	}
	st.enabled = false
	return nil
}

// Out implements gpio.PinOut as a duty of 0 or 100 % at the channel's
// frequency.
func (p *pwmPin) Out(l gpio.Level) error {
	d := gpio.Duty(0)
	if l == gpio.High {
		d = gpio.DutyMax
	}
	return p.PWM(d, 0)
}

// PWM implements gpio.PinOut: it sets the channel's period (from f; 0
// keeps the channel's period, or 1 kHz on a fresh one) and duty cycle, in
// the order the kernel accepts (the duty may never exceed the period), and
// enables the output.
func (p *pwmPin) PWM(duty gpio.Duty, f physic.Frequency) error {
	if !duty.Valid() {
		return fmt.Errorf("pwm %s: duty %d outside 0 to gpio.DutyMax (%d)", p.name, duty, gpio.DutyMax)
	}
	if f < 0 {
		return fmt.Errorf("pwm %s: negative frequency %s", p.name, f)
	}
	st := p.st
	st.mu.Lock()
	defer st.mu.Unlock()
	period := st.period
	if f > 0 {
		period = f.Period()
		if period <= 0 {
			return fmt.Errorf("pwm %s: frequency %s: above what a period in nanoseconds can express", p.name, f)
		}
	}
	if period == 0 {
		period = defaultPWMPeriod
	}
	d := time.Duration(math.Round(float64(period) * float64(duty) / float64(gpio.DutyMax)))
	writePeriod := func() error {
		if period == st.period {
			return nil
		}
		if err := p.write("period", strconv.FormatInt(int64(period), 10)); err != nil {
			return err
		}
		st.period = period
		return nil
	}
	writeDuty := func() error {
		if d == st.duty {
			return nil
		}
		if err := p.write("duty_cycle", strconv.FormatInt(int64(d), 10)); err != nil {
			return err
		}
		st.duty = d
		return nil
	}
	// A shorter period than the current duty would be refused: the duty
	// goes down first then.
	steps := []func() error{writePeriod, writeDuty}
	if period < st.duty {
		steps = []func() error{writeDuty, writePeriod}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	if !st.enabled {
		if err := p.write("enable", "1"); err != nil {
			return err
		}
		st.enabled = true
	}
	return nil
}

// write writes one attribute of the channel. Callers hold st.mu.
func (p *pwmPin) write(attr, value string) error {
	if err := p.h.checkOpen(); err != nil {
		return fmt.Errorf("pwm %s: %w", p.name, err)
	}
	file := p.st.dir + "/" + attr
	if err := p.h.writeFile(p.h.sys(file), []byte(value)); err != nil {
		return fmt.Errorf("pwm %s: write %s to %s: %w%s", p.name, value, file, err, pwmHint(err))
	}
	return nil
}

var _ gpio.PinOut = (*pwmPin)(nil)
