package hatest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pinion-home/pinion/internal/brokertest"
)

// What the double publishes reaches a subscriber in the order it was
// published, on Mosquitto too: a retained command and then a command to
// the same topic must not swap, or the device ends in the first state. A
// broker keeps one client's order only within a QoS: Mosquitto sends a
// QoS 0 message at once while a QoS 1 message published before it waits
// for the subscriber's inflight window. The subscriber here never
// acknowledges, so a few QoS 1 messages fill its window.
func TestPublishAndCommandKeepTheirOrder(t *testing.T) {
	url := brokertest.Mosquitto(t)
	sub := rawSubscriber(t, strings.TrimPrefix(url, "tcp://"), "order/#")

	ha := New(t, url)
	if err := ha.Publish("homeassistant/switch/n/order/config",
		`{"unique_id": "order", "command_topic": "order/set", "device": {"identifiers": ["x"], "name": "X"}}`, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ha.Publish("order/set", "", true) })
	if err := ha.WaitEntities(1, wait); err != nil {
		t.Fatal(err)
	}

	// Fill the subscriber's inflight window (Mosquitto's default is 20).
	filler := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("filler"))
	if tok := filler.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("filler: connect: %v", tok.Error())
	}
	defer filler.Disconnect(0)
	for i := range 25 {
		if tok := filler.Publish("order/fill", 1, false, fmt.Sprint(i)); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("filler: publish: %v", tok.Error())
		}
	}

	if err := ha.Publish("order/set", "ON", true); err != nil {
		t.Fatal(err)
	}
	if err := ha.Command("order", "OFF"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ON", "OFF"} {
		topic, payload := sub.next(t)
		for topic != "order/set" {
			topic, payload = sub.next(t)
		}
		if payload != want {
			t.Fatalf("the subscriber got %q on order/set, want %q: the OFF overtook the retained ON", payload, want)
		}
	}
}

// subscriber is an MQTT 3.1.1 client written by hand that subscribes at
// QoS 1 and never acknowledges a message.
type subscriber struct {
	conn net.Conn
	r    *bufio.Reader
}

func rawSubscriber(t *testing.T, addr, filter string) *subscriber {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(2 * wait)); err != nil {
		t.Fatal(err)
	}
	s := &subscriber{conn: c, r: bufio.NewReader(c)}
	id := "raw-subscriber"
	connect := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, byte(len(id))}, id...)
	subscribe := append([]byte{0, 1, 0, byte(len(filter))}, filter...)
	subscribe = append(subscribe, 1)
	for _, pk := range [][]byte{
		append([]byte{0x10, byte(len(connect))}, connect...),
		append([]byte{0x82, byte(len(subscribe))}, subscribe...),
	} {
		if _, err := c.Write(pk); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []byte{0x20, 0x90} { // CONNACK, SUBACK
		if typ, _ := s.packet(t); typ != want {
			t.Fatalf("subscriber: got packet %#x, want %#x", typ, want)
		}
	}
	return s
}

// packet reads one packet: its first byte and its body.
func (s *subscriber) packet(t *testing.T) (byte, []byte) {
	t.Helper()
	typ, err := s.r.ReadByte()
	if err != nil {
		t.Fatalf("subscriber: read: %v", err)
	}
	n, shift := 0, 0
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			t.Fatalf("subscriber: read: %v", err)
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(s.r, body); err != nil {
		t.Fatalf("subscriber: read: %v", err)
	}
	return typ, body
}

// next returns the topic and payload of the next PUBLISH.
func (s *subscriber) next(t *testing.T) (string, string) {
	t.Helper()
	for {
		typ, body := s.packet(t)
		if typ>>4 != 3 {
			continue
		}
		tl := int(body[0])<<8 | int(body[1])
		rest := body[2+tl:]
		if qos := typ >> 1 & 3; qos > 0 {
			rest = rest[2:]
		}
		return string(body[2 : 2+tl]), string(rest)
	}
}
