package agent

// The agent's connection to the broker: dialled by the agent rather than by
// paho (paho's SetCustomOpenConnectionFn), so that TLS is set up with the
// [mqtt] keys and the connection's reads are bounded. paho reads a packet
// whole, at the size its header announces, before anything can look at it:
// a 200 MB publish to a command topic would have been held in memory
// (twice, briefly) on a Pi with 512 MB. frameReader follows the MQTT
// framing in the stream paho reads and replaces the payload of an
// oversized PUBLISH, as it streams past, with a short marker; the rest of
// the packet is read and discarded in small pieces. paho still sees a
// PUBLISH with the same flags, topic and packet id, so QoS 1 and 2 are
// acknowledged and the session goes on; route recognises the marker and
// warns.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// maxIncoming is the largest payload the agent reads from the broker:
// commands are at most a few hundred bytes and discovery configs a few
// KiB, so 64 KiB leaves a wide margin and bounds what a hostile or mistaken
// publish can make the agent hold.
const maxIncoming = 64 << 10

// maxPacketBody bounds the other packets a broker sends (CONNACK, the
// acknowledgements, SUBACK: a few bytes each); one larger ends the
// connection rather than being read whole.
const maxPacketBody = maxIncoming

// oversizedPrefix starts the payload that stands in for one over the
// limit; the original size follows in decimal, then " bytes". It starts
// with a NUL byte, which no command, birth message or discovery config
// does, so a message that merely looks like it is no loss: it would have
// been refused anyway, and is only ignored with the same warning.
const oversizedPrefix = "\x00pinion: oversized payload of "

// oversizedMarker is the payload that replaces one of n bytes.
func oversizedMarker(n int) []byte {
	return []byte(oversizedPrefix + strconv.Itoa(n) + " bytes")
}

// oversized reports whether payload is the marker for a payload over the
// limit, and that payload's size.
func oversized(payload []byte) (n int, ok bool) {
	rest, ok := strings.CutPrefix(string(payload), oversizedPrefix)
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(rest, " bytes")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// dialBroker returns the function paho opens each connection with: TCP,
// then TLS for an ssl:// broker (with conf, whose ServerName defaults to
// the URL's host), all within timeout, and the reads bounded by
// frameReader.
func dialBroker(conf *tls.Config, timeout time.Duration) mqtt.OpenConnectionFunc {
	return func(uri *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", uri.Host)
		if err != nil {
			return nil, err
		}
		switch uri.Scheme {
		case "tcp", "mqtt":
		case "ssl", "tls", "mqtts":
			cc := &tls.Config{MinVersion: tls.VersionTLS12}
			if conf != nil {
				cc = conf.Clone()
			}
			if cc.ServerName == "" {
				cc.ServerName = uri.Hostname()
			}
			tc := tls.Client(c, cc)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = c.Close()
				return nil, fmt.Errorf("TLS handshake with %s: %w", uri.Host, err)
			}
			c = tc
		default:
			_ = c.Close()
			return nil, fmt.Errorf("unsupported broker scheme %q: use tcp:// or ssl://", uri.Scheme)
		}
		return &limitConn{Conn: c, r: newFrameReader(c, maxIncoming)}, nil
	}
}

// limitConn is a connection whose reads go through a frameReader.
type limitConn struct {
	net.Conn
	r *frameReader
}

