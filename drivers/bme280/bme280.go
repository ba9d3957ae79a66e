// Package bme280 is pinion's driver for the Bosch BME280, a temperature,
// humidity and pressure sensor on I2C.
//
// Each read triggers one measurement in forced mode and puts the chip back
// to sleep, which is what Bosch recommends for weather monitoring: the chip
// draws almost nothing between polls and does not warm itself up. Raw
// values are compensated with the calibration stored in each chip, using
// the datasheet's integer formulas.
//
// Configuration (all keys optional):
//
//	bus                = "1"   # "1", "I2C1", "/dev/i2c-1", 1, or "<device>/<bus>"
//	address            = 0x76  # 0x76 (SDO to GND) or 0x77 (SDO to VDDIO)
//	temperature_offset = 0.0   # °C added to the temperature
//	oversampling       = 1     # 1, 2, 4, 8 or 16
//
// The bus is parsed by drivers.ParseI2CBus, so a bus another device
// provides (an I2C multiplexer's channel, "mux/2") works as well as the
// board's own.
//
// A sensor that stops answering makes its polls fail; once it answers
// again the driver identifies it and reloads its calibration before
// measuring, because the sensor may have been replaced by another one. A
// measurement the chip skipped for one quantity (its raw value reads as
// the datasheet's "skipped" value) makes that entity unavailable while the
// others are reported, and the next poll sets the chip up afresh.
package bme280

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/pinion-home/pinion/drivers"
)

// SampleConfig is a documented [[device]] table for this driver, shown by
// the agent's CLI.
//
//go:embed sample.toml
var SampleConfig string

// DefaultInterval is how often the sensor is read when the device sets no
// interval: once a minute, Bosch's recommendation for weather monitoring
// (datasheet 3.5.1), keeps the chip from warming itself up.
const DefaultInterval = time.Minute

func init() {
	drivers.Register(drivers.Driver{
		Name:            "bme280",
		New:             New,
		Sample:          SampleConfig,
		DefaultInterval: DefaultInterval,
		Description:     "Bosch BME280 temperature, humidity and pressure sensor on I2C",
	})
}

// Registers and values, from the datasheet (BST-BME280-DS002, 5.3-5.4).
const (
	regCalibTP  = 0x88
	regChipID   = 0xD0
	regReset    = 0xE0
	regCalibH   = 0xE1
	regCtrlHum  = 0xF2
	regStatus   = 0xF3
	regCtrlMeas = 0xF4
	regData     = 0xF7

	// Raw values of a measurement the chip skipped (datasheet 5.4.7-5.4.9):
	// what the data registers hold for a quantity whose oversampling is 0,
	// or after a reset.
	skippedTP = 0x80000
	skippedH  = 0x8000

	chipIDBME280 = 0x60
	chipIDBME680 = 0x61
	resetCommand = 0xB6
	modeForced   = 0x01

	statusMeasuring = 1 << 3
	statusImUpdate  = 1 << 0

	// startupTime is how long the chip takes after a reset before it
	// answers with its calibration loaded (datasheet 1.1, t_startup).
	startupTime = 2 * time.Millisecond
	// statusPolls bounds the wait for a flag to clear: the chip has had
	// its datasheet time already, so this only absorbs slow clocks.
	statusPolls    = 25
	statusInterval = 2 * time.Millisecond
)

// Default and allowed configuration values.
const (
	defaultBus     = "1"
	defaultAddress = 0x76
	altAddress     = 0x77
)

// Entity ids; they appear in topics.
const (
	entityTemperature = "temperature"
	entityHumidity    = "humidity"
	entityPressure    = "pressure"
)

// config is the device's own table.
type config struct {
	// Bus is a string or an integer: people write both.
	Bus               any     `toml:"bus"`
	Address           int     `toml:"address"`
	TemperatureOffset float64 `toml:"temperature_offset"`
	Oversampling      int     `toml:"oversampling"`
}

// Device is one configured BME280. The agent calls its methods from one
// goroutine, so it keeps no locks.
type Device struct {
	id     string
	bus    string // canonical (drivers.ParseI2CBus), as in "i2c:1:0x76"
	addr   uint16
	offset float64
	osrs   byte // oversampling code for all three: 1 = ×1 … 5 = ×16

	i2c   i2c.Bus
	clock drivers.Clock
	log   *slog.Logger
	out   drivers.Output
	ready bool // identified, reset and calibrated since the last failure
	cal   calibration
}

