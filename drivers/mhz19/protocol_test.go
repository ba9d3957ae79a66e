package mhz19

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func hexFrame(s string) []byte {
	var b []byte
	for _, f := range strings.Fields(s) {
		var v byte
		if _, err := fmt.Sscanf(f, "%02x", &v); err != nil {
			panic(fmt.Sprintf("bad hex %q in %q", f, s))
		}
		b = append(b, v)
	}
	return b
}

// Frames published in the Winsen MH-Z19B datasheet and by long-used open
// implementations (ESPHome, ESPEasy P049), which pin the checksum and the
// request layout independently of this package.
func TestChecksumKnownFrames(t *testing.T) {
	tests := []struct {
		name  string
		frame string
	}{
		{"read request", "ff 01 86 00 00 00 00 00 79"},
		{"datasheet read reply 544 ppm", "ff 86 02 20 00 00 00 00 58"},
		{"abc on", "ff 01 79 a0 00 00 00 00 e6"},
		{"abc off", "ff 01 79 00 00 00 00 00 86"},
		{"zero calibration", "ff 01 87 00 00 00 00 00 78"},
		{"range 2000", "ff 01 99 00 00 00 07 d0 8f"},
		{"sum wraps past 0xff", "ff 86 ff ff ff ff ff ff 80"},
		{"sum of zero", "ff 00 00 00 00 00 00 00 00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := hexFrame(tt.frame)
			if got := checksum(f); got != f[8] {
				t.Errorf("checksum(% x) = 0x%02x, want 0x%02x", f[:8], got, f[8])
			}
		})
	}
}

func TestRequestsMatchPublishedFrames(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"read", readRequest(), "ff 01 86 00 00 00 00 00 79"},
		{"abc on", abcRequest(true), "ff 01 79 a0 00 00 00 00 e6"},
		{"abc off", abcRequest(false), "ff 01 79 00 00 00 00 00 86"},
		{"range 2000", rangeRequest(2000), "ff 01 99 00 00 00 07 d0 8f"},
	}
	for _, tt := range tests {
		if want := hexFrame(tt.want); !bytes.Equal(tt.got, want) {
			t.Errorf("%s request = % x, want % x", tt.name, tt.got, want)
		}
	}
}

// TestRequestsGolden pins every frame the driver can put on the wire.
func TestRequestsGolden(t *testing.T) {
	var out strings.Builder
	frame := func(name string, f []byte) { fmt.Fprintf(&out, "%-12s % x\n", name, f) }
	frame("read", readRequest())
	frame("abc on", abcRequest(true))
	frame("abc off", abcRequest(false))
	for _, r := range validRanges {
		frame(fmt.Sprintf("range %d", r), rangeRequest(r))
	}
	path := filepath.Join("testdata", "requests.golden")
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if out.String() != string(want) {
		t.Errorf("request frames changed:\n got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// reply builds a 0x86 reply with a correct checksum.
func reply(ppm, tempByte int) []byte {
	f := []byte{0xff, 0x86, byte(ppm >> 8), byte(ppm), byte(tempByte), 0, 0, 0, 0}
	f[8] = checksum(f)
	return f
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name    string
		frame   []byte
		want    reading
		wantErr string
		is      error
	}{
		{"datasheet example", hexFrame("ff 86 02 20 00 00 00 00 58"), reading{PPM: 544, TempC: -40}, "", nil},
		{"ppm and temperature", reply(873, 63), reading{PPM: 873, TempC: 23}, "", nil},
		{"high byte only", reply(0x0500, 40), reading{PPM: 1280, TempC: 0}, "", nil},
		{"full scale", reply(0xffff, 255), reading{PPM: 65535, TempC: 215}, "", nil},
		{"status bytes ignored", func() []byte {
			f := reply(600, 64)
			f[5], f[6], f[7] = 0x40, 0x12, 0x34
			f[8] = checksum(f)
			return f
		}(), reading{PPM: 600, TempC: 24}, "", nil},
		{"bad checksum", hexFrame("ff 86 02 20 00 00 00 00 59"), reading{}, "checksum mismatch: got 0x59, want 0x58", errChecksum},
		{"reply to other command", hexFrame("ff 99 01 00 00 00 00 00 66"), reading{}, "command byte 0x99, want 0x86", errCommand},
		{"flipped command bit is damage", hexFrame("ff 87 02 20 00 00 00 00 58"), reading{}, "checksum mismatch", errChecksum},
		{"no start byte", hexFrame("fe 86 02 20 00 00 00 00 58"), reading{}, "reply starts with 0xfe, want 0xff", nil},
		{"short", hexFrame("ff 86 02 20"), reading{}, "reply is 4 bytes, want 9", nil},
		{"long", append(reply(500, 60), 0), reading{}, "reply is 10 bytes, want 9", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseResponse(tt.frame)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseResponse(% x): err = %v, want %q", tt.frame, err, tt.wantErr)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Fatalf("parseResponse(% x): err = %v, want errors.Is %v", tt.frame, err, tt.is)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseResponse(% x) = %+v, %v; want %+v", tt.frame, got, err, tt.want)
			}
		})
	}
}

