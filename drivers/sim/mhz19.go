package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"

	"github.com/pinion-home/pinion/drivers"
)

// The MH-Z19's UART protocol (Winsen MH-Z19B datasheet): 9600 8N1, 9-byte
// frames that start with 0xFF and end with a checksum over bytes 1 to 7.
// Requests carry a sensor number (0x01) in byte 1 and the command in byte 2;
// replies carry the command in byte 1.
const (
	mhzFrameLen = 9
	mhzStart    = 0xFF

	mhzCmdRead  = 0x86 // read CO₂ concentration (and temperature)
	mhzCmdZero  = 0x87 // zero-point calibration at 400 ppm
	mhzCmdSpan  = 0x88 // span-point calibration, the span in bytes 3-4 big-endian
	mhzCmdABC   = 0x79 // automatic baseline correction on (byte 3 0xA0) or off (0x00)
	mhzCmdRange = 0x99 // detection range, bytes 4-7 big-endian

	// mhzAckOK is byte 2 of the sensor's acknowledgement of a setting
	// command: FF <cmd> 01 00 00 00 00 00 <checksum>.
	mhzAckOK = 0x01
	// mhzZeroPPM is the concentration zero calibration declares, and the
	// point span calibration scales from.
	mhzZeroPPM = 400

	// mhzWarmUpPPM is what MH-Z19B units answer while the lamp and the
	// detector settle after power-on, whatever the air holds.
	mhzWarmUpPPM = 500
	// mhzDefaultRange is the detection range of an MH-Z19B as shipped;
	// readings above it saturate.
	mhzDefaultRange = 5000
	// mhzDefaultDelay is how long the sensor takes to answer: a few ms of
	// processing, on top of the ~9.4 ms nine bytes take at 9600 baud on a
	// real line (a pty carries them at once).
	mhzDefaultDelay = 5 * time.Millisecond
	// mhzEIOWait is how long Serve waits before it reads again while no
	// one holds the terminal side open: the pty's controller reads EIO
	// between a driver's Close and its next Open.
	mhzEIOWait = 5 * time.Millisecond
)

// mhzChecksum is the MH-Z19 frame checksum: the two's complement of the sum
// of bytes 1 to 7, that is (0xFF - sum) + 1 modulo 256.
func mhzChecksum(f []byte) byte {
	var sum byte
	for _, b := range f[1:8] {
		sum += b
	}
	return 0xFF - sum + 1
}

// CO2Source is the air the simulated sensor measures: the CO₂
// concentration in ppm at time t.
type CO2Source interface {
	PPM(t time.Time) float64
}

// StaticCO2 is a CO2Source that never changes, for tests.
type StaticCO2 float64

// PPM implements CO2Source.
func (c StaticCO2) PPM(time.Time) float64 { return float64(c) }

// DriftingCO2 returns a plausible indoor CO₂ level for the demo: about
// 420 ppm (outdoor air) in an empty room, rising towards 1200 ppm when
// people are in it. The level is a pure function of the time and the seed,
// so two sensors with different seeds differ and a replay is repeatable.
func DriftingCO2(seed int64) CO2Source { return driftingCO2{seed: uint64(seed)} }

// driftingCO2 models occupancy in 20-minute slots: each slot draws how full
// the room is, and the level moves smoothly from one slot's value to the
// next, as CO₂ builds up and ventilates away rather than jumping.
type driftingCO2 struct{ seed uint64 }

const co2Slot = int64(20 * time.Minute)

// PPM implements CO2Source.
func (d driftingCO2) PPM(t time.Time) float64 {
	ns := t.UnixNano()
	slot := ns / co2Slot
	if ns%co2Slot < 0 { // floor division, so times before 1970 work too
		slot--
	}
	frac := float64(ns-slot*co2Slot) / float64(co2Slot)
	a, b := d.occupancy(slot), d.occupancy(slot+1)
	s := frac * frac * (3 - 2*frac) // smoothstep: no kink at slot edges
	return 420 + 780*(a+(b-a)*s)
}

// occupancy is how full the room is during slot, from 0 to 1.
func (d driftingCO2) occupancy(slot int64) float64 {
	r := rand.New(rand.NewPCG(d.seed, uint64(slot)))
	level := 0.08 * r.Float64() // an empty room still drifts a little
	if r.Float64() < 0.35 {     // about a third of the time someone is in
		level += 0.3 + 0.62*r.Float64()
	}
	return min(level, 1)
}

// MHZ19Command is one request frame the simulated sensor accepted (its
// checksum was right).
type MHZ19Command struct {
	// Code is the command byte: 0x86 read, 0x79 ABC, 0x87 zero
	// calibration, 0x88 span calibration, 0x99 detection range.
	Code byte
	// Frame is the whole request as received.
	Frame [9]byte
}

