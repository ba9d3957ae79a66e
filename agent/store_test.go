package agent

import (
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Marking a resent PUBLISH as a duplicate must not touch the packet the
// store holds, which a connection may be writing at that moment.
func TestCopyingStoreGetCopiesPublishes(t *testing.T) {
	s := newCopyingStore()
	s.Open()
	defer s.Close()
	pub := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	pub.Qos, pub.MessageID, pub.TopicName, pub.Payload = 1, 7, "pinion/garage/pump/relay", []byte("ON")
	s.Put("o.7", pub)

	got, ok := s.Get("o.7").(*packets.PublishPacket)
	if !ok {
		t.Fatalf("Get returned %T, want the stored PUBLISH", s.Get("o.7"))
	}
	if got == pub {
		t.Fatal("Get returned the stored packet itself")
	}
	if got.TopicName != pub.TopicName || string(got.Payload) != "ON" || got.MessageID != 7 || got.Qos != 1 {
		t.Fatalf("Get = %+v, want a copy of %+v", got, pub)
	}
	got.Dup = true
	if pub.Dup {
		t.Fatal("setting DUP on what Get returned changed the stored packet")
	}

	sub := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	sub.Qos, sub.MessageID = 1, 8
	s.Put("o.8", sub)
	if got := s.Get("o.8"); got != sub {
		t.Fatalf("Get of a SUBSCRIBE = %v, want the stored packet", got)
	}
}
