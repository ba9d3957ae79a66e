package sim

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// Environment is the air around a simulated sensor. Sample returns the
// temperature (°C), relative humidity (%) and pressure (hPa) at time t. It
// must be safe for concurrent use and should be a pure function of t, so
// that a simulation replays the same way.
type Environment interface {
	Sample(t time.Time) (tempC, humidityPct, pressureHPa float64)
}

// StaticWeather is an Environment that never changes, for tests that
// compare readings with what the sensor was given.
type StaticWeather struct {
	TempC       float64
	Humidity    float64
	PressureHPa float64
}

// Sample implements Environment.
func (w StaticWeather) Sample(time.Time) (tempC, humidityPct, pressureHPa float64) {
	return w.TempC, w.Humidity, w.PressureHPa
}

// DriftingWeather returns an indoor climate that drifts slowly and
// plausibly: about 21 °C give or take 3, 40 to 60 % humidity (lower when it
// is warmer, as in a heated room) and 1013 ± 5 hPa. It is a sum of slow
// waves whose phases come from seed, so the same seed gives the same
// weather at the same time, and a demo shows values that move between
// polls without jumping.
func DriftingWeather(seed int64) Environment {
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	w := &driftingWeather{}
	for i := range w.phase {
		w.phase[i] = r.Float64() * 2 * math.Pi
	}
	return w
}

type driftingWeather struct {
	phase [9]float64
}

// Sample implements Environment.
func (w *driftingWeather) Sample(t time.Time) (tempC, humidityPct, pressureHPa float64) {
	s := float64(t.UnixNano()) / 1e9
	wave := func(i int, period time.Duration, amplitude float64) float64 {
		return amplitude * math.Sin(2*math.Pi*s/period.Seconds()+w.phase[i])
	}
	// Periods are unrelated to each other so the sum does not repeat soon:
	// a daily-ish swing, a heating cycle and a draught.
	tempC = 21 + wave(0, 6*time.Hour, 2) + wave(1, 37*time.Minute, 0.8) + wave(2, 251*time.Second, 0.15)
	humidityPct = 50 - 1.5*(tempC-21) + wave(3, 5*time.Hour, 3) + wave(4, 23*time.Minute, 1) + wave(5, 421*time.Second, 0.3)
	humidityPct = min(max(humidityPct, 40), 60)
	pressureHPa = 1013 + wave(6, 11*time.Hour, 3.5) + wave(7, 53*time.Minute, 1) + wave(8, 419*time.Second, 0.1)
	return tempC, humidityPct, pressureHPa
}

// BME280 register map, from the Bosch datasheet (BST-BME280-DS002, 5.3).
const (
	bmeRegCalib0   = 0x88 // dig_T1 … dig_P9, a reserved byte at 0xA0, dig_H1 at 0xA1
	bmeRegChipID   = 0xD0
	bmeRegReset    = 0xE0
	bmeRegCalib1   = 0xE1 // dig_H2 … dig_H6
	bmeRegCtrlHum  = 0xF2
	bmeRegStatus   = 0xF3
	bmeRegCtrlMeas = 0xF4
	bmeRegConfig   = 0xF5
	bmeRegData     = 0xF7 // press msb, lsb, xlsb, temp msb, lsb, xlsb, hum msb, lsb

	bmeChipID       = 0x60
	bmeResetCommand = 0xB6

	bmeStatusMeasuring = 1 << 3
	bmeStatusImUpdate  = 1 << 0

	bmeModeSleep  = 0
	bmeModeNormal = 3

	// bmeStartup is how long the chip copies its calibration from NVM
	// after a reset (datasheet 1.1, t_startup).
	bmeStartup = 2 * time.Millisecond
)

