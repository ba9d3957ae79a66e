package realhost

import (
	"bytes"
	"testing"
	"unsafe"

	"periph.io/x/conn/v3/gpio"
)

// TestUAPILayout pins the structs to the kernel's layout
// (include/uapi/linux/gpio.h): the kernel copies exactly these many bytes,
// and a field at the wrong offset would send it garbage.
func TestUAPILayout(t *testing.T) {
	var r gpioV2LineRequest
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(gpio_v2_line_attribute)", unsafe.Sizeof(gpioV2LineAttribute{}), 16},
		{"sizeof(gpio_v2_line_config_attribute)", unsafe.Sizeof(gpioV2LineConfigAttribute{}), 24},
		{"sizeof(gpio_v2_line_config)", unsafe.Sizeof(gpioV2LineConfig{}), 272},
		{"sizeof(gpio_v2_line_request)", unsafe.Sizeof(gpioV2LineRequest{}), 592},
		{"sizeof(gpio_v2_line_values)", unsafe.Sizeof(gpioV2LineValues{}), 16},
		{"offsetof(gpio_v2_line_attribute, values)", unsafe.Offsetof(gpioV2LineAttribute{}.value), 8},
		{"offsetof(gpio_v2_line_config_attribute, mask)", unsafe.Offsetof(gpioV2LineConfigAttribute{}.mask), 16},
		{"offsetof(gpio_v2_line_config, num_attrs)", unsafe.Offsetof(gpioV2LineConfig{}.numAttrs), 8},
		{"offsetof(gpio_v2_line_config, attrs)", unsafe.Offsetof(gpioV2LineConfig{}.attrs), 32},
		{"offsetof(gpio_v2_line_request, consumer)", unsafe.Offsetof(r.consumer), 256},
		{"offsetof(gpio_v2_line_request, config)", unsafe.Offsetof(r.config), 288},
		{"offsetof(gpio_v2_line_request, num_lines)", unsafe.Offsetof(r.numLines), 560},
		{"offsetof(gpio_v2_line_request, event_buffer_size)", unsafe.Offsetof(r.eventBufferSize), 564},
		{"offsetof(gpio_v2_line_request, fd)", unsafe.Offsetof(r.fd), 588},
		{"offsetof(gpio_v2_line_values, mask)", unsafe.Offsetof(gpioV2LineValues{}.mask), 8},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

// TestIoctlNumbers pins the request numbers to what linux/gpio.h's _IOWR
// macros give (printed by a C program built against the header). They
// hold on 32-bit arm too: every 64-bit field sits at a multiple of 8, so
// Go's 4-byte alignment of uint64 there changes no offset.
func TestIoctlNumbers(t *testing.T) {
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"GPIO_V2_GET_LINE_IOCTL", gpioV2GetLineIoctl, 0xC250B407},
		{"GPIO_V2_LINE_SET_CONFIG_IOCTL", gpioV2LineSetConfigIoctl, 0xC110B40D},
		{"GPIO_V2_LINE_GET_VALUES_IOCTL", gpioV2LineGetValuesIoctl, 0xC010B40E},
		{"GPIO_V2_LINE_SET_VALUES_IOCTL", gpioV2LineSetValuesIoctl, 0xC010B40F},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %#X, want %#X", tt.name, tt.got, tt.want)
		}
	}
}

func TestOutputRequest(t *testing.T) {
	tests := []struct {
		name     string
		offset   uint32
		level    gpio.Level
		consumer string
		value    uint64
		label    string
	}{
		{"high on line 17", 17, gpio.High, "pinion", 1, "pinion"},
		{"low on line 17", 17, gpio.Low, "pinion", 0, "pinion"},
		{"high on line 0", 0, gpio.High, "pinion", 1, "pinion"},
		{"high on line 63", 63, gpio.High, "pinion", 1, "pinion"},
		{"high on a line past 64", 200, gpio.High, "pinion", 1, "pinion"},
		// The kernel reads the label up to a NUL within 32 bytes.
		{"long label", 4, gpio.High, "a-consumer-label-longer-than-32-bytes", 1, "a-consumer-label-longer-than-32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := outputRequest(tt.offset, tt.level, tt.consumer)

			// Build the request expected field by field; everything
			// else must be zero, as the kernel rejects non-zero padding.
			var want gpioV2LineRequest
			want.offsets[0] = tt.offset
			want.numLines = 1
			copy(want.consumer[:], tt.label)
			want.config.flags = gpioV2LineFlagOutput
			want.config.numAttrs = 1
			want.config.attrs[0].attr.id = gpioV2LineAttrIDOutputValues
			want.config.attrs[0].attr.value = tt.value
			// Bit 0: the first (only) line of the request, whatever
			// its offset on the chip.
			want.config.attrs[0].mask = 1
			if r != want {
				t.Fatalf("request\n%+v\nwant\n%+v", r, want)
			}
			if r.consumer[len(r.consumer)-1] != 0 {
				t.Fatal("consumer label is not NUL-terminated")
			}
			if got := string(bytes.TrimRight(r.consumer[:], "\x00")); got != tt.label {
				t.Fatalf("consumer %q, want %q", got, tt.label)
			}
		})
	}
}

func TestLineValues(t *testing.T) {
	if got := lineValues(gpio.High); got != (gpioV2LineValues{bits: 1, mask: 1}) {
		t.Errorf("lineValues(High) = %+v", got)
	}
	if got := lineValues(gpio.Low); got != (gpioV2LineValues{bits: 0, mask: 1}) {
		t.Errorf("lineValues(Low) = %+v", got)
	}
}