// Read reads what paho would, with oversized payloads replaced.
func (c *limitConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// The MQTT 3.1.1 packet type of PUBLISH, in the top four bits of a fixed
// header's first byte.
const publishType = 3

// errPacketTooLarge ends a connection whose broker sent a packet other
// than a PUBLISH larger than any it sends.
var errPacketTooLarge = errors.New("a packet from the broker is larger than any it should send")

// frameReader reads an MQTT byte stream from src and yields the same
// stream, except that each PUBLISH whose payload is larger than limit
// bytes comes with its payload replaced by oversizedMarker, and a packet of
// another type larger than maxPacketBody ends the stream. It holds at
// most a fixed header, a topic (at most 64 KiB, by the protocol) and a
// small buffer: the discarded payload streams through that buffer. It is
// read by one goroutine at a time, as paho does.
type frameReader struct {
	src   *bufio.Reader
	limit int

	other int // the largest body of a packet other than a PUBLISH

	out     []byte // bytes ready for the reader: a header, or a replaced packet
	pass    int    // bytes of the current packet to copy through unchanged
	skip    int    // bytes of an oversized payload still to discard
	pending []byte // the replaced packet, handed out once its payload is discarded
	err     error  // the error that ended the stream, returned from now on

	hdr [5]byte // the fixed header being read
}

func newFrameReader(src io.Reader, limit int) *frameReader {
	return &frameReader{src: bufio.NewReaderSize(src, 4096), limit: limit, other: maxPacketBody}
}

// Read implements io.Reader.
func (r *frameReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		switch {
		case len(r.out) > 0:
			n := copy(b, r.out)
			r.out = r.out[n:]
			return n, nil
		case r.pass > 0:
			if len(b) > r.pass {
				b = b[:r.pass]
			}
			n, err := r.src.Read(b)
			r.pass -= n
			if err != nil {
				r.err = err
			}
			return n, err
		case r.skip > 0 || r.pending != nil:
			// The replacement goes out only once the whole packet has
			// been read, so that a stream cut inside it yields what paho
			// would have read: nothing of that packet.
			if err := r.discard(); err != nil {
				r.err = eofIsUnexpected(err)
				return 0, r.err
			}
			r.out, r.pending = r.pending, nil
		case r.err != nil:
			return 0, r.err
		default:
			if err := r.next(); err != nil {
				// What was read of a header still goes out before the
				// error, as it would have without frameReader.
				r.err = err
				if len(r.out) == 0 {
					return 0, err
				}
			}
		}
	}
}

// discard drops the rest of an oversized payload, a buffer at a time.
func (r *frameReader) discard() error {
	for r.skip > 0 {
		n, err := r.src.Discard(min(r.skip, 32<<10))
		r.skip -= n
		if err != nil {
			return err
		}
	}
	return nil
}

// next reads the next packet's fixed header and sets up how its body
// goes to the reader: through, replaced, or not at all.
func (r *frameReader) next() error {
	first, err := r.src.ReadByte()
	if err != nil {
		return err
	}
	r.hdr[0] = first
	// The remaining length, decoded as paho decodes it (packets.
	// decodeLength): at most four bytes, the fourth taken whole.
	length, n := 0, 1
	for shift := 0; shift < 27; shift += 7 {
		c, err := r.src.ReadByte()
		if err != nil {
			r.out = append(r.out[:0], r.hdr[:n]...)
			return err
		}
		r.hdr[n] = c
		n++
		length |= int(c&127) << shift
		if c&128 == 0 {
			break
		}
	}
	if first>>4 != publishType {
		if length > r.other {
			return fmt.Errorf("%w (type %d, %d bytes)", errPacketTooLarge, first>>4, length)
		}
		r.out = append(r.out[:0], r.hdr[:n]...)
		r.pass = length
		return nil
	}
	if length <= r.limit {
		r.out = append(r.out[:0], r.hdr[:n]...)
		r.pass = length
		return nil
	}
	return r.replace(first, length)
}

// replace reads an oversized PUBLISH's topic and packet id and sets up a
// PUBLISH with them and the marker, the payload to be discarded.
func (r *frameReader) replace(first byte, length int) error {
	var tl [2]byte
	if _, err := io.ReadFull(r.src, tl[:]); err != nil {
		return err // io.EOF when the packet has no body at all, as paho says
	}
	topicLen := int(tl[0])<<8 | int(tl[1])
	idLen := 0
	if (first>>1)&3 > 0 { // QoS 1, 2 (and the invalid 3, as paho reads it)
		idLen = 2
	}
	head := 2 + topicLen + idLen
	if head > length {
		// paho would refuse it too ("payload length < 0").
		return fmt.Errorf("malformed PUBLISH from the broker: a topic of %d bytes in a packet of %d", topicLen, length)
	}
	size := length - head
	marker := oversizedMarker(size)
	body := make([]byte, 0, 5+head+len(marker))
	body = append(body, first)
	body = appendLength(body, head+len(marker))
	body = append(body, tl[:]...)
	body = body[:len(body)+topicLen+idLen]
	if _, err := io.ReadFull(r.src, body[len(body)-topicLen-idLen:]); err != nil {
		return eofIsUnexpected(err)
	}
	r.pending = append(body, marker...)
	r.skip = size
	return nil
}

// appendLength appends n as an MQTT remaining length.
func appendLength(b []byte, n int) []byte {
	for {
		c := byte(n % 128)
		n /= 128
		if n > 0 {
			c |= 128
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

// eofIsUnexpected turns an end of stream inside a packet into
// io.ErrUnexpectedEOF.
func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