// bmeNVM is a real sensor's calibration, as read from 0x88-0xA1 and
// 0xE1-0xE7 (the dump in periph.io/x/devices bmxx80 tests).
var bmeNVM = struct {
	tp [26]byte
	h  [7]byte
}{
	tp: [26]byte{0x10, 0x6e, 0x6c, 0x66, 0x32, 0x00, 0x5d, 0x95, 0xb8, 0xd5, 0xd0, 0x0b, 0x77, 0x1e, 0x9d, 0xff, 0xf9, 0xff, 0xac, 0x26, 0x0a, 0xd8, 0xbd, 0x10, 0x00, 0x4b},
	h:  [7]byte{0x6e, 0x01, 0x00, 0x13, 0x05, 0x00, 0x1e},
}

// bmeResetData is what the data registers hold after a reset: the values
// the chip also reports for a skipped measurement.
var bmeResetData = [8]byte{0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00}

// BME280 is a simulated Bosch BME280 temperature, humidity and pressure
// sensor on I2C. It has the real chip's register map and calibration, runs
// measurements with the datasheet's timing in forced and normal mode, and
// reports the raw ADC values from which the datasheet's compensation gives
// back its Environment, at the resolution the oversampling allows.
//
// What it does not model: the IIR filter (config is stored but not
// applied) and the SPI interface.
type BME280 struct {
	env Environment
	cal bmeCalibration

	mu    sync.Mutex
	clock drivers.Clock
	fault error
	ptr   byte // register address the next read starts at

	ctrlHum, ctrlMeas, config byte
	data                      [8]byte
	copyingUntil              time.Time // im_update is set before this

	conv        bmeConversion // settings latched by the last ctrl_meas write
	measuring   bool          // a forced conversion is running
	measEnd     time.Time
	cycleStart  time.Time // normal mode: when the first cycle began
	cyclesDone  int64     // normal mode: cycles whose result is in data
	cyclePeriod time.Duration
}

// bmeConversion is the oversampling of one conversion, as register codes
// (0 = skipped, 1 = ×1 … 5 = ×16).
type bmeConversion struct{ t, p, h byte }

// NewBME280 returns a powered-up BME280 in sleep mode that measures env. A
// nil env is standard air: 21 °C, 50 %, 1013.25 hPa. Attach it with
// Host.AddI2CChip at 0x76 or 0x77.
func NewBME280(env Environment) *BME280 {
	if env == nil {
		env = StaticWeather{TempC: 21, Humidity: 50, PressureHPa: 1013.25}
	}
	c := &BME280{env: env, clock: drivers.SystemClock{}, cal: bmeParseCalibration(bmeNVM.tp[:], bmeNVM.h[:])}
	c.data = bmeResetData
	return c
}

// SetClock makes the chip time its conversions by clk instead of the wall
// clock; pass the host's clock when the simulation runs faster than real
// time, or a fake one in tests.
func (c *BME280) SetClock(clk drivers.Clock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock = clk
}

// Fail makes every transaction fail with err, as an unplugged sensor NACKs
// every byte; writes are lost. A nil err means EREMOTEIO, which is what the
// Raspberry Pi's I2C driver reports for a NACK.
func (c *BME280) Fail(err error) {
	if err == nil {
		err = syscall.EREMOTEIO
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fault = err
}

// Recover makes the chip answer again, with the registers it had when it
// started failing.
func (c *BME280) Recover() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fault = nil
}

// Tx implements Chip. Writes are (register, value) pairs, as the chip takes
// them on I2C; a lone trailing register byte sets where the read starts.
// Reads auto-increment across registers.
func (c *BME280) Tx(w, r []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fault != nil {
		return c.fault
	}
	now := c.clock.Now()
	c.advance(now)
	for i := 0; i < len(w); i += 2 {
		c.ptr = w[i]
		if i+1 < len(w) {
			c.write(w[i], w[i+1], now)
		}
	}
	for i := range r {
		r[i] = c.read(c.ptr, now)
		c.ptr++
	}
	return nil
}

