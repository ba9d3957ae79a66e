package agent

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
)

// drainOutbox takes everything queued, as "topic=payload" (events marked
// with a !).
func drainOutbox(o *outbox) []string {
	var got []string
	for {
		m, ok := o.next()
		if !ok {
			return got
		}
		s := m.topic + "=" + string(m.payload)
		if m.event {
			s += "!"
		}
		got = append(got, s)
	}
}

func TestOutbox(t *testing.T) {
	tests := []struct {
		name string
		do   func(o *outbox)
		want []string
	}{{
		name: "the latest state of a topic wins, in the place of the first",
		do: func(o *outbox) {
			o.put(message{topic: "a", payload: []byte("1")})
			o.put(message{topic: "b", payload: []byte("1")})
			o.put(message{topic: "a", payload: []byte("2")})
			o.put(message{topic: "a", payload: []byte("3")})
		},
		want: []string{"a=3", "b=1"},
	}, {
		name: "events are never coalesced",
		do: func(o *outbox) {
			o.put(message{topic: "e", payload: []byte("press"), event: true})
			o.put(message{topic: "e", payload: []byte("press"), event: true})
		},
		want: []string{"e=press!", "e=press!"},
	}, {
		name: "a restart goes first and each topic goes once",
		do: func(o *outbox) {
			o.put(message{topic: "a", payload: []byte("old")})
			o.put(message{topic: "e", payload: []byte("press"), event: true})
			o.put(message{topic: "c", payload: []byte("1")})
			o.restart([]message{{topic: "status", payload: []byte("online")}, {topic: "a", payload: []byte("new")}})
			o.put(message{topic: "c", payload: []byte("2")})
		},
		want: []string{"status=online", "a=new", "e=press!", "c=2"},
	}, {
		name: "messages put back go first, in their order, unless a newer state is queued",
		do: func(o *outbox) {
			o.put(message{topic: "a", payload: []byte("2")})
			o.putBack([]message{
				{topic: "e", payload: []byte("1"), event: true},
				{topic: "a", payload: []byte("1")},
				{topic: "e", payload: []byte("2"), event: true},
			})
		},
		want: []string{"e=1!", "e=2!", "a=2"},
	}, {
		name: "nothing after close",
		do: func(o *outbox) {
			o.put(message{topic: "a", payload: []byte("1")})
			o.close()
			o.put(message{topic: "b", payload: []byte("1")})
			o.restart([]message{{topic: "c"}})
		},
		want: nil,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOutbox()
			tt.do(o)
			if got := drainOutbox(o); !slices.Equal(got, tt.want) {
				t.Errorf("published %q, want %q", got, tt.want)
			}
		})
	}
}

// TestOutboxBoundsEvents checks that a broker that takes nothing costs at
// most one message per state topic and a bounded number of events.
func TestOutboxBoundsEvents(t *testing.T) {
	o := newOutbox()
	for i := range 10 * maxPendingEvents {
		o.put(message{topic: "e", payload: []byte(fmt.Sprint(i)), event: true})
		o.put(message{topic: "s", payload: []byte(fmt.Sprint(i))})
	}
	if n := o.len(); n != maxPendingEvents+1 {
		t.Fatalf("%d messages queued, want %d events and one state", n, maxPendingEvents)
	}
	if n := o.takeDropped(); n != 9*maxPendingEvents {
		t.Errorf("%d events reported dropped, want %d", n, 9*maxPendingEvents)
	}
	got := drainOutbox(o)
	if last := got[len(got)-1]; last != fmt.Sprintf("e=%d!", 10*maxPendingEvents-1) {
		t.Errorf("the newest event is %q: the oldest must be dropped first", last)
	}
	if !slices.Contains(got, fmt.Sprintf("s=%d", 10*maxPendingEvents-1)) {
		t.Errorf("the latest state is missing from %q", got)
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(time.Second, 8*time.Second)
	for i, want := range []time.Duration{1, 2, 4, 8, 8, 8} {
		want *= time.Second
		got := b.Next()
		if got < want*4/5 || got > want*6/5 || got > 8*time.Second {
			t.Errorf("delay %d = %v, want %v ±20%% and at most 8s", i, got, want)
		}
	}
	if b.Failures() != 6 {
		t.Errorf("Failures() = %d after 6 delays", b.Failures())
	}
	b.Reset()
	if got := b.Next(); got > 1200*time.Millisecond {
		t.Errorf("after Reset the delay is %v, want about 1s", got)
	}
}

func TestBackoffLoudThinsOut(t *testing.T) {
	b := newBackoff(time.Millisecond, time.Millisecond)
	var loud []int
	for i := 1; i <= 100; i++ {
		b.Next()
		if b.Loud() {
			loud = append(loud, i)
		}
	}
	if want := []int{1, 2, 3, 4, 8, 16, 32, 64}; !slices.Equal(loud, want) {
		t.Errorf("failures logged: %v, want %v", loud, want)
	}
}

// TestPipelineRoundsOnlyWhatHomeAssistantRounds checks that a reading is
// rounded only where discovery publishes it rounded: numeric sensors and
// numbers, not a sensor of text that carries a number.
func TestPipelineRoundsOnlyWhatHomeAssistantRounds(t *testing.T) {
	out := newOutbox()
	p := newPipeline(discovery.Node{ID: "n"}, out, slog.New(slog.DiscardHandler))
	p.add("d", []drivers.Entity{
		{ID: "plain", Spec: drivers.Sensor{}},
		{ID: "temp", Spec: drivers.Sensor{Unit: drivers.Celsius, Precision: 1}},
		{ID: "set", Spec: drivers.Number{Min: 0, Max: 100, Step: 0.5}},
	}, nil)
	p.state("d", "plain", drivers.Num(0.37, ""), false)
	p.state("d", "temp", drivers.Num(21.37, drivers.Celsius), false)
	p.state("d", "set", drivers.Num(21.37, ""), false)
	got := drainOutbox(out)
	want := []string{"pinion/n/d/plain=0.37", "pinion/n/d/temp=21.4", "pinion/n/d/set=21.4"}
	if !slices.Equal(got, want) {
		t.Errorf("published %q, want %q", got, want)
	}
}
