package system

import (
	"math"
	"os"
	"strings"
	"testing"
)

func TestParseLoadavg(t *testing.T) {
	tests := []struct {
		in      string
		want    [3]float64
		wantErr string
	}{
		{in: "0.52 0.58 0.59 1/1139 12345\n", want: [3]float64{0.52, 0.58, 0.59}},
		{in: "12.00 8.50 4.25", want: [3]float64{12, 8.5, 4.25}},
		{in: "0 0 0 0/0 1", want: [3]float64{0, 0, 0}},
		{in: "", wantErr: "want at least 3 fields"},
		{in: "0.5 0.5\n", wantErr: "got 2"},
		{in: "x 0.5 0.5", wantErr: `field 1 (1 minute load) "x"`},
		{in: "0.5 -1 0.5", wantErr: `field 2 (5 minute load) "-1"`},
		{in: "0.5 0.5 NaN", wantErr: `field 3 (15 minute load) "NaN"`},
		{in: "0.5 0.5 Inf", wantErr: `field 3`},
		{in: "0.5 0.5 0x1p3", wantErr: `field 3`},
		{in: "0.5 0.5 1e999", wantErr: `field 3`},
		{in: "0.5 . 0.5", wantErr: `field 2`},
	}
	for _, tt := range tests {
		got, err := parseLoadavg([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseLoadavg(%q) err = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseLoadavg(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseMeminfo(t *testing.T) {
	pi4, err := os.ReadFile("testdata/pi4/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		want    meminfo
		wantErr string
	}{
		{name: "pi4", in: string(pi4), want: meminfo{Total: 3884096, Available: 3213736}},
		{name: "order and other fields", in: "Cached: 5 kB\nMemAvailable: 10 kB\nHugePages_Total: 0\nMemTotal: 40 kB\n",
			want: meminfo{Total: 40, Available: 10}},
		{name: "first of duplicates", in: "MemTotal: 40 kB\nMemAvailable: 10 kB\nMemTotal: 1 kB\n",
			want: meminfo{Total: 40, Available: 10}},
		{name: "lines without colon", in: "garbage\nMemTotal: 40 kB\n\nMemAvailable: 40 kB", want: meminfo{Total: 40, Available: 40}},
		{name: "empty", in: "", wantErr: "no MemTotal field"},
		{name: "no available", in: "MemTotal: 40 kB\nMemFree: 10 kB\n", wantErr: "no MemAvailable field"},
		{name: "no unit", in: "MemTotal: 40\nMemAvailable: 10 kB\n", wantErr: `field MemTotal: "40": want a number followed by kB`},
		{name: "other unit", in: "MemTotal: 40 MB\nMemAvailable: 10 kB\n", wantErr: `field MemTotal: "40 MB"`},
		{name: "negative", in: "MemTotal: 40 kB\nMemAvailable: -1 kB\n", wantErr: `field MemAvailable: "-1": not a whole number`},
		{name: "zero total", in: "MemTotal: 0 kB\nMemAvailable: 0 kB\n", wantErr: "field MemTotal: is 0 kB"},
		{name: "available above total", in: "MemTotal: 40 kB\nMemAvailable: 41 kB\n", wantErr: "MemAvailable: 41 kB is more than MemTotal 40 kB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMeminfo([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if got := (meminfo{Total: 400, Available: 100}).UsedPercent(); got != 75 {
		t.Errorf("UsedPercent = %v, want 75", got)
	}
}

func TestParseUptime(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{in: "350735.47 1382241.90\n", want: 350735.47},
		{in: "5", want: 5},
		{in: "", wantErr: "empty"},
		{in: "  \n", wantErr: "empty"},
		{in: "-3 4", wantErr: `field 1 (seconds since boot) "-3"`},
		{in: "inf 4", wantErr: `"inf"`},
	}
	for _, tt := range tests {
		got, err := parseUptime([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseUptime(%q) err = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseUptime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseMillidegrees(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{in: "48312\n", want: 48.312},
		{in: "-5000", want: -5},
		{in: "0", want: 0},
		{in: "", wantErr: "empty"},
		{in: "48.3", wantErr: `"48.3": want a whole number`},
		{in: "99999999999", wantErr: "want a whole number"},
		// Some drivers report a failed read as a large negative value.
		{in: "-274000", wantErr: "below absolute zero"},
	}
	for _, tt := range tests {
		got, err := parseMillidegrees([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseMillidegrees(%q) err = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseMillidegrees(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// The fuzz tests check what callers rely on: no panic, and a value that
// parses is one the sensor could publish (finite, in range).

func FuzzParseLoadavg(f *testing.F) {
	f.Add([]byte("0.52 0.58 0.59 1/1139 12345\n"))
	f.Add([]byte("1 2"))
	f.Add([]byte("NaN 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		load, err := parseLoadavg(b)
		if err != nil {
			return
		}
		for i, v := range load {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("parseLoadavg(%q)[%d] = %v, want finite and not negative", b, i, v)
			}
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	pi4, err := os.ReadFile("testdata/pi4/proc/meminfo")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pi4)
	f.Add([]byte("MemTotal: 40 kB\nMemAvailable: 41 kB\n"))
	f.Add([]byte("MemTotal:\nMemAvailable: kB kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMeminfo(b)
		if err != nil {
			return
		}
		p := m.UsedPercent()
		if math.IsNaN(p) || p < 0 || p > 100 {
			t.Fatalf("parseMeminfo(%q) = %+v, used %v%%; want 0 to 100", b, m, p)
		}
	})
}

func FuzzParseUptime(f *testing.F) {
	f.Add([]byte("350735.47 1382241.90\n"))
	f.Add([]byte("-1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseUptime(b)
		if err != nil {
			return
		}
		if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
			t.Fatalf("parseUptime(%q) = %v, want finite and not negative", b, s)
		}
	})
}

func FuzzParseMillidegrees(f *testing.F) {
	f.Add([]byte("48312\n"))
	f.Add([]byte("-274000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseMillidegrees(b)
		if err != nil {
			return
		}
		if math.IsNaN(c) || c < -273.15 || c > math.MaxInt32/1000.0 {
			t.Fatalf("parseMillidegrees(%q) = %v °C, want a physical temperature", b, c)
		}
	})
}
