package discovery

import (
	"testing"

	"github.com/pinion-home/pinion/drivers"
)

func BenchmarkParseCommand(b *testing.B) {
	relay := drivers.Entity{ID: "relay", Spec: drivers.Switch{}}
	light := drivers.Entity{ID: "light", Spec: drivers.Light{Brightness: true}}
	for _, tt := range []struct {
		e       drivers.Entity
		payload string
	}{
		{relay, "ON"}, {relay, "toggle"}, {relay, `{"state":"OFF"}`}, {light, `{"state":"ON","brightness":128}`},
	} {
		b.Run(Component(tt.e)+"/"+tt.payload, func(b *testing.B) {
			payload := []byte(tt.payload)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseCommand(tt.e, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkStatePayload(b *testing.B) {
	e := drivers.Entity{ID: "temperature", Spec: drivers.Sensor{Class: drivers.ClassTemperature, Unit: drivers.Celsius, State: drivers.StateMeasurement, Precision: 1}}
	v := drivers.Num(21.37, drivers.Celsius)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := StatePayload(e, v); err != nil {
			b.Fatal(err)
		}
	}
}
