package sim_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
)

// recorder is a model that records the resources it is given.
var recorder struct {
	sync.Mutex
	seen []string
	fail bool
}

func init() {
	sim.RegisterModel("simtest-recorder", func(h *sim.Host, r drivers.Resource, seed int64) error {
		recorder.Lock()
		defer recorder.Unlock()
		if recorder.fail {
			return errors.New("the part is broken")
		}
		recorder.seen = append(recorder.seen, fmt.Sprintf("%s seed %d", r, seed))
		return nil
	})
}

func TestRegisterModelRefuses(t *testing.T) {
	model := func(*sim.Host, drivers.Resource, int64) error { return nil }
	tests := []struct {
		name   string
		driver string
		model  sim.Model
		want   string
	}{
		{"empty name", "", model, "empty driver name"},
		{"nil model", "simtest-nil", nil, `("simtest-nil"): nil model`},
		{"registered twice", "bme280", model, `("bme280"): a model is already registered`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tt.want) {
					t.Fatalf("RegisterModel panicked with %v, want %q", r, tt.want)
				}
			}()
			sim.RegisterModel(tt.driver, tt.model)
		})
	}
	for _, d := range []string{"bme280", "mhz19", "simtest-recorder"} {
		if !sim.HasModel(d) {
			t.Errorf("HasModel(%q) = false", d)
		}
	}
	if sim.HasModel("gpio") {
		t.Error("HasModel(gpio) = true; the gpio driver needs no model")
	}
}

func TestAttachCallsTheModel(t *testing.T) {
	recorder.Lock()
	recorder.seen, recorder.fail = nil, false
	recorder.Unlock()
	h := newHost(t)
	claims := []drivers.Resource{
		drivers.I2CAddress("I2C1", 0x40),
		drivers.GPIOLine("GPIO4"),
		drivers.GPIOLine("relays/GPA0"), // another device's: skipped
		drivers.I2CAddress("mux/2", 0x40),
	}
	if err := sim.Attach(h, "simtest-recorder", claims, 3); err != nil {
		t.Fatal(err)
	}
	recorder.Lock()
	seen := slices.Clone(recorder.seen)
	recorder.fail = true
	recorder.Unlock()
	if want := []string{"i2c:1:0x40 seed 3", "gpio:GPIO4 seed 3"}; !slices.Equal(seen, want) {
		t.Fatalf("the model saw %q, want %q", seen, want)
	}
	err := sim.Attach(h, "simtest-recorder", claims[:1], 3)
	if err == nil || !strings.Contains(err.Error(), "simtest-recorder model at i2c:1:0x40: the part is broken") {
		t.Fatalf("failing model: err = %v, want it wrapped with the driver and the resource", err)
	}
	if err := sim.Attach(h, "no-such-driver", claims, 3); err != nil {
		t.Fatalf("a driver without a model: %v, want nothing attached and no error", err)
	}
}

func TestAttachBuiltInModels(t *testing.T) {
	h := newHost(t)
	if err := sim.Attach(h, "bme280", []drivers.Resource{drivers.I2CAddress("/dev/i2c-1", 0x77)}, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.I2CChip("1", 0x77).(*sim.BME280); !ok {
		t.Fatalf("bme280: chip at 1:0x77 is %T, want a BME280", h.I2CChip("1", 0x77))
	}
	if err := sim.Attach(h, "mhz19", []drivers.Resource{drivers.SerialPort("/dev/serial0")}, 2); err != nil {
		t.Fatal(err)
	}
	p, err := h.Serial("/dev/serial0", drivers.SerialMode{})
	if err != nil {
		t.Fatalf("mhz19: no port at /dev/serial0: %v", err)
	}
	p.Close()
	// A second device at the same place is an error, as two parts cannot
	// answer at one address.
	if err := sim.Attach(h, "bme280", []drivers.Resource{drivers.I2CAddress("1", 0x77)}, 3); err == nil {
		t.Error("two BME280s at one address: no error")
	}
}

// TestAttachedModelsUseTheHostClock checks that a part attached by Attach
// measures time on the host's clock, even one set afterwards: a BME280's
// forced conversion ends when the fake clock passes its measurement time,
// however little real time went by.
func TestAttachedModelsUseTheHostClock(t *testing.T) {
	h := newHost(t)
	if err := sim.Attach(h, "bme280", []drivers.Resource{drivers.I2CAddress("1", 0x76)}, 1); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	h.SetClock(clk)
	bus, err := h.I2C("1")
	if err != nil {
		t.Fatal(err)
	}
	const ctrlMeas, status, measuring = 0xf4, 0xf3, 0x08
	readStatus := func() byte {
		t.Helper()
		b := make([]byte, 1)
		if err := bus.Tx(0x76, []byte{status}, b); err != nil {
			t.Fatal(err)
		}
		return b[0]
	}
	clk.Advance(time.Second) // past the chip's start-up
	// Forced mode with 16x oversampling of temperature and pressure: a
	// conversion of about 75 ms.
	if err := bus.Tx(0x76, []byte{ctrlMeas, 0xb5}, nil); err != nil {
		t.Fatal(err)
	}
	if readStatus()&measuring == 0 {
		t.Fatal("the conversion ended before the fake clock moved")
	}
	clk.Advance(200 * time.Millisecond)
	if readStatus()&measuring != 0 {
		t.Fatal("the conversion still runs after 200 ms on the host's clock: the chip is not on it")
	}
}