// read returns register reg as the chip would at now.
func (c *BME280) read(reg byte, now time.Time) byte {
	copying := now.Before(c.copyingUntil)
	switch {
	case reg == bmeRegChipID:
		return bmeChipID
	case reg >= bmeRegCalib0 && int(reg) < bmeRegCalib0+len(bmeNVM.tp):
		if copying {
			return 0 // the image registers are being rewritten
		}
		return bmeNVM.tp[reg-bmeRegCalib0]
	case reg >= bmeRegCalib1 && int(reg) < bmeRegCalib1+len(bmeNVM.h):
		if copying {
			return 0
		}
		return bmeNVM.h[reg-bmeRegCalib1]
	case reg == bmeRegCtrlHum:
		return c.ctrlHum
	case reg == bmeRegStatus:
		var s byte
		if c.measuring || c.normalMeasuring(now) {
			s |= bmeStatusMeasuring
		}
		if copying {
			s |= bmeStatusImUpdate
		}
		return s
	case reg == bmeRegCtrlMeas:
		return c.ctrlMeas
	case reg == bmeRegConfig:
		return c.config
	case reg >= bmeRegData && int(reg) < bmeRegData+len(c.data):
		return c.data[reg-bmeRegData]
	}
	return 0 // reserved; the reset register also reads 0
}

// write stores value in register reg; read-only and reserved registers
// ignore it, as on the chip.
func (c *BME280) write(reg, value byte, now time.Time) {
	switch reg {
	case bmeRegReset:
		if value == bmeResetCommand {
			c.reset(now)
		}
	case bmeRegCtrlHum:
		// Stored now, but it takes effect only with the next write to
		// ctrl_meas (datasheet 5.4.3).
		c.ctrlHum = value & 0x07
	case bmeRegConfig:
		// "Writes to the config register in normal mode may be ignored."
		if c.ctrlMeas&3 != bmeModeNormal {
			c.config = value &^ 0x02 // bit 1 is reserved
		}
	case bmeRegCtrlMeas:
		c.ctrlMeas = value
		c.conv = bmeConversion{t: value >> 5, p: (value >> 2) & 7, h: c.ctrlHum}
		c.measuring = false
		c.cyclePeriod = 0
		switch value & 3 {
		case bmeModeSleep:
			// A running conversion is abandoned; the data keep the last result.
		case bmeModeNormal:
			c.cycleStart = now
			c.cyclesDone = 0
			c.cyclePeriod = bmeMeasureTime(c.conv) + bmeStandby[c.config>>5]
		default: // 01 and 10 are both forced mode
			c.measuring = true
			c.measEnd = now.Add(bmeMeasureTime(c.conv))
		}
	}
}

// reset puts the registers back to their power-on values and starts the
// copy of the calibration from NVM, which sets im_update for a while.
func (c *BME280) reset(now time.Time) {
	c.ctrlHum, c.ctrlMeas, c.config = 0, 0, 0
	c.conv = bmeConversion{}
	c.measuring = false
	c.cyclePeriod = 0
	c.data = bmeResetData
	c.copyingUntil = now.Add(bmeStartup)
}

// advance completes the conversions that have ended by now.
func (c *BME280) advance(now time.Time) {
	if c.measuring && !now.Before(c.measEnd) {
		c.measuring = false
		c.ctrlMeas &^= 3 // back to sleep mode
		c.convert(c.measEnd)
	}
	if c.cyclePeriod > 0 {
		measure := bmeMeasureTime(c.conv)
		elapsed := now.Sub(c.cycleStart)
		done := int64(elapsed / c.cyclePeriod)
		if elapsed%c.cyclePeriod >= measure {
			done++
		}
		if done > c.cyclesDone {
			c.cyclesDone = done
			c.convert(c.cycleStart.Add(time.Duration(done-1)*c.cyclePeriod + measure))
		}
	}
}

// normalMeasuring reports whether a normal-mode cycle is converting at now.
func (c *BME280) normalMeasuring(now time.Time) bool {
	if c.cyclePeriod == 0 {
		return false
	}
	return now.Sub(c.cycleStart)%c.cyclePeriod < bmeMeasureTime(c.conv)
}

