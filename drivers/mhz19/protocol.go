package mhz19

import (
	"errors"
	"fmt"
)

// The MH-Z19's UART protocol (Winsen MH-Z19B datasheet v1.2): 9-byte frames
// that start with 0xFF and end with a checksum over bytes 1 to 7. A request
// carries the sensor number 0x01 in byte 1 and the command in byte 2; a
// reply carries the command in byte 1.
const (
	frameLen  = 9
	startByte = 0xFF
	sensorNum = 0x01

	cmdRead  = 0x86 // read CO₂ concentration and temperature
	cmdABC   = 0x79 // automatic baseline correction on/off
	cmdRange = 0x99 // detection range

	abcOn = 0xA0 // byte 3 of the ABC command that turns it on; 0x00 turns it off

	// tempOffset is added to the temperature in byte 4 of the reply. The
	// datasheet and ESPHome use 40; some libraries use 38 for some
	// firmware, which is within the reading's roughness anyway.
	tempOffset = 40
)

// checksum is the MH-Z19 frame checksum: the two's complement of the sum of
// bytes 1 to 7, that is (0xFF - sum) + 1 modulo 256. f must hold at least 8
// bytes.
func checksum(f []byte) byte {
	var sum byte
	for _, b := range f[1:8] {
		sum += b
	}
	return 0xFF - sum + 1
}

// request builds the 9-byte request for cmd with data in bytes 3 to 7.
func request(cmd byte, data [5]byte) []byte {
	f := []byte{startByte, sensorNum, cmd, data[0], data[1], data[2], data[3], data[4], 0}
	f[8] = checksum(f)
	return f
}

// readRequest asks for the CO₂ level: FF 01 86 00 00 00 00 00 79.
func readRequest() []byte { return request(cmdRead, [5]byte{}) }

// abcRequest turns automatic baseline correction on or off.
func abcRequest(on bool) []byte {
	var d [5]byte
	if on {
		d[0] = abcOn
	}
	return request(cmdABC, d)
}

// rangeRequest sets the detection range in ppm. The range goes in bytes 4
// to 7, big-endian: the datasheet v1.0's bytes 3-4 are wrong, and units
// ignore a range sent there (ESPEasy P049 and the v1.2 datasheet).
func rangeRequest(ppm int) []byte {
	return request(cmdRange, [5]byte{0, byte(ppm >> 24), byte(ppm >> 16), byte(ppm >> 8), byte(ppm)})
}

// reading is what a 0x86 reply carries.
type reading struct {
	PPM   int
	TempC int
}

// Errors of a frame that is whole but wrong. Callers match them with
// errors.Is to tell a damaged frame (wait for a clean one) from a reply to
// another command (skip it).
var (
	errChecksum = errors.New("checksum mismatch")
	errCommand  = errors.New("reply to another command")
)

// parseResponse checks one 9-byte frame as the reply to a read (start byte,
// command byte 0x86, checksum) and decodes it: ppm = HH*256+LL, temperature
// = TT-40 °C.
func parseResponse(f []byte) (reading, error) {
	if len(f) != frameLen {
		return reading{}, fmt.Errorf("reply is %d bytes, want %d", len(f), frameLen)
	}
	if f[0] != startByte {
		return reading{}, fmt.Errorf("reply starts with 0x%02x, want 0xff", f[0])
	}
	// The checksum comes first: a bit flipped in the command byte is
	// damage, not a reply to another command.
	if want := checksum(f); f[8] != want {
		return reading{}, fmt.Errorf("%w: got 0x%02x, want 0x%02x (frame % x)", errChecksum, f[8], want, f)
	}
	if f[1] != cmdRead {
		return reading{}, fmt.Errorf("%w: command byte 0x%02x, want 0x%02x", errCommand, f[1], cmdRead)
	}
	return reading{PPM: int(f[2])<<8 | int(f[3]), TempC: int(f[4]) - tempOffset}, nil
}

// scanner finds the reply to a read in the bytes received, resynchronising
// on the 0xFF start byte after noise, as the bytes trickle in.
type scanner struct {
	buf []byte
	// noise counts bytes dropped while hunting for a start byte.
	noise int
	// suspect is the error of the last whole frame that was rejected:
	// damaged (errChecksum) or a reply to another command (errCommand).
	// It explains a read that finds nothing better.
	suspect error
}

// add appends received bytes.
func (s *scanner) add(b []byte) { s.buf = append(s.buf, b...) }

// next returns the first valid reply in the bytes received so far, or
// ok=false when there is none yet. A frame with a bad checksum costs only
// its start byte, so a reply that follows a stray 0xFF is still found; a
// well-formed reply to another command (a late acknowledgement) is skipped
// whole.
func (s *scanner) next() (r reading, ok bool) {
	for {
		i := 0
		for i < len(s.buf) && s.buf[i] != startByte {
			i++
		}
		s.noise += i
		s.buf = s.buf[i:]
		if len(s.buf) < frameLen {
			return reading{}, false
		}
		r, err := parseResponse(s.buf[:frameLen])
		if err == nil {
			s.buf = s.buf[frameLen:]
			return r, true
		}
		s.suspect = err
		if errors.Is(err, errCommand) {
			s.buf = s.buf[frameLen:]
		} else {
			s.buf = s.buf[1:]
			s.noise++
		}
	}
}

// pending is how many bytes of a possible frame are waiting for the rest.
func (s *scanner) pending() int { return len(s.buf) }
