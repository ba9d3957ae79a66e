//go:build arm || arm64

package realhost

import (
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/bcm283x"
)

// isCPUPin reports whether p is a Raspberry Pi CPU pin from periph's
// bcm283x driver, which replaces the character device's lines in periph's
// registry and falls back to line Number() of gpioioctl.Chips[0] when
// /dev/gpiomem is not usable (bcm283x/gpio.go, driverGPIO.Init). periph's
// host package imports bcm283x on these architectures already, so this
// import registers nothing new.
func isCPUPin(p gpio.PinIO) bool {
	_, ok := p.(*bcm283x.Pin)
	return ok
}