// convert stores the result of a conversion that ended at t.
func (c *BME280) convert(t time.Time) {
	tempC, hum, press := c.env.Sample(t)
	rawT := c.cal.rawTemperature(tempC, c.conv.t)
	tFine := c.cal.tFine(rawT)
	rawP := c.cal.rawPressure(press, tFine, c.conv.p)
	rawH := c.cal.rawHumidity(hum, tFine)
	if c.conv.t == 0 {
		rawT = 0x80000
	}
	if c.conv.p == 0 {
		rawP = 0x80000
	}
	if c.conv.h == 0 {
		rawH = 0x8000
	}
	c.data = [8]byte{
		byte(rawP >> 12), byte(rawP >> 4), byte(rawP << 4),
		byte(rawT >> 12), byte(rawT >> 4), byte(rawT << 4),
		byte(rawH >> 8), byte(rawH),
	}
}

// bmeStandby is normal mode's t_standby by config[7:5] (datasheet 5.4.6).
var bmeStandby = [8]time.Duration{
	500 * time.Microsecond, 62500 * time.Microsecond, 125 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 10 * time.Millisecond, 20 * time.Millisecond,
}

// bmeOversampling is the number of samples averaged for an osrs code.
func bmeOversampling(code byte) int {
	if code == 0 {
		return 0
	}
	return 1 << (min(code, 5) - 1)
}

// bmeMeasureTime is the datasheet's maximum measurement time (9.1): the
// chip uses the longest, so a driver that waits less must poll status.
func bmeMeasureTime(conv bmeConversion) time.Duration {
	us := 1250
	if n := bmeOversampling(conv.t); n > 0 {
		us += 2300 * n
	}
	if n := bmeOversampling(conv.p); n > 0 {
		us += 2300*n + 575
	}
	if n := bmeOversampling(conv.h); n > 0 {
		us += 2300*n + 575
	}
	return time.Duration(us) * time.Microsecond
}

// bmeCalibration is the chip's trimming parameters, which the simulation
// needs to work out which raw values a driver will turn into the
// environment.
type bmeCalibration struct {
	t1                             uint16
	t2, t3                         int16
	p1                             uint16
	p2, p3, p4, p5, p6, p7, p8, p9 int16
	h1, h3                         uint8
	h2, h4, h5                     int16
	h6                             int8
}

// The simulated chip has its own copy of the datasheet's calibration
// parsing and compensation, on purpose: it inverts them to produce raw
// values, and if it used drivers/bme280's code, a bug there would cancel
// out and the driver's tests would pass against it. Both copies are pinned
// to the datasheet's and a real chip's vectors by their own tests.

// bmeParseCalibration decodes the calibration registers: tp from 0x88,
// h from 0xE1. Words are little-endian; dig_H4 and dig_H5 are 12-bit
// signed values sharing the nibbles of 0xE5 (datasheet 4.2.2).
func bmeParseCalibration(tp, h []byte) bmeCalibration {
	le := func(i int) uint16 { return uint16(tp[i]) | uint16(tp[i+1])<<8 }
	return bmeCalibration{
		t1: le(0), t2: int16(le(2)), t3: int16(le(4)),
		p1: le(6), p2: int16(le(8)), p3: int16(le(10)), p4: int16(le(12)), p5: int16(le(14)),
		p6: int16(le(16)), p7: int16(le(18)), p8: int16(le(20)), p9: int16(le(22)),
		h1: tp[25],
		h2: int16(uint16(h[0]) | uint16(h[1])<<8),
		h3: h[2],
		h4: int16(int8(h[3]))<<4 | int16(h[4]&0x0F),
		h5: int16(int8(h[5]))<<4 | int16(h[4]>>4),
		h6: int8(h[6]),
	}
}

// tFine is the datasheet's fine temperature (4.2.3, 32-bit integer
// formula); °C = tFine / 5120.
func (c *bmeCalibration) tFine(adcT int32) int32 {
	v1 := ((adcT>>3 - int32(c.t1)<<1) * int32(c.t2)) >> 11
	d := adcT>>4 - int32(c.t1)
	v2 := (((d * d) >> 12) * int32(c.t3)) >> 14
	return v1 + v2
}

