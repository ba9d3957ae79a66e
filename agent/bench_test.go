package agent_test

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pinion-home/pinion/internal/brokertest"
)

// BenchmarkCommandRoundTrip measures what a person waits for: a command
// published to the broker until the relay's new state comes back, through
// the embedded broker, the agent's session, the device worker, the gpio
// driver and the simulated line.
func BenchmarkCommandRoundTrip(b *testing.B) {
	url := brokertest.Embedded(b)
	start(b, garageConfig, url)

	states := make(chan string, 16)
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID("bench").SetOrderMatters(true)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	tok := c.Subscribe("pinion/garage/pump/relay", 1, func(_ mqtt.Client, m mqtt.Message) {
		states <- string(m.Payload())
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatal("subscribe failed")
	}
	next := func(want string) {
		for {
			select {
			case s := <-states:
				if s == want {
					return
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("no %s state within 10s", want)
			}
		}
	}
	next("OFF") // the retained state: the agent is up
	on := true
	b.ResetTimer()
	for b.Loop() {
		want := map[bool]string{true: "ON", false: "OFF"}[on]
		c.Publish("pinion/garage/pump/relay/set", 1, false, want)
		next(want)
		on = !on
	}
}
