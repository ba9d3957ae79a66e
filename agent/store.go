package agent

import (
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// copyingStore is paho's memory store, except that Get hands out a copy of
// a stored PUBLISH. After a reconnect paho resends what the store holds and
// sets the DUP flag on what Get returned; with the store's own packet that
// was a data race with the new connection writing the same packet, when it
// had been queued just before the connection dropped (paho #703, open).
type copyingStore struct {
	*mqtt.MemoryStore
}

func newCopyingStore() copyingStore {
	return copyingStore{mqtt.NewMemoryStore()}
}

// Get returns the packet stored under key; a PUBLISH is a copy.
func (s copyingStore) Get(key string) packets.ControlPacket {
	p := s.MemoryStore.Get(key)
	if pub, ok := p.(*packets.PublishPacket); ok {
		c := *pub
		return &c
	}
	return p
}
