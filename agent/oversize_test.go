package agent_test

import (
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/pinion-home/pinion/internal/brokertest"
)

// oversizeConfig is a node with one relay.
const oversizeConfig = `
[agent]
id = "big"
hardware = "sim"

[mqtt]
broker = "%s"

[[device]]
id = "pump"
driver = "gpio"
pin = "GPIO17"
mode = "output"
`

// TestOversizedCommands publishes 20 × 10 MB and one 200 MB payload to the
// relay's command topic, through Mosquitto (which has no size limit) and
// through the embedded broker (which refuses them at its packet limit):
// the agent does not crash, the relay does not move, the agent allocates
// far less than it was sent (runtime.MemStats.TotalAlloc counts every
// allocation of this process, the publisher's included, which streams
// from one small buffer), and a command after them is obeyed. Everything
// goes at QoS 1, so the agent gets the oversized messages at QoS 1 too:
// had it not acknowledged them, Mosquitto (20 messages in flight at most)
// would hold back the command after them.
func TestOversizedCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 400 MB")
	}
	brokers := []struct {
		name    string
		url     func(testing.TB) string
		refuses bool
	}{
		{"Mosquitto", func(t testing.TB) string {
			return "tcp://" + brokertest.MosquittoConf(t, "message_size_limit 0\n")
		}, false},
		{"embedded", brokertest.Embedded, true},
	}
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			r := start(t, oversizeConfig, url)
			r.waitLog(t, "msg=connected")
			pump := r.host.Line("GPIO17")
			addr := strings.TrimPrefix(url, "tcp://")
			// A command first, so that the agent is known to be
			// subscribed, and so that the relay has a state to keep.
			rawPublish(t, addr, "pinion/big/pump/relay/set", 2, 'N')
			until(t, "the first command to switch the relay on", func() bool { return pump.Level() == gpio.High })
			history := len(pump.History())

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			sent := 0
			for i := 0; i < 20; i++ {
				sent += rawPublish(t, addr, "pinion/big/pump/relay/set", 10<<20, 'x')
			}
			sent += rawPublish(t, addr, "pinion/big/pump/relay/set", 200<<20, 'x')
			if !b.refuses {
				// The last of the 21 warnings: all were read through.
				until(t, "21 warnings about oversized payloads", func() bool {
					return strings.Count(r.logs.String(), "incoming payload over the size limit") >= 21
				})
				r.waitLog(t, "bytes=209715200", "topic=pinion/big/pump/relay/set")
			}
			rawPublish(t, addr, "pinion/big/pump/relay/set", 3, 'F')
			until(t, "the command after them to switch the relay off", func() bool { return pump.Level() == gpio.Low })
			runtime.ReadMemStats(&after)

			if got := pump.History()[history:]; len(got) != 1 {
				t.Errorf("the relay changed %d times after the oversized payloads, want once (the OFF): %+v", len(got), got)
			}
			grew := after.TotalAlloc - before.TotalAlloc
			t.Logf("sent %d MB; the process allocated %.1f MB meanwhile", sent>>20, float64(grew)/(1<<20))
			if grew > 32<<20 {
				t.Errorf("the process allocated %d MB while %d MB were published: payloads are held", grew>>20, sent>>20)
			}
		})
	}
}

// rawPublish connects to the broker at addr as a bare MQTT 3.1.1 client,
// publishes a QoS 1 message of size bytes to topic and disconnects. The
// payload is streamed from one small buffer, so that the publisher
// allocates next to nothing: "ON" for 2 bytes of 'N', "OFF" for 3 of 'F',
// else size bytes of fill. It returns the size; a broker that drops the
// connection part way (the embedded one, at its packet limit) is no error.
func rawPublish(t testing.TB, addr, topic string, size int, fill byte) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	id := "raw-publisher"
	connect := []byte{0x10, byte(10 + 2 + len(id)), 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, byte(len(id))}
	connect = append(connect, id...)
	if _, err := c.Write(connect); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK: %x, %v", ack, err)
	}
	var payload []byte
	switch fill {
	case 'N':
		payload = []byte("ON")
	case 'F':
		payload = []byte("OFF")
	}
	header := []byte{0x32} // QoS 1
	n := 2 + len(topic) + 2 + size
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 128
		}
		header = append(header, d)
		if n == 0 {
			break
		}
	}
	header = append(header, byte(len(topic)>>8), byte(len(topic)))
	header = append(header, topic...)
	header = append(header, 0, 1) // packet id
	if _, err := c.Write(header); err != nil {
		return size
	}
	if payload != nil {
		if _, err := c.Write(payload); err != nil {
			t.Fatal(err)
		}
	} else {
		buf := make([]byte, 64<<10)
		for i := range buf {
			buf[i] = fill
		}
		for left := size; left > 0; {
			k, err := c.Write(buf[:min(left, len(buf))])
			if err != nil {
				return size // dropped by the broker's limit
			}
			left -= k
		}
	}
	// The broker's PUBACK: it has the message (the embedded broker
	// has dropped the connection instead).
	if _, err := io.ReadFull(c, ack); err == nil && ack[0] != 0x40 {
		t.Fatalf("PUBACK: % x", ack)
	}
	_, _ = c.Write([]byte{0xe0, 0})
	// Wait for the broker to close, so that the next publish with the
	// same client id does not take this one over mid-stream.
	_, _ = io.Copy(io.Discard, c)
	return size
}
