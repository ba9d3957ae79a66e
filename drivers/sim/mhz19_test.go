package sim_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pinion-home/pinion/drivers"
	"github.com/pinion-home/pinion/drivers/sim"
)

// mhzWait bounds every wait in these tests; it only decides when a test
// gives up.
const mhzWait = 10 * time.Second

// mhzKnob is a CO2Source a test turns while the sensor runs.
type mhzKnob struct{ bits atomic.Uint64 }

func (k *mhzKnob) Set(ppm float64)       { k.bits.Store(math.Float64bits(ppm)) }
func (k *mhzKnob) PPM(time.Time) float64 { return math.Float64frombits(k.bits.Load()) }

// mhzSum is the datasheet's checksum, written out again so the simulator is
// checked against the protocol rather than against itself.
func mhzSum(f []byte) byte {
	sum := 0
	for i := 1; i <= 7; i++ {
		sum += int(f[i])
	}
	return byte((0xFF - sum%256 + 1) % 256)
}

// mhzRequest builds a request frame: FF 01 cmd data... checksum.
func mhzRequest(cmd byte, data ...byte) []byte {
	f := make([]byte, 9)
	f[0], f[1], f[2] = 0xFF, 0x01, cmd
	copy(f[3:8], data)
	f[8] = mhzSum(f)
	return f
}

var mhzRead = mhzRequest(0x86)

// mhzAttach attaches peer to a simulated host and opens its port the way a
// driver does.
func mhzAttach(t *testing.T, peer *sim.MHZ19) drivers.Port {
	t.Helper()
	h := sim.NewHost(nil)
	t.Cleanup(func() { h.Close() })
	if _, err := h.AddSerialPeer("/dev/serial0", peer); err != nil {
		t.Fatal(err)
	}
	p := mhzOpen(t, h)
	return p
}

func mhzOpen(t *testing.T, h *sim.Host) drivers.Port {
	t.Helper()
	p, err := h.Serial("/dev/serial0", drivers.SerialMode{BaudRate: 9600})
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: the port closes before the host.
	t.Cleanup(func() { p.Close() })
	if err := p.SetReadTimeout(mhzWait); err != nil {
		t.Fatal(err)
	}
	return p
}

func mhzSend(t *testing.T, p drivers.Port, b []byte) {
	t.Helper()
	if _, err := p.Write(b); err != nil {
		t.Fatal(err)
	}
}

// mhzReply reads one 9-byte frame.
func mhzReply(t *testing.T, p drivers.Port) []byte {
	t.Helper()
	f := make([]byte, 9)
	if _, err := io.ReadFull(p, f); err != nil {
		t.Fatalf("no reply from the simulated sensor: %v", err)
	}
	return f
}

// mhzAsk sends a read request and returns the reply.
func mhzAsk(t *testing.T, p drivers.Port) []byte {
	t.Helper()
	mhzSend(t, p, mhzRead)
	return mhzReply(t, p)
}

// mhzNothingMore checks that no byte follows. A late byte could slip past
// the short wait, but a byte that should not be there never passes.
func mhzNothingMore(t *testing.T, p drivers.Port) {
	t.Helper()
	p.SetReadTimeout(150 * time.Millisecond)
	defer p.SetReadTimeout(mhzWait)
	b := make([]byte, 16)
	if n, err := p.Read(b); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("unexpected bytes from the sensor: % x (err %v)", b[:n], err)
	}
}

// mhzAnswered waits until the sensor has counted n replies (it counts a
// reply once its write returns, which may be after the test read it) and
// checks that it counts no more.
func mhzAnswered(t *testing.T, peer *sim.MHZ19, n int) {
	t.Helper()
	end := time.Now().Add(mhzWait)
	for peer.Answered() < n && time.Now().Before(end) {
		time.Sleep(time.Millisecond)
	}
	if got := peer.Answered(); got != n {
		t.Fatalf("the sensor answered %d requests, want %d", got, n)
	}
}