// New builds a BME280 device (a *Device) from its configuration without
// touching the hardware; it is the driver's drivers.Driver.New. Every bad
// value is a drivers.KeyError, and all of them are returned at once, with
// Decode's problems if it found any.
func New(cfg drivers.Config) (drivers.Device, error) {
	d := &Device{id: cfg.ID}
	c := config{Bus: defaultBus, Address: defaultAddress, Oversampling: 1}
	var errs []error
	if cfg.Decode != nil {
		if err := cfg.Decode(&c); err != nil {
			errs = append(errs, err) // the other keys are decoded: check them too
		}
	}
	bus, err := busName(c.Bus)
	if err != nil {
		errs = append(errs, &drivers.KeyError{Key: "bus", Err: err})
	}
	d.bus = bus
	if c.Address != defaultAddress && c.Address != altAddress {
		errs = append(errs, drivers.BadKey("address", "%#x is not a BME280 address: use 0x76 (SDO to GND, most boards) or 0x77 (SDO to VDDIO)", c.Address))
	}
	d.addr = uint16(c.Address)
	if math.IsNaN(c.TemperatureOffset) || math.IsInf(c.TemperatureOffset, 0) || math.Abs(c.TemperatureOffset) > 50 {
		errs = append(errs, drivers.BadKey("temperature_offset", "%v °C is not a plausible correction: give a number of degrees between -50 and 50", c.TemperatureOffset))
	}
	d.offset = c.TemperatureOffset
	switch c.Oversampling {
	case 1, 2, 4, 8, 16:
		d.osrs = byte(1 + math.Log2(float64(c.Oversampling)))
	default:
		errs = append(errs, drivers.BadKey("oversampling", "%d is not an oversampling rate: use 1, 2, 4, 8 or 16", c.Oversampling))
	}
	if len(errs) > 0 {
		return nil, d.errorf("config: %w", errors.Join(errs...))
	}
	return d, nil
}

// busName returns the canonical name of an I2C bus given as 1, "1",
// "I2C1", "/dev/i2c-1" or "<device>/<bus>", with drivers.ParseI2CBus, so
// that two spellings of one bus claim the same resource.
func busName(v any) (string, error) {
	switch b := v.(type) {
	case string:
		return drivers.ParseI2CBus(b)
	case int64:
		return drivers.ParseI2CBus(strconv.FormatInt(b, 10))
	case int:
		return drivers.ParseI2CBus(strconv.Itoa(b))
	}
	return "", fmt.Errorf(`%v is not a bus: write its number, such as 1, or its name, such as "I2C1" or "/dev/i2c-1"`, v)
}

// errorf formats an error prefixed with the driver and device, as the
// agent shows it next to the entities it made unavailable.
func (d *Device) errorf(format string, args ...any) error {
	return fmt.Errorf("bme280 %q: "+format, append([]any{d.id}, args...)...)
}

// Info implements drivers.Device.
func (d *Device) Info() drivers.Info {
	return drivers.Info{Manufacturer: "Bosch", Model: "BME280"}
}

// Entities implements drivers.Device: the three quantities, each published
// with one decimal; finer digits are below the chip's accuracy.
func (d *Device) Entities() []drivers.Entity {
	sensor := func(id, name, class string, unit drivers.Unit) drivers.Entity {
		return drivers.Entity{ID: id, Name: name,
			Spec: drivers.Sensor{Class: class, Unit: unit, State: drivers.StateMeasurement, Precision: 1}}
	}
	return []drivers.Entity{
		sensor(entityTemperature, "Temperature", drivers.ClassTemperature, drivers.Celsius),
		sensor(entityHumidity, "Humidity", drivers.ClassHumidity, drivers.Percent),
		sensor(entityPressure, "Pressure", drivers.ClassPressure, drivers.HectoPascal),
	}
}

// Claims implements drivers.Claimer: the chip's address on its bus.
func (d *Device) Claims() []drivers.Resource {
	return []drivers.Resource{drivers.I2CAddress(d.bus, d.addr)}
}

// Open implements drivers.Device: it finds the bus, checks that a BME280
// answers, resets it and loads its calibration. States come with the first
// Poll.
func (d *Device) Open(ctx context.Context, h drivers.Host, out drivers.Output) error {
	b, err := drivers.I2C(h, d.bus)
	if err != nil {
		return d.errorf("open: %w", err)
	}
	d.i2c, d.clock, d.log, d.out = b, h.Clock(), h.Logger(), out
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.ready = false
	if err := d.setup(ctx); err != nil {
		return d.errorf("open: %w", err)
	}
	return nil
}

