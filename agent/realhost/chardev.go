package realhost

import (
	"unsafe"

	"periph.io/x/conn/v3/gpio"
)

// This file mirrors the parts of the Linux GPIO character device's v2
// interface (include/uapi/linux/gpio.h, Linux 5.10 and later) that the host
// needs to request an output line with its initial level in one ioctl.
// periph's gpioioctl has the same structs but does not export them, and its
// GPIOLine.Out requests the line first and sets the level afterwards, which
// drives the line low for a moment: an active-low relay clicks on at every
// start. The layouts are pinned by tests against the kernel's sizes.

// Sizes and flags from linux/gpio.h.
const (
	gpioMaxNameSize      = 32 // GPIO_MAX_NAME_SIZE
	gpioV2LinesMax       = 64 // GPIO_V2_LINES_MAX
	gpioV2LineNumAttrMax = 10 // GPIO_V2_LINE_NUM_ATTRS_MAX

	gpioV2LineFlagOutput uint64 = 1 << 3 // GPIO_V2_LINE_FLAG_OUTPUT

	gpioV2LineAttrIDOutputValues uint32 = 2 // GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES
)

// gpioV2LineAttribute is struct gpio_v2_line_attribute. value is the
// kernel's union of flags, values and debounce_period_us; for
// GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES it holds one bit per requested line.
type gpioV2LineAttribute struct {
	id      uint32
	padding uint32
	value   uint64
}

// gpioV2LineConfigAttribute is struct gpio_v2_line_config_attribute: an
// attribute and the requested lines (bit i is offsets[i]) it applies to.
type gpioV2LineConfigAttribute struct {
	attr gpioV2LineAttribute
	mask uint64
}

// gpioV2LineConfig is struct gpio_v2_line_config.
type gpioV2LineConfig struct {
	flags    uint64
	numAttrs uint32
	padding  [5]uint32
	attrs    [gpioV2LineNumAttrMax]gpioV2LineConfigAttribute
}

// gpioV2LineRequest is struct gpio_v2_line_request, the argument of
// GPIO_V2_GET_LINE_IOCTL. The kernel fills fd with the new request's file
// descriptor.
type gpioV2LineRequest struct {
	offsets         [gpioV2LinesMax]uint32
	consumer        [gpioMaxNameSize]byte
	config          gpioV2LineConfig
	numLines        uint32
	eventBufferSize uint32
	padding         [5]uint32
	fd              int32
}

// gpioV2LineValues is struct gpio_v2_line_values: bit i of bits is the
// value of offsets[i] of the request, for each bit set in mask.
type gpioV2LineValues struct {
	bits uint64
	mask uint64
}

// ioctl numbers from linux/gpio.h, built as asm-generic/ioctl.h builds
// them (arm, arm64 and x86 share that encoding).
var (
	gpioV2GetLineIoctl       = iowr(0xB4, 0x07, unsafe.Sizeof(gpioV2LineRequest{}))
	gpioV2LineSetConfigIoctl = iowr(0xB4, 0x0D, unsafe.Sizeof(gpioV2LineConfig{}))
	gpioV2LineGetValuesIoctl = iowr(0xB4, 0x0E, unsafe.Sizeof(gpioV2LineValues{}))
	gpioV2LineSetValuesIoctl = iowr(0xB4, 0x0F, unsafe.Sizeof(gpioV2LineValues{}))
)

// iowr is the _IOWR macro: read and write direction (3) in bits 30-31, the
// argument's size in bits 16-29, the type in bits 8-15, the number in 0-7.
func iowr(typ, nr, size uintptr) uintptr {
	const (
		dirReadWrite = 3
		sizeShift    = 16
		typeShift    = 8
		dirShift     = 30
	)
	return dirReadWrite<<dirShift | size<<sizeShift | typ<<typeShift | nr
}

// consumerLabel is what gpioinfo shows as the holder of the lines the host
// requests, so a user can tell who holds a busy line.
const consumerLabel = "pinion"

// outputRequest builds the request that makes line offset of a chip an
// output driving l from the first instant: the OUTPUT flag and the
// OUTPUT_VALUES attribute travel in the same ioctl, and the kernel sets the
// level before it switches the line's direction. The request holds the one
// line, so its value is bit 0, whatever the offset.
func outputRequest(offset uint32, l gpio.Level, consumer string) gpioV2LineRequest {
	var r gpioV2LineRequest
	r.offsets[0] = offset
	r.numLines = 1
	copy(r.consumer[:gpioMaxNameSize-1], consumer) // the kernel wants it NUL-terminated
	r.config.flags = gpioV2LineFlagOutput
	r.config.numAttrs = 1
	r.config.attrs[0] = gpioV2LineConfigAttribute{
		attr: gpioV2LineAttribute{id: gpioV2LineAttrIDOutputValues, value: levelBit(l)},
		mask: 1,
	}
	return r
}

// lineValues builds the argument of GPIO_V2_LINE_SET_VALUES_IOCTL for a
// request that holds one line.
func lineValues(l gpio.Level) gpioV2LineValues {
	return gpioV2LineValues{bits: levelBit(l), mask: 1}
}

func levelBit(l gpio.Level) uint64 {
	if l {
		return 1
	}
	return 0
}