func TestMHZ19AnswersRead(t *testing.T) {
	k := &mhzKnob{}
	peer := sim.NewMHZ19(k)
	p := mhzAttach(t, peer)
	tests := []struct {
		ppm, temp float64
		want      []byte // without the checksum
	}{
		{544, -40, []byte{0xFF, 0x86, 0x02, 0x20, 0x00, 0, 0, 0}}, // the datasheet's example
		{420, 24, []byte{0xFF, 0x86, 0x01, 0xA4, 64, 0, 0, 0}},
		{1234.6, 21.4, []byte{0xFF, 0x86, 0x04, 0xD3, 61, 0, 0, 0}}, // whole ppm and °C
		{-20, -60, []byte{0xFF, 0x86, 0x00, 0x00, 0, 0, 0, 0}},      // nothing below zero
		{9000, 250, []byte{0xFF, 0x86, 0x13, 0x88, 0xFF, 0, 0, 0}},  // saturates at the 5000 ppm range
	}
	for _, tt := range tests {
		k.Set(tt.ppm)
		peer.SetTemperature(tt.temp)
		got := mhzAsk(t, p)
		want := append(tt.want, mhzSum(append(tt.want, 0)))
		if !bytes.Equal(got, want) {
			t.Errorf("%v ppm at %v °C: reply % x, want % x", tt.ppm, tt.temp, got, want)
		}
	}
	if got := len(peer.Commands()); got != len(tests) {
		t.Errorf("sensor recorded %d commands, want %d", got, len(tests))
	}
}

func TestMHZ19IgnoresBadChecksum(t *testing.T) {
	peer := sim.NewMHZ19(sim.StaticCO2(600))
	p := mhzAttach(t, peer)
	bad := append([]byte(nil), mhzRead...)
	bad[8]++
	mhzSend(t, p, bad)
	got := mhzAsk(t, p)
	if got[1] != 0x86 || int(got[2])<<8|int(got[3]) != 600 {
		t.Fatalf("reply % x, want 600 ppm", got)
	}
	mhzNothingMore(t, p)
	mhzAnswered(t, peer, 1)
	if peer.Ignored() != 1 || len(peer.Commands()) != 1 {
		t.Fatalf("ignored %d, commands %d; want 1, 1", peer.Ignored(), len(peer.Commands()))
	}
}

func TestMHZ19Resyncs(t *testing.T) {
	peer := sim.NewMHZ19(sim.StaticCO2(700))
	p := mhzAttach(t, peer)
	tests := []struct {
		name string
		send [][]byte // written one after the other
	}{
		{"garbage before the request", [][]byte{{0x00, 0x12, 0x34}, mhzRead}},
		{"stray start bytes", [][]byte{{0xFF, 0xFF, 0x01}, mhzRead}},
		{"half a request", [][]byte{mhzRead[:4], mhzRead}},
		{"a byte at a time", func() [][]byte {
			var out [][]byte
			for _, b := range mhzRead {
				out = append(out, []byte{b})
			}
			return out
		}()},
	}
	for _, tt := range tests {
		before := len(peer.Commands())
		for _, b := range tt.send {
			mhzSend(t, p, b)
		}
		got := mhzReply(t, p)
		if int(got[2])<<8|int(got[3]) != 700 {
			t.Errorf("%s: reply % x, want 700 ppm", tt.name, got)
		}
		if n := len(peer.Commands()) - before; n != 1 {
			t.Errorf("%s: %d requests taken, want 1", tt.name, n)
		}
	}
	mhzNothingMore(t, p)
}

// mhzHex parses a frame written as the logs and datasheets print it.
func mhzHex(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for _, f := range strings.Fields(s) {
		b, err := strconv.ParseUint(f, 16, 8)
		if err != nil {
			t.Fatalf("bad hex byte %q in %q", f, s)
		}
		out = append(out, byte(b))
	}
	return out
}