// MHZ19 is a simulated Winsen MH-Z19B CO₂ sensor on a serial line. It
// implements Peer: attach it with Host.AddSerialPeer and a driver talks to
// it through Host.Serial as to the real sensor.
//
// Like the sensor it answers 0x86 with the CO₂ level (saturating at the
// detection range) and the temperature plus 40; it answers a fixed 500 ppm
// during warm-up; it ignores requests whose checksum is wrong and hunts for
// the next 0xFF start byte after garbage. Commands it does not simulate get
// no answer: right for unused codes such as 0x00-0x30, though real units
// answer some undocumented ones (0x84, 0x9B, …).
//
// It acknowledges the setting commands 0x79 (ABC), 0x87 (zero
// calibration), 0x88 (span calibration) and 0x99 (detection range) with
// FF <cmd> 01 00 00 00 00 00 <checksum>. The datasheet says they get no
// reply, but real units send one: ESPEasy logged "ff 79 1 0 0 0 0 0 86"
// after ABC off (letscontrolit/ESPEasy#2394, fixed by #2395: "According to
// the datasheet, the sensor should not give a response to some commands,
// but it does"), and the WifWaf MH-Z19 library reads a reply carrying the
// command byte after each of them. A driver must therefore skip these
// frames rather than take the next 9 bytes as its reading.
type MHZ19 struct {
	// WarmUp is how long after power-on (the start of Serve) the sensor
	// answers 500 ppm whatever the air holds; real units take about three
	// minutes. Zero, the default, skips it. Set it before attaching.
	WarmUp time.Duration

	co2 CO2Source

	mu         sync.Mutex
	clock      drivers.Clock
	delay      time.Duration
	powerOn    time.Time
	silent     bool
	corrupt    bool
	noise      []byte
	tempC      float64
	abc        bool
	rangePPM   int
	zeroOffset float64
	spanGain   float64
	commands   []MHZ19Command
	ignored    int
	answered   int
}

// NewMHZ19 returns a simulated MH-Z19B measuring co2, as shipped: ABC on,
// a 5000 ppm detection range, 24 °C inside, no warm-up.
func NewMHZ19(co2 CO2Source) *MHZ19 {
	return &MHZ19{co2: co2, clock: drivers.SystemClock{}, delay: mhzDefaultDelay, tempC: 24, abc: true, rangePPM: mhzDefaultRange, spanGain: 1}
}

// SetClock makes the sensor tell time by clk instead of the wall clock:
// its warm-up and the air it measures (CO2Source.PPM) follow clk. Its
// reply delay stays in real time, as the bytes travel a real
// pseudo-terminal. Set it before attaching.
func (m *MHZ19) SetClock(clk drivers.Clock) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.clock = clk
}

// Silence makes the sensor stop answering (true), as if it were unplugged
// or unpowered, or answer again (false). A silent sensor sees no commands.
func (m *MHZ19) Silence(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.silent = on
}

// Corrupt makes every reply arrive with a flipped bit (true), as noise on a
// long line would, so its checksum no longer matches; false repairs it.
func (m *MHZ19) Corrupt(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.corrupt = on
}

// Noise sends b on the line just before the next reply, as a glitch or a
// stray reply would. It is sent once.
func (m *MHZ19) Noise(b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.noise = append(m.noise, b...)
}

// SetTemperature sets the sensor's internal temperature in °C, which it
// reports in whole degrees.
func (m *MHZ19) SetTemperature(c float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tempC = c
}

// SetResponseDelay sets how long the sensor takes to answer a request: a
// read or the acknowledgement of a setting.
func (m *MHZ19) SetResponseDelay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay = d
}

// Commands returns the requests the sensor accepted, oldest first.
func (m *MHZ19) Commands() []MHZ19Command {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]MHZ19Command(nil), m.commands...)
}

// ABC reports whether automatic baseline correction is on.
func (m *MHZ19) ABC() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.abc
}

// Range returns the detection range in ppm.
func (m *MHZ19) Range() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rangePPM
}

// Ignored returns how many request frames the sensor dropped because their
// checksum was wrong.
func (m *MHZ19) Ignored() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ignored
}

// Answered returns how many replies the sensor has sent, so that a test can
// wait for a late reply to be on the line.
func (m *MHZ19) Answered() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.answered
}

// Serve implements Peer: it reads requests from rw and answers them until
// ctx is done or rw fails. While the terminal side of the pty is closed
// (between a driver's Close and its next Open) the controller reads EIO;
// Serve waits for the next Open then, as a sensor waits for its host.
func (m *MHZ19) Serve(ctx context.Context, rw io.ReadWriter) error {
	m.mu.Lock()
	m.powerOn = m.clock.Now()
	m.mu.Unlock()
	var buf []byte
	chunk := make([]byte, 64)
	for {
		n, err := rw.Read(chunk)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, syscall.EIO) {
			if !mhzSleep(ctx, mhzEIOWait) {
				return nil
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("sim: mh-z19: read: %w", err)
		}
		buf = append(buf, chunk[:n]...)
		for {
			var frame []byte
			var bad int
			frame, buf, bad = mhzNextFrame(buf)
			if bad > 0 {
				m.mu.Lock()
				m.ignored += bad
				m.mu.Unlock()
			}
			if frame == nil {
				break
			}
			if err := m.handle(ctx, rw, frame); err != nil {
				return err
			}
		}
	}
}

