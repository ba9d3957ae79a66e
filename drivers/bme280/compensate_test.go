package bme280

import (
	"math"
	"strings"
	"testing"
)

// periphCalibTP and periphCalibH are a real BME280's calibration registers
// (0x88-0xA1, 0xE1-0xE7) as recorded in periph.io/x/devices' bmx280 tests.
var (
	periphCalibTP = []byte{0x10, 0x6e, 0x6c, 0x66, 0x32, 0x00, 0x5d, 0x95, 0xb8, 0xd5, 0xd0, 0x0b, 0x77, 0x1e, 0x9d, 0xff, 0xf9, 0xff, 0xac, 0x26, 0x0a, 0xd8, 0xbd, 0x10, 0x00, 0x4b}
	periphCalibH  = []byte{0x6e, 0x01, 0x00, 0x13, 0x05, 0x00, 0x1e}
)

func TestParseCalibrationRealChip(t *testing.T) {
	c, err := parseCalibration(periphCalibTP, periphCalibH)
	if err != nil {
		t.Fatal(err)
	}
	want := calibration{
		t1: 28176, t2: 26220, t3: 50,
		p1: 38237, p2: -10824, p3: 3024, p4: 7799, p5: -99, p6: -7, p7: 9900, p8: -10230, p9: 4285,
		h1: 75, h2: 366, h3: 0, h4: 309, h5: 0, h6: 30,
	}
	if c != want {
		t.Errorf("parsed\n%+v\nwant\n%+v", c, want)
	}
}

func TestParseCalibrationSignsAndNibbles(t *testing.T) {
	tp := append([]byte(nil), periphCalibTP...)
	// dig_T2 = 0x8001 and dig_P9 = 0xFFFF are negative; dig_T1 = 0xFFFF
	// and dig_H1 = 0xFF are unsigned.
	tp[0], tp[1] = 0xFF, 0xFF
	tp[2], tp[3] = 0x01, 0x80
	tp[22], tp[23] = 0xFF, 0xFF
	tp[25] = 0xFF
	// dig_H4 = 0xE4 (signed) << 4 | 0xE5[3:0]: 0xF3, 0x_A → -198.
	// dig_H5 = 0xE6 (signed) << 4 | 0xE5[7:4]: 0xFE, 0x2_ → -30.
	// dig_H2 = 0x816E is negative, dig_H3 = 0xF7 unsigned, dig_H6 = 0xE2 = -30.
	c, err := parseCalibration(tp, []byte{0x6E, 0x81, 0xF7, 0xF3, 0x2A, 0xFE, 0xE2})
	if err != nil {
		t.Fatal(err)
	}
	got := [...]int{int(c.t1), int(c.t2), int(c.p9), int(c.h1), int(c.h2), int(c.h3), int(c.h4), int(c.h5), int(c.h6)}
	want := [...]int{65535, -32767, -1, 255, -32402, 247, -198, -30, -30}
	if got != want {
		t.Errorf("t1 t2 p9 h1 h2 h3 h4 h5 h6 = %v, want %v", got, want)
	}

	// Positive 12-bit values keep both nibbles: 0x7F, 0x_F → 2047; 0x7F, 0xF_ → 2047.
	c, err = parseCalibration(periphCalibTP, []byte{0, 0, 0, 0x7F, 0xFF, 0x7F, 0})
	if err != nil {
		t.Fatal(err)
	}
	if c.h4 != 2047 || c.h5 != 2047 {
		t.Errorf("h4, h5 = %d, %d, want 2047, 2047", c.h4, c.h5)
	}
}