// TestMHZ19AcknowledgesSettings checks the reply real units send to each
// setting command, which the datasheet says they do not send.
func TestMHZ19AcknowledgesSettings(t *testing.T) {
	peer := sim.NewMHZ19(sim.StaticCO2(1000))
	p := mhzAttach(t, peer)
	tests := []struct {
		name string
		req  []byte
		want string
	}{
		// The frame ESPEasy logged after ABC off (letscontrolit/ESPEasy#2394).
		{"ABC off", mhzRequest(0x79, 0x00), "ff 79 01 00 00 00 00 00 86"},
		{"ABC on", mhzRequest(0x79, 0xA0), "ff 79 01 00 00 00 00 00 86"},
		{"range 2000", mhzRequest(0x99, 0x00, 0x00, 0x00, 0x07, 0xD0), "ff 99 01 00 00 00 00 00 66"},
		{"zero calibration", mhzRequest(0x87), "ff 87 01 00 00 00 00 00 78"},
		{"span calibration 2000", mhzRequest(0x88, 0x07, 0xD0), "ff 88 01 00 00 00 00 00 77"},
	}
	for i, tt := range tests {
		mhzSend(t, p, tt.req)
		got := mhzReply(t, p)
		if want := mhzHex(t, tt.want); !bytes.Equal(got, want) {
			t.Errorf("%s: reply % x, want % x", tt.name, got, want)
		}
		if mhzSum(got) != got[8] {
			t.Errorf("%s: reply % x has a bad checksum", tt.name, got)
		}
		mhzAnswered(t, peer, i+1)
	}
	// An unused command code (revspace.nl/MHZ19 saw no reply to
	// 0x00-0x30) is taken but not answered.
	mhzSend(t, p, mhzRequest(0x10))
	mhzNothingMore(t, p)
	mhzAnswered(t, peer, len(tests))
	if got := len(peer.Commands()); got != len(tests)+1 {
		t.Errorf("sensor recorded %d commands, want %d", got, len(tests)+1)
	}
}

// mhzAck sends a setting command and checks that the sensor acknowledges
// it, so that the next bytes on the line answer the next request.
func mhzAck(t *testing.T, p drivers.Port, req []byte) {
	t.Helper()
	mhzSend(t, p, req)
	if got := mhzReply(t, p); got[0] != 0xFF || got[1] != req[2] || got[2] != 0x01 || mhzSum(got) != got[8] {
		t.Fatalf("reply to command %#x: % x, want its acknowledgement", req[2], got)
	}
}

// mhzPPM reads the CO₂ level.
func mhzPPM(t *testing.T, p drivers.Port) int {
	t.Helper()
	got := mhzAsk(t, p)
	if got[1] != 0x86 {
		t.Fatalf("reply to a read: % x, want a 0x86 frame", got)
	}
	return int(got[2])<<8 | int(got[3])
}

func TestMHZ19SettingCommands(t *testing.T) {
	k := &mhzKnob{}
	k.Set(3000)
	peer := sim.NewMHZ19(k)
	p := mhzAttach(t, peer)
	if !peer.ABC() || peer.Range() != 5000 {
		t.Fatalf("new sensor: ABC %v range %d, want true 5000 as shipped", peer.ABC(), peer.Range())
	}

	mhzAck(t, p, mhzRequest(0x79, 0x00))
	mhzAck(t, p, mhzRequest(0x99, 0x00, 0x00, 0x00, 0x07, 0xD0)) // 2000 ppm in bytes 4-7
	if ppm := mhzPPM(t, p); ppm != 2000 {
		t.Fatalf("read after range 2000: %d ppm, want 2000 (3000 saturated)", ppm)
	}
	if peer.ABC() || peer.Range() != 2000 {
		t.Fatalf("after ABC off and range 2000: ABC %v range %d", peer.ABC(), peer.Range())
	}
	mhzAck(t, p, mhzRequest(0x79, 0xA0))
	mhzAck(t, p, mhzRequest(0x99, 0x00, 0x00, 0x00, 0x27, 0x10)) // 10000
	mhzAck(t, p, mhzRequest(0x99))                               // a zero range is ignored
	mhzPPM(t, p)
	if !peer.ABC() || peer.Range() != 10000 {
		t.Fatalf("after ABC on, range 10000 and range 0: ABC %v range %d", peer.ABC(), peer.Range())
	}

	// Zero calibration: the air now is declared 400 ppm.
	mhzAck(t, p, mhzRequest(0x87))
	if ppm := mhzPPM(t, p); ppm != 400 {
		t.Fatalf("read after zero calibration in 3000 ppm air: %d, want 400", ppm)
	}
	k.Set(3500)
	if ppm := mhzPPM(t, p); ppm != 900 {
		t.Fatalf("500 ppm more after zero calibration: %d, want 900", ppm)
	}

	mhzNothingMore(t, p)
	var codes []byte
	for _, c := range peer.Commands() {
		codes = append(codes, c.Code)
	}
	if want := []byte{0x79, 0x99, 0x86, 0x79, 0x99, 0x99, 0x86, 0x87, 0x86, 0x86}; !bytes.Equal(codes, want) {
		t.Fatalf("commands % x, want % x", codes, want)
	}
	mhzAnswered(t, peer, len(codes)) // every command here gets a reply
}

