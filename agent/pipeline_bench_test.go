package agent

import (
	"log/slog"
	"testing"

	"github.com/pinion-home/pinion/discovery"
	"github.com/pinion-home/pinion/drivers"
)

// BenchmarkPipelineState measures a reading's way from a driver's
// Output.State to the outbox: rounding, formatting, deduplication, and a
// queued message when it changed.
func BenchmarkPipelineState(b *testing.B) {
	out := newOutbox()
	p := newPipeline(discovery.Node{ID: "bench"}, out, slog.New(slog.DiscardHandler))
	p.add("climate", []drivers.Entity{{ID: "temperature", Spec: drivers.Sensor{Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1}}}, nil)
	for _, tt := range []struct {
		name   string
		values []float64
	}{
		{"unchanged", []float64{21.52, 21.54}}, // both publish "21.5": deduplicated
		{"changing", []float64{21.5, 21.6}},    // a message each time
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p.state("climate", "temperature", drivers.Num(tt.values[i%2], drivers.Celsius), false)
				i++
				if _, ok := out.next(); ok && tt.name == "unchanged" && i > 2 {
					b.Fatal("an unchanged reading was queued")
				}
			}
		})
	}
}
