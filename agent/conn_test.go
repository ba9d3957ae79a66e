package agent

import (
	"bytes"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// publishBytes encodes a PUBLISH as paho would send it.
func publishBytes(t testing.TB, topic string, qos byte, id uint16, retain bool, payload []byte) []byte {
	t.Helper()
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.TopicName, p.Qos, p.MessageID, p.Retain, p.Payload = topic, qos, id, retain, payload
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func controlBytes(t testing.TB, p packets.ControlPacket) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readAll reads packets from r as paho does until an error, and returns
// them encoded again, with the error.
func readAll(r io.Reader) ([][]byte, error) {
	var out [][]byte
	for {
		cp, err := packets.ReadPacket(r)
		if err != nil {
			return out, err
		}
		var b bytes.Buffer
		if err := cp.Write(&b); err != nil {
			return out, err
		}
		out = append(out, b.Bytes())
	}
}

func TestFrameReader(t *testing.T) {
	const limit = 64
	puback := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
	puback.MessageID = 7
	big := bytes.Repeat([]byte("x"), 1000)
	tests := []struct {
		name  string
		in    [][]byte
		want  [][]byte
		isErr bool // the stream ends with an error other than io.EOF
	}{
		{
			name: "small packets pass unchanged",
			in:   [][]byte{publishBytes(t, "a/b/set", 1, 3, false, []byte("ON")), controlBytes(t, puback), {0xd0, 0}},
			want: [][]byte{publishBytes(t, "a/b/set", 1, 3, false, []byte("ON")), controlBytes(t, puback), {0xd0, 0}},
		},
		{
			name: "an oversized QoS 1 publish keeps its topic, id and flags",
			in:   [][]byte{publishBytes(t, "a/b/set", 1, 9, true, big), publishBytes(t, "a/b/set", 1, 10, false, []byte("OFF"))},
			want: [][]byte{publishBytes(t, "a/b/set", 1, 9, true, oversizedMarker(1000)), publishBytes(t, "a/b/set", 1, 10, false, []byte("OFF"))},
		},
		{
			name: "an oversized QoS 0 publish",
			in:   [][]byte{publishBytes(t, "t", 0, 0, false, big)},
			want: [][]byte{publishBytes(t, "t", 0, 0, false, oversizedMarker(1000))},
		},
		{
			name: "exactly the limit passes",
			in:   [][]byte{publishBytes(t, "t", 0, 0, false, big[:limit-3])},
			want: [][]byte{publishBytes(t, "t", 0, 0, false, big[:limit-3])},
		},
		{
			name:  "a stream cut inside an oversized payload yields nothing of it",
			in:    [][]byte{publishBytes(t, "t", 1, 1, false, big)[:500]},
			isErr: true,
		},
		{
			name:  "an oversized packet of another type ends the stream",
			in:    [][]byte{append([]byte{0x90, 0x80, 0x01}, make([]byte, 128)...)},
			isErr: true,
		},
		{
			name:  "a topic longer than its packet",
			in:    [][]byte{append([]byte{0x30, 0x80, 0x01, 0xff, 0xff}, make([]byte, 126)...)},
			isErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := bytes.Join(tt.in, nil)
			// One byte at a time, as paho's header reads do, and whole.
			for _, oneByte := range []bool{true, false} {
				fr := newFrameReader(bytes.NewReader(stream), limit)
				fr.other = limit
				var r io.Reader = fr
				if oneByte {
					r = iotest.OneByteReader(fr)
				}
				got, err := readAll(r)
				if !equalPackets(got, tt.want) {
					t.Fatalf("got packets\n%q\nwant\n%q", got, tt.want)
				}
				if (err != io.EOF) != tt.isErr {
					t.Fatalf("stream ended with %v, want an error: %v", err, tt.isErr)
				}
			}
		})
	}
}

func equalPackets(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestOversizedMarker(t *testing.T) {
	for _, n := range []int{0, 65537, 209715200} {
		got, ok := oversized(oversizedMarker(n))
		if !ok || got != n {
			t.Errorf("oversized(oversizedMarker(%d)) = %d, %v", n, got, ok)
		}
	}
	for _, p := range []string{"", "ON", "\x00pinion: oversized payload of x bytes", "\x00pinion: oversized payload of 12", "pinion: oversized payload of 12 bytes"} {
		if n, ok := oversized([]byte(p)); ok {
			t.Errorf("oversized(%q) = %d, true; want false", p, n)
		}
	}
}

// rawPacket is a packet as paho read it from a stream: encoded again, and
// the remaining length its header gave (before encoding recomputes it).
type rawPacket struct {
	enc       []byte
	remaining int
	cp        packets.ControlPacket
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += n
	return n, err
}

// readRaw reads packets as paho does until an error; clean says the
// stream ended at a packet boundary (paho's io.EOF also comes from some
// malformed packets).
func readRaw(r io.Reader) (out []rawPacket, clean bool) {
	cr := &countReader{r: r}
	for {
		before := cr.n
		if declared(r) > 1<<20 {
			// paho would allocate it all before finding the stream
			// short (fuzz inputs are small): skip the allocation, keep
			// the outcome.
			return out, false
		}
		cp, err := packets.ReadPacket(cr)
		if err != nil {
			return out, err == io.EOF && cr.n == before
		}
		// Every packet type embeds the FixedHeader paho read; Write
		// recomputes its length, so take it first.
		rl := reflect.ValueOf(cp).Elem().FieldByName("FixedHeader").Interface().(packets.FixedHeader).RemainingLength
		var b bytes.Buffer
		if err := cp.Write(&b); err != nil {
			return out, false
		}
		out = append(out, rawPacket{enc: b.Bytes(), remaining: rl, cp: cp})
	}
}

// declared peeks at the remaining length of the next packet in r, decoded
// as paho does, or returns 0.
func declared(r io.Reader) int {
	br, ok := r.(*bytes.Reader)
	if !ok {
		return 0
	}
	rest := make([]byte, min(br.Len(), 5))
	n, _ := br.ReadAt(rest, br.Size()-int64(br.Len()))
	length := 0
	for i, shift := 1, 0; i < n && shift < 27; i, shift = i+1, shift+7 {
		length |= int(rest[i]&127) << shift
		if rest[i]&128 == 0 {
			break
		}
	}
	return length
}

// FuzzFrameReader checks frameReader against its oracle, paho itself:
// the packets paho reads through it are the packets paho reads from the
// raw stream, except that an oversized PUBLISH comes with the marker for
// a payload, and the stream ends, with an error, at a packet of another
// type over the limit. A stream that ends at a packet boundary ends with
// io.EOF through frameReader too.
func FuzzFrameReader(f *testing.F) {
	const limit = 16
	f.Add(publishBytes(f, "a/set", 1, 1, false, []byte("ON")))
	f.Add(publishBytes(f, "a/set", 2, 2, true, bytes.Repeat([]byte("y"), 40)))
	f.Add(append(publishBytes(f, "a", 0, 0, false, bytes.Repeat([]byte("y"), 40)), 0x40, 2, 0, 1))
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x90, 0x03, 0, 1, 0})
	f.Add([]byte{0x32, 20, 0, 30})
	f.Add(append([]byte{0x90, 30, 0, 1}, make([]byte, 28)...))
	f.Fuzz(func(t *testing.T, stream []byte) {
		orig, clean := readRaw(bytes.NewReader(stream))
		var expect [][]byte
		cut := false
		for _, p := range orig {
			if pub, ok := p.cp.(*packets.PublishPacket); ok {
				if p.remaining > limit {
					q := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
					q.Dup, q.Qos, q.Retain = pub.Dup, pub.Qos, pub.Retain
					q.TopicName, q.MessageID = pub.TopicName, pub.MessageID
					q.Payload = oversizedMarker(len(pub.Payload))
					var b bytes.Buffer
					if err := q.Write(&b); err != nil {
						t.Fatal(err)
					}
					expect = append(expect, b.Bytes())
					continue
				}
			} else if p.remaining > limit {
				cut = true
				break
			}
			expect = append(expect, p.enc)
		}
		fr := newFrameReader(bytes.NewReader(stream), limit)
		fr.other = limit
		got, gotErr := readAll(fr)
		if !equalPackets(got, expect) {
			t.Fatalf("got %q (%v)\nwant %q (paho ended cleanly: %v, cut: %v)", got, gotErr, expect, clean, cut)
		}
		switch {
		case cut && (gotErr == nil || gotErr == io.EOF):
			t.Fatalf("an oversized control packet ended the stream with %v, want an error", gotErr)
		case !cut && clean && gotErr != io.EOF:
			t.Fatalf("frameReader ended with %v where the stream ends cleanly", gotErr)
		}
	})
}