// pressure is the datasheet's 64-bit integer pressure in Pa as Q24.8.
func (c *bmeCalibration) pressure(adcP, tFine int32) int64 {
	v1 := int64(tFine) - 128000
	v2 := v1 * v1 * int64(c.p6)
	v2 += (v1 * int64(c.p5)) << 17
	v2 += int64(c.p4) << 35
	v1 = (v1*v1*int64(c.p3))>>8 + (v1*int64(c.p2))<<12
	v1 = ((int64(1)<<47 + v1) * int64(c.p1)) >> 33
	if v1 == 0 {
		return 0
	}
	p := 1048576 - int64(adcP)
	p = ((p<<31 - v2) * 3125) / v1
	v1 = (int64(c.p9) * (p >> 13) * (p >> 13)) >> 25
	v2 = (int64(c.p8) * p) >> 19
	return (p+v1+v2)>>8 + int64(c.p7)<<4
}

// humidity is the datasheet's 32-bit integer humidity in % as Q22.10.
func (c *bmeCalibration) humidity(adcH, tFine int32) int64 {
	v := tFine - 76800
	offset := (adcH<<14 - int32(c.h4)<<20 - int32(c.h5)*v + 16384) >> 15
	gain := ((((v*int32(c.h6))>>10)*(((v*int32(c.h3))>>11)+32768))>>10 + 2097152) * int32(c.h2)
	v = offset * ((gain + 8192) >> 14)
	v -= ((((v >> 15) * (v >> 15)) >> 7) * int32(c.h1)) >> 4
	v = min(max(v, 0), 419430400)
	return int64(v >> 12)
}

// bmeResolution returns the bits of a temperature or pressure result for
// an osrs code: 16 at ×1, one more for each doubling, up to 20 (datasheet
// 3.4.2, with the IIR filter off).
func bmeResolution(code byte) uint {
	if code == 0 {
		return 16
	}
	return 15 + uint(min(code, 5))
}

// rawTemperature returns the 20-bit ADC value, on the grid the oversampling
// allows, whose compensation is closest to tempC.
func (c *bmeCalibration) rawTemperature(tempC float64, code byte) int32 {
	shift := 20 - bmeResolution(code)
	return bmeSearchRaw(20-shift, shift, math.Round(tempC*5120), func(raw int32) int64 { return int64(c.tFine(raw)) })
}

// rawPressure returns the 20-bit ADC value closest to hPa, given the
// temperature the driver will compensate with.
func (c *bmeCalibration) rawPressure(hPa float64, tFine int32, code byte) int32 {
	shift := 20 - bmeResolution(code)
	// Pressure falls as the raw value rises; search on its negation.
	return bmeSearchRaw(20-shift, shift, -math.Round(hPa*100*256), func(raw int32) int64 { return -c.pressure(raw, tFine) })
}

// rawHumidity returns the 16-bit ADC value closest to pct.
func (c *bmeCalibration) rawHumidity(pct float64, tFine int32) int32 {
	return bmeSearchRaw(16, 0, math.Round(pct*1024), func(raw int32) int64 { return c.humidity(raw, tFine) })
}

// bmeSearchRaw finds, among the raw values k<<shift for k < 1<<bits, the one
// for which the rising function f comes closest to target.
func bmeSearchRaw(bits, shift uint, target float64, f func(raw int32) int64) int32 {
	n := 1 << bits
	at := func(k int) int64 { return f(int32(k) << shift) }
	goal := int64(target)
	k := sort.Search(n, func(k int) bool { return at(k) >= goal })
	switch {
	case k == n:
		k = n - 1
	case k > 0 && goal-at(k-1) < at(k)-goal:
		k--
	}
	return int32(k) << shift
}

var _ Chip = (*BME280)(nil)