func TestParseCalibrationRejectsBlank(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tp, h []byte
		want  string
	}{
		{"zeros", make([]byte, 26), make([]byte, 7), "blank"},
		{"short", periphCalibTP[:24], periphCalibH, "got 24 and 7 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCalibration(tc.tp, tc.h)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// The compensation is pinned by vectors from outside this project, so it
// does not merely agree with the simulator.
func TestCompensationReferenceVectors(t *testing.T) {
	t.Run("periph real chip", func(t *testing.T) {
		// periph reports 23.72 °C, 100942.6953125 Pa, 65.3056 %RH for
		// data 4a 52 c0 80 96 c0 7a 76.
		c, err := parseCalibration(periphCalibTP, periphCalibH)
		if err != nil {
			t.Fatal(err)
		}
		centi, tFine := c.temperature(0x8096C)
		if centi != 2372 {
			t.Errorf("temperature = %d, want 2372", centi)
		}
		if p := c.pressure(0x4A52C, tFine); p != 25841330 {
			t.Errorf("pressure = %d (Q24.8 Pa), want 25841330 = 100942.6953125 Pa", p)
		}
		if h := c.humidity(0x7A76, tFine); h != 66873 {
			t.Errorf("humidity = %d (Q22.10 %%), want 66873 = 65.3057 %%", h)
		}
	})
	t.Run("BMP280 datasheet example", func(t *testing.T) {
		// The BMP280 datasheet (3.12) works an example with the same
		// temperature and pressure formulas: 25.08 °C, t_fine 128422,
		// 100653.27 Pa.
		c := calibration{t1: 27504, t2: 26435, t3: -1000, p1: 36477, p2: -10685, p3: 3024, p4: 2855, p5: 140, p6: -7, p7: 15500, p8: -14600, p9: 6000}
		centi, tFine := c.temperature(519888)
		if centi != 2508 || tFine != 128422 {
			t.Errorf("temperature = %d, t_fine = %d; want 2508, 128422", centi, tFine)
		}
		if p := float64(c.pressure(415148, tFine)) / 256; math.Abs(p-100653.27) > 0.05 {
			t.Errorf("pressure = %.3f Pa, want 100653.27", p)
		}
	})
}

func TestHumidityIsClampedToPercent(t *testing.T) {
	c, err := parseCalibration(periphCalibTP, periphCalibH)
	if err != nil {
		t.Fatal(err)
	}
	_, tFine := c.temperature(0x8096C)
	if h := c.humidity(0, tFine); h != 0 {
		t.Errorf("humidity of raw 0 = %d, want 0", h)
	}
	if h := c.humidity(0xFFFF, tFine); h != 100*1024 {
		t.Errorf("humidity of raw 0xFFFF = %d, want %d (100 %%)", h, 100*1024)
	}
}

func TestPressureZeroDivisor(t *testing.T) {
	// dig_P1 = 0 would divide by zero; the formula returns 0 instead.
	c := calibration{t1: 27504, t2: 26435, t3: -1000}
	if p := c.pressure(415148, 128422); p != 0 {
		t.Errorf("pressure with dig_P1 = 0: %d, want 0", p)
	}
}

// FuzzCompensate feeds what a broken or fake chip could return: the
// compensation must not panic and humidity must stay within 0-100 %.
func FuzzCompensate(f *testing.F) {
	f.Add(periphCalibTP, periphCalibH, []byte{0x4a, 0x52, 0xc0, 0x80, 0x96, 0xc0, 0x7a, 0x76})
	f.Add(make([]byte, 26), make([]byte, 7), make([]byte, 8))
	f.Add([]byte(strings.Repeat("\xff", 26)), []byte(strings.Repeat("\xff", 7)), []byte(strings.Repeat("\xff", 8)))
	f.Fuzz(func(t *testing.T, tp, h, data []byte) {
		if len(tp) < calibTPLen || len(h) < calibHLen || len(data) < 8 {
			return
		}
		c, err := parseCalibration(tp[:calibTPLen], h[:calibHLen])
		if err != nil {
			return
		}
		adcP := int32(data[0])<<12 | int32(data[1])<<4 | int32(data[2])>>4
		adcT := int32(data[3])<<12 | int32(data[4])<<4 | int32(data[5])>>4
		adcH := int32(data[6])<<8 | int32(data[7])
		_, tFine := c.temperature(adcT)
		_ = c.pressure(adcP, tFine)
		if hum := c.humidity(adcH, tFine); hum > 100*1024 {
			t.Errorf("humidity %d > 100 %%", hum)
		}
	})
}
