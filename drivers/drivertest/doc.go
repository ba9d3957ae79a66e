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
// CheckKeyError checks that an error is on a given key (a
// drivers.KeyError, or a problem Decode found) and says what it must;
// Problems returns every problem the agent would report for a table, each
// at its line and key, and CheckProblems compares them with what a test
// expects, so that a test shows that several bad values are all reported
// at once:
//
//	probs := drivertest.Problems(t, gpio.New, "door", "pin = \"GPIO17\"\nmode = \"output\"\npower_on = \"maybe\"\non_exit = \"never\"")
//	drivertest.CheckProblems(t, probs,
//		drivertest.WantProblem{Line: 3, Key: "power_on", Msg: `"maybe"`},
//		drivertest.WantProblem{Line: 4, Key: "on_exit", Msg: `"never"`})
//
// Periph's fakes (periph.io/x/conn/v3/gpio/gpiotest, i2c/i2ctest) plug in
// through any drivers.Host whose GPIO or I2C method returns them.
package drivertest
