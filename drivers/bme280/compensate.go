package bme280

import "fmt"

// calibration holds the trimming parameters Bosch writes into each chip's
// NVM. Without them the ADC values mean nothing: every chip needs its own.
// Names follow the datasheet (dig_T1 … dig_H6) for easy cross-checking.
type calibration struct {
	t1                             uint16
	t2, t3                         int16
	p1                             uint16
	p2, p3, p4, p5, p6, p7, p8, p9 int16
	h1, h3                         uint8
	h2, h4, h5                     int16
	h6                             int8
}

// Lengths of the two calibration blocks: 0x88-0xA1 and 0xE1-0xE7.
const (
	calibTPLen = 26
	calibHLen  = 7
)

// parseCalibration decodes the calibration registers: tp as read from 0x88
// (dig_T1 to dig_P9, a reserved byte, dig_H1) and h as read from 0xE1
// (dig_H2 to dig_H6). Words are little-endian with the signedness of the
// datasheet's table 16. dig_H4 and dig_H5 are 12-bit signed values that
// share register 0xE5: H4 is 0xE4 (signed) and the low nibble of 0xE5, H5
// is 0xE6 (signed) and the high nibble of 0xE5.
func parseCalibration(tp, h []byte) (calibration, error) {
	if len(tp) != calibTPLen || len(h) != calibHLen {
		return calibration{}, fmt.Errorf("calibration: got %d and %d bytes, want %d and %d", len(tp), len(h), calibTPLen, calibHLen)
	}
	le := func(b []byte, i int) uint16 { return uint16(b[i]) | uint16(b[i+1])<<8 }
	c := calibration{
		t1: le(tp, 0),
		t2: int16(le(tp, 2)),
		t3: int16(le(tp, 4)),
		p1: le(tp, 6),
		p2: int16(le(tp, 8)),
		p3: int16(le(tp, 10)),
		p4: int16(le(tp, 12)),
		p5: int16(le(tp, 14)),
		p6: int16(le(tp, 16)),
		p7: int16(le(tp, 18)),
		p8: int16(le(tp, 20)),
		p9: int16(le(tp, 22)),
		h1: tp[25],
		h2: int16(le(h, 0)),
		h3: h[2],
		h4: int16(int8(h[3]))*16 | int16(h[4]&0x0F),
		h5: int16(int8(h[5]))*16 | int16(h[4]>>4),
		h6: int8(h[6]),
	}
	// A chip whose NVM reads as zeros (a fake part, or a read during the
	// NVM copy) would report nonsense, and dig_P1 = 0 divides by zero.
	if c.t1 == 0 || c.p1 == 0 {
		return calibration{}, fmt.Errorf("calibration: dig_T1 = %d, dig_P1 = %d: the chip's calibration reads as blank; it is damaged or not a genuine BME280", c.t1, c.p1)
	}
	return c, nil
}

// temperature returns the temperature in hundredths of a degree Celsius
// and t_fine, the fine temperature that pressure and humidity compensation
// need. adcT is the 20-bit raw value. This is the datasheet's 32-bit
// integer formula (4.2.3); Go's int32 wraps where C's would be undefined,
// and valid inputs never get there.
func (c *calibration) temperature(adcT int32) (centi, tFine int32) {
	v1 := ((adcT>>3 - int32(c.t1)<<1) * int32(c.t2)) >> 11
	d := adcT>>4 - int32(c.t1)
	v2 := (((d * d) >> 12) * int32(c.t3)) >> 14
	tFine = v1 + v2
	return (tFine*5 + 128) >> 8, tFine
}

// pressure returns the pressure in pascal as an unsigned Q24.8 (divide by
// 256), with the datasheet's 64-bit integer formula. adcP is the 20-bit
// raw value. It returns 0 when the calibration would divide by zero.
func (c *calibration) pressure(adcP, tFine int32) uint32 {
	v1 := int64(tFine) - 128000
	v2 := v1 * v1 * int64(c.p6)
	v2 += (v1 * int64(c.p5)) << 17
	v2 += int64(c.p4) << 35
	v1 = (v1*v1*int64(c.p3))>>8 + (v1*int64(c.p2))<<12
	v1 = ((int64(1)<<47 + v1) * int64(c.p1)) >> 33
	if v1 == 0 {
		return 0
	}
	p := ((1048576-int64(adcP))<<31 - v2) * 3125 / v1
	v1 = (int64(c.p9) * (p >> 13) * (p >> 13)) >> 25
	v2 = (int64(c.p8) * p) >> 19
	return uint32((p+v1+v2)>>8 + int64(c.p7)<<4)
}

// humidity returns the relative humidity in percent as an unsigned Q22.10
// (divide by 1024), clamped to 0-100 %, with the datasheet's 32-bit
// integer formula. adcH is the 16-bit raw value.
func (c *calibration) humidity(adcH, tFine int32) uint32 {
	x := tFine - 76800
	offset := (adcH<<14 - int32(c.h4)<<20 - int32(c.h5)*x + 16384) >> 15
	scale := ((((x*int32(c.h6))>>10)*(((x*int32(c.h3))>>11)+32768))>>10 + 2097152) * int32(c.h2)
	x = offset * ((scale + 8192) >> 14)
	x -= ((((x >> 15) * (x >> 15)) >> 7) * int32(c.h1)) >> 4
	x = min(max(x, 0), 419430400) // 419430400 >> 12 = 100 % in Q22.10
	return uint32(x >> 12)
}
