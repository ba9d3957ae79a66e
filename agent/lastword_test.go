package agent_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pinion-home/pinion/internal/brokertest"
	"github.com/pinion-home/pinion/internal/hatest"
)

// monitor is a client that records every message published under a
// filter while it is subscribed, in the order the broker delivered them;
// the retained messages the broker replays at the subscription are not
// among them.
type monitor struct {
	mu   sync.Mutex
	msgs []string // "topic=payload"
	seen chan struct{}
}

func newMonitor(t *testing.T, url, filter string) (*monitor, mqtt.Client) {
	t.Helper()
	m := &monitor{seen: make(chan struct{}, 1)}
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("monitor-%d", time.Now().UnixNano())).SetOrderMatters(true)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("monitor: connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, msg mqtt.Message) {
		if msg.Retained() {
			return
		}
		m.mu.Lock()
		m.msgs = append(m.msgs, msg.Topic()+"="+string(msg.Payload()))
		m.mu.Unlock()
		select {
		case m.seen <- struct{}{}:
		default:
		}
	})
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("monitor: subscribe: %v", tok.Error())
	}
	return m, c
}

func (m *monitor) messages() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.msgs...)
}

// waitFor waits until a message satisfies cond.
func (m *monitor) waitFor(t *testing.T, what string, cond func(string) bool) {
	t.Helper()
	deadline := time.After(wait)
	for {
		for _, s := range m.messages() {
			if cond(s) {
				return
			}
		}
		select {
		case <-m.seen:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; got %q", what, m.messages())
		}
	}
}

// TestOfflineIsTheLastWord stops the agent right after Home Assistant's
// birth message and right after a reconnect, whose republishing is then
// under way or pending: after a clean exit, nothing of the agent's may
// follow its offline.
func TestOfflineIsTheLastWord(t *testing.T) {
	url := brokertest.Embedded(t)
	for i, how := range []string{"birth", "reconnect", "birth", "reconnect", "plain"} {
		t.Run(fmt.Sprintf("%d-%s", i, how), func(t *testing.T) {
			proxy := brokertest.NewProxy(t, url)
			m, c := newMonitor(t, url, "#")
			r := start(t, garageConfig, proxy.URL())
			m.waitFor(t, "online", func(s string) bool { return s == "pinion/garage/status=online" })
			m.waitFor(t, "the pump's state", func(s string) bool { return s == "pinion/garage/pump/relay=OFF" })
			switch how {
			case "birth":
				ha := hatest.New(t, url)
				ha.SendBirth()
			case "reconnect":
				proxy.Cut()
			}
			r.stop(t)
			m.waitFor(t, "offline", func(s string) bool { return s == "pinion/garage/status=offline" })
			// A marker through the same broker: what the agent sent before
			// it disconnected arrives before it.
			if tok := c.Publish("test/marker", 1, false, "end"); !tok.WaitTimeout(wait) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			m.waitFor(t, "the marker", func(s string) bool { return s == "test/marker=end" })
			msgs := m.messages()
			last := -1
			for j, s := range msgs {
				if s == "pinion/garage/status=offline" {
					last = j
				}
			}
			for _, s := range msgs[last+1:] {
				if s != "test/marker=end" {
					t.Errorf("%q came after the agent's offline", s)
				}
			}
		})
	}
}
