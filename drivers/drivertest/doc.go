// Package drivertest helps test a pinion driver without hardware and
// without the agent: it builds a device's configuration the way the agent
// does, gives the device a simulated board, runs it as the agent runs it,
// and checks that it keeps the driver API's contract.
//
// A driver's tests build the drivers.Config its New receives with Config
// (or Build, which also checks what the agent checks after New returns,
// and Device, which returns the device as the driver's type), and its
// sample configuration with Tables. Decode is as strict as the agent's and
// reports problems in the agent's words, with the line and key, so a
// driver that passes here behaves the same under the agent:
//
//	d, err := mydriver.New(drivertest.Config(t, "attic", `address = 0x77`))
//
// Host is the simulated board of package sim, logging to the test and
// closed when it ends. Open opens a device on a Worker, which runs it as
// the agent does: one goroutine, the worker, calls Open, Poll, Command,
// Handle and Close, and the waiters the device starts with Output.Go run
// on their own and hand what they see to Handle on the worker. The Worker
// records everything the device reports through its Output, and fails the
// test on a report the agent would drop or a panic:
//
//	h := drivertest.Host(t)
//	w := drivertest.Open(t, d, h)
//	if err := w.Command(t, "relay", drivers.Command{Action: drivers.ActionOn}); err != nil {
//		t.Fatal(err)
//	}
//	if v, _ := w.State("relay"); !v.Equal(drivers.Bool(true)) {
//		t.Errorf("relay = %v after ON", v)
//	}
//	h.Line("GPIO4").Drive(gpio.High) // an edge, which the device's waiter delivers to Handle
//	w.WaitState(t, "door", drivers.Bool(true))
//
// Start is Open for a test of Open's failures. Conformance runs a device
// through its whole life, several times, Open to Close (with Opens that
// fail on purpose in between), and reports every way it breaks the
// contract the agent relies on:
//
//	h := drivertest.Host(t)
//	h.AddI2CChip("1", 0x77, sim.NewBME280(sim.StaticWeather{TempC: 21}))
//	drivertest.Conformance(t, d, h)
//
// A driver's sample configuration, which `pinion -sample` prints for users
// to copy, is checked with SampleDevices (every table builds), with
// SampleDefaults (the values shown commented out are the true defaults)
// and with CheckSample (its documentation is full sentences); Registered
// checks that the driver is registered with its sample. CheckError and
// FuzzFactory check that New's errors name the driver and device.
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
// through any drivers.Host that implements drivers.GPIOHost or I2CHost
// with them.
package drivertest
