package sim

import (
	"fmt"
	"strconv"
	"strings"
)

// Attach puts a simulated part of the model a driver expects at each
// resource the device claims: a BME280 at a "bme280" device's I2C address,
// an MH-Z19 at an "mhz19" device's serial port. GPIO lines exist already.
// seed varies the simulated readings between devices. Drivers without a
// simulated model get nothing, as on an empty board: their I2C
// transactions are not acknowledged and their ports do not exist.
func Attach(h *Host, driver string, claims []string, seed int64) error {
	for _, c := range claims {
		kind, rest, _ := strings.Cut(c, ":")
		switch {
		case kind == "i2c" && driver == "bme280":
			bus, addr, err := parseI2CClaim(rest)
			if err != nil {
				return err
			}
			if err := h.AddI2CChip(bus, addr, NewBME280(DriftingWeather(seed))); err != nil {
				return err
			}
		case kind == "serial" && driver == "mhz19":
			if _, err := h.AddSerialPeer(rest, NewMHZ19(DriftingCO2(seed))); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseI2CClaim splits "1:0x76" into its bus and address.
func parseI2CClaim(s string) (string, uint16, error) {
	bus, a, ok := strings.Cut(s, ":")
	if !ok {
		return "", 0, fmt.Errorf("i2c claim %q: want <bus>:<address>", s)
	}
	addr, err := strconv.ParseUint(a, 0, 16)
	if err != nil {
		return "", 0, fmt.Errorf("i2c claim %q: address: %w", s, err)
	}
	return bus, uint16(addr), nil
}
