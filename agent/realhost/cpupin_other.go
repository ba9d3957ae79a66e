//go:build !arm && !arm64

package realhost

import "periph.io/x/conn/v3/gpio"

// isCPUPin reports whether p is a CPU pin that periph maps onto the first
// GPIO chip's lines; only the Raspberry Pi's bcm283x driver does, and periph
// loads it on arm and arm64 only.
func isCPUPin(gpio.PinIO) bool { return false }