func TestScannerResyncs(t *testing.T) {
	good := reply(1234, 65)
	tests := []struct {
		name      string
		in        []byte
		noise     int
		suspectIs error
	}{
		{"clean", good, 0, nil},
		{"garbage without start byte", append([]byte{0x00, 0x12, 0x86, 0xfe}, good...), 4, nil},
		{"stray start byte", append([]byte{0xff, 0x12, 0x34}, good...), 3, errChecksum},
		{"half a frame", append(reply(999, 60)[:5], good...), 5, errChecksum},
		{"reply to another command", append(hexFrame("ff 99 01 00 00 00 00 00 66"), good...), 0, errCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Fed a byte at a time, as a slow line delivers it.
			var s scanner
			var got reading
			found := false
			for i, b := range tt.in {
				s.add([]byte{b})
				if r, ok := s.next(); ok {
					if i != len(tt.in)-1 {
						t.Fatalf("found a reply at byte %d of %d", i+1, len(tt.in))
					}
					got, found = r, true
				}
			}
			if !found || got != (reading{PPM: 1234, TempC: 25}) {
				t.Fatalf("scanner found %v %+v in % x, want 1234 ppm 25 °C", found, got, tt.in)
			}
			if s.noise != tt.noise {
				t.Errorf("noise = %d bytes, want %d", s.noise, tt.noise)
			}
			if !errors.Is(s.suspect, tt.suspectIs) || (tt.suspectIs == nil) != (s.suspect == nil) {
				t.Errorf("suspect = %v, want %v", s.suspect, tt.suspectIs)
			}
			if s.pending() != 0 {
				t.Errorf("%d bytes left over", s.pending())
			}
		})
	}
}

// FuzzParseResponse feeds arbitrary line noise to the scanner and the frame
// parser: they must never panic, account for every byte, and accept only
// frames that are well formed.
func FuzzParseResponse(f *testing.F) {
	f.Add(hexFrame("ff 86 02 20 00 00 00 00 58"))
	f.Add(append([]byte{0xff, 0x00}, reply(700, 60)...))
	f.Add(hexFrame("ff 99 01 00 00 00 00 00 66 ff 86 02"))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 20))
	f.Fuzz(func(t *testing.T, in []byte) {
		if r, err := parseResponse(in); err == nil {
			if len(in) != frameLen || in[0] != 0xff || in[1] != 0x86 || checksum(in) != in[8] {
				t.Fatalf("parseResponse accepted % x", in)
			}
			if r.PPM != int(in[2])*256+int(in[3]) || r.TempC != int(in[4])-40 {
				t.Fatalf("parseResponse(% x) = %+v", in, r)
			}
		}
		var s scanner
		s.add(in)
		consumed := 0
		for {
			before := s.pending()
			r, ok := s.next()
			consumed += before - s.pending()
			if !ok {
				break
			}
			// The frame just consumed ends where the rest begins.
			end := len(in) - s.pending()
			frame := in[end-frameLen : end]
			if got, err := parseResponse(frame); err != nil || got != r {
				t.Fatalf("scanner returned %+v for frame % x (parse: %+v, %v)", r, frame, got, err)
			}
		}
		if consumed+s.pending() != len(in) {
			t.Fatalf("consumed %d + pending %d != %d input bytes", consumed, s.pending(), len(in))
		}
		if s.pending() >= frameLen {
			t.Fatalf("%d bytes pending, a whole frame's worth left unexamined", s.pending())
		}
		if s.pending() > 0 && in[len(in)-s.pending()] != 0xff {
			t.Fatalf("pending bytes do not start with 0xff: % x", in[len(in)-s.pending():])
		}
	})
}