// mhzNextFrame hunts buf for the next frame that starts with 0xFF and has a
// correct checksum, as the sensor's receiver does. It returns the frame (nil
// when buf holds none yet), what is left to scan, and how many candidate
// frames it dropped for a bad checksum. A dropped candidate costs only its
// start byte, so a frame hidden behind a stray 0xFF is still found.
func mhzNextFrame(buf []byte) (frame, rest []byte, bad int) {
	for {
		i := 0
		for i < len(buf) && buf[i] != mhzStart {
			i++
		}
		buf = buf[i:]
		if len(buf) < mhzFrameLen {
			return nil, buf, bad
		}
		if mhzChecksum(buf) == buf[8] {
			return buf[:mhzFrameLen:mhzFrameLen], buf[mhzFrameLen:], bad
		}
		bad++
		buf = buf[1:]
	}
}

// handle acts on one accepted request and answers it when the sensor would.
func (m *MHZ19) handle(ctx context.Context, w io.Writer, f []byte) error {
	m.mu.Lock()
	if m.silent {
		m.mu.Unlock()
		return nil
	}
	var c MHZ19Command
	c.Code = f[2]
	copy(c.Frame[:], f)
	m.commands = append(m.commands, c)
	now := m.clock.Now()
	var reply []byte
	switch c.Code {
	case mhzCmdRead:
		reply = m.readReply(now)
	case mhzCmdABC:
		m.abc = f[3] == 0xA0
		reply = m.ackReply(c.Code)
	case mhzCmdRange:
		// The sensor takes the range from bytes 4-7 (datasheet v1.2; the
		// older sheet's bytes 3-4 are a known error) and ignores a zero.
		if r := int(f[4])<<24 | int(f[5])<<16 | int(f[6])<<8 | int(f[7]); r > 0 {
			m.rangePPM = r
		}
		reply = m.ackReply(c.Code)
	case mhzCmdZero:
		// Zero calibration declares the air right now to be 400 ppm.
		m.zeroOffset = mhzZeroPPM - m.co2.PPM(now)
		reply = m.ackReply(c.Code)
	case mhzCmdSpan:
		// Span calibration declares the air right now to be the span
		// (bytes 3-4): readings scale about the 400 ppm zero point, which
		// is why the datasheet asks for zero calibration first and a span
		// of 1000 ppm or more. A span at or below the zero point, or air
		// that reads at or below it, gives no scale and changes nothing.
		span := float64(int(f[3])<<8 | int(f[4]))
		if d := m.co2.PPM(now) + m.zeroOffset - mhzZeroPPM; span > mhzZeroPPM && d > 0 {
			m.spanGain = (span - mhzZeroPPM) / d
		}
		reply = m.ackReply(c.Code)
	}
	delay := m.delay
	m.mu.Unlock()
	if reply == nil {
		return nil // a command the simulation does not model gets no answer
	}

	if !mhzSleep(ctx, delay) {
		return nil
	}
	if _, err := w.Write(reply); err != nil {
		if errors.Is(err, syscall.EIO) || ctx.Err() != nil {
			return nil // the driver closed the port before the reply; so be it
		}
		return fmt.Errorf("sim: mh-z19: write: %w", err)
	}
	m.mu.Lock()
	m.answered++
	m.mu.Unlock()
	return nil
}

// readReply builds the answer to 0x86 at now: FF 86 HH LL TT SS U1 U2 CS,
// preceded by any pending noise. m.mu must be held.
func (m *MHZ19) readReply(now time.Time) []byte {
	ppm := float64(mhzWarmUpPPM)
	if now.Sub(m.powerOn) >= m.WarmUp {
		ppm = m.co2.PPM(now) + m.zeroOffset
		if m.spanGain != 1 {
			ppm = mhzZeroPPM + (ppm-mhzZeroPPM)*m.spanGain
		}
	}
	ppm = math.Round(min(max(ppm, 0), float64(m.rangePPM), 0xFFFF))
	temp := math.Round(min(max(m.tempC+40, 0), 0xFF))
	return m.send([]byte{mhzStart, mhzCmdRead, byte(int(ppm) >> 8), byte(int(ppm)), byte(temp), 0, 0, 0, 0})
}

// ackReply builds the acknowledgement of setting command cmd,
// FF <cmd> 01 00 00 00 00 00 CS, preceded by any pending noise. m.mu must
// be held.
func (m *MHZ19) ackReply(cmd byte) []byte {
	return m.send([]byte{mhzStart, cmd, mhzAckOK, 0, 0, 0, 0, 0, 0})
}

// send completes reply frame f with its checksum and returns the bytes to
// put on the line: the pending noise, then f, damaged if the line is
// corrupt. m.mu must be held.
func (m *MHZ19) send(f []byte) []byte {
	f[8] = mhzChecksum(f)
	if m.corrupt {
		f[3] ^= 0x04 // one bit flipped in transit
	}
	out := append(m.noise, f...)
	m.noise = nil
	return out
}

// mhzSleep waits for d or until ctx is done; it reports whether the wait
// ran its course.
func mhzSleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

var _ Peer = (*MHZ19)(nil)