func TestMHZ19SpanCalibration(t *testing.T) {
	k := &mhzKnob{}
	k.Set(450)
	peer := sim.NewMHZ19(k)
	p := mhzAttach(t, peer)

	mhzAck(t, p, mhzRequest(0x87)) // 450 ppm air declared 400
	k.Set(1450)                    // reads 1400
	// A span at the zero point, or below it, gives no scale.
	mhzAck(t, p, mhzRequest(0x88, 0x01, 0x90)) // 400
	if ppm := mhzPPM(t, p); ppm != 1400 {
		t.Fatalf("after a span of 400 ppm: %d ppm, want 1400 unchanged", ppm)
	}
	// The air now is declared 2000 ppm (bytes 3-4): 1000 ppm above zero
	// read as 1600 from now on.
	mhzAck(t, p, mhzRequest(0x88, 0x07, 0xD0))
	tests := []struct{ air, want float64 }{
		{1450, 2000},
		{450, 400},  // the zero point stays
		{950, 1200}, // halfway
		{2450, 3600},
	}
	for _, tt := range tests {
		k.Set(tt.air)
		if ppm := mhzPPM(t, p); float64(ppm) != tt.want {
			t.Errorf("air %v ppm after span calibration: read %d, want %v", tt.air, ppm, tt.want)
		}
	}
}

func TestMHZ19WarmUp(t *testing.T) {
	peer := sim.NewMHZ19(sim.StaticCO2(900))
	peer.WarmUp = time.Hour
	p := mhzAttach(t, peer)
	got := mhzAsk(t, p)
	if ppm := int(got[2])<<8 | int(got[3]); ppm != 500 {
		t.Fatalf("read during warm-up: %d ppm, want the fixed 500", ppm)
	}
}

// TestMHZ19WarmUpOnItsClock checks that the warm-up follows the clock
// the sensor is given, not the wall clock.
func TestMHZ19WarmUpOnItsClock(t *testing.T) {
	peer := sim.NewMHZ19(sim.StaticCO2(900))
	peer.WarmUp = 3 * time.Minute
	clk := newFakeClock()
	peer.SetClock(clk)
	p := mhzAttach(t, peer)
	if got := mhzAsk(t, p); int(got[2])<<8|int(got[3]) != 500 {
		t.Fatalf("read during warm-up: % x, want the fixed 500 ppm", got)
	}
	clk.Advance(4 * time.Minute)
	if got := mhzAsk(t, p); int(got[2])<<8|int(got[3]) != 900 {
		t.Fatalf("read after the warm-up on the sensor's clock: % x, want 900 ppm", got)
	}
}

