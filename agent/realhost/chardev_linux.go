package realhost

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"
)

// chardevKernel requests lines from the kernel's GPIO character devices.
type chardevKernel struct{}

// requestOutput implements gpioKernel with one GPIO_V2_GET_LINE_IOCTL
// carrying the OUTPUT flag and the level. The chip is opened only for the
// request: the request's own descriptor keeps the line.
func (chardevKernel) requestOutput(chip string, offset uint32, l gpio.Level) (lineRequest, error) {
	fd, err := unix.Open(chip, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: chip, Err: err}
	}
	defer unix.Close(fd)
	req := outputRequest(offset, l, consumerLabel)
	if err := retryEINTR(func() syscall.Errno {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), gpioV2GetLineIoctl, uintptr(unsafe.Pointer(&req)))
		return e
	}); err != nil {
		return nil, err
	}
	return &chardevRequest{fd: int(req.fd)}, nil
}

// chardevRequest is a line request the kernel granted; closing its
// descriptor releases the line.
type chardevRequest struct {
	fd int
}

// setValue implements lineRequest with GPIO_V2_LINE_SET_VALUES_IOCTL.
func (r *chardevRequest) setValue(l gpio.Level) error {
	v := lineValues(l)
	return retryEINTR(func() syscall.Errno {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(r.fd), gpioV2LineSetValuesIoctl, uintptr(unsafe.Pointer(&v)))
		return e
	})
}

// release implements lineRequest.
func (r *chardevRequest) release() error {
	return unix.Close(r.fd)
}

// retryEINTR runs an ioctl again when a signal interrupted it (the Go
// runtime's preemption signals can land during a slow chip's ioctl, such as
// one behind USB). It returns the errno as the error, so its text is the
// kernel's ("device or resource busy") and errors.Is matches it.
func retryEINTR(call func() syscall.Errno) error {
	for {
		switch e := call(); e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		default:
			return e
		}
	}
}

// chipLine implements registry with the chips periph's gpioioctl driver
// found, so a name means the same line to the host as it does to periph.
func (periphRegistry) chipLine(p gpio.PinIO) (chipLine, bool) {
	chips := make([]ioctlChip, len(gpioioctl.Chips))
	for i, c := range gpioioctl.Chips {
		lines := make([]periphLine, len(c.Lines()))
		for j, l := range c.Lines() {
			lines[j] = l
		}
		chips[i] = ioctlChip{path: c.Path(), lines: lines}
	}
	return resolveLine(p, chips, isCPUPin)
}

func newKernel() gpioKernel { return chardevKernel{} }

var _ periphLine = (*gpioioctl.GPIOLine)(nil)
