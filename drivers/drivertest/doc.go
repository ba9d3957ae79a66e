// Package drivertest helps test a pinion driver without hardware and
// without the agent: it builds a device's configuration the way the agent
// does, gives the device a simulated board, and checks that the device
// keeps the driver API's contract.
//
// A driver's tests build the drivers.Config its factory receives with
// Config (or Build, which also checks what the agent checks after the
// factory returns, and Device, which returns the device as the driver's
// type), and its sample configuration with Tables. Decode is as
// strict as the agent's and reports problems in the agent's words, with the
// line and key, so a driver that passes here behaves the same under the
// agent:
//
//	d, err := mydriver.New(drivertest.Config(t, "attic", `address = 0x77`))
//
// Host is the simulated board of package sim, logging to the test and
// closed when it ends. Conformance runs a device through its whole life,
// Open to Close, and reports every way it breaks the contract the agent
// relies on:
//
//	h := drivertest.Host(t)
//	h.AddI2CChip("1", 0x77, sim.NewBME280(sim.StaticWeather{TempC: 21}))
//	drivertest.Conformance(t, d, h)
//
// Open opens a device for the rest of a test, and StartWatch runs its Watch
// in the background, as the agent does, recording what it emits.
//
// A driver's sample configuration, which `pinion -sample` prints for users
// to copy, is checked with SampleDevices (every table builds), with
// SampleDefaults (the values shown commented out are the true defaults)
// and with CheckSample (its documentation is full sentences); Registered
// checks that the driver and its sample are registered. CheckError and
// FuzzFactory check that a factory's errors name the driver and device.
//
// Periph's fakes (periph.io/x/conn/v3/gpio/gpiotest, i2c/i2ctest) plug in
// through any drivers.Host whose GPIO or I2C method returns them.
package drivertest