func TestMHZ19Faults(t *testing.T) {
	peer := sim.NewMHZ19(sim.StaticCO2(800))
	p := mhzAttach(t, peer)

	peer.Silence(true)
	mhzSend(t, p, mhzRead)
	mhzNothingMore(t, p)
	peer.Silence(false)

	peer.Corrupt(true)
	got := mhzAsk(t, p)
	if got[0] != 0xFF || got[1] != 0x86 || mhzSum(got) == got[8] {
		t.Fatalf("corrupted reply % x: want a frame whose checksum does not match", got)
	}
	mhzSend(t, p, mhzRequest(0x79, 0xA0))
	if got := mhzReply(t, p); got[0] != 0xFF || got[1] != 0x79 || mhzSum(got) == got[8] {
		t.Fatalf("corrupted acknowledgement % x: want a frame whose checksum does not match", got)
	}
	peer.Corrupt(false)

	peer.Noise([]byte{0x00, 0xFF, 0x42})
	noise := make([]byte, 3)
	mhzSend(t, p, mhzRead)
	if _, err := io.ReadFull(p, noise); err != nil || !bytes.Equal(noise, []byte{0x00, 0xFF, 0x42}) {
		t.Fatalf("noise before the reply: % x (%v)", noise, err)
	}
	got = mhzReply(t, p)
	if mhzSum(got) != got[8] || int(got[2])<<8|int(got[3]) != 800 {
		t.Fatalf("reply after noise % x, want a clean 800 ppm", got)
	}
	// Noise is sent once.
	if got := mhzAsk(t, p); got[0] != 0xFF || mhzSum(got) != got[8] {
		t.Fatalf("next reply % x is not clean", got)
	}
}

// TestMHZ19SurvivesReopen checks that the sensor keeps answering when the
// driver closes its port and opens it again (the pty's controller reads
// EIO in between).
func TestMHZ19SurvivesReopen(t *testing.T) {
	peer := sim.NewMHZ19(sim.StaticCO2(450))
	h := sim.NewHost(nil)
	t.Cleanup(func() { h.Close() })
	if _, err := h.AddSerialPeer("/dev/serial0", peer); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p, err := h.Serial("/dev/serial0", drivers.SerialMode{})
		if err != nil {
			t.Fatal(err)
		}
		p.SetReadTimeout(mhzWait)
		mhzSend(t, p, mhzRead)
		got := mhzReply(t, p)
		p.Close()
		if int(got[2])<<8|int(got[3]) != 450 {
			t.Fatalf("open %d: reply % x, want 450 ppm", i+1, got)
		}
	}
}

func TestStaticCO2(t *testing.T) {
	if got := sim.StaticCO2(612.5).PPM(time.Now()); got != 612.5 {
		t.Fatalf("StaticCO2(612.5) = %v", got)
	}
}

func TestDriftingCO2(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a, b := sim.DriftingCO2(1), sim.DriftingCO2(2)
	lo, hi := math.Inf(1), math.Inf(-1)
	differ := false
	prev := a.PPM(start)
	for s := 0; s <= 2*86400; s += 10 {
		at := start.Add(time.Duration(s) * time.Second)
		v := a.PPM(at)
		if v < 420 || v > 1200 || math.IsNaN(v) {
			t.Fatalf("%v: %v ppm, outside 420-1200", at, v)
		}
		// Slow: CO₂ builds up over minutes, it does not jump.
		if math.Abs(v-prev) > 20 {
			t.Fatalf("%v: jumped from %v to %v ppm in 10 s", at, prev, v)
		}
		if v != a.PPM(at) {
			t.Fatalf("%v: two reads of the same moment differ", at)
		}
		differ = differ || b.PPM(at) != v
		lo, hi, prev = min(lo, v), max(hi, v), v
	}
	if hi-lo < 300 {
		t.Errorf("two days span only %.0f-%.0f ppm; want occupancy bumps of a few hundred ppm", lo, hi)
	}
	if !differ {
		t.Error("seeds 1 and 2 give the same air")
	}
	// Times before 1970 work too (floor division of slots).
	if v := a.PPM(time.Unix(-12345, 0)); v < 420 || v > 1200 {
		t.Errorf("before 1970: %v ppm", v)
	}
}