// Close implements drivers.Device. The chip is already asleep between
// forced measurements and the host owns the bus, so there is nothing to
// release.
func (d *Device) Close() error {
	d.i2c, d.out = nil, nil
	d.ready = false
	return nil
}

// Poll implements drivers.Poller: one forced measurement of all three
// quantities, reported through the Output. A quantity the chip skipped is
// reported unavailable; a measurement that fails as a whole is Poll's
// error.
func (d *Device) Poll(ctx context.Context) error {
	if d.i2c == nil {
		return d.errorf("poll: the device is not open")
	}
	if !d.ready {
		if err := d.setup(ctx); err != nil {
			return d.errorf("poll: %w", err)
		}
		d.log.Info("bme280: sensor answers again; identified and recalibrated", "address", fmt.Sprintf("%#x", d.addr))
	}
	m, err := d.measure(ctx)
	if err != nil {
		if ctx.Err() == nil {
			// The sensor may have been unplugged, swapped or reset: make
			// the next poll start from scratch.
			d.ready = false
		}
		return d.errorf("poll: %w", err)
	}
	if len(m.skipped) > 0 {
		// The chip lost the settings of this measurement (a reset, a
		// brown-out): set it up afresh next time.
		d.ready = false
	}
	for _, r := range m.states {
		d.out.State(r.entity, r.value)
	}
	for _, r := range m.skipped {
		d.out.Unavailable(r.entity, d.errorf("poll: %w", r.err))
	}
	return nil
}

// where names the chip for error messages.
func (d *Device) where() string {
	return fmt.Sprintf("%#x on I2C bus %s", d.addr, d.bus)
}

// otherAddress is the address the chip has when its SDO pin is wired the
// other way.
func (d *Device) otherAddress() uint16 {
	if d.addr == defaultAddress {
		return altAddress
	}
	return defaultAddress
}

// setup identifies the chip, resets it and reads its calibration.
func (d *Device) setup(ctx context.Context) error {
	var id [1]byte
	if err := d.i2c.Tx(d.addr, []byte{regChipID}, id[:]); err != nil {
		return fmt.Errorf("no answer at %s (check the wiring and power; the sensor may be at %#x): read chip id: %w", d.where(), d.otherAddress(), err)
	}
	switch id[0] {
	case chipIDBME280:
	case 0x56, 0x57, 0x58:
		return fmt.Errorf("the chip at %s is a BMP280 (id %#x), which has no humidity sensor; this driver needs a BME280 (id 0x60). Boards sold as BME280 often carry a BMP280: a BME280's case is square, a BMP280's is oblong", d.where(), id[0])
	case chipIDBME680:
		return fmt.Errorf("the chip at %s is a BME680 (id 0x61), not a BME280 (id 0x60); their registers differ", d.where())
	default:
		return fmt.Errorf("the chip at %s has id %#x, not a BME280's 0x60: another device answers at this address; is the BME280 at %#x?", d.where(), id[0], d.otherAddress())
	}

	// A soft reset puts the chip in a known state, whatever a previous run
	// left, and makes it copy its calibration from NVM afresh.
	if err := d.i2c.Tx(d.addr, []byte{regReset, resetCommand}, nil); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	if err := d.clock.Sleep(ctx, startupTime); err != nil {
		return err
	}
	if err := d.waitStatus(ctx, statusImUpdate); err != nil {
		return fmt.Errorf("after reset: %w", err)
	}

	tp := make([]byte, calibTPLen)
	if err := d.i2c.Tx(d.addr, []byte{regCalibTP}, tp); err != nil {
		return fmt.Errorf("read calibration: %w", err)
	}
	h := make([]byte, calibHLen)
	if err := d.i2c.Tx(d.addr, []byte{regCalibH}, h); err != nil {
		return fmt.Errorf("read calibration: %w", err)
	}
	cal, err := parseCalibration(tp, h)
	if err != nil {
		return err
	}
	d.cal = cal
	d.ready = true
	d.log.Debug("bme280: identified", "address", fmt.Sprintf("%#x", d.addr), "calibration", fmt.Sprintf("%+v", cal))
	return nil
}

