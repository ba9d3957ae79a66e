//go:build !linux

package realhost

import (
	"errors"

	"periph.io/x/conn/v3/gpio"
)

// noKernel stands in for the GPIO character device, which only Linux has.
type noKernel struct{}

func (noKernel) requestOutput(string, uint32, gpio.Level) (lineRequest, error) {
	return nil, errors.New("the GPIO character device is Linux-only")
}

// chipLine implements registry: without the character device no line is
// served by the host's own requests, so lines stay periph's.
func (periphRegistry) chipLine(gpio.PinIO) (chipLine, bool) { return chipLine{}, false }

func newKernel() gpioKernel { return noKernel{} }