// waitStatus polls the status register until the bits in mask are clear,
// a bounded number of times.
func (d *Device) waitStatus(ctx context.Context, mask byte) error {
	var s [1]byte
	for i := 0; ; i++ {
		if err := d.i2c.Tx(d.addr, []byte{regStatus}, s[:]); err != nil {
			return fmt.Errorf("read status: %w", err)
		}
		if s[0]&mask == 0 {
			return nil
		}
		if i == statusPolls {
			return fmt.Errorf("the chip stays busy (status 0x%02x) %v after it should be done", s[0], statusPolls*statusInterval)
		}
		if err := d.clock.Sleep(ctx, statusInterval); err != nil {
			return err
		}
	}
}

// measureTime is the datasheet's maximum measurement time (9.1) with all
// three quantities at the oversampling of code.
func measureTime(code byte) time.Duration {
	n := time.Duration(1) << (code - 1)
	return 1250*time.Microsecond + 3*2300*time.Microsecond*n + 2*575*time.Microsecond
}

// state is one entity's reading; skip is one entity's failure.
type (
	state struct {
		entity string
		value  drivers.Value
	}
	skip struct {
		entity string
		err    error
	}
)

// measurement is what one forced measurement gave: the quantities read,
// and those the chip skipped.
type measurement struct {
	states  []state
	skipped []skip
}

// measure triggers one forced measurement, waits for it and compensates
// the result.
func (d *Device) measure(ctx context.Context) (measurement, error) {
	// ctrl_hum only takes effect with the following write to ctrl_meas,
	// so it goes first; both fit in one transaction as register pairs.
	trigger := []byte{regCtrlHum, d.osrs, regCtrlMeas, d.osrs<<5 | d.osrs<<2 | modeForced}
	if err := d.i2c.Tx(d.addr, trigger, nil); err != nil {
		return measurement{}, fmt.Errorf("start measurement: %w", err)
	}
	if err := d.clock.Sleep(ctx, measureTime(d.osrs)); err != nil {
		return measurement{}, err
	}
	if err := d.waitStatus(ctx, statusMeasuring); err != nil {
		return measurement{}, fmt.Errorf("wait for measurement: %w", err)
	}
	// One burst, so the three values come from the same measurement
	// (datasheet 4: data shadowing).
	var b [8]byte
	if err := d.i2c.Tx(d.addr, []byte{regData}, b[:]); err != nil {
		return measurement{}, fmt.Errorf("read data: %w", err)
	}
	adcP := int32(b[0])<<12 | int32(b[1])<<4 | int32(b[2])>>4
	adcT := int32(b[3])<<12 | int32(b[4])<<4 | int32(b[5])>>4
	adcH := int32(b[6])<<8 | int32(b[7])
	switch {
	case adcP == skippedTP && adcT == skippedTP && adcH == skippedH:
		return measurement{}, errors.New("the chip returned its reset values instead of a measurement: it may have lost power")
	case adcT == skippedTP:
		// Pressure and humidity are compensated with the temperature.
		return measurement{}, errors.New("the chip skipped the temperature measurement (raw 0x80000), which the other two need: its settings were lost")
	}

	centi, tFine := d.cal.temperature(adcT)
	var m measurement
	m.states = append(m.states, state{entityTemperature, drivers.Num(round(float64(centi)/100+d.offset, 2), drivers.Celsius)})
	if adcH == skippedH {
		m.skipped = append(m.skipped, skip{entityHumidity, errors.New("the chip skipped the humidity measurement (raw 0x8000): its settings were lost")})
	} else {
		m.states = append(m.states, state{entityHumidity, drivers.Num(round(float64(d.cal.humidity(adcH, tFine))/1024, 2), drivers.Percent)})
	}
	if adcP == skippedTP {
		m.skipped = append(m.skipped, skip{entityPressure, errors.New("the chip skipped the pressure measurement (raw 0x80000): its settings were lost")})
	} else {
		m.states = append(m.states, state{entityPressure, drivers.Num(round(float64(d.cal.pressure(adcP, tFine))/256/100, 3), drivers.HectoPascal)})
	}
	return m, nil
}

// round rounds v to the given decimals, the chip's resolution, so that
// states read as "21.37" and not as a binary fraction's long tail.
func round(v float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}

var (
	_ drivers.Device  = (*Device)(nil)
	_ drivers.Poller  = (*Device)(nil)
	_ drivers.Claimer = (*Device)(nil)
)
